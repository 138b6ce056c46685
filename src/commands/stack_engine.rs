//! `engine: cloudformation`: the deployment is one CloudFormation stack, `lakepass-NAME`,
//! built from the template `export` writes. `provision --plan` previews it (a change set,
//! deleted again), `provision` deploys it and waits, `teardown` deletes it; the state
//! records the stack's ID, and the hand-off comes from its outputs.

use super::look::{Looked, look};
use super::*;
use crate::cfn::engine::{self, Action, Change, Deploy, Live, Watch};
use crate::cfn::launch::{MAX_INLINE_TEMPLATE, stack_name};
use crate::model::{Principal, Resource};
use crate::observe::{OWNER_TAG, STACK_TAG};
use serde_json::Value;

/// Progress lines on stderr.
pub(super) struct Lines;

impl Watch for Lines {
    fn event(&self, line: &str) {
        crate::output::say(&format!("  {line}"));
    }
}

/// What provision and its plan share: the template, and the stack it goes to.
struct Target {
    name: String,
    text: String,
    template: Value,
    parameters: Vec<(String, String)>,
    tags: Vec<(String, String)>,
    /// The deployment's stack, if it exists and can be updated.
    live: Option<Live>,
    /// The deployment's stack where it cannot be updated: a first creation that was
    /// interrupted (REVIEW_IN_PROGRESS) or failed (ROLLBACK_COMPLETE, deleted first).
    stale: Option<Live>,
    facts: Facts,
    notes: Vec<String>,
}

impl Target {
    fn deploy(&self) -> Deploy<'_> {
        Deploy { name: &self.name, template: &self.text, parameters: &self.parameters, tags: &self.tags }
    }
}

/// Reads the account, renders the template and finds the deployment's stack: a stack of
/// that name is the deployment's only if the state records its ID (or `adopt`).
async fn target(
    g: &Global,
    loaded: &Loaded,
    aws: &Aws,
    state: &State,
    label: &Path,
    adopt: bool,
) -> Result<Target, Error> {
    let _ = g;
    let values = loaded.values()?;
    let seen = look(loaded, aws, Some(&values), state, label, false).await?;
    let Looked { facts, caller, catalog, desired, observed, scope, data_note, .. } = seen;
    if !observed.missing_in_catalog.is_empty() {
        return Err(Error::NotInCatalog {
            missing: observed.missing_in_catalog.clone(),
            account: facts.account.clone(),
            region: facts.region.clone(),
        });
    }
    let Rendered { template, text, parameters } = template_text(loaded, &values, &facts, &desired)?;
    let name = stack_name(&loaded.name);
    let live = match &state.stack_id {
        Some(id) => engine::find(&aws.cloudformation, id).await?,
        None => match engine::find(&aws.cloudformation, &name).await? {
            Some(live) if adopt || ours(&live, &loaded.name) && state.pending.contains(&address(&name)) => Some(live),
            Some(live) => {
                return Err(Error::Value {
                    field: format!("deployments.{}.engine", loaded.name),
                    problem: format!("is cloudformation, and a stack named {name} exists that lakepass did not create ({})", live.id),
                    fix: "delete or rename that stack if it is a leftover, or pass --adopt to take it over (its resources become this deployment's)".into(),
                });
            }
            None => None,
        },
    };
    let mut notes: Vec<String> = scope.into_iter().chain(data_note).collect();
    let (live, stale) = match live {
        Some(l) if l.status == "ROLLBACK_COMPLETE" || l.status == "REVIEW_IN_PROGRESS" => {
            notes.push(format!(
                "stack {name} is {} (its first creation {}): it is created again",
                l.status,
                if l.status == "ROLLBACK_COMPLETE" {
                    "failed and was rolled back; the empty stack is deleted first"
                } else {
                    "did not finish"
                }
            ));
            (None, Some(l))
        }
        Some(l) if l.status.ends_with("_IN_PROGRESS") => {
            return Err(Error::Other(format!(
                "stack {name} is {}: another operation is under way; run again once it has finished (the console shows its events)",
                l.status
            )));
        }
        None if state.stack_id.is_some() => {
            notes.push(format!(
                "the stack the state records is gone (deleted outside lakepass): {name} is created again"
            ));
            (None, None)
        }
        other => (other, None),
    };
    // A new stack cannot create a name that is taken: refuse before anything changes.
    if live.is_none() {
        let taken: Vec<String> = desired
            .iter()
            .filter_map(|r| match r {
                Resource::Role { name, .. } if observed.roles.contains_key(name) => Some(format!("role {name}")),
                Resource::User { name, .. } if observed.users.contains_key(name) => Some(format!("user {name}")),
                Resource::Policy { name, .. } if observed.policies.contains_key(name) => Some(format!("policy {name}")),
                _ => None,
            })
            .collect();
        if !taken.is_empty() {
            return Err(Error::Other(format!(
                "the stack would create {}, which {} in account {}: CloudFormation cannot create a name that is taken; tear down what owns it, or give this deployment other names",
                taken.join(", "),
                if taken.len() == 1 { "already exists" } else { "already exist" },
                facts.account
            )));
        }
    }
    let needed: Vec<_> = desired
        .iter()
        .filter_map(|r| match r {
            Resource::Grant { target, permissions, .. } => Some((target.clone(), permissions.clone())),
            _ => None,
        })
        .collect();
    let blocked = crate::observe::grant_blockers(&catalog, &caller, &needed);
    if !blocked.is_empty() {
        return Err(Error::CannotGrant { caller, targets: blocked });
    }
    Ok(Target { name, text, template, parameters, tags: tags(loaded), live, stale, facts, notes })
}

