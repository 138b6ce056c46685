//! Render: stack + values + account facts → the desired resources. Pure; no AWS.
//!
//! Templates are minijinja with strict undefined variables, so a misspelt parameter in a
//! stack file is an error, never an empty string inside an ARN.

use crate::error::Error;
use crate::model::{Facts, LfTarget, Principal, Resource};
use crate::policy;
use crate::stack::{ArnTemplate, ResourceTemplate, Stack, TrustTemplate, Values};
use minijinja::{Environment, UndefinedBehavior, Value as JValue};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_function("table_paths", table_paths);
    env.add_function("s3_bucket", |uri: String| s3_split(&uri).0);
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

/// Evaluates a `when` condition against values.
pub fn eval_condition(expr: &str, values: &Values) -> Result<bool, String> {
    let env = environment();
    let compiled = env.compile_expression(expr).map_err(|e| e.to_string())?;
    let v = compiled.eval(JValue::from_serialize(values)).map_err(|e| e.to_string())?;
    Ok(v.is_true())
}

struct Ctx<'a> {
    env: Environment<'static>,
    vars: JValue,
    stack: &'a str,
}

impl Ctx<'_> {
    fn fail(&self, what: &str, e: impl std::fmt::Display) -> Error {
        Error::StackFile { origin: self.stack.to_string(), problem: format!("{what}: {e}") }
    }

    fn text(&self, template: &str) -> Result<String, Error> {
        self.env.render_str(template, &self.vars).map_err(|e| self.fail(template, e))
    }

    fn eval(&self, expr: &str) -> Result<JValue, Error> {
        let compiled = self.env.compile_expression(expr).map_err(|e| self.fail(expr, e))?;
        compiled.eval(&self.vars).map_err(|e| self.fail(expr, e))
    }

    fn strings(&self, expr: &str) -> Result<Vec<String>, Error> {
        let v = self.eval(expr)?;
        let iter = v.try_iter().map_err(|e| self.fail(expr, e))?;
        Ok(iter.map(|x| x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string())).collect())
    }
}

