//! `engine: cloudformation` with `targets:`: the deployment's template as a StackSet,
//! `lakepass-NAME`, with a stack instance in each target account (or each account of the
//! target organizational units) and region. Plan, provision, status and teardown as for
//! one stack; the state records the StackSet's ID.

use super::look::{Looked, look};
use super::stack_engine::{Rendered, all_added, changed_lines, describe, rank, tags, template_text};
use super::*;
use crate::cfn::engine::{Action, Change, Deploy};
use crate::cfn::launch::stack_name;
use crate::cfn::stackset::{self, Instance, Set, Where};
use crate::config::Targets;
use crate::model::Principal;
use crate::observe::OWNER_TAG;
use serde_json::Value;

/// The StackSet and where its instances go.
struct Plan {
    name: String,
    text: String,
    template: Value,
    parameters: Vec<(String, String)>,
    tags: Vec<(String, String)>,
    facts: Facts,
    targets: Targets,
    regions: Vec<String>,
    set: Option<Set>,
    /// What changes in each instance's template (an existing StackSet).
    changes: Vec<Change>,
    old: Option<Value>,
    instances: Vec<Instance>,
    /// Targets (account or unit, region) without an instance, and instances no target wants.
    add: Vec<(String, String)>,
    remove: Vec<(String, String)>,
    notes: Vec<String>,
}

impl Plan {
    fn deploy(&self) -> Deploy<'_> {
        Deploy { name: &self.name, template: &self.text, parameters: &self.parameters, tags: &self.tags }
    }

    fn has_changes(&self) -> bool {
        self.set.is_none() || !self.changes.is_empty() || !self.add.is_empty() || !self.remove.is_empty()
    }

    fn by_unit(&self) -> bool {
        !self.targets.organizational_units.is_empty()
    }
}

fn key(i: &Instance, by_unit: bool) -> (String, String) {
    let target = if by_unit { i.unit.clone().unwrap_or_default() } else { i.account.clone() };
    (target, i.region.clone())
}

async fn plan(g: &Global, loaded: &Loaded, aws: &Aws, state: &State, adopt: bool) -> Result<Plan, Error> {
    let _ = g;
    let targets = loaded.deployment.targets.clone().unwrap_or_default();
    let values = loaded.values()?;
    let seen = look(loaded, aws, Some(&values), state, &loaded.state_label(), false).await?;
    let Looked { facts, desired, scope, data_note, .. } = seen;
    let Rendered { template, text, parameters } = template_text(loaded, &values, &facts, &desired)?;
    let name = stack_name(&loaded.name);
    let mut notes: Vec<String> = scope.into_iter().chain(data_note).collect();
    notes.push(format!(
        "the catalog of account {} decided the policies; each target account needs the same databases, and the StackSet's execution role there must be a Lake Formation data lake administrator to grant",
        facts.account
    ));
    let regions = if targets.regions.is_empty() { vec![facts.region.clone()] } else { targets.regions.clone() };
    let set = match stackset::find(&aws.cloudformation, &name).await? {
        Some(set) => {
            let recorded = state.stack_set_id.as_deref() == Some(set.id.as_str());
            let tagged = set.tags.iter().any(|(k, v)| k == OWNER_TAG && v == &loaded.name);
            let pending = state.pending.contains(&address(&name));
            if !(recorded || adopt || tagged && pending) {
                return Err(Error::Value {
                    field: format!("deployments.{}.targets", loaded.name),
                    problem: format!("are set, and a StackSet named {name} exists that lakepass did not create ({})", set.id),
                    fix: "delete it if it is a leftover, or pass --adopt to take it over (its instances become this deployment's)".into(),
                });
            }
            Some(set)
        }
        None => {
            if state.stack_set_id.is_some() {
                notes.push(format!(
                    "the StackSet the state records is gone (deleted outside lakepass): {name} is created again"
                ));
            }
            None
        }
    };
    let by_unit = !targets.organizational_units.is_empty();
    if let Some(set) = &set
        && set.service_managed != by_unit
    {
        return Err(Error::Value {
            field: format!("deployments.{}.targets", loaded.name),
            problem: format!(
                "name {}, but StackSet {name} is {}",
                if by_unit { "organizational units" } else { "accounts" },
                if set.service_managed { "service-managed (organizational units)" } else { "self-managed (accounts)" }
            ),
            fix: "tear the deployment down before switching between accounts and organizational units".into(),
        });
    }
    let (changes, old, instances) = match &set {
        Some(set) => {
            let old: Value = serde_json::from_str(&set.template).unwrap_or(Value::Null);
            (template_changes(&old, &template), Some(old), stackset::instances(&aws.cloudformation, &name).await?)
        }
        None => (Vec::new(), None, Vec::new()),
    };
    let wanted: Vec<(String, String)> = {
        let ids = if by_unit { &targets.organizational_units } else { &targets.accounts };
        ids.iter().flat_map(|t| regions.iter().map(move |r| (t.clone(), r.clone()))).collect()
    };
    // A service-managed StackSet's instances are per account; which units they came from
    // is what lakepass deployed (an instance does not always say).
    let have: std::collections::BTreeSet<(String, String)> =
        if by_unit { state.stack_set_units.clone() } else { instances.iter().map(|i| key(i, false)).collect() };
    let add = wanted.iter().filter(|w| !have.contains(*w)).cloned().collect();
    let remove = have.iter().filter(|h| !wanted.contains(h)).cloned().collect();
    if !by_unit {
        check_roles(aws, &facts, &loaded.name).await?;
    }
    Ok(Plan {
        name,
        text,
        template,
        parameters,
        tags: tags(loaded),
        facts,
        targets,
        regions,
        set,
        changes,
        old,
        instances,
        add,
        remove,
        notes,
    })
}

