//! `lakepass teardown` of a deployment built by one CloudFormation stack: delete the
//! stack, wait, then make sure what it held is gone.

use super::stack_engine::{Lines, address, all_added, describe, ours, rank};
use super::*;
use crate::cfn::engine;
use crate::cfn::launch::stack_name;
use crate::observe::OWNER_TAG;
use serde_json::Value;

/// `lakepass teardown` for a deployment built by a stack: deletes the stack, then makes
/// sure what it held is gone.
pub(super) async fn teardown(g: &Global, o: &TeardownOpts, loaded: Loaded) -> Result<i32, Error> {
    let (aws, facts, store, state) = open(g, &loaded).await?;
    let name = stack_name(&loaded.name);
    let live = match &state.stack_id {
        Some(id) => engine::find(&aws.cloudformation, id).await?,
        None if state.pending.contains(&address(&name)) || o.adopt => {
            engine::find(&aws.cloudformation, &name).await?.filter(|l| o.adopt || ours(l, &loaded.name))
        }
        None => None,
    };
    let Some(live) = live else {
        return nothing(&loaded, &facts, store, o.plan_only, "CloudFormation stack").await;
    };
    let resources = engine::resources(&aws.cloudformation, &live.id).await?;
    let template = engine::template(&aws.cloudformation, &live.id).await?;
    let mut out = format!(
        "Deployment {} (stack {}) in account {}, {}: delete CloudFormation stack {name} ({}):\n\n",
        loaded.name, loaded.stack.name, facts.account, facts.region, live.status
    );
    let mut kept = Vec::new();
    let mut removed = all_added(&template);
    removed.sort_by_key(|c| (rank(&c.kind), c.logical_id.clone()));
    for c in &removed {
        if template["Resources"][&c.logical_id]["DeletionPolicy"] == "Retain" {
            kept.push(describe(&template, c));
        } else {
            out.push_str(&format!("  - {}\n", describe(&template, c)));
        }
    }
    out.push('\n');
    for k in &kept {
        out.push_str(&format!("note: {k} stays: the stack retains it (DeletionPolicy: Retain)\n"));
    }
    let count = removed.len() - kept.len();
    out.push_str(&format!("Plan: 0 to create, 0 to update, {count} to delete.\n"));
    print(&out);
    if o.plan_only {
        return Ok(0);
    }
    confirm(&format!("Remove these resources from account {}", facts.account), o.yes)?;
    let deleted = engine::delete(&aws.cloudformation, &live.id, &Lines).await;
    // What the stack made and CloudFormation did not delete is cleaned up (only that).
    let left = leftovers(&aws, &loaded.name, &held(&resources, &template, &facts)).await?;
    if let Err(e) = deleted
        && engine::find(&aws.cloudformation, &live.id).await?.is_some()
    {
        // Deleting again once the stack's own leftovers are gone; if it fails again, say why.
        engine::delete(&aws.cloudformation, &live.id, &Lines)
            .await
            .map_err(|again| Error::Other(format!("{e}; deleting again failed too: {again}")))?;
    }
    store.remove().await?;
    let _ = std::fs::remove_file(loaded.project.state_dir().join(format!("{}.lock", loaded.name)));
    print(&format!(
        "Teardown complete: deleted stack {name} and its {count} resource(s); the state of {} is gone.\n",
        loaded.name
    ));
    for l in left {
        print(&format!("note: {l}\n"));
    }
    Ok(0)
}

/// Connects once, locks the state and checks it belongs to this deployment, account,
/// region and engine.
pub(super) async fn open(g: &Global, loaded: &Loaded) -> Result<(Aws, Facts, Store, State), Error> {
    let (aws, facts, _) = loaded.connect(g).await?;
    let (store, state) = loaded.open_state(&aws).await?;
    check_state(&state, &loaded.name, &loaded.stack.name, &facts, store.path())?;
    check_engine(loaded, &state)?;
    Ok((aws, facts, store, state))
}

/// A deployment whose stack (or StackSet, `what`) is not there: says so and, unless only
/// planning, lets go of its state.
pub(super) async fn nothing(
    loaded: &Loaded,
    facts: &Facts,
    store: Store,
    plan_only: bool,
    what: &str,
) -> Result<i32, Error> {
    print(&format!("Nothing to tear down: deployment {} has no {what} in account {}.\n", loaded.name, facts.account));
    if !plan_only {
        store.remove().await?;
        let _ = std::fs::remove_file(loaded.project.state_dir().join(format!("{}.lock", loaded.name)));
    }
    Ok(0)
}