/// The desired resources of a deployment, in creation order.
pub fn render(stack: &Stack, values: &Values, facts: &Facts, deployment: &str) -> Result<Vec<Resource>, Error> {
    let mut vars = values.clone();
    vars.insert("account".into(), json!(facts.account));
    vars.insert("partition".into(), json!(facts.partition));
    vars.insert("region".into(), json!(facts.region));
    vars.insert("deployment".into(), json!(deployment));
    let ctx = Ctx { env: environment(), vars: JValue::from_serialize(&vars), stack: &stack.name };

    // First pass: which templates apply, and the physical name behind each id.
    let mut active = Vec::new();
    let mut names: BTreeMap<String, (String, &ResourceTemplate)> = BTreeMap::new();
    for t in &stack.resources {
        if let Some(cond) = t.when()
            && !ctx.eval(cond)?.is_true()
        {
            continue;
        }
        let name = match t {
            ResourceTemplate::Policy { name, .. }
            | ResourceTemplate::Role { name, .. }
            | ResourceTemplate::User { name, .. } => ctx.text(name)?,
            ResourceTemplate::Grants { .. } | ResourceTemplate::Attachment { .. } => String::new(),
        };
        names.insert(t.id().to_string(), (name, t));
        active.push(t);
    }
    let principal_of = |id: &str| -> Result<Principal, Error> {
        match names.get(id) {
            Some((n, ResourceTemplate::Role { .. })) => Ok(Principal::Role(n.clone())),
            Some((n, ResourceTemplate::User { .. })) => Ok(Principal::User(n.clone())),
            _ => Err(ctx.fail("grants", format!("`to` renders to {id:?}, which is no active role or user"))),
        }
    };

    let mut out = Vec::new();
    for t in active {
        let name = names[t.id()].0.clone();
        match t {
            ResourceTemplate::Policy { description, statements, .. } => {
                let mut rendered = Vec::new();
                for s in statements {
                    let mut resources = Vec::new();
                    for r in &s.resources {
                        match r {
                            ArnTemplate::One(tpl) => resources.push(ctx.text(tpl)?),
                            ArnTemplate::ForEach { for_each, value } => {
                                for item in ctx.strings(for_each)? {
                                    let mut local = vars.clone();
                                    local.insert("item".into(), json!(item));
                                    let arn = ctx
                                        .env
                                        .render_str(value, JValue::from_serialize(&local))
                                        .map_err(|e| ctx.fail(value, e))?;
                                    resources.push(arn);
                                }
                            }
                        }
                    }
                    if resources.is_empty() {
                        continue;
                    }
                    let mut statement =
                        json!({"Sid": s.sid, "Effect": "Allow", "Action": s.actions, "Resource": resources});
                    if let Some(c) = &s.condition {
                        statement["Condition"] = render_leaves(&ctx, c)?;
                    }
                    rendered.push(statement);
                }
                let document = policy::normalize(&json!({"Version": "2012-10-17", "Statement": rendered}));
                let size = policy::compact_len(&document);
                if size > policy::MANAGED_POLICY_LIMIT {
                    return Err(Error::PolicyTooLarge { name, size });
                }
                out.push(Resource::Policy { name, description: ctx.text(description)?, document });
            }
            ResourceTemplate::Role { description, trust, attach, .. } => {
                let trust = match trust {
                    TrustTemplate::Account { account, external_id } => policy::account_trust(
                        &format!("arn:{}:iam::{}:root", facts.partition, ctx.text(account)?),
                        &ctx.text(external_id)?,
                    ),
                    TrustTemplate::Service { service, source_account } => {
                        policy::service_trust(&ctx.text(service)?, &ctx.text(source_account)?)
                    }
                };
                out.push(Resource::Role { name: name.clone(), description: ctx.text(description)?, trust });
                for a in attach {
                    let policy = policy_name(&names, a, &ctx)?;
                    out.push(Resource::Attachment { policy, principal: Principal::Role(name.clone()) });
                }
            }
            ResourceTemplate::User { access_key, attach, .. } => {
                out.push(Resource::User { name: name.clone() });
                for a in attach {
                    let policy = policy_name(&names, a, &ctx)?;
                    out.push(Resource::Attachment { policy, principal: Principal::User(name.clone()) });
                }
                if *access_key {
                    out.push(Resource::AccessKey { user: name.clone() });
                }
            }
            ResourceTemplate::Attachment { policy, to_arn, .. } => {
                let arn = ctx.text(to_arn)?;
                let principal = principal_from_arn(&arn, facts)?;
                out.push(Resource::Attachment { policy: policy_name(&names, policy, &ctx)?, principal });
            }
            ResourceTemplate::Grants { to, databases, tables, database_permissions, table_permissions, .. } => {
                let principal = principal_of(&ctx.text(to)?)?;
                let table_map = match tables {
                    Some(expr) => ctx.eval(expr)?,
                    None => JValue::from(()),
                };
                let db_perms: BTreeSet<String> = database_permissions.iter().cloned().collect();
                let table_perms: BTreeSet<String> = table_permissions.iter().cloned().collect();
                for db in ctx.strings(databases)? {
                    out.push(Resource::Grant {
                        principal: principal.clone(),
                        target: LfTarget::Database { database: db.clone() },
                        permissions: db_perms.clone(),
                    });
                    let listed = table_map
                        .get_item(&JValue::from(db.as_str()))
                        .ok()
                        .filter(|v| !v.is_undefined() && !v.is_none());
                    match listed {
                        Some(list) => {
                            for t in list.try_iter().map_err(|e| ctx.fail("tables", e))? {
                                out.push(Resource::Grant {
                                    principal: principal.clone(),
                                    target: LfTarget::Table { database: db.clone(), table: t.to_string() },
                                    permissions: table_perms.clone(),
                                });
                            }
                        }
                        None => out.push(Resource::Grant {
                            principal: principal.clone(),
                            target: LfTarget::AllTables { database: db.clone() },
                            permissions: table_perms.clone(),
                        }),
                    }
                }
            }
        }
    }
    out.sort_by_key(Resource::rank);
    Ok(out)
}

