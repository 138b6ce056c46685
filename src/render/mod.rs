//! Render: stack + values + account facts → the desired resources. Pure; no AWS.
//!
//! Templates are minijinja with strict undefined variables, so a misspelt parameter in a
//! stack file is an error, never an empty string inside an ARN.

mod probes;
pub use probes::{Call, render_probes, render_value};

use crate::error::Error;
use crate::model::{Facts, LfTarget, Principal, Resource};
use crate::policy;
use crate::stack::{ArnTemplate, ResourceTemplate, Stack, TrustTemplate, Values};
use scope::Stmt;
pub use scope::{Chosen, Governance, IamScope};

pub mod scope;
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

/// A database a catalog statement chooses, with its listed tables (None: all).
type ChosenDatabase = (String, Option<Vec<String>>);

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

    /// The databases an expression gives, each with its listed tables (None: all), from
    /// a `{database: [table]}` map expression.
    fn databases(&self, databases: &str, tables: Option<&str>) -> Result<Vec<ChosenDatabase>, Error> {
        let map = match tables {
            Some(expr) => self.eval(expr)?,
            None => JValue::from(()),
        };
        let mut out = Vec::new();
        for db in self.strings(databases)? {
            let listed = map.get_item(&JValue::from(db.as_str())).ok().filter(|v| !v.is_undefined() && !v.is_none());
            let tables = match listed {
                Some(list) => {
                    Some(list.try_iter().map_err(|e| self.fail("tables", e))?.map(|t| t.to_string()).collect())
                }
                None => None,
            };
            out.push((db, tables));
        }
        Ok(out)
    }

    fn strings(&self, expr: &str) -> Result<Vec<String>, Error> {
        let v = self.eval(expr)?;
        let iter = v.try_iter().map_err(|e| self.fail(expr, e))?;
        Ok(iter.map(|x| x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string())).collect())
    }
}

/// What render needs beyond the stack and values to scope the catalog access.
#[derive(Debug, Clone, Default)]
pub struct ScopeInput {
    /// The scope the deployment asks for.
    pub requested: IamScope,
    /// Who governs the catalog; unknown means per-resource.
    pub governance: Option<Governance>,
    /// Policy name → the document last applied, so databases stay in their policy.
    pub previous: BTreeMap<String, Value>,
    /// Where the deployment's `iam_scope` is written, for errors.
    pub field: String,
}

/// The desired resources, and which IAM scope was chosen and why.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rendered {
    pub resources: Vec<Resource>,
    /// For the plan: the scope of the catalog access, when the stack reads the catalog.
    pub scope: Option<String>,
}

/// The desired resources of a deployment, in creation order, per-resource scope.
pub fn render(stack: &Stack, values: &Values, facts: &Facts, deployment: &str) -> Result<Vec<Resource>, Error> {
    Ok(render_scoped(stack, values, facts, deployment, &ScopeInput::default())?.resources)
}