/// A template, its text and the values of its parameters.
pub(super) struct Rendered {
    pub template: Value,
    pub text: String,
    pub parameters: Vec<(String, String)>,
}

/// The template and its text, which lakepass passes inline (at most 51,200 bytes), and
/// the values of its parameters.
pub(super) fn template_text(
    loaded: &Loaded,
    values: &Values,
    facts: &Facts,
    desired: &[Resource],
) -> Result<Rendered, Error> {
    let (template, parameters) = super::export::template_of(loaded, values, facts, desired)?;
    let text = format!("{}\n", serde_json::to_string_pretty(&template).expect("a template is JSON"));
    if text.len() > MAX_INLINE_TEMPLATE {
        return Err(Error::Value {
            field: format!("deployments.{}.engine", loaded.name),
            problem: format!(
                "is cloudformation, and the template is {} bytes, over the 51,200 CloudFormation takes from lakepass",
                text.len()
            ),
            fix: "remove the line to use lakepass's own engine, or choose fewer databases or tables".into(),
        });
    }
    Ok(Rendered { template, text, parameters })
}

pub(super) fn tags(loaded: &Loaded) -> Vec<(String, String)> {
    vec![(OWNER_TAG.to_string(), loaded.name.clone()), (STACK_TAG.to_string(), loaded.stack.name.clone())]
}

pub(super) fn ours(live: &Live, deployment: &str) -> bool {
    live.tags.iter().any(|(k, v)| k == OWNER_TAG && v == deployment)
}

/// How a stack about to be created is recorded before it exists, so that a run
/// interrupted meanwhile finds it as its own.
pub(super) fn address(name: &str) -> String {
    format!("cloudformation-stack/{name}")
}