/// A self-managed StackSet needs AWS's administration role in this account (and the
/// execution role in each target account, which only the deployment can show).
async fn check_roles(aws: &Aws, facts: &Facts, deployment: &str) -> Result<(), Error> {
    const ADMIN: &str = "AWSCloudFormationStackSetAdministrationRole";
    match aws.iam.get_role().role_name(ADMIN).send().await {
        Ok(_) => Ok(()),
        Err(e) if crate::aws::is_not_found(&e) => Err(Error::Value {
            field: format!("deployments.{deployment}.targets.accounts"),
            problem: format!(
                "make a self-managed StackSet, which needs the role {ADMIN} in account {}; it has none",
                facts.account
            ),
            fix: format!(
                "create {ADMIN} here and AWSCloudFormationStackSetExecutionRole (trusting it) in each target account, as AWS's guide to self-managed permissions shows; or use organizational_units (service-managed)"
            ),
        }),
        Err(e) => Err(crate::aws::classify("iam:GetRole", "", e)),
    }
}

/// The resources an instance's template change adds, modifies and removes.
fn template_changes(old: &Value, new: &Value) -> Vec<Change> {
    let empty = serde_json::Map::new();
    let (o, n) = (old["Resources"].as_object().unwrap_or(&empty), new["Resources"].as_object().unwrap_or(&empty));
    let change = |action, id: &String, r: &Value| Change {
        action,
        logical_id: id.clone(),
        kind: r["Type"].as_str().unwrap_or_default().to_string(),
        physical_id: None,
        replacement: None,
    };
    let mut changes: Vec<Change> = n
        .iter()
        .filter_map(|(id, r)| match o.get(id) {
            None => Some(change(Action::Add, id, r)),
            Some(before) if before != r => Some(change(Action::Modify, id, r)),
            _ => None,
        })
        .chain(o.iter().filter(|(id, _)| !n.contains_key(*id)).map(|(id, r)| change(Action::Remove, id, r)))
        .collect();
    // Parameters or outputs alone also make a new template for every instance.
    if changes.is_empty() && old != new {
        changes.push(Change {
            action: Action::Modify,
            logical_id: "template".into(),
            kind: "parameters and outputs".into(),
            physical_id: None,
            replacement: None,
        });
    }
    changes.sort_by_key(|c| (c.action, rank(&c.kind), c.logical_id.clone()));
    changes
}

