//! Typed stack parameters and the checks on the values a user gives them.
//!
//! Every check names the field and the fix, because a typo here would otherwise surface as
//! an opaque AWS error half way through an apply.

use super::Stack;
use crate::error::Error;
use crate::stack::template::eval_condition;
use serde::Deserialize;
use serde_json::Value;

/// Values of a deployment, by parameter name.
pub type Values = serde_json::Map<String, Value>;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parameter {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ParamType,
    #[serde(default)]
    pub choices: Vec<String>,
    pub default: Option<Value>,
    /// Condition (a template expression over the other values) under which the parameter
    /// applies; when false it is neither asked nor required.
    pub when: Option<String>,
    pub help: Option<String>,
    /// May be left out (no default, not required); it is then absent from the values.
    #[serde(default)]
    pub optional: bool,
    /// For lists: an empty list is accepted.
    #[serde(default)]
    pub allow_empty: bool,
    /// For integers: the smallest value accepted.
    pub min: Option<i64>,
    /// For objects: their fields, checked like parameters.
    #[serde(default)]
    pub fields: Vec<Parameter>,
    /// For objects: settings the tool knows but the stack deliberately does not support,
    /// each with the reason, so that setting one is refused with it.
    #[serde(default)]
    pub unsupported: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamType {
    Choice,
    AccountId,
    ExternalId,
    Bucket,
    BucketList,
    /// A plain name such as an Athena workgroup.
    Name,
    /// An IAM role, user or policy name.
    IamName,
    DatabaseList,
    /// One Glue database name.
    Database,
    TableMap,
    /// A whole number (`min` bounds it).
    Integer,
    /// true or false.
    Boolean,
    /// Free text on one line.
    Text,
    /// An `s3://bucket[/prefix]` location.
    S3Uri,
    /// An existing IAM role or user of the account, by ARN.
    PrincipalArn,
    /// A map with its own typed `fields`.
    Object,
}

/// Checks `raw` against the stack's parameters and returns the complete values: defaults
/// filled, parameters whose `when` is false removed. `field` prefixes every error's field.
pub fn validate_values(stack: &Stack, raw: &Values, field: &str) -> Result<Values, Error> {
    let raw = fill_template_defaults(stack, raw)?;
    let out = validate_fields(&stack.parameters, &raw, field, &stack.name, &Default::default())?;
    check_table_map_keys(stack, &out, field)?;
    for c in &stack.checks {
        let ok = eval_condition(&c.holds, &out).map_err(|e| Error::StackFile {
            origin: stack.name.clone(),
            problem: format!("check {:?}: {e}", c.holds),
        })?;
        if !ok {
            return Err(Error::Value {
                field: format!("{field}.{}", c.field),
                problem: c.problem.clone(),
                fix: c.fix.clone(),
            });
        }
    }
    Ok(out)
}

/// Object fields whose default is a template (`"{{ output_database }}"`) get it rendered
/// from the top-level values.
fn fill_template_defaults(stack: &Stack, raw: &Values) -> Result<Values, Error> {
    let mut top = raw.clone();
    for p in &stack.parameters {
        if let (false, Some(d)) = (top.contains_key(&p.name), &p.default) {
            top.insert(p.name.clone(), d.clone());
        }
    }
    let mut out = raw.clone();
    for p in stack.parameters.iter().filter(|p| p.kind == ParamType::Object) {
        let Some(Value::Object(map)) = out.get_mut(&p.name) else { continue };
        for f in &p.fields {
            if let (false, Some(Value::String(t))) = (map.contains_key(&f.name), &f.default)
                && t.contains("{{")
            {
                // A default that cannot render yet (its source value is missing) is left
                // out: the missing value is reported by name below.
                if let Ok(v) = crate::stack::template::render_text(t, &top) {
                    map.insert(f.name.clone(), Value::String(v));
                }
            }
        }
    }
    Ok(out)
}

/// Checks a map of values against parameters (the stack's, or an object's fields).
fn validate_fields(
    params: &[Parameter],
    raw: &Values,
    field: &str,
    stack: &str,
    unsupported: &std::collections::BTreeMap<String, String>,
) -> Result<Values, Error> {
    for key in raw.keys() {
        if let Some(reason) = unsupported.get(key) {
            return Err(Error::Value {
                field: format!("{field}.{key}"),
                problem: format!("is not supported by lakepass: {reason}"),
                fix: "remove it".into(),
            });
        }
        if !params.iter().any(|p| &p.name == key) {
            let known: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
            return Err(Error::Value {
                field: format!("{field}.{key}"),
                problem: if stack.is_empty() {
                    "is not a known setting".into()
                } else {
                    format!("is not a setting of stack {stack}")
                },
                fix: format!("remove it, or use one of: {}", known.join(", ")),
            });
        }
    }
    let mut all = raw.clone();
    for p in params {
        if let (false, Some(d)) = (all.contains_key(&p.name), &p.default) {
            all.insert(p.name.clone(), d.clone());
        }
    }
    let mut out = Values::new();
    for p in params {
        if let Some(cond) = &p.when
            && !eval_condition(cond, &all).map_err(|e| Error::StackFile {
                origin: stack.to_string(),
                problem: format!("parameter {}: when {cond:?}: {e}", p.name),
            })?
        {
            continue;
        }
        let name = format!("{field}.{}", p.name);
        let Some(v) = all.get(&p.name) else {
            if p.optional {
                continue;
            }
            return Err(Error::Value {
                field: name,
                problem: "is missing".into(),
                fix: format!("add it{}", p.help.as_deref().map(|h| format!(": {h}")).unwrap_or_default()),
            });
        };
        out.insert(p.name.clone(), check_value(p, v, &name)?);
    }
    Ok(out)
}

fn bad(field: &str, problem: impl Into<String>, fix: impl Into<String>) -> Error {
    Error::Value { field: field.to_string(), problem: problem.into(), fix: fix.into() }
}

/// Checks one value of a parameter (naming `field` in the error) and returns it normalized.
pub fn check_value(p: &Parameter, v: &Value, field: &str) -> Result<Value, Error> {
    match p.kind {
        ParamType::Choice => {
            let s = string(v, field)?;
            if !p.choices.iter().any(|c| c == s) {
                return Err(bad(
                    field,
                    format!("{s:?} is not a choice"),
                    format!("use one of: {}", p.choices.join(", ")),
                ));
            }
            Ok(v.clone())
        }
        ParamType::AccountId => {
            let s = match v {
                Value::Number(n) => n.to_string(),
                other => string(other, field)?.to_string(),
            };
            if s.len() != 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(
                    field,
                    format!("{s:?} is not an AWS account id ({} characters)", s.chars().count()),
                    "use the 12 digits of the account, quoted (e.g. \"012345678901\") so leading zeros survive",
                ));
            }
            Ok(Value::String(s))
        }
        ParamType::ExternalId => {
            let s = string(v, field)?;
            check_external_id(s).map_err(|problem| {
                bad(field, problem, "paste the External ID exactly as the vendor shows it (2 to 1224 characters of letters, digits and +=,.@:/-_)")
            })?;
            Ok(v.clone())
        }
        ParamType::Bucket => {
            let s = string(v, field)?;
            check_bucket(s).map_err(|problem| {
                bad(
                    field,
                    format!("{s:?} {problem}"),
                    "use the bucket's name only, e.g. acme-lake (not an s3:// URL or ARN)",
                )
            })?;
            Ok(v.clone())
        }
        ParamType::BucketList => {
            let items = list(v, field, p.allow_empty)?;
            for (i, item) in items.iter().enumerate() {
                let f = format!("{field}[{i}]");
                let s = string(item, &f)?;
                check_bucket(s).map_err(|problem| {
                    bad(
                        &f,
                        format!("{s:?} {problem}"),
                        "use the bucket's name only, e.g. acme-lake (not an s3:// URL or ARN)",
                    )
                })?;
            }
            Ok(v.clone())
        }
        ParamType::Name => {
            let s = string(v, field)?;
            let ok =
                !s.is_empty() && s.len() <= 128 && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
            if !ok {
                return Err(bad(
                    field,
                    format!("{s:?} is not a valid name"),
                    "use 1 to 128 letters, digits, '.', '_' or '-'",
                ));
            }
            Ok(v.clone())
        }
        ParamType::IamName => {
            let s = string(v, field)?;
            let ok =
                !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
            if !ok {
                return Err(bad(
                    field,
                    format!("{s:?} is not a valid IAM name"),
                    "use 1 to 64 letters, digits or +=,.@_-",
                ));
            }
            Ok(v.clone())
        }
        ParamType::DatabaseList if v.as_str() == Some(ALL_DATABASES) => Ok(v.clone()),
        ParamType::DatabaseList => {
            let items = list(v, field, p.allow_empty)?;
            let mut seen = std::collections::BTreeSet::new();
            for (i, item) in items.iter().enumerate() {
                let f = format!("{field}[{i}]");
                let s = string(item, &f)?;
                check_database(s).map_err(|problem| {
                    bad(
                        &f,
                        format!("{s:?} {problem}"),
                        "use the database name as Glue shows it: lowercase letters, digits, '_' or '-'",
                    )
                })?;
                if !seen.insert(s) {
                    return Err(bad(&f, format!("{s:?} is listed twice"), "list each database once"));
                }
            }
            Ok(v.clone())
        }
        ParamType::Database => {
            let s = string(v, field)?;
            check_database(s).map_err(|problem| {
                bad(
                    field,
                    format!("{s:?} {problem}"),
                    "use the database name as Glue shows it: lowercase letters, digits, '_' or '-'",
                )
            })?;
            Ok(v.clone())
        }
        ParamType::Integer => {
            let n = match v {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            };
            let Some(n) = n else {
                return Err(bad(field, format!("must be a whole number, got {v}"), "write a number such as 2"));
            };
            if let Some(min) = p.min
                && n < min
            {
                return Err(bad(field, format!("is {n}, less than {min}"), format!("use {min} or more")));
            }
            Ok(Value::from(n))
        }
        ParamType::Boolean => match v {
            Value::Bool(_) => Ok(v.clone()),
            Value::String(s) if ["true", "yes"].contains(&s.trim().to_lowercase().as_str()) => Ok(Value::Bool(true)),
            Value::String(s) if ["false", "no"].contains(&s.trim().to_lowercase().as_str()) => Ok(Value::Bool(false)),
            _ => Err(bad(field, format!("must be true or false, got {v}"), "write true or false")),
        },
        ParamType::Text => {
            let s = string(v, field)?;
            if s.trim().is_empty() || s.contains('\n') {
                return Err(bad(field, "must be one non-empty line of text", "write it on one line"));
            }
            Ok(v.clone())
        }
        ParamType::S3Uri => {
            let s = string(v, field)?;
            let bucket = s.strip_prefix("s3://").map(|r| r.split('/').next().unwrap_or(""));
            let problem = match bucket {
                None => Some(format!("{s:?} is not an s3:// location")),
                Some(b) => check_bucket(b).err().map(|e| format!("{s:?}: bucket {b:?} {e}")),
            };
            if let Some(problem) = problem {
                return Err(bad(field, problem, "write it as s3://bucket/prefix"));
            }
            Ok(v.clone())
        }
        ParamType::PrincipalArn => {
            let s = string(v, field)?;
            let ok = crate::arn::Arn::parse(s).is_some_and(|a| a.has_account_id() && a.principal().is_some());
            if !ok {
                return Err(bad(
                    field,
                    format!("{s:?} is not the ARN of an IAM role or user"),
                    "write it as arn:aws:iam::<account>:user/NAME or arn:aws:iam::<account>:role/NAME",
                ));
            }
            Ok(v.clone())
        }
        ParamType::Object => {
            let Value::Object(map) = v else {
                return Err(bad(field, format!("must be a map, got {v}"), "write it as nested keys"));
            };
            Ok(Value::Object(validate_fields(&p.fields, map, field, "", &p.unsupported)?))
        }
        ParamType::TableMap => {
            let Value::Object(map) = v else {
                return Err(bad(
                    field,
                    "must be a map of database to table names",
                    "write it as {sales: [orders, customers]}, or {} for all tables",
                ));
            };
            for (db, tables) in map {
                let f = format!("{field}.{db}");
                let items = list(tables, &f, false)?;
                for (i, t) in items.iter().enumerate() {
                    let tf = format!("{f}[{i}]");
                    let s = string(t, &tf)?;
                    check_database(s).map_err(|problem| {
                        bad(&tf, format!("{s:?} {problem}"), "use the table name as Glue shows it")
                    })?;
                }
            }
            Ok(v.clone())
        }
    }
}

