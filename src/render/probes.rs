//! What `verify` asks of a stack: its probes rendered into concrete calls, and single
//! templates or list expressions rendered over the values.

use super::{Ctx, DataScope, data, environment};
use crate::error::Error;
use crate::model::Facts;
use crate::stack::{Stack, Values};
use minijinja::Value as JValue;
use serde_json::json;

/// The values with the account facts, as these templates see them.
fn with_facts(values: &Values, facts: &Facts) -> Values {
    let mut vars = values.clone();
    vars.insert("account".into(), json!(facts.account));
    vars.insert("partition".into(), json!(facts.partition));
    vars.insert("region".into(), json!(facts.region));
    vars
}

fn ctx<'a>(stack: &'a Stack, vars: &Values) -> Ctx<'a> {
    Ctx { env: environment(), vars: JValue::from_serialize(vars), stack: &stack.name }
}

/// A context per element of `for_each` (the element as `item`), or one without it.
fn each<'a>(stack: &'a Stack, vars: &Values, for_each: Option<&str>) -> Result<Vec<Ctx<'a>>, Error> {
    let Some(expr) = for_each else { return Ok(vec![ctx(stack, vars)]) };
    let items = ctx(stack, vars).strings(expr)?;
    Ok(items
        .into_iter()
        .map(|item| {
            let mut v = vars.clone();
            v.insert("item".into(), json!(item));
            ctx(stack, &v)
        })
        .collect())
}

/// A template rendered, or (with `list`) an expression evaluated to a list, over the
/// values and the account facts.
pub fn render_value(
    stack: &Stack,
    values: &Values,
    facts: &Facts,
    text: &str,
    list: bool,
) -> Result<Vec<String>, Error> {
    let ctx = ctx(stack, &with_facts(values, facts));
    if list { ctx.strings(text) } else { Ok(vec![ctx.text(text)?]) }
}

/// One call `verify` asks about: an action on a concrete resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Call {
    /// The probe's `what`.
    pub what: String,
    pub action: String,
    pub resource: String,
    /// Context keys of the request, with their values.
    pub context: std::collections::BTreeMap<String, Vec<String>>,
}

/// The stack's verify probes rendered for these values: (needed, forbidden) calls.
/// `other_databases` are the catalog's databases that were not chosen; `data` where the
/// chosen tables' data may be read (see [`crate::render::data`]).
pub fn render_probes(
    stack: &Stack,
    values: &Values,
    facts: &Facts,
    other_databases: &[String],
    data: Option<&DataScope>,
) -> Result<(Vec<Call>, Vec<Call>), Error> {
    let mut vars = with_facts(values, facts);
    vars.insert("other_databases".into(), json!(other_databases));
    let (paths, hidden): (Vec<String>, Vec<String>) = match data {
        Some(DataScope::Buckets { buckets, .. }) => (buckets.iter().map(|b| format!("s3://{b}")).collect(), Vec::new()),
        Some(DataScope::Tables { paths, hidden }) => {
            let mut all: Vec<String> = paths.values().flatten().map(data::uri).collect();
            all.sort();
            all.dedup();
            (all, hidden.iter().map(data::uri).collect())
        }
        None => (Vec::new(), Vec::new()),
    };
    vars.insert("data_paths".into(), json!(paths));
    vars.insert("hidden_paths".into(), json!(hidden));
    let expand = |probes: &[crate::stack::Probe]| -> Result<Vec<Call>, Error> {
        let mut out = Vec::new();
        for p in probes {
            for ctx in each(stack, &vars, p.for_each.as_deref())? {
                if let Some(cond) = &p.when
                    && !ctx.eval(cond)?.is_true()
                {
                    continue;
                }
                let mut context = std::collections::BTreeMap::new();
                // A key that renders empty is not in the request (a listing of the whole
                // bucket carries no prefix).
                for (key, template) in &p.context {
                    let value = ctx.text(template)?;
                    if !value.is_empty() {
                        context.insert(key.clone(), vec![value]);
                    }
                }
                for r in &p.resources {
                    let resource = ctx.text(r)?;
                    for a in &p.actions {
                        out.push(Call {
                            what: p.what.clone(),
                            action: a.clone(),
                            resource: resource.clone(),
                            context: context.clone(),
                        });
                    }
                }
            }
        }
        Ok(out)
    };
    Ok((expand(&stack.verify.needs)?, expand(&stack.verify.forbidden)?))
}

/// A `requires` entry rendered: (kind, name, field, provides).
pub type Required = (crate::stack::RequiredKind, String, String, Option<String>);

/// The AWS resources the stack's `requires` name for these values.
pub fn render_requirements(stack: &Stack, values: &Values, facts: &Facts) -> Result<Vec<Required>, Error> {
    let vars = with_facts(values, facts);
    let mut out = Vec::new();
    for r in &stack.requires {
        for ctx in each(stack, &vars, r.for_each.as_deref())? {
            out.push((r.kind, ctx.text(&r.name)?, r.field.clone(), r.provides.clone()));
        }
    }
    Ok(out)
}