fn plan_text(loaded: &Loaded, p: &Plan) -> String {
    let f = &p.facts;
    let kind = if p.by_unit() { "service-managed" } else { "self-managed" };
    let set = match &p.set {
        Some(_) => format!("CloudFormation StackSet {} ({kind})", p.name),
        None => format!("CloudFormation StackSet {} (new, {kind})", p.name),
    };
    if !p.has_changes() {
        let mut out = format!(
            "No changes. Deployment {} (stack {}) in account {}, {}: {set} and its {} instance(s) match the config.\n",
            loaded.name,
            loaded.stack.name,
            f.account,
            f.region,
            p.instances.len()
        );
        for n in &p.notes {
            out.push_str(&format!("note: {n}\n"));
        }
        return out;
    }
    let mut out = format!(
        "Deployment {} (stack {}) in account {}, {}, through {set}:\n\n",
        loaded.name, loaded.stack.name, f.account, f.region
    );
    let what = if p.by_unit() { "organizational unit" } else { "account" };
    if p.set.is_none() {
        out.push_str("  each stack instance holds:\n");
        let mut all = all_added(&p.template);
        all.sort_by_key(|c| (rank(&c.kind), c.logical_id.clone()));
        for c in &all {
            out.push_str(&format!("    + {}\n", describe(&p.template, c)));
        }
    } else if !p.changes.is_empty() {
        out.push_str(&format!("  ~ the template of all {} stack instance(s):\n", p.instances.len()));
        for c in &p.changes {
            let (symbol, template) = match c.action {
                Action::Add => ("+", &p.template),
                Action::Modify => ("~", &p.template),
                Action::Remove => ("-", p.old.as_ref().unwrap_or(&p.template)),
            };
            if c.logical_id == "template" {
                out.push_str("    ~ its parameters or outputs\n");
                continue;
            }
            out.push_str(&format!("    {symbol} {}\n", describe(template, c)));
            if let (Action::Modify, Some(old)) = (c.action, &p.old) {
                // Each instance has its own account and region.
                let each =
                    Facts { account: "<account>".into(), region: "<region>".into(), partition: f.partition.clone() };
                for line in changed_lines(old, &p.template, &c.logical_id, &each) {
                    out.push_str(&format!("          {line}\n"));
                }
            }
        }
    }
    for (t, r) in &p.add {
        out.push_str(&format!("  + stack instance in {what} {t}, {r}\n"));
    }
    for (t, r) in &p.remove {
        out.push_str(&format!("  - stack instance in {what} {t}, {r}\n"));
    }
    out.push('\n');
    for n in &p.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    out.push_str(&format!(
        "Plan: {} stack instance target(s) to create, {} to update, {} to delete.\n",
        p.add.len(),
        if p.changes.is_empty() { 0 } else { p.instances.len() },
        p.remove.len()
    ));
    out
}

fn address(name: &str) -> String {
    format!("cloudformation-stack-set/{name}")
}

/// Groups (target, region) pairs into calls: one per distinct set of regions.
fn groups(pairs: &[(String, String)]) -> Vec<(Vec<String>, Vec<String>)> {
    let mut by_target: std::collections::BTreeMap<&str, Vec<String>> = std::collections::BTreeMap::new();
    for (t, r) in pairs {
        by_target.entry(t).or_default().push(r.clone());
    }
    let mut calls: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    for (t, regions) in by_target {
        match calls.iter_mut().find(|(_, r)| *r == regions) {
            Some((targets, _)) => targets.push(t.to_string()),
            None => calls.push((vec![t.to_string()], regions)),
        }
    }
    calls
}

/// `lakepass provision [--plan]` of a StackSet deployment.
pub(super) async fn provision(g: &Global, o: &ProvisionOpts, loaded: Loaded) -> Result<i32, Error> {
    let aws = loaded.aws(g).await?;
    let (store, mut state) = if o.plan_only {
        (None, loaded.peek_state(&aws).await?)
    } else {
        let (store, state) = loaded.open_state(&aws).await?;
        (Some(store), state)
    };
    let p = plan(g, &loaded, &aws, &state, o.adopt).await?;
    let text = plan_text(&loaded, &p);
    if o.plan_only {
        print(&text);
        return Ok(if o.detailed_exitcode && p.has_changes() { 2 } else { 0 });
    }
    let store = store.expect("locked above");
    print(&text);
    if p.has_changes() {
        confirm(&format!("Apply these changes through StackSet {} from account {}", p.name, p.facts.account), o.yes)?;
    }
    let cf = &aws.cloudformation;
    if p.set.is_none() {
        state.pending.insert(address(&p.name));
        state.account.get_or_insert_with(|| p.facts.account.clone());
        state.region.get_or_insert_with(|| p.facts.region.clone());
        store.save(&mut state).await?;
        let id = stackset::create(cf, &p.deploy(), p.by_unit()).await?;
        state.pending.remove(&address(&p.name));
        state.stack_set_id = Some(id);
        store.save(&mut state).await?;
    } else if !p.changes.is_empty() {
        stackset::update(cf, &p.deploy()).await?;
    }
    if state.stack_set_id.is_none() {
        state.stack_set_id = p.set.as_ref().map(|s| s.id.clone());
        state.pending.remove(&address(&p.name));
    }
    for (targets, regions) in groups(&p.add) {
        let w = if p.by_unit() { Where::Units(&targets) } else { Where::Accounts(&targets) };
        crate::output::say(&format!("  adding stack instances in {} ({})", targets.join(", "), regions.join(", ")));
        stackset::add(cf, &p.name, w, &regions).await?;
        if p.by_unit() {
            state
                .stack_set_units
                .extend(targets.iter().flat_map(|t| regions.iter().map(move |r| (t.clone(), r.clone()))));
            store.save(&mut state).await?;
        }
    }
    for (targets, regions) in groups(&p.remove) {
        let w = if p.by_unit() { Where::Units(&targets) } else { Where::Accounts(&targets) };
        crate::output::say(&format!("  removing stack instances in {} ({})", targets.join(", "), regions.join(", ")));
        stackset::remove(cf, &p.name, w, &regions).await?;
        state.stack_set_units.retain(|(t, r)| !(targets.contains(t) && regions.contains(r)));
        store.save(&mut state).await?;
    }
    state.values = Value::Object(loaded.deployment.values.clone());
    store.save(&mut state).await?;
    let instances = stackset::instances(cf, &p.name).await?;
    print(&handoff(&loaded, &p, &instances)?);
    Ok(0)
}