/// `lakepass provision [--plan]` for a deployment built by a stack.
pub(super) async fn provision(g: &Global, o: &ProvisionOpts, loaded: Loaded) -> Result<i32, Error> {
    let aws = loaded.aws(g).await?;
    let (store, mut state) = if o.plan_only {
        (None, loaded.peek_state(&aws).await?)
    } else {
        let (store, state) = loaded.open_state(&aws).await?;
        (Some(store), state)
    };
    let t = target(g, &loaded, &aws, &state, &loaded.state_label(), o.adopt).await?;
    let mut changes = match &t.live {
        Some(_) => engine::preview(&aws.cloudformation, &t.deploy()).await?,
        None => all_added(&t.template),
    };
    changes.sort_by_key(|c| (c.action, rank(&c.kind), c.logical_id.clone()));
    let old = match &t.live {
        Some(live) if changes.iter().any(|c| c.action == Action::Modify) => {
            Some(engine::template(&aws.cloudformation, &live.id).await?)
        }
        _ => None,
    };
    let text = plan_text(&loaded, &t, &changes, old.as_ref());
    if o.plan_only {
        if o.json {
            print(&format!("{}\n", serde_json::to_string_pretty(&plan_json(&loaded, &t, &changes)).expect("json")));
        } else {
            print(&text);
        }
        return Ok(if o.detailed_exitcode && !changes.is_empty() { 2 } else { 0 });
    }
    let store = store.expect("locked above");
    print(&text);
    if !changes.is_empty() {
        confirm(&format!("Apply these changes to account {}", t.facts.account), o.yes)?;
    }
    if let Some(stale) = t.stale.as_ref().filter(|s| s.status == "ROLLBACK_COMPLETE") {
        engine::delete(&aws.cloudformation, &stale.id, &Lines).await?;
    }
    if t.live.is_none() {
        state.pending.insert(address(&t.name));
        state.account.get_or_insert_with(|| t.facts.account.clone());
        state.region.get_or_insert_with(|| t.facts.region.clone());
        store.save(&mut state).await?;
    }
    let (live, _) =
        match engine::deploy(&aws.cloudformation, &t.deploy(), t.live.as_ref().map(|l| l.id.as_str()), &Lines).await {
            Ok(done) => done,
            Err(e) => {
                // A first creation that failed was rolled back and deleted: nothing to record.
                if t.live.is_none() && engine::find(&aws.cloudformation, &t.name).await.ok().flatten().is_none() {
                    state.pending.remove(&address(&t.name));
                    if state.stack_id.is_none() && state.resources.is_empty() {
                        store.remove().await?;
                    } else {
                        store.save(&mut state).await?;
                    }
                }
                return Err(e);
            }
        };
    crate::apply::crash_point();
    state.pending.remove(&address(&t.name));
    state.stack_id = Some(live.id.clone());
    state.values = Value::Object(loaded.deployment.values.clone());
    store.save(&mut state).await?;
    print(&handoff(&loaded, &t, &live, &values_rows(&loaded, &t)?));
    Ok(0)
}

/// The hand-off rows as the template's outputs would resolve them, for an endpoint that
/// reports no outputs (the emulator, for a stack made from a change set).
fn values_rows(loaded: &Loaded, t: &Target) -> Result<Vec<(String, String, String)>, Error> {
    let values = loaded.values()?;
    let mut rows = Vec::new();
    let role = t.template["Resources"].as_object().and_then(|r| {
        r.values().find(|x| x["Type"] == "AWS::IAM::Role").and_then(|x| x["Properties"]["RoleName"].as_str())
    });
    if let Some(role) = role {
        rows.push(("RoleArn".into(), "role ARN".into(), Principal::Role(role.to_string()).arn(&t.facts)));
    }
    for (label, value) in Handoff::stack_rows(loaded, &t.facts, &values) {
        rows.push((label.clone(), label, value));
    }
    rows.push(("Region".into(), "region".into(), t.facts.region.clone()));
    Ok(rows)
}

/// `lakepass status` of a deployment built by a stack: each resource of the template as
/// ok, to create, to update or to remove (a change set, deleted again), or as drifted or
/// missing (CloudFormation's drift detection). Rows are (condition, logical ID,
/// description, reason).
pub(super) async fn status(g: &Global, loaded: &Loaded) -> Result<(Facts, Vec<[String; 4]>, Vec<String>), Error> {
    let aws = loaded.aws(g).await?;
    let state = loaded.peek_state(&aws).await?;
    let mut t = target(g, loaded, &aws, &state, &loaded.state_label(), false).await?;
    let changes = match &t.live {
        Some(_) => engine::preview(&aws.cloudformation, &t.deploy()).await?,
        None => all_added(&t.template),
    };
    let drifts = match &t.live {
        Some(live) => match engine::drift(&aws.cloudformation, &live.id).await {
            Ok(d) => d,
            Err(e) => {
                t.notes
                    .push(format!("drift detection did not run ({e}): changes made outside the stack are not shown"));
                Vec::new()
            }
        },
        None => Vec::new(),
    };
    let mut rows = Vec::new();
    let mut all = all_added(&t.template);
    all.sort_by_key(|c| (rank(&c.kind), c.logical_id.clone()));
    for c in &all {
        let change = changes.iter().find(|x| x.logical_id == c.logical_id).map(|x| x.action);
        let drift = drifts.iter().find(|(id, _)| id == &c.logical_id).map(|(_, s)| s.as_str());
        let (condition, reason) = match (drift, change) {
            (Some("DELETED"), _) => ("missing", "deleted outside the stack"),
            (Some("MODIFIED"), _) => ("drifted", "changed outside the stack"),
            (_, Some(Action::Add)) if t.live.is_some() => ("to create", "the deployment's values ask for it"),
            (_, Some(Action::Add)) => ("to create", ""),
            (_, Some(Action::Modify)) => ("to update", "the deployment's values changed"),
            _ => ("ok", ""),
        };
        rows.push([condition.to_string(), c.logical_id.clone(), describe(&t.template, c), reason.to_string()]);
    }
    for c in changes.iter().filter(|c| c.action == Action::Remove) {
        rows.push([
            "to remove".into(),
            c.logical_id.clone(),
            format!("{} {}", c.kind, c.logical_id),
            "no longer wanted".into(),
        ]);
    }
    if let Some(live) = &t.live {
        t.notes.insert(0, format!("CloudFormation stack {} is {}", t.name, live.status));
    }
    Ok((t.facts, rows, t.notes))
}

