//! `lakepass teardown`: remove exactly what a deployment owns.

use super::look::{Looked, look};
use super::*;
use crate::apply::{self, Applied};
use crate::observe;
use crate::output::{self, Heading, Style};
use crate::plan::{self, Plan};

/// `lakepass teardown`.
pub async fn teardown(g: &Global, o: &TeardownOpts) -> Result<i32, Error> {
    let loaded = Loaded::new(g, g.deployment.as_deref())?;
    if loaded.deployment.targets.is_some() {
        return super::stack_set::teardown(g, o, loaded).await;
    }
    if loaded.deployment.engine == crate::config::Engine::Cloudformation {
        return super::stack_teardown::teardown(g, o, loaded).await;
    }
    let aws = loaded.aws(g).await?;
    // The rendered resources let teardown find what an interrupted first run left before
    // it could write state; with values no longer valid, state alone decides.
    let values = match loaded.values() {
        Ok(values) => Some(values),
        Err(e) => {
            crate::output::warn(&format!("{e}; tearing down only what the state file records"));
            None
        }
    };
    let (store, state) = loaded.open_state(&aws).await?;
    let seen = look(&loaded, &aws, values.as_ref(), &state, store.path(), true).await?;
    let Looked { facts, caller, catalog, candidates, observed, .. } = seen;
    let (mut owned, unrecorded) = plan::discover(&candidates, &observed, &state, &loaded.name, o.adopt);
    let mut plan: Plan = plan::plan(&plan::Input {
        deployment: &loaded.name,
        facts: &facts,
        desired: &[],
        observed: &observed,
        state: &owned,
        adopt: false,
        policy_quota: loaded.deployment.managed_policy_quota.unwrap_or(plan::DEFAULT_POLICY_QUOTA),
        detach_foreign: o.detach_foreign,
        force: o.force,
    })?;
    for a in &mut plan.actions {
        a.reason = format!("created by lakepass for deployment {}", loaded.name);
    }
    for r in &unrecorded {
        plan.notes.push(format!(
            "{r} carries this deployment's tag, but no state records it: left alone (`lakepass teardown --adopt` removes it too)"
        ));
    }
    let needed = plan::grants_needed(&plan);
    if !o.plan_only && !needed.is_empty() {
        let blocked = observe::grant_blockers(&catalog, &caller, &needed);
        if !blocked.is_empty() {
            return Err(Error::CannotGrant { caller: caller.clone(), targets: blocked });
        }
    }
    let denied = observe::iam_denied(&aws, &caller, &plan::iam_needed(&plan, &facts)).await;
    if !denied.is_empty() {
        if !o.plan_only {
            return Err(Error::Denied { caller: caller.clone(), denied });
        }
        plan.notes.push(format!(
            "tearing down will fail: IAM would refuse {caller} {}; ask an administrator to allow them",
            denied.join("; ")
        ));
    }
    // The values last applied wrote the profile target, if any; else today's.
    let applied = state.values.as_object().filter(|v| !v.is_empty()).cloned();
    let profile_values = applied.or_else(|| values.clone());
    let profile = |dry_run: bool| profile_cleanup(&loaded, &facts, profile_values.as_ref(), dry_run);
    if let Some(line) = profile(true)? {
        plan.notes.push(line);
    }
    let heading = Heading { deployment: &loaded.name, stack: &loaded.stack.name, facts: &facts };
    if !plan.has_changes() && owned.resources.is_empty() {
        print(&format!(
            "Nothing to tear down: deployment {} owns no resources in account {}.\n",
            loaded.name, facts.account
        ));
        for n in &plan.notes {
            print(&format!("  note: {n}\n"));
        }
        if !o.plan_only {
            store.remove().await?;
            let _ = std::fs::remove_file(loaded.project.state_dir().join(format!("{}.lock", loaded.name)));
            finish_profile(profile(false));
        }
        return Ok(0);
    }
    print(&output::plan_text(&plan, &heading, Style::detect()));
    if o.plan_only {
        return Ok(0);
    }
    if plan.has_changes() {
        confirm(&format!("Remove these resources from account {}", facts.account), o.yes)?;
    }
    let cx = apply::Context {
        aws: &aws,
        caller: &caller,
        facts: &facts,
        deployment: &loaded.name,
        stack: &loaded.stack.name,
        store: &store,
        propagation: g.propagation,
        progress: &apply::Lines,
        handover: &super::secret::SecretOut::shown(),
    };
    let before = owned.resources.clone();
    if let Err(e) = apply::apply(&cx, &plan, &mut owned, &mut Applied::default()).await {
        return Err(partial(e, &before, &owned, "teardown"));
    }
    if owned.resources.is_empty() {
        store.remove().await?;
        let _ = std::fs::remove_file(loaded.project.state_dir().join(format!("{}.lock", loaded.name)));
        print(&format!(
            "Teardown complete: removed {} resource(s); the state of {} is gone.\n",
            plan.actions.len(),
            loaded.name
        ));
        finish_profile(profile(false));
        Ok(0)
    } else {
        let left: Vec<&String> = owned.resources.keys().collect();
        Err(Error::Other(format!("teardown left resources it still records: {left:?}")))
    }
}

/// What became of the profile target, once AWS is torn down: a line, or a warning
/// (the AWS side is done either way).
fn finish_profile(done: Result<Option<String>, Error>) {
    match done {
        Ok(Some(line)) => print(&format!("{line}\n")),
        Ok(None) => {}
        Err(e) => crate::output::warn(&format!("the profile target was not removed: {e}")),
    }
}

/// Removes the profile target the deployment wrote (with `dry_run`, says it would):
/// only a target lakepass wrote and nobody edited since; the line to show, if any.
fn profile_cleanup(
    loaded: &Loaded,
    facts: &Facts,
    values: Option<&Values>,
    dry_run: bool,
) -> Result<Option<String>, Error> {
    use crate::profile::Removed;
    let Some(v) = values else { return Ok(None) };
    let Some(t) = super::provision::profile_of(loaded, facts, v)? else { return Ok(None) };
    let label = &t.label;
    let file = crate::profile::expand(&t.path);
    let at = format!("target {} of profile {} in {}", t.target, t.profile, file.display());
    Ok(match crate::profile::remove(&file, &t.profile, &t.target, &t.fields, &loaded.name, dry_run)? {
        Removed::Absent => None,
        Removed::NotOurs => {
            Some(format!("{label}: {at} was not written by lakepass for {}: left in place", loaded.name))
        }
        Removed::Edited => Some(format!(
            "{label}: {at} was edited since lakepass wrote it: left in place (it names a role that teardown removes; delete it by hand)"
        )),
        Removed::Removed { .. } if dry_run => Some(format!("{label}: {at} is removed too")),
        Removed::Removed { backup: Some(b) } => Some(format!("{label}: removed {at} (backup: {})", b.display())),
        Removed::Removed { backup: None } => {
            Some(format!("{label}: removed {at}; the file held nothing else and is gone"))
        }
    })
}