/// What the vendor's form asks for: the role in each account, and the stack's own rows.
fn handoff(loaded: &Loaded, p: &Plan, instances: &[Instance]) -> Result<String, Error> {
    let role = p.template["Resources"].as_object().and_then(|r| {
        r.values().find(|x| x["Type"] == "AWS::IAM::Role").and_then(|x| x["Properties"]["RoleName"].as_str())
    });
    let mut out = format!("\nConnect {} (deployment {}, StackSet {}):\n", loaded.stack.name, loaded.name, p.name);
    let mut accounts: Vec<&str> = instances.iter().map(|i| i.account.as_str()).collect();
    accounts.dedup();
    if let Some(role) = role {
        for account in accounts {
            let facts = Facts { account: account.to_string(), ..p.facts.clone() };
            let arn = Principal::Role(role.to_string()).arn(&facts);
            out.push_str(&format!("  {:<15} {arn}\n", "role ARN:"));
        }
    }
    for (label, value) in Handoff::stack_rows(loaded, &p.facts, &loaded.values()?) {
        out.push_str(&format!("  {:<15} {value}\n", format!("{label}:")));
    }
    out.push_str(&format!("  {:<15} {}\n", "regions:", p.regions.join(", ")));
    Ok(out)
}

/// `lakepass status` rows of a StackSet deployment: (condition, address, description, reason).
pub(super) async fn status(g: &Global, loaded: &Loaded) -> Result<(Facts, Vec<[String; 4]>, Vec<String>), Error> {
    let aws = loaded.aws(g).await?;
    let state = loaded.peek_state(&aws).await?;
    let mut p = plan(g, loaded, &aws, &state, false).await?;
    let what = if p.by_unit() { "organizational unit" } else { "account" };
    let mut rows = Vec::new();
    for i in &p.instances {
        let (t, r) = key(i, p.by_unit());
        let (condition, reason) = if p.remove.contains(&(t.clone(), r.clone())) {
            ("to remove", "no longer a target".to_string())
        } else if i.drift.as_deref() == Some("DRIFTED") {
            ("drifted", "changed outside the stack".to_string())
        } else if i.status == "INOPERABLE" {
            ("missing", i.reason.clone().unwrap_or_else(|| "inoperable".into()))
        } else if i.status == "OUTDATED" || !p.changes.is_empty() {
            ("to update", i.reason.clone().unwrap_or_else(|| "the template changed".into()))
        } else {
            ("ok", String::new())
        };
        rows.push([
            condition.to_string(),
            format!("stack-instance/{}/{}", i.account, i.region),
            format!(
                "stack instance in account {}, {}{}",
                i.account,
                i.region,
                i.unit.as_ref().map(|u| format!(" ({u})")).unwrap_or_default()
            ),
            reason,
        ]);
    }
    for (t, r) in &p.add {
        rows.push([
            "to create".into(),
            format!("stack-instance/{t}/{r}"),
            format!("stack instance in {what} {t}, {r}"),
            String::new(),
        ]);
    }
    if p.set.is_none() {
        p.notes.insert(0, format!("StackSet {} does not exist yet", p.name));
    }
    Ok((p.facts, rows, p.notes))
}