/// What the vendor's form asks for, from the stack's outputs.
fn handoff(loaded: &Loaded, t: &Target, live: &Live, fallback: &[(String, String, String)]) -> String {
    let mut out = format!("\nConnect {} (deployment {}, stack {}):\n", loaded.stack.name, loaded.name, t.name);
    let mut outputs = if live.outputs.is_empty() { fallback.to_vec() } else { live.outputs.clone() };
    // The role first, the region last, the stack's own rows between, as the template has them.
    let order = |k: &str| match k {
        "RoleArn" => 0,
        "Region" => 2,
        _ => 1,
    };
    let position = |k: &str| t.template["Outputs"].as_object().and_then(|o| o.keys().position(|x| x == k));
    outputs.sort_by_key(|(k, _, _)| (order(k), position(k)));
    for (_, label, value) in outputs {
        out.push_str(&format!("  {:<15} {value}\n", format!("{label}:")));
    }
    out
}

/// As lakepass's own plan orders them: databases, policies, roles and users, grants.
pub(super) fn rank(kind: &str) -> u8 {
    match kind {
        "AWS::Glue::Database" => 0,
        "AWS::IAM::ManagedPolicy" => 1,
        "AWS::IAM::Role" | "AWS::IAM::User" => 2,
        _ => 3,
    }
}

/// A new stack: every resource of the template is added.
pub(super) fn all_added(template: &Value) -> Vec<Change> {
    let resources = template["Resources"].as_object().cloned().unwrap_or_default();
    resources
        .iter()
        .map(|(id, r)| Change {
            action: Action::Add,
            logical_id: id.clone(),
            kind: r["Type"].as_str().unwrap_or_default().to_string(),
            physical_id: None,
            replacement: None,
        })
        .collect()
}