/// The roles and managed policies (by ARN) a stack holds: as CloudFormation lists them,
/// and as its template names them (an endpoint may lose a physical ID on an update).
fn held(resources: &[(String, String, String)], template: &Value, facts: &Facts) -> Vec<(String, String, String)> {
    let mut all: Vec<(String, String, String)> = resources.iter().filter(|r| !r.2.is_empty()).cloned().collect();
    for (id, r) in template["Resources"].as_object().into_iter().flatten() {
        let p = &r["Properties"];
        let entry = match r["Type"].as_str() {
            Some(kind @ "AWS::IAM::Role") => p["RoleName"].as_str().map(|n| (kind, n.to_string())),
            Some(kind @ "AWS::IAM::ManagedPolicy") => {
                p["ManagedPolicyName"].as_str().map(|n| (kind, facts.policy_arn(n)))
            }
            _ => None,
        };
        if let Some((kind, physical)) = entry
            && !all.iter().any(|x| x.0 == kind && x.2 == physical)
        {
            all.push((kind.to_string(), id.clone(), physical));
        }
    }
    all
}

/// After the stack is deleted, what it held must be gone too. CloudFormation may leave a
/// resource (a delete that failed or was skipped): a role or managed policy the stack made
/// that is still there is detached from the stack's own and deleted, as long as nothing
/// else uses it. Returns a line for each one deleted or left.
async fn leftovers(aws: &Aws, deployment: &str, resources: &[(String, String, String)]) -> Result<Vec<String>, Error> {
    let mut left = Vec::new();
    let policies: Vec<&str> = resources
        .iter()
        .filter(|r| r.0 == "AWS::IAM::ManagedPolicy" && !r.2.is_empty())
        .map(|r| r.2.as_str())
        .collect();
    let iam = &aws.iam;
    for (_, _, role) in resources.iter().filter(|r| r.0 == "AWS::IAM::Role" && !r.2.is_empty()) {
        let Ok(got) = iam.get_role().role_name(role).send().await else { continue };
        let tagged =
            got.role().is_some_and(|r| r.tags().iter().any(|t| t.key() == OWNER_TAG && t.value() == deployment));
        let attached = iam
            .list_attached_role_policies()
            .role_name(role)
            .send()
            .await
            .map_err(|e| crate::aws::classify("iam:ListAttachedRolePolicies", "", e))?;
        let foreign: Vec<&str> = attached
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn())
            .filter(|arn| !policies.contains(arn))
            .collect();
        let inline = iam
            .list_role_policies()
            .role_name(role)
            .send()
            .await
            .map_err(|e| crate::aws::classify("iam:ListRolePolicies", "", e))?;
        if !tagged || !foreign.is_empty() || !inline.policy_names().is_empty() {
            left.push(format!(
                "CloudFormation left role {role}, which holds policies the stack did not put there ({}): left in place; delete it by hand once they are moved",
                foreign.iter().map(|s| s.to_string()).chain(inline.policy_names().iter().cloned()).collect::<Vec<_>>().join(", ")
            ));
            continue;
        }
        for arn in attached.attached_policies().iter().filter_map(|p| p.policy_arn()) {
            iam.detach_role_policy()
                .role_name(role)
                .policy_arn(arn)
                .send()
                .await
                .map_err(|e| crate::aws::classify("iam:DetachRolePolicy", "", e))?;
        }
        iam.delete_role().role_name(role).send().await.map_err(|e| crate::aws::classify("iam:DeleteRole", "", e))?;
        left.push(format!("CloudFormation left role {role}, which the stack made: lakepass deleted it"));
    }
    for arn in policies {
        let Ok(entities) = iam.list_entities_for_policy().policy_arn(arn).send().await else { continue };
        if !entities.policy_roles().is_empty()
            || !entities.policy_users().is_empty()
            || !entities.policy_groups().is_empty()
        {
            left.push(format!("CloudFormation left policy {arn}, which is still attached elsewhere: left in place"));
            continue;
        }
        let versions = iam
            .list_policy_versions()
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| crate::aws::classify("iam:ListPolicyVersions", "", e))?;
        for v in versions.versions().iter().filter(|v| !v.is_default_version()) {
            iam.delete_policy_version()
                .policy_arn(arn)
                .version_id(v.version_id().unwrap_or_default())
                .send()
                .await
                .map_err(|e| crate::aws::classify("iam:DeletePolicyVersion", "", e))?;
        }
        iam.delete_policy()
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| crate::aws::classify("iam:DeletePolicy", "", e))?;
        left.push(format!("CloudFormation left policy {arn}, which the stack made: lakepass deleted it"));
    }
    Ok(left)
}