/// A database list of `"*"`: every database in the catalog when the plan is made.
pub const ALL_DATABASES: &str = "*";

/// `values` with each `"*"` database list replaced by `all` (the catalog's databases,
/// sorted), or by an empty list while they are not known.
pub fn expand_all_databases(
    stack: &Stack,
    values: &Values,
    all: Option<&std::collections::BTreeSet<String>>,
) -> Values {
    let mut out = values.clone();
    for p in stack.parameters.iter().filter(|p| p.kind == ParamType::DatabaseList) {
        if out.get(&p.name).and_then(Value::as_str) == Some(ALL_DATABASES) {
            let list = all.map(|a| a.iter().cloned().map(Value::String).collect()).unwrap_or_default();
            out.insert(p.name.clone(), Value::Array(list));
        }
    }
    out
}

/// Every database named in a table map must be one of the stack's chosen databases
/// (any database, with `"*"`).
fn check_table_map_keys(stack: &Stack, values: &Values, field: &str) -> Result<(), Error> {
    let everything = stack
        .parameters
        .iter()
        .filter(|p| p.kind == ParamType::DatabaseList)
        .any(|p| values.get(&p.name).and_then(Value::as_str) == Some(ALL_DATABASES));
    if everything {
        return Ok(());
    }
    let chosen: Vec<&str> = stack
        .parameters
        .iter()
        .filter(|p| p.kind == ParamType::DatabaseList)
        .filter_map(|p| values.get(&p.name)?.as_array())
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for p in stack.parameters.iter().filter(|p| p.kind == ParamType::TableMap) {
        let Some(Value::Object(map)) = values.get(&p.name) else { continue };
        for db in map.keys() {
            if !chosen.contains(&db.as_str()) {
                return Err(bad(
                    &format!("{field}.{}.{db}", p.name),
                    format!("lists tables of {db}, which is not among the chosen databases"),
                    format!("add {db} to the databases, or remove it from {}", p.name),
                ));
            }
        }
    }
    Ok(())
}