/// The desired resources of a deployment, in creation order, with the catalog access
/// scoped as `scope` and the catalog's governance allow (see [`scope`]).
pub fn render_scoped(
    stack: &Stack,
    values: &Values,
    facts: &Facts,
    deployment: &str,
    scope: &ScopeInput,
) -> Result<Rendered, Error> {
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

    // Policies first: how they are cut decides what gets attached.
    let (statements, note) = choose_scope(&ctx, facts, &active, scope, &vars)?;
    let mut out = Vec::new();
    let mut parts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (t, stmts) in statements {
        let ResourceTemplate::Policy { description, .. } = t else { continue };
        let name = names[t.id()].0.clone();
        let before = scope::previous_parts(&name, &scope.previous);
        let placed =
            scope::place(&stmts, &before).map_err(|size| Error::PolicyTooLarge { name: name.clone(), size })?;
        let description = ctx.text(description)?;
        for (k, document) in placed {
            let part = scope::part_name(&name, k);
            parts.entry(t.id().to_string()).or_default().push(part.clone());
            out.push(Resource::Policy { name: part, description: description.clone(), document });
        }
    }
    let policy_names = |id: &str| -> Result<Vec<String>, Error> {
        match (parts.get(id), names.get(id)) {
            (Some(p), _) => Ok(p.clone()),
            _ => Err(ctx.fail("attach", format!("policy {id:?} is not active for these values (check its `when`)"))),
        }
    };
    for t in active {
        let name = names[t.id()].0.clone();
        match t {
            ResourceTemplate::Policy { .. } => {}
            ResourceTemplate::Role { description, trust, attach, .. } => {
                let trust = match trust {
                    TrustTemplate::Account { account, external_id } => {
                        let trusted = ctx.text(account)?;
                        if trusted == facts.account {
                            let param = account.trim().trim_start_matches("{{").trim_end_matches("}}").trim();
                            return Err(Error::Value {
                                field: format!("values.{param}"),
                                problem: format!(
                                    "is {trusted}, the account lakepass runs in: the role would trust every principal here that may call sts:AssumeRole, not the vendor"
                                ),
                                fix: "use the vendor's AWS account id, from its documentation or its integration form"
                                    .into(),
                            });
                        }
                        policy::account_trust(
                            &format!("arn:{}:iam::{trusted}:root", facts.partition),
                            &ctx.text(external_id)?,
                        )
                    }
                    TrustTemplate::Service { service, source_account } => {
                        policy::service_trust(&ctx.text(service)?, &ctx.text(source_account)?)
                    }
                };
                out.push(Resource::Role { name: name.clone(), description: ctx.text(description)?, trust });
                for a in attach {
                    for policy in policy_names(a)? {
                        out.push(Resource::Attachment { policy, principal: Principal::Role(name.clone()) });
                    }
                }
            }
            ResourceTemplate::User { access_key, attach, .. } => {
                out.push(Resource::User { name: name.clone() });
                for a in attach {
                    for policy in policy_names(a)? {
                        out.push(Resource::Attachment { policy, principal: Principal::User(name.clone()) });
                    }
                }
                if *access_key {
                    out.push(Resource::AccessKey { user: name.clone() });
                }
            }
            ResourceTemplate::Attachment { policy, to_arn, .. } => {
                let arn = ctx.text(to_arn)?;
                let principal = principal_from_arn(&arn, facts)?;
                for policy in policy_names(policy)? {
                    out.push(Resource::Attachment { policy, principal: principal.clone() });
                }
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
    Ok(Rendered { resources: out, scope: note })
}

/// Renders each active policy's statements in the scope chosen: the requested one, or
/// for `auto` per-resource while it fits in one policy, lake-formation when safe, and
/// per-resource over several policies otherwise. Returns them with the plan's note.
#[allow(clippy::type_complexity)]
fn choose_scope<'t>(
    ctx: &Ctx,
    facts: &Facts,
    active: &[&'t ResourceTemplate],
    scope: &ScopeInput,
    vars: &Values,
) -> Result<(Vec<(&'t ResourceTemplate, Vec<Stmt>)>, Option<String>), Error> {
    let render_all = |lf: Option<&[String]>| -> Result<Vec<(&'t ResourceTemplate, Vec<Stmt>)>, Error> {
        let mut out = Vec::new();
        for t in active {
            if let ResourceTemplate::Policy { statements, .. } = t {
                out.push((*t, statements_of(ctx, facts, statements, lf, vars)?));
            }
        }
        Ok(out)
    };
    let per_resource = render_all(None)?;
    let reads_catalog = active.iter().any(
        |t| matches!(t, ResourceTemplate::Policy { statements, .. } if statements.iter().any(|s| s.catalog.is_some())),
    );
    if !reads_catalog {
        return Ok((per_resource, None));
    }
    let parts_needed = |rendered: &[(&ResourceTemplate, Vec<Stmt>)]| -> usize {
        rendered
            .iter()
            .map(|(_, s)| scope::place(s, &BTreeMap::new()).map_or(usize::MAX, |p| p.len()))
            .max()
            .unwrap_or(1)
    };
    let needed = parts_needed(&per_resource);
    // Every database an Allow names counts as chosen, not only the catalog statements'
    // (a Deny on an IAM-governed database the policy also allows would take it away).
    let stmts: Vec<&Stmt> = per_resource.iter().flat_map(|(_, s)| s).collect();
    let chosen = scope::chosen(&stmts);
    let n: BTreeSet<&String> = stmts.iter().flat_map(|s| s.groups.iter().map(|(db, _)| db)).collect();
    let n = n.len();
    let safety = scope::lake_formation_safety(scope.governance.as_ref(), &chosen);
    let lf = |deny: &[String]| -> Result<Option<(Vec<(&'t ResourceTemplate, Vec<Stmt>)>, String)>, Error> {
        let rendered = render_all(Some(deny))?;
        if parts_needed(&rendered) > 1 {
            return Ok(None);
        }
        let denied = if deny.is_empty() {
            String::new()
        } else {
            format!(", with a Deny on {} database(s) IAM governs: {}", deny.len(), deny.join(", "))
        };
        Ok(Some((rendered, denied)))
    };
    let split_note = |why: &str| {
        if needed == 1 {
            format!("IAM scope: per-resource: the policy names each of the {n} chosen database(s) ({why})")
        } else {
            format!("IAM scope: per-resource, across {needed} policies for {n} databases ({why})")
        }
    };
    match scope.requested {
        IamScope::PerResource => Ok((per_resource, Some(split_note("iam_scope: per-resource")))),
        IamScope::LakeFormation => {
            let refuse = |why: String| Error::Value {
                field: scope.field.clone(),
                problem: format!("is lake-formation, which is not safe here: {why}"),
                fix: "use iam_scope: auto or per-resource, or bring those databases under Lake Formation first".into(),
            };
            let deny = safety.map_err(refuse)?;
            match lf(&deny)? {
                Some((rendered, denied)) => Ok((
                    rendered,
                    Some(format!(
                        "IAM scope: lake-formation (iam_scope): catalog-wide, Lake Formation grants decide{denied}"
                    )),
                )),
                None => Err(refuse("the Deny on the databases IAM governs does not fit in one policy".into())),
            }
        }
        IamScope::Auto if needed == 1 => {
            Ok((per_resource, Some(split_note("it fits in one policy; IAM and Lake Formation both scope"))))
        }
        IamScope::Auto => match safety {
            Ok(deny) => match lf(&deny)? {
                Some((rendered, denied)) => Ok((
                    rendered,
                    Some(format!(
                        "IAM scope: lake-formation: catalog-wide, Lake Formation grants decide{denied} (per resource, {n} databases need {needed} policies; Lake Formation governs every other database and the account's defaults for new ones)"
                    )),
                )),
                None => Ok((
                    per_resource,
                    Some(split_note("the Deny on the databases IAM governs does not fit in one policy")),
                )),
            },
            Err(why) => Ok((per_resource, Some(split_note(&format!("lake-formation scope is not safe: {why}"))))),
        },
    }
}

/// A policy's statements: templated resources as they are; a `catalog:` statement's
/// resources per database (per-resource), or catalog-wide with `deny` for lake-formation.
fn statements_of(
    ctx: &Ctx,
    facts: &Facts,
    statements: &[crate::stack::StatementTemplate],
    lf: Option<&[String]>,
    vars: &Values,
) -> Result<Vec<Stmt>, Error> {
    let glue = |r: &str| format!("arn:{}:glue:{}:{}:{r}", facts.partition, facts.region, facts.account);
    let mut out = Vec::new();
    for s in statements {
        let mut fixed = Vec::new();
        for r in &s.resources {
            match r {
                ArnTemplate::One(tpl) => fixed.push(ctx.text(tpl)?),
                ArnTemplate::ForEach { for_each, value } => {
                    for item in ctx.strings(for_each)? {
                        let mut local = vars.clone();
                        local.insert("item".into(), json!(item));
                        let arn = ctx
                            .env
                            .render_str(value, JValue::from_serialize(&local))
                            .map_err(|e| ctx.fail(value, e))?;
                        fixed.push(arn);
                    }
                }
            }
        }
        let mut groups = Vec::new();
        let mut deny = Vec::new();
        if let Some(cat) = &s.catalog {
            let chosen = ctx.databases(&cat.databases, cat.tables.as_deref())?;
            if !chosen.is_empty() {
                fixed.push(glue("catalog"));
                match lf {
                    Some(denied) => {
                        fixed.push(glue("database/*"));
                        fixed.push(glue("table/*/*"));
                        for d in denied {
                            deny.push(glue(&format!("database/{d}")));
                            deny.push(glue(&format!("table/{d}/*")));
                        }
                    }
                    None => {
                        for (db, listed) in chosen {
                            let mut arns = vec![glue(&format!("database/{db}"))];
                            match listed {
                                Some(tables) => arns.extend(tables.iter().map(|t| glue(&format!("table/{db}/{t}")))),
                                None => arns.push(glue(&format!("table/{db}/*"))),
                            }
                            groups.push((db, arns));
                        }
                    }
                }
            }
        }
        if fixed.is_empty() && groups.is_empty() {
            continue;
        }
        let condition = s.condition.as_ref().map(|c| render_leaves(ctx, c)).transpose()?;
        let stmt = Stmt { sid: s.sid.clone(), deny: false, actions: s.actions.clone(), condition, fixed, groups };
        if !deny.is_empty() {
            out.push(Stmt {
                sid: format!("{}OutsideScope", s.sid),
                deny: true,
                actions: stmt.actions.clone(),
                condition: None,
                fixed: deny,
                groups: Vec::new(),
            });
        }
        out.push(stmt);
    }
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

    fn many(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("database_with_a_long_name_{i}")).collect()
    }

    fn scoped(dbs: &[String], scope: &ScopeInput) -> Result<Rendered, Error> {
        let stack = Stack::shipped("secoda-glue").unwrap();
        let raw = json!({
            "external_id": "sec-7f3a9c21e4b8", "glue_buckets": ["acme-lake"],
            "athena_output_bucket": "acme-athena-results", "databases": dbs,
        });
        let values = validate_values(&stack, raw.as_object().unwrap(), "values").unwrap();
        render_scoped(&stack, &values, &facts(), "x", scope)
    }

    fn policies(r: &Rendered) -> Vec<(&String, &Value)> {
        r.resources
            .iter()
            .filter_map(|r| match r {
                Resource::Policy { name, document, .. } => Some((name, document)),
                _ => None,
            })
            .collect()
    }

    /// Every Allow resource of every policy.
    fn allowed(r: &Rendered) -> Vec<String> {
        policies(r)
            .iter()
            .flat_map(|(_, d)| d["Statement"].as_array().unwrap().clone())
            .filter(|s| s["Effect"] == "Allow")
            .flat_map(|s| s["Resource"].as_array().unwrap().clone())
            .map(|r| r.as_str().unwrap().to_string())
            .collect()
    }

    fn governance(iam_governed: &[&str], defaults_open: bool, dbs: &[String]) -> Governance {
        let mut databases: BTreeSet<String> = dbs.iter().cloned().collect();
        databases.extend(iam_governed.iter().map(|d| d.to_string()));
        Governance {
            databases,
            iam_governed: iam_governed.iter().map(|d| d.to_string()).collect(),
            defaults_open,
            hybrid_locations: vec![],
        }
    }

    #[test]
    fn past_one_policy_the_databases_are_spread_over_numbered_policies_all_attached() {
        let dbs = many(120);
        let r = scoped(&dbs, &ScopeInput::default()).unwrap();
        let names: Vec<&String> = policies(&r).iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            ["secoda-glue-policy", "secoda-glue-policy-2", "secoda-glue-policy-3", "secoda-glue-policy-4"]
        );
        for (n, d) in policies(&r) {
            assert!(policy::compact_len(d) <= policy::MANAGED_POLICY_LIMIT, "{n}");
        }
        let attached = r.resources.iter().filter(|r| matches!(r, Resource::Attachment { .. })).count();
        assert_eq!(attached, 4);
        let allowed = allowed(&r);
        for db in &dbs {
            let arn = format!("arn:aws:glue:eu-west-1:123456789012:database/{db}");
            assert_eq!(allowed.iter().filter(|a| **a == arn).count(), 1, "{db}");
        }
        assert_eq!(
            r.scope.as_deref(),
            Some(
                "IAM scope: per-resource, across 4 policies for 120 databases (lake-formation scope is not safe: the catalog's governance was not read)"
            )
        );
    }

    #[test]
    fn what_cannot_be_spread_is_explained_not_truncated() {
        let stack = Stack::shipped("secoda-glue").unwrap();
        let buckets: Vec<String> = (0..200).map(|i| format!("bucket-with-a-long-name-{i:03}")).collect();
        let raw = json!({
            "external_id": "sec-7f3a9c21e4b8", "glue_buckets": buckets,
            "athena_output_bucket": "acme-athena-results", "databases": ["sales"],
        });
        let values = validate_values(&stack, raw.as_object().unwrap(), "values").unwrap();
        let err = render(&stack, &values, &facts(), "x").unwrap_err();
        assert!(matches!(err, Error::PolicyTooLarge { .. }), "{err}");
    }

    #[test]
    fn where_lake_formation_governs_a_thousand_databases_fit_one_policy_with_a_deny_for_the_rest() {
        let dbs = many(1000);
        let scope = ScopeInput { governance: Some(governance(&["hr"], false, &dbs)), ..ScopeInput::default() };
        let r = scoped(&dbs, &scope).unwrap();
        let ps = policies(&r);
        assert_eq!(ps.len(), 1);
        let doc = ps[0].1;
        let glue = |r: &str| format!("arn:aws:glue:eu-west-1:123456789012:{r}");
        let read = doc["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == "GlueCatalogRead").unwrap();
        assert_eq!(read["Resource"], json!([glue("catalog"), glue("database/*"), glue("table/*/*")]));
        let deny =
            doc["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == "GlueCatalogReadOutsideScope").unwrap();
        assert_eq!(deny["Effect"], "Deny");
        assert_eq!(deny["Resource"], json!([glue("database/hr"), glue("table/hr/*")]));
        assert_eq!(deny["Action"], read["Action"]);
        assert!(r.scope.as_deref().unwrap().starts_with("IAM scope: lake-formation: catalog-wide, Lake Formation grants decide, with a Deny on 1 database(s) IAM governs: hr"), "{:?}", r.scope);
        // Grants still name each chosen database.
        assert_eq!(r.resources.iter().filter(|r| matches!(r, Resource::Grant { .. })).count(), 2000);
    }

    #[test]
    fn where_new_databases_would_be_open_the_scope_stays_per_resource_and_reaches_no_other_database() {
        let dbs = many(300);
        let scope = ScopeInput { governance: Some(governance(&["hr"], true, &dbs)), ..ScopeInput::default() };
        let r = scoped(&dbs, &scope).unwrap();
        assert!(policies(&r).len() > 1);
        let reaches_hr = |a: &String| {
            a.ends_with(":database/hr")
                || a.contains(":table/hr/")
                || a.contains(":database/*")
                || a.contains(":table/*")
        };
        assert!(
            !allowed(&r).iter().any(reaches_hr),
            "{:?}",
            allowed(&r).iter().filter(|a| reaches_hr(a)).collect::<Vec<_>>()
        );
        assert!(r.scope.as_deref().unwrap().contains("a database created later would be open"), "{:?}", r.scope);
        // Forcing lake-formation here is refused, with the reason.
        let forced =
            ScopeInput { requested: IamScope::LakeFormation, field: "deployments.x.iam_scope".into(), ..scope };
        let e = scoped(&dbs, &forced).unwrap_err();
        assert!(e.to_string().starts_with("deployments.x.iam_scope is lake-formation, which is not safe here: the account's Lake Formation defaults"), "{e}");
    }

    #[test]
    fn a_small_deployment_stays_per_resource_even_where_lake_formation_governs() {
        let dbs = many(3);
        let scope = ScopeInput { governance: Some(governance(&[], false, &dbs)), ..ScopeInput::default() };
        let r = scoped(&dbs, &scope).unwrap();
        assert!(!allowed(&r).iter().any(|a| a.contains(":database/*")));
        assert_eq!(
            r.scope.as_deref(),
            Some(
                "IAM scope: per-resource: the policy names each of the 3 chosen database(s) (it fits in one policy; IAM and Lake Formation both scope)"
            )
        );
        let forced = ScopeInput { requested: IamScope::LakeFormation, ..scope };
        assert!(allowed(&scoped(&dbs, &forced).unwrap()).iter().any(|a| a.ends_with(":database/*")));
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