/// Renders every string in a JSON value as a template.
fn render_leaves(ctx: &Ctx, v: &Value) -> Result<Value, Error> {
    Ok(match v {
        Value::String(s) => Value::String(ctx.text(s)?),
        Value::Array(a) => Value::Array(a.iter().map(|x| render_leaves(ctx, x)).collect::<Result<_, _>>()?),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, x)| Ok((k.clone(), render_leaves(ctx, x)?))).collect::<Result<_, Error>>()?)
        }
        other => other.clone(),
    })
}

/// A role or user of this account, from its ARN (any path).
fn principal_from_arn(arn: &str, facts: &Facts) -> Result<Principal, Error> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let bad = |problem: String| Error::Value {
        field: "client principal".into(),
        problem,
        fix: "name a role or user of the account lakepass runs in, as arn:aws:iam::<account>:role/NAME".into(),
    };
    if parts.len() != 6 || parts[2] != "iam" {
        return Err(bad(format!("{arn:?} is not an IAM ARN")));
    }
    if parts[4] != facts.account {
        return Err(bad(format!("{arn} is in account {}, not {}", parts[4], facts.account)));
    }
    let name = parts[5].rsplit('/').next().unwrap_or_default().to_string();
    match parts[5].split('/').next() {
        Some("role") => Ok(Principal::Role(name)),
        Some("user") => Ok(Principal::User(name)),
        _ => Err(bad(format!("{arn} names neither a role nor a user"))),
    }
}

/// The name of the active policy `id` refers to.
fn policy_name(names: &BTreeMap<String, (String, &ResourceTemplate)>, id: &str, ctx: &Ctx) -> Result<String, Error> {
    match names.get(id) {
        Some((name, ResourceTemplate::Policy { .. })) => Ok(name.clone()),
        _ => Err(ctx.fail("attach", format!("policy {id:?} is not active for these values (check its `when`)"))),
    }
}

