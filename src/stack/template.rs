//! Templates and expressions of stack files: minijinja with strict undefined variables (a
//! misspelt parameter is an error, never an empty string inside an ARN), and the functions
//! stacks may call. Owned by the stack module: checking values and rendering resources
//! both use it.

use super::Values;
use crate::model::Facts;
use minijinja::{Environment, UndefinedBehavior, Value as JValue};
use serde_json::{Value, json};

pub(crate) fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_function("table_paths", table_paths);
    env.add_function("s3_bucket", |uri: String| s3_split(&uri).0);
    // "a, b,,c" → ["a", "b", "c"]: a comma-separated value as a list.
    env.add_function("csv", |text: String| {
        text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect::<Vec<_>>()
    });
    // "s3://bucket/some/prefix" → "some/prefix/" (what a listing under it asks for), "" for
    // the whole bucket.
    env.add_function("s3_prefix", |uri: String| {
        let (_, prefix) = s3_split(&uri);
        if prefix.is_empty() { prefix } else { format!("{prefix}/") }
    });
    env.add_function("s3_objects", |uri: String| {
        let (bucket, prefix) = s3_split(&uri);
        if prefix.is_empty() { format!("{bucket}/*") } else { format!("{bucket}/{prefix}/*") }
    });
    env
}

/// `table_paths(databases, tables)`: "db/*" for a database without a table list,
/// "db/table" for each listed table.
fn table_paths(databases: Vec<String>, tables: JValue) -> Result<Vec<String>, minijinja::Error> {
    let mut out = Vec::new();
    for db in databases {
        match tables.get_item(&JValue::from(db.as_str())) {
            Ok(listed) if !listed.is_undefined() && !listed.is_none() => {
                for t in listed.try_iter()? {
                    out.push(format!("{db}/{t}"));
                }
            }
            _ => out.push(format!("{db}/*")),
        }
    }
    Ok(out)
}

/// "s3://bucket/some/prefix/" → ("bucket", "some/prefix").
fn s3_split(uri: &str) -> (String, String) {
    let rest = uri.strip_prefix("s3://").unwrap_or(uri);
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    (bucket.to_string(), prefix.trim_matches('/').to_string())
}

/// Renders a template against values (for defaults such as `"{{ output_database }}"`).
pub fn render_text(template: &str, values: &Values) -> Result<String, String> {
    environment().render_str(template, JValue::from_serialize(values)).map_err(|e| e.to_string())
}

/// The values with the account facts and the deployment's name, as every template of a
/// deployment sees them.
pub fn with_facts(values: &Values, facts: &Facts, deployment: &str) -> Values {
    let mut vars = values.clone();
    vars.insert("account".into(), json!(facts.account));
    vars.insert("partition".into(), json!(facts.partition));
    vars.insert("region".into(), json!(facts.region));
    vars.insert("deployment".into(), json!(deployment));
    vars
}

/// Evaluates an expression against values, as JSON; None when undefined or none.
pub fn eval_value(expr: &str, values: &Values) -> Result<Option<Value>, String> {
    let env = environment();
    let compiled = env.compile_expression(expr).map_err(|e| e.to_string())?;
    let v = compiled.eval(JValue::from_serialize(values)).map_err(|e| e.to_string())?;
    if v.is_undefined() || v.is_none() {
        return Ok(None);
    }
    serde_json::to_value(&v).map(Some).map_err(|e| e.to_string())
}

/// Evaluates a `when` condition against values.
pub fn eval_condition(expr: &str, values: &Values) -> Result<bool, String> {
    let env = environment();
    let compiled = env.compile_expression(expr).map_err(|e| e.to_string())?;
    let v = compiled.eval(JValue::from_serialize(values)).map_err(|e| e.to_string())?;
    Ok(v.is_true())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(v: Value) -> Values {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn conditions_see_values() {
        let v = values(json!({"access": "role"}));
        assert!(eval_condition("access == \"role\"", &v).unwrap());
        assert!(!eval_condition("access == \"user\"", &v).unwrap());
        assert!(eval_condition("nope == 1", &v).is_err(), "strict undefined");
    }

    #[test]
    fn expressions_keep_their_type_and_undefined_is_left_out() {
        let v = values(json!({"profile": {"workers": 2, "name": "p"}}));
        assert_eq!(eval_value("profile.workers", &v).unwrap(), Some(json!(2)));
        assert_eq!(eval_value("profile.glue_version", &v).unwrap(), None);
        assert_eq!(render_text("{{ profile.name }}-{{ csv('a, b,,c') | join('+') }}", &v).unwrap(), "p-a+b+c");
    }
}
