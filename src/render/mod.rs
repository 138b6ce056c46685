//! Render: stack + values + account facts → the desired resources. Pure; no AWS.
//!
//! Templates are minijinja with strict undefined variables, so a misspelt parameter in a
//! stack file is an error, never an empty string inside an ARN.

mod probes;
pub use probes::{Call, render_probes, render_requirements, render_value};

use crate::error::Error;
use crate::model::{Facts, LfTarget, Principal, Resource, Tables};
use crate::policy;
use crate::stack::{ArnTemplate, DataGrain, ResourceTemplate, Stack, TrustTemplate, Values};
use scope::Stmt;
pub use scope::{Chosen, Governance, IamScope};

pub mod data;
pub mod scope;
use crate::stack::template::{environment, with_facts};
use data::{Data, data_of_active, data_scope_of, list_statements};
pub use data::{DataScope, data_access, data_databases};
use minijinja::{Environment, Value as JValue};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

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
    /// The tables Glue lists, with their locations, for the databases whose tables are
    /// listed; None before they are read (data access is then whole buckets).
    pub tables: Option<Tables>,
    /// The most managed policies the principal may carry: data access narrowed to the
    /// listed tables' locations that would need more is made whole buckets, and said so.
    pub policy_quota: Option<usize>,
}

/// The desired resources, and which IAM scope was chosen and why.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rendered {
    pub resources: Vec<Resource>,
    /// For the plan: the scope of the catalog access, when the stack reads the catalog.
    pub scope: Option<String>,
    /// For the plan: why data access stays whole buckets although tables are listed.
    pub data_note: Option<String>,
}

/// The desired resources of a deployment, in creation order, per-resource scope.
pub fn render(stack: &Stack, values: &Values, facts: &Facts, deployment: &str) -> Result<Vec<Resource>, Error> {
    Ok(render_scoped(stack, values, facts, deployment, &ScopeInput::default())?.resources)
}

/// The desired resources of a deployment, in creation order, with the catalog access
/// scoped as `scope` and the catalog's governance allow (see [`scope`]), and the data
/// access narrowed to listed tables where that fits the policy quota (see [`data`]).
pub fn render_scoped(
    stack: &Stack,
    values: &Values,
    facts: &Facts,
    deployment: &str,
    scope: &ScopeInput,
) -> Result<Rendered, Error> {
    let policies = |r: &Rendered| r.resources.iter().filter(|x| matches!(x, Resource::Policy { .. })).count();
    let why = match render_once(stack, values, facts, deployment, scope) {
        Ok((r, true)) if scope.policy_quota.is_some_and(|q| policies(&r) > q) => format!(
            "would take {} managed policies, more than the {} IAM allows per role or user",
            policies(&r),
            scope.policy_quota.unwrap_or_default()
        ),
        Ok((r, _)) => return Ok(r),
        Err(Error::PolicyTooLarge { .. }) if scope.tables.is_some() => {
            "would not fit one database's listed tables in one managed policy".to_string()
        }
        Err(e) => return Err(e),
    };
    let wide = ScopeInput { tables: None, ..scope.clone() };
    let (mut r, _) = render_once(stack, values, facts, deployment, &wide)?;
    r.data_note = Some(format!(
        "S3 reads: the whole data buckets, because narrowing them to each listed table's location {why}; the listed tables narrow the catalog and Lake Formation, not S3. Keep the listed tables under fewer shared prefixes, or list fewer."
    ));
    Ok(r)
}