/// `lakepass teardown` of a StackSet deployment: every instance, then the StackSet.
pub(super) async fn teardown(g: &Global, o: &TeardownOpts, loaded: Loaded) -> Result<i32, Error> {
    let (aws, facts, store, state) = super::stack_teardown::open(g, &loaded).await?;
    let name = stack_name(&loaded.name);
    let cf = &aws.cloudformation;
    let set = match stackset::find(cf, &name).await? {
        Some(set)
            if state.stack_set_id.as_deref() == Some(set.id.as_str())
                || o.adopt
                || state.pending.contains(&address(&name))
                    && set.tags.iter().any(|(k, v)| k == OWNER_TAG && v == &loaded.name) =>
        {
            Some(set)
        }
        _ => None,
    };
    let Some(set) = set else {
        return super::stack_teardown::nothing(&loaded, &facts, store, o.plan_only, "StackSet").await;
    };
    let instances = stackset::instances(cf, &name).await?;
    let mut out = format!(
        "Deployment {} (stack {}) in account {}, {}: delete CloudFormation StackSet {name} and its stack instances:\n\n",
        loaded.name, loaded.stack.name, facts.account, facts.region
    );
    for i in &instances {
        out.push_str(&format!("  - stack instance in account {}, {}\n", i.account, i.region));
    }
    out.push_str(&format!(
        "  - StackSet {name}\n\nPlan: 0 to create, 0 to update, {} to delete.\n",
        instances.len() + 1
    ));
    print(&out);
    if o.plan_only {
        return Ok(0);
    }
    confirm(&format!("Remove these from account {} and the target accounts", facts.account), o.yes)?;
    let pairs: Vec<(String, String)> = if set.service_managed {
        state.stack_set_units.iter().cloned().collect()
    } else {
        instances.iter().map(|i| key(i, false)).collect()
    };
    for (targets, regions) in groups(&pairs) {
        let w = if set.service_managed { Where::Units(&targets) } else { Where::Accounts(&targets) };
        crate::output::say(&format!("  removing stack instances in {} ({})", targets.join(", "), regions.join(", ")));
        stackset::remove(cf, &name, w, &regions).await?;
    }
    let left = stackset::instances(cf, &name).await?;
    if !left.is_empty() {
        let at: Vec<String> = left.iter().map(|i| format!("{} ({})", i.account, i.region)).collect();
        return Err(Error::Other(format!(
            "StackSet {name} still has stack instances in {} after they were deleted; the StackSet and the state are kept: look at its operations in the console, then run teardown again",
            at.join(", ")
        )));
    }
    stackset::delete(cf, &name).await?;
    store.remove().await?;
    let _ = std::fs::remove_file(loaded.project.state_dir().join(format!("{}.lock", loaded.name)));
    print(&format!(
        "Teardown complete: deleted {} stack instance(s) and StackSet {name}; the state of {} is gone.\n",
        instances.len(),
        loaded.name
    ));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_are_added_in_as_few_calls_as_their_regions_allow() {
        let pairs: Vec<(String, String)> = [
            ("111", "us-east-1"),
            ("111", "eu-west-1"),
            ("222", "us-east-1"),
            ("222", "eu-west-1"),
            ("333", "us-east-1"),
        ]
        .iter()
        .map(|(a, r)| (a.to_string(), r.to_string()))
        .collect();
        assert_eq!(
            groups(&pairs),
            vec![
                (vec!["111".to_string(), "222".to_string()], vec!["us-east-1".to_string(), "eu-west-1".to_string()]),
                (vec!["333".to_string()], vec!["us-east-1".to_string()]),
            ]
        );
    }

    #[test]
    fn a_template_change_names_the_resources_it_adds_changes_and_removes() {
        let old = serde_json::json!({"Resources": {"A": {"Type": "AWS::IAM::Role", "Properties": {"x": 1}}, "B": {"Type": "AWS::IAM::ManagedPolicy"}}});
        let new = serde_json::json!({"Resources": {"A": {"Type": "AWS::IAM::Role", "Properties": {"x": 2}}, "C": {"Type": "AWS::LakeFormation::PrincipalPermissions"}}});
        let got: Vec<(Action, String)> =
            template_changes(&old, &new).into_iter().map(|c| (c.action, c.logical_id)).collect();
        assert_eq!(got, vec![(Action::Add, "C".into()), (Action::Modify, "A".into()), (Action::Remove, "B".into())]);
        assert!(template_changes(&new, &new).is_empty());
        let outputs = serde_json::json!({"Resources": new["Resources"], "Outputs": {"Region": {}}});
        assert_eq!(template_changes(&new, &outputs).len(), 1, "outputs alone are a change");
    }
}