fn string<'a>(v: &'a Value, field: &str) -> Result<&'a str, Error> {
    v.as_str().ok_or_else(|| bad(field, format!("must be text, got {v}"), "quote the value"))
}

fn list<'a>(v: &'a Value, field: &str, allow_empty: bool) -> Result<&'a Vec<Value>, Error> {
    match v {
        Value::Array(a) if allow_empty || !a.is_empty() => Ok(a),
        Value::Array(_) => Err(bad(field, "is empty", "list at least one")),
        _ => Err(bad(field, format!("must be a list, got {v}"), "write it as [a, b]")),
    }
}

/// AWS's rule for sts:ExternalId: 2 to 1224 characters of `[\w+=,.@:/-]`.
pub fn check_external_id(s: &str) -> Result<(), String> {
    let n = s.chars().count();
    if !(2..=1224).contains(&n) {
        return Err(format!("is {n} character{} long; AWS needs 2 to 1224", if n == 1 { "" } else { "s" }));
    }
    if let Some(c) = s.chars().find(|c| !(c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(*c))) {
        return Err(format!("contains {c:?}, which AWS does not allow in an external id"));
    }
    Ok(())
}

/// S3's bucket naming rules (general purpose buckets).
pub fn check_bucket(s: &str) -> Result<(), String> {
    if !(3..=63).contains(&s.len()) {
        return Err("must be 3 to 63 characters long".into());
    }
    if !s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-') {
        return Err("may contain only lowercase letters, digits, '.' and '-'".into());
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !edge_ok(s.chars().next()) || !edge_ok(s.chars().last()) {
        return Err("must begin and end with a letter or digit".into());
    }
    if s.contains("..") {
        return Err("must not contain two adjacent periods".into());
    }
    if s.split('.').count() == 4 && s.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return Err("must not look like an IP address".into());
    }
    if s.starts_with("xn--") || s.starts_with("sthree-") || s.ends_with("-s3alias") || s.ends_with("--ol-s3") {
        return Err("uses a prefix or suffix S3 reserves".into());
    }
    Ok(())
}