/// [`render_scoped`] once, with whether data access was narrowed to listed tables.
fn render_once(
    stack: &Stack,
    values: &Values,
    facts: &Facts,
    deployment: &str,
    scope: &ScopeInput,
) -> Result<(Rendered, bool), Error> {
    let mut vars = with_facts(values, facts, deployment);
    // What `requires` lookups provide, where the caller has not looked (yet).
    for r in &stack.requires {
        if let Some(name) = &r.provides {
            vars.entry(name.clone()).or_insert_with(|| r.kind.nothing_found());
        }
    }
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
            | ResourceTemplate::User { name, .. }
            | ResourceTemplate::Database { name, .. } => ctx.text(name)?,
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
    let (statements, note) = choose_scope(&ctx, facts, &active, scope, &vars, deployment)?;
    // Every action must take one of its statement's resources, or the statement grants
    // nothing while it looks as if it did.
    for s in statements.iter().flat_map(|(_, stmts)| stmts) {
        let resources: Vec<&str> =
            s.fixed.iter().chain(s.groups.iter().flat_map(|(_, rs)| rs)).map(String::as_str).collect();
        if let Some(p) = crate::policy::actions::problems(&s.actions, &resources).into_iter().next() {
            return Err(ctx.fail(&format!("statement {}", s.sid), p));
        }
    }
    let (data_note, narrowed) = match data_of_active(&ctx, &active, scope.tables.as_ref(), deployment)? {
        Some(DataScope::Buckets { note, .. }) => (note, false),
        Some(DataScope::Tables { .. }) => (None, true),
        None => (None, false),
    };
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
                    TrustTemplate::Role { role_arn, external_id } => {
                        let arn = ctx.text(role_arn)?;
                        let param = role_arn.trim().trim_start_matches("{{").trim_end_matches("}}").trim();
                        let parsed = crate::arn::Arn::parse(&arn).filter(|a| {
                            a.partition == facts.partition
                                && a.has_account_id()
                                && matches!(a.principal(), Some(("role", _)))
                        });
                        match parsed.map(|a| a.account) {
                            Some(a) => {
                                if a == facts.account {
                                    return Err(Error::Value {
                                        field: format!("values.{param}"),
                                        problem: format!("is a role of {a}, the account lakepass runs in, not the vendor's"),
                                        fix: "use the role ARN the vendor publishes, from its documentation or its integration form".into(),
                                    });
                                }
                            }
                            _ => {
                                return Err(Error::Value {
                                    field: format!("values.{param}"),
                                    problem: format!("{arn:?} is no IAM role ARN"),
                                    fix: format!(
                                        "write it as arn:{}:iam::ACCOUNT:role/NAME, as the vendor publishes it",
                                        facts.partition
                                    ),
                                });
                            }
                        }
                        policy::account_trust(&arn, &ctx.text(external_id)?)
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
            ResourceTemplate::Database { description, location, .. } => {
                let location = match location {
                    Some(l) => Some(ctx.text(l)?).filter(|l| !l.is_empty()),
                    None => None,
                };
                out.push(Resource::Database { name, description: ctx.text(description)?, location });
            }
            ResourceTemplate::Attachment { policy, to_arn, .. } => {
                let arn = ctx.text(to_arn)?;
                let principal = principal_from_arn(&arn, facts)?;
                for policy in policy_names(policy)? {
                    out.push(Resource::Attachment { policy, principal: principal.clone() });
                }
            }
            ResourceTemplate::Grants {
                to, to_arn, databases, tables, database_permissions, table_permissions, ..
            } => {
                let principal = match (to, to_arn) {
                    (Some(to), _) => principal_of(&ctx.text(to)?)?,
                    (None, Some(arn)) => principal_from_arn(&ctx.text(arn)?, facts)?,
                    (None, None) => return Err(ctx.fail("grants", "needs `to` or `to_arn`")),
                };
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
    Ok((Rendered { resources: out, scope: note, data_note }, narrowed))
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
    deployment: &str,
) -> Result<(Vec<(&'t ResourceTemplate, Vec<Stmt>)>, Option<String>), Error> {
    let render_all = |lf: Option<&[String]>| -> Result<Vec<(&'t ResourceTemplate, Vec<Stmt>)>, Error> {
        let mut out = Vec::new();
        for t in active {
            if let ResourceTemplate::Policy { statements, .. } = t {
                let data = Data { tables: scope.tables.as_ref(), deployment };
                out.push((*t, statements_of(ctx, facts, statements, lf, vars, &data)?));
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
/// resources per database (per-resource), or catalog-wide with `deny` for lake-formation;
/// a `data:` statement's per its [`DataScope`].
fn statements_of(
    ctx: &Ctx,
    facts: &Facts,
    statements: &[crate::stack::StatementTemplate],
    lf: Option<&[String]>,
    vars: &Values,
    data: &Data,
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
        let condition = s.condition.as_ref().map(|c| render_leaves(ctx, c)).transpose()?;
        if let Some(d) = &s.data {
            let scope = data_scope_of(ctx, d, data.tables, data.deployment)?;
            match (scope, d.grain) {
                (DataScope::Buckets { buckets, .. }, grain) => {
                    fixed.extend(buckets.iter().map(|b| match grain {
                        DataGrain::Objects => data::objects_arn(&facts.partition, &(b.clone(), String::new())),
                        DataGrain::List => format!("arn:{}:s3:::{b}", facts.partition),
                    }));
                }
                (DataScope::Tables { paths, .. }, DataGrain::Objects) => {
                    for (db, ps) in paths {
                        groups.push((db, ps.iter().map(|p| data::objects_arn(&facts.partition, p)).collect()));
                    }
                }
                (DataScope::Tables { paths, .. }, DataGrain::List) => {
                    out.extend(list_statements(s, &paths, condition.as_ref(), &facts.partition));
                }
            }
        }
        if fixed.is_empty() && groups.is_empty() {
            continue;
        }
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
    let bad = |problem: String| Error::Value {
        field: "client principal".into(),
        problem,
        fix: "name a role or user of the account lakepass runs in, as arn:aws:iam::<account>:role/NAME".into(),
    };
    let Some(parsed) = crate::arn::Arn::parse(arn).filter(|a| a.service == "iam") else {
        return Err(bad(format!("{arn:?} is not an IAM ARN")));
    };
    if parsed.account != facts.account {
        return Err(bad(format!("{arn} is in account {}, not {}", parsed.account, facts.account)));
    }
    match parsed.principal() {
        Some(("role", name)) => Ok(Principal::Role(name.to_string())),
        Some((_, name)) => Ok(Principal::User(name.to_string())),
        None => Err(bad(format!("{arn} names neither a role nor a user"))),
    }
}

/// Values as JSON, for state and output.
pub fn values_json(values: &Values) -> Value {
    Value::Object(values.clone())
}

#[cfg(test)]
mod tests;