/// Values as JSON, for state and output.
pub fn values_json(values: &Values) -> Value {
    Value::Object(values.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::validate_values;

    fn facts() -> Facts {
        Facts { account: "123456789012".into(), partition: "aws".into(), region: "eu-west-1".into() }
    }

    fn secoda(extra: Value) -> Vec<Resource> {
        let stack = Stack::shipped("secoda-glue").unwrap();
        let mut raw = json!({
            "external_id": "sec-7f3a9c21e4b8",
            "glue_buckets": ["acme-lake"],
            "athena_output_bucket": "acme-athena-results",
            "databases": ["sales", "marketing"],
        });
        for (k, v) in extra.as_object().unwrap() {
            raw[k] = v.clone();
        }
        let values = validate_values(&stack, raw.as_object().unwrap(), "values").unwrap();
        render(&stack, &values, &facts(), "secoda").unwrap()
    }

    fn policy_doc(rs: &[Resource]) -> &Value {
        rs.iter()
            .find_map(|r| match r {
                Resource::Policy { document, .. } => Some(document),
                _ => None,
            })
            .unwrap()
    }

    fn statement<'a>(doc: &'a Value, sid: &str) -> &'a Value {
        doc["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == sid).unwrap_or_else(|| panic!("no {sid}"))
    }

    #[test]
    fn role_access_renders_role_attachment_and_grants_in_order() {
        let rs = secoda(json!({}));
        let addrs: Vec<String> = rs.iter().map(Resource::address).collect();
        assert_eq!(
            addrs,
            [
                "policy/secoda-glue-policy",
                "role/secoda-glue-role",
                "attachment/role/secoda-glue-role/secoda-glue-policy",
                "grant/role/secoda-glue-role/database/sales",
                "grant/role/secoda-glue-role/table/sales/*",
                "grant/role/secoda-glue-role/database/marketing",
                "grant/role/secoda-glue-role/table/marketing/*",
            ]
        );
    }

    #[test]
    fn trust_is_the_vendor_root_with_the_external_id_only() {
        let rs = secoda(json!({}));
        let Resource::Role { trust, .. } = &rs[1] else { panic!() };
        let s = &trust["Statement"][0];
        assert_eq!(s["Principal"]["AWS"], json!(["arn:aws:iam::482836992928:root"]));
        assert_eq!(s["Action"], json!(["sts:AssumeRole"]));
        assert_eq!(s["Condition"]["StringEquals"]["sts:ExternalId"], json!(["sec-7f3a9c21e4b8"]));
    }

    #[test]
    fn user_access_renders_user_key_and_grants_to_the_user() {
        let rs = secoda(json!({"access": "user"}));
        let addrs: Vec<String> = rs.iter().map(Resource::address).collect();
        assert!(addrs.contains(&"user/secoda-glue-user".to_string()));
        assert!(addrs.contains(&"access-key/secoda-glue-user".to_string()));
        assert!(addrs.contains(&"grant/user/secoda-glue-user/database/sales".to_string()));
        assert!(!addrs.iter().any(|a| a.starts_with("role/")));
    }

    #[test]
    fn policy_is_least_privilege() {
        let rs = secoda(json!({"tables": {"sales": ["orders"]}}));
        let doc = policy_doc(&rs);
        let text = doc.to_string();
        assert!(!text.contains("sts:AssumeRole"), "no AssumeRole in a permissions policy");
        // No action appears twice in one statement, and every statement has a valid sid.
        for s in doc["Statement"].as_array().unwrap() {
            let actions: Vec<&str> = s["Action"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
            let unique: BTreeSet<&&str> = actions.iter().collect();
            assert_eq!(unique.len(), actions.len(), "{s}");
            assert!(s["Sid"].as_str().unwrap().chars().all(|c| c.is_ascii_alphanumeric()));
        }
        let glue = statement(doc, "GlueCatalogRead");
        let res: Vec<&str> = glue["Resource"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
        assert!(res.contains(&"arn:aws:glue:eu-west-1:123456789012:catalog"));
        assert!(res.contains(&"arn:aws:glue:eu-west-1:123456789012:database/sales"));
        assert!(res.contains(&"arn:aws:glue:eu-west-1:123456789012:table/sales/orders"));
        assert!(res.contains(&"arn:aws:glue:eu-west-1:123456789012:table/marketing/*"));
        assert!(!res.contains(&"arn:aws:glue:eu-west-1:123456789012:table/sales/*"));
        // List actions that take no resource ARN are alone on "*".
        assert_eq!(statement(doc, "AthenaList")["Resource"], json!(["*"]));
        // Writes only on the Athena results bucket's objects.
        for s in doc["Statement"].as_array().unwrap() {
            let acts = s["Action"].to_string();
            if acts.contains("s3:PutObject") {
                assert_eq!(s["Resource"], json!(["arn:aws:s3:::acme-athena-results/*"]));
            }
        }
        assert_eq!(statement(doc, "DataObjectsRead")["Resource"], json!(["arn:aws:s3:::acme-lake/*"]));
        assert_eq!(statement(doc, "DataBucketsList")["Resource"], json!(["arn:aws:s3:::acme-lake"]));
        assert_eq!(
            statement(doc, "AthenaQuery")["Resource"],
            json!(["arn:aws:athena:eu-west-1:123456789012:workgroup/primary"])
        );
    }

    #[test]
    fn listed_tables_are_granted_one_by_one() {
        let rs = secoda(json!({"tables": {"sales": ["orders", "customers"]}}));
        let grants: Vec<String> =
            rs.iter().filter(|r| matches!(r, Resource::Grant { .. })).map(Resource::address).collect();
        assert!(grants.contains(&"grant/role/secoda-glue-role/table/sales/orders".into()));
        assert!(grants.contains(&"grant/role/secoda-glue-role/table/sales/customers".into()));
        assert!(!grants.contains(&"grant/role/secoda-glue-role/table/sales/*".into()));
        assert!(grants.contains(&"grant/role/secoda-glue-role/table/marketing/*".into()));
    }

    #[test]
    fn too_many_databases_is_explained_not_truncated() {
        let stack = Stack::shipped("secoda-glue").unwrap();
        let dbs: Vec<String> = (0..120).map(|i| format!("database_with_a_long_name_{i}")).collect();
        let raw = json!({
            "external_id": "sec-7f3a9c21e4b8", "glue_buckets": ["acme-lake"],
            "athena_output_bucket": "acme-athena-results", "databases": dbs,
        });
        let values = validate_values(&stack, raw.as_object().unwrap(), "values").unwrap();
        let err = render(&stack, &values, &facts(), "x").unwrap_err();
        assert!(matches!(err, Error::PolicyTooLarge { .. }), "{err}");
    }

    #[test]
    fn conditions_see_values() {
        let v = json!({"access": "role"}).as_object().unwrap().clone();
        assert!(eval_condition("access == \"role\"", &v).unwrap());
        assert!(!eval_condition("access == \"user\"", &v).unwrap());
        assert!(eval_condition("nope == 1", &v).is_err(), "strict undefined");
    }
}

#[cfg(test)]
mod dbt_tests {
    use super::*;
    use crate::stack::validate_values;

    fn facts() -> Facts {
        Facts { account: "123456789012".into(), partition: "aws".into(), region: "us-east-1".into() }
    }

    fn values(extra: Value) -> Result<Values, Error> {
        let stack = Stack::shipped("dbt-glue").unwrap();
        let mut raw = json!({
            "output_database": "dbt_demo",
            "source_databases": ["sales"],
            "location": "s3://dbt-demo-bucket/dbt_demo_data",
            "source_buckets": ["acme-lake"],
            "profile": {"name": "dbt_demo", "schema": "dbt_demo"},
        });
        for (k, v) in extra.as_object().unwrap() {
            raw[k] = v.clone();
        }
        validate_values(&stack, raw.as_object().unwrap(), "values")
    }

    fn dbt(extra: Value) -> Vec<Resource> {
        let stack = Stack::shipped("dbt-glue").unwrap();
        render(&stack, &values(extra).unwrap(), &facts(), "dbt").unwrap()
    }

    fn statement<'a>(rs: &'a [Resource], policy: &str, sid: &str) -> &'a Value {
        let doc = rs
            .iter()
            .find_map(|r| match r {
                Resource::Policy { name, document, .. } if name == policy => Some(document),
                _ => None,
            })
            .unwrap();
        doc["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == sid).unwrap()
    }

    #[test]
    fn the_service_role_trusts_glue_for_this_account_only() {
        let rs = dbt(json!({}));
        let Some(Resource::Role { trust, name, .. }) = rs.iter().find(|r| matches!(r, Resource::Role { .. })) else {
            panic!()
        };
        assert_eq!(name, "dbt-glue-interactive-session");
        let s = &trust["Statement"][0];
        assert_eq!(s["Principal"]["Service"], json!(["glue.amazonaws.com"]));
        assert_eq!(s["Condition"]["StringEquals"]["aws:SourceAccount"], json!(["123456789012"]));
    }

    #[test]
    fn object_actions_are_on_objects_under_the_location() {
        let rs = dbt(json!({}));
        let p = "dbt-glue-interactive-session";
        assert_eq!(
            statement(&rs, p, "OutputObjectsReadWrite")["Resource"],
            json!(["arn:aws:s3:::dbt-demo-bucket/dbt_demo_data/*"])
        );
        assert_eq!(statement(&rs, p, "SourceObjectsRead")["Resource"], json!(["arn:aws:s3:::acme-lake/*"]));
        assert_eq!(
            statement(&rs, p, "BucketsList")["Resource"],
            json!(["arn:aws:s3:::acme-lake", "arn:aws:s3:::dbt-demo-bucket"])
        );
    }

    #[test]
    fn no_source_buckets_drops_their_statement() {
        let rs = dbt(json!({"source_buckets": []}));
        let doc = rs.iter().find_map(|r| match r {
            Resource::Policy { document, .. } => Some(document),
            _ => None,
        });
        assert!(!doc.unwrap().to_string().contains("SourceObjectsRead"));
    }

    #[test]
    fn grants_give_dbt_what_its_create_schema_gives() {
        let rs = dbt(json!({}));
        let perms = |addr: &str| -> Vec<String> {
            rs.iter()
                .find(|r| r.address() == addr)
                .map(|r| match r {
                    Resource::Grant { permissions, .. } => permissions.iter().cloned().collect(),
                    _ => vec![],
                })
                .unwrap_or_else(|| panic!("no {addr}"))
        };
        let role = "grant/role/dbt-glue-interactive-session";
        assert_eq!(perms(&format!("{role}/database/dbt_demo")), ["ALTER", "CREATE_TABLE", "DESCRIBE", "DROP"]);
        assert_eq!(
            perms(&format!("{role}/table/dbt_demo/*")),
            ["ALTER", "DELETE", "DESCRIBE", "DROP", "INSERT", "SELECT"]
        );
        assert_eq!(perms(&format!("{role}/database/sales")), ["DESCRIBE"]);
        assert_eq!(perms(&format!("{role}/table/sales/*")), ["DESCRIBE", "SELECT"]);
    }

    #[test]
    fn a_client_principal_gets_the_client_policy_and_pass_role_on_exactly_the_service_role() {
        let rs = dbt(json!({"client_principal": "arn:aws:iam::123456789012:user/alice"}));
        assert!(rs.iter().any(|r| r.address() == "attachment/user/alice/dbt-glue-client"));
        let pass = statement(&rs, "dbt-glue-client", "PassServiceRole");
        assert_eq!(pass["Resource"], json!(["arn:aws:iam::123456789012:role/dbt-glue-interactive-session"]));
        assert_eq!(pass["Condition"]["StringEquals"]["iam:PassedToService"], json!(["glue.amazonaws.com"]));
        let without = dbt(json!({}));
        assert!(!without.iter().any(|r| r.address().contains("dbt-glue-client")));
    }

    #[test]
    fn a_client_principal_of_another_account_is_refused() {
        let stack = Stack::shipped("dbt-glue").unwrap();
        let v = values(json!({"client_principal": "arn:aws:iam::999999999999:user/alice"})).unwrap();
        let e = render(&stack, &v, &facts(), "dbt").unwrap_err();
        assert!(e.to_string().contains("999999999999"), "{e}");
    }

    #[test]
    fn profile_name_and_schema_default_to_the_output_database() {
        let v = values(json!({"profile": {}})).unwrap();
        assert_eq!(v["profile"]["schema"], "dbt_demo");
        assert_eq!(v["profile"]["name"], "dbt_demo");
        assert_eq!(v["profile"]["path"], "~/.dbt/profiles.yml");
        assert_eq!(v["profile"]["workers"], 2);
    }

    #[test]
    fn the_seeds_rules_are_checked() {
        for (extra, field) in [
            (json!({"source_databases": ["dbt_demo"]}), "values.source_databases"),
            (json!({"profile": {"name": "p", "schema": "other"}}), "values.profile.schema"),
            (json!({"profile": {"name": "p", "schema": "dbt_demo", "workers": 0}}), "values.profile.workers"),
            (
                json!({"profile": {"name": "p", "schema": "dbt_demo", "worker_type": "G.3X"}}),
                "values.profile.worker_type",
            ),
            (json!({"location": "dbt-demo-bucket/x"}), "values.location"),
        ] {
            let e = values(extra.clone()).unwrap_err().to_string();
            assert!(e.contains(field), "{extra}: {e}");
        }
    }
}