fn check_database(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 255 {
        return Err("must be 1 to 255 characters long".into());
    }
    if !s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-') {
        return Err("may contain only lowercase letters, digits, '_' and '-'".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secoda() -> Stack {
        Stack::shipped("secoda-glue").unwrap()
    }

    fn role_values() -> Values {
        json!({
            "external_id": "sec-7f3a9c21e4b8",
            "glue_buckets": ["acme-lake"],
            "athena_output_bucket": "acme-athena-results",
            "databases": ["sales", "marketing"],
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn err_of(values: Values) -> String {
        let e = validate_values(&secoda(), &values, "values").unwrap_err();
        format!("{e} (hint: {})", e.hint().unwrap_or_default())
    }

    #[test]
    fn defaults_are_filled_and_inactive_parameters_dropped() {
        let v = validate_values(&secoda(), &role_values(), "values").unwrap();
        assert_eq!(v["access"], "role");
        assert_eq!(v["vendor_account"], "482836992928");
        assert_eq!(v["role_name"], "secoda-glue-role");
        assert_eq!(v["athena_workgroup"], "primary");
        assert!(!v.contains_key("user_name"));
    }

    #[test]
    fn a_user_needs_no_external_id() {
        let mut raw = role_values();
        raw.remove("external_id");
        raw.insert("access".into(), json!("user"));
        let v = validate_values(&secoda(), &raw, "values").unwrap();
        assert_eq!(v["user_name"], "secoda-glue-user");
        assert!(!v.contains_key("external_id") && !v.contains_key("role_name"));
    }

    #[test]
    fn missing_external_id_for_a_role_is_named() {
        let mut raw = role_values();
        raw.remove("external_id");
        let e = err_of(raw);
        assert!(e.contains("values.external_id") && e.contains("missing"), "{e}");
    }

    #[test]
    fn eleven_digit_account_is_refused() {
        let mut raw = role_values();
        raw.insert("vendor_account".into(), json!(48283699292u64));
        let e = err_of(raw);
        assert!(e.contains("values.vendor_account") && e.contains("11 characters"), "{e}");
    }

    #[test]
    fn external_ids_of_one_character_or_with_a_space_are_refused() {
        for bad_id in ["x", "has space"] {
            let mut raw = role_values();
            raw.insert("external_id".into(), json!(bad_id));
            let e = err_of(raw);
            assert!(e.contains("values.external_id"), "{e}");
        }
        assert!(check_external_id("ab").is_ok());
        assert!(check_external_id(&"a".repeat(1225)).is_err());
    }

    #[test]
    fn bucket_rules() {
        for ok in ["acme-lake", "a.b-c", "abc"] {
            assert!(check_bucket(ok).is_ok(), "{ok}");
        }
        for no in ["Acme", "ab", "s3://acme", "-acme", "acme..lake", "192.168.1.1", "acme_lake", "xn--acme"] {
            assert!(check_bucket(no).is_err(), "{no}");
        }
        let mut raw = role_values();
        raw.insert("glue_buckets".into(), json!(["ok-bucket", "Bad_Bucket"]));
        let e = err_of(raw);
        assert!(e.contains("values.glue_buckets[1]") && e.contains("Bad_Bucket"), "{e}");
    }

    #[test]
    fn unknown_value_is_named_with_the_known_ones() {
        let mut raw = role_values();
        raw.insert("databse".into(), json!(["x"]));
        let e = err_of(raw);
        assert!(e.contains("values.databse") && e.contains("databases"), "{e}");
    }

    #[test]
    fn table_map_must_name_chosen_databases() {
        let mut raw = role_values();
        raw.insert("tables".into(), json!({"finance": ["ledger"]}));
        let e = err_of(raw);
        assert!(e.contains("values.tables.finance"), "{e}");
        let mut raw = role_values();
        raw.insert("tables".into(), json!({"sales": ["orders"]}));
        assert!(validate_values(&secoda(), &raw, "values").is_ok());
    }

    #[test]
    fn empty_and_duplicate_database_lists_are_refused() {
        let mut raw = role_values();
        raw.insert("databases".into(), json!([]));
        assert!(err_of(raw).contains("empty"));
        let mut raw = role_values();
        raw.insert("databases".into(), json!(["sales", "sales"]));
        assert!(err_of(raw).contains("twice"));
    }

    #[test]
    fn choice_lists_the_choices() {
        let mut raw = role_values();
        raw.insert("access".into(), json!("group"));
        let e = err_of(raw);
        assert!(e.contains("role, user"), "{e}");
    }

    #[test]
    fn a_setting_the_stack_does_not_support_is_refused_with_its_reason() {
        let dbt = crate::stack::Stack::shipped("dbt-glue").unwrap();
        let raw = json!({
            "output_database": "dbt_demo",
            "location": "s3://bucket/out",
            "profile": {"datalake_formats": "iceberg"},
        });
        let e = validate_values(&dbt, raw.as_object().unwrap(), "values").unwrap_err();
        let Error::Value { field, problem, .. } = e else { panic!() };
        assert_eq!(field, "values.profile.datalake_formats");
        assert!(problem.starts_with("is not supported by lakepass: Iceberg, Hudi and Delta need"), "{problem}");
    }
}