/// What a resource of the template is, in a reader's words.
pub(super) fn describe(template: &Value, c: &Change) -> String {
    let p = &template["Resources"][&c.logical_id]["Properties"];
    let named = |key: &str| p[key].as_str().map(str::to_string);
    let what = match c.kind.as_str() {
        "AWS::IAM::ManagedPolicy" => named("ManagedPolicyName").map(|n| format!("iam policy {n}")),
        "AWS::IAM::Role" => named("RoleName").map(|n| format!("iam role {n}")),
        "AWS::IAM::User" => named("UserName").map(|n| format!("iam user {n}")),
        "AWS::Glue::Database" => p["DatabaseInput"]["Name"].as_str().map(|n| format!("glue database {n}")),
        "AWS::LakeFormation::PrincipalPermissions" => {
            let perms: Vec<&str> =
                p["Permissions"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            let r = &p["Resource"];
            let on = if let Some(db) = r["Database"]["Name"].as_str() {
                format!("database {db}")
            } else if r["Table"].get("TableWildcard").is_some() {
                format!("all tables in {}", r["Table"]["DatabaseName"].as_str().unwrap_or_default())
            } else {
                format!(
                    "table {}.{}",
                    r["Table"]["DatabaseName"].as_str().unwrap_or_default(),
                    r["Table"]["Name"].as_str().unwrap_or_default()
                )
            };
            Some(format!("lake formation {} on {on}", perms.join(", ")))
        }
        _ => None,
    };
    match what {
        Some(w) => format!("{w} ({})", c.logical_id),
        None => format!("{} {}", c.kind, c.physical_id.as_deref().unwrap_or(&c.logical_id)),
    }
}

fn plan_text(loaded: &Loaded, t: &Target, changes: &[Change], old: Option<&Value>) -> String {
    let f = &t.facts;
    let stack = match &t.live {
        Some(live) => format!("CloudFormation stack {} ({})", t.name, live.status),
        None => format!("CloudFormation stack {} (new)", t.name),
    };
    if changes.is_empty() {
        let mut out = format!(
            "No changes. Deployment {} (stack {}) in account {}, {}: {stack} matches its config.\n",
            loaded.name, loaded.stack.name, f.account, f.region
        );
        for n in &t.notes {
            out.push_str(&format!("note: {n}\n"));
        }
        return out;
    }
    let mut out = format!(
        "Deployment {} (stack {}) in account {}, {}, through {stack}:\n\n",
        loaded.name, loaded.stack.name, f.account, f.region
    );
    for c in changes {
        let (symbol, template) = match c.action {
            Action::Add => ("+", &t.template),
            Action::Modify => ("~", &t.template),
            Action::Remove => ("-", old.unwrap_or(&t.template)),
        };
        let symbol = if c.replacement.as_deref() == Some("True") { "-/+" } else { symbol };
        out.push_str(&format!("  {symbol} {}\n", describe(template, c)));
        if let (Action::Modify, Some(old)) = (c.action, old) {
            for line in changed_lines(old, &t.template, &c.logical_id, f) {
                out.push_str(&format!("        {line}\n"));
            }
        }
    }
    out.push('\n');
    for n in &t.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    let count = |a: Action| changes.iter().filter(|c| c.action == a).count();
    out.push_str(&format!(
        "Plan: {} to create, {} to update, {} to delete (CloudFormation applies it as one stack {}).\n",
        count(Action::Add),
        count(Action::Modify),
        count(Action::Remove),
        if t.live.is_some() { "update" } else { "creation" }
    ));
    out
}

/// The lines of resource `logical_id`'s properties that change from `old` to `new`, with
/// ARNs written out for `f`.
pub(super) fn changed_lines(old: &Value, new: &Value, logical_id: &str, f: &Facts) -> Vec<String> {
    let before = resolved(&old["Resources"][logical_id]["Properties"], f);
    let after = resolved(&new["Resources"][logical_id]["Properties"], f);
    crate::policy::diff(&before, &after)
}

/// `v` with each `Fn::Sub` of the account, region and partition written out, as a
/// reader compares ARNs.
fn resolved(v: &Value, f: &Facts) -> Value {
    match v {
        Value::Object(o) if o.len() == 1 && o.get("Fn::Sub").is_some_and(Value::is_string) => {
            let s = o["Fn::Sub"].as_str().unwrap_or_default();
            Value::String(
                s.replace("${AWS::Partition}", &f.partition)
                    .replace("${AWS::Region}", &f.region)
                    .replace("${AWS::AccountId}", &f.account),
            )
        }
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), resolved(v, f))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(|v| resolved(v, f)).collect()),
        other => other.clone(),
    }
}

fn plan_json(loaded: &Loaded, t: &Target, changes: &[Change]) -> Value {
    let action = |a: Action| match a {
        Action::Add => "create",
        Action::Modify => "update",
        Action::Remove => "delete",
    };
    serde_json::json!({
        "format_version": 1,
        "deployment": loaded.name,
        "stack": loaded.stack.name,
        "account": t.facts.account,
        "region": t.facts.region,
        "engine": "cloudformation",
        "cloudformation_stack": t.name,
        "changes": changes.iter().map(|c| serde_json::json!({
            "action": action(c.action),
            "logical_id": c.logical_id,
            "type": c.kind,
            "physical_id": c.physical_id,
            "replacement": c.replacement,
            "description": describe(&t.template, c),
        })).collect::<Vec<_>>(),
        "notes": t.notes,
    })
}
