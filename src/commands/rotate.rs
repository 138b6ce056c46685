//! `lakepass rotate-key`: a new access key for a deployment's user, handed over while the
//! previous key keeps working (IAM allows two), and the previous key deleted only once
//! the user says the vendor has switched (`--finish`, or yes when asked).

use super::provision::Handoff;
use super::secret::SecretOut;
use super::*;
use crate::apply::{self, Applied};
use crate::observe::{self, Names};
use crate::output::{self, Heading, Style};
use crate::plan::{KeyTag, Plan, Rotation};

#[derive(Debug, Clone, Default)]
pub struct RotateOpts {
    /// Delete the previous key of a rotation under way (the vendor uses the new one).
    pub finish: bool,
    pub yes: bool,
    pub secret_file: Option<PathBuf>,
    pub replace_secret_file: bool,
}

/// `lakepass rotate-key`. Returns the exit code.
pub async fn rotate_key(g: &Global, o: &RotateOpts) -> Result<i32, Error> {
    let loaded = Loaded::new(g, g.deployment.as_deref())?;
    let values = loaded.values()?;
    let aws = loaded.aws(g).await?;
    let (store, mut state) = loaded.open_state(&aws).await?;
    let (facts, caller) = aws.whoami().await?;
    check_account(&loaded.name, &loaded.deployment, &facts, &caller)?;
    check_state(&state, &loaded.name, &loaded.stack.name, &facts, store.path())?;
    let key = state.resources.values().find_map(|o| match &o.resource {
        Resource::AccessKey { user } => Some((o.resource.clone(), user.clone(), o.access_key_id.clone())),
        _ => None,
    });
    let Some((resource, user, recorded)) = key else {
        return Err(Error::Value {
            field: format!("deployments.{}", loaded.name),
            problem: "has no access key lakepass manages (its access is a role, or it was never provisioned)".into(),
            fix: "rotate-key is for user access (`access: user`): provision the deployment first".into(),
        });
    };
    let names = Names { users: [user.clone()].into(), ..Names::default() };
    let iam = observe::read_iam(&aws, &facts, &names).await.map_err(|e| e.for_caller(&caller))?;
    let (keys, tag) = match iam.users.get(&user) {
        Some(u) => (u.keys.clone(), u.key_tag.as_deref().map(KeyTag::parse).unwrap_or_default()),
        None => (Vec::new(), KeyTag::default()),
    };
    let step = crate::plan::rotation(&user, &keys, &tag, recorded.as_deref())?;
    let heading = Heading { deployment: &loaded.name, stack: &loaded.stack.name, facts: &facts };
    let cx_parts = (&aws, &caller, &facts, &loaded, &store);
    let (old, new) = match step {
        Rotation::Start { .. } if o.finish => {
            return Err(Error::Value {
                field: "--finish".into(),
                problem: format!("has no rotation to finish: user {user} has one key"),
                fix: "run `lakepass rotate-key` without --finish to start one".into(),
            });
        }
        Rotation::Start { old } => {
            let plan = crate::plan::rotation_plan(&resource, &user, &Rotation::Start { old: old.clone() });
            check_rights(&aws, &caller, &plan, &facts).await?;
            print(&output::plan_text(&plan, &heading, Style::detect()));
            confirm(&format!("Create a new access key for user {user} in account {}", facts.account), o.yes)?;
            let handover = match &o.secret_file {
                Some(path) => SecretOut::to_file(path, o.replace_secret_file)?,
                None => SecretOut::shown(),
            };
            let mut applied = Applied::default();
            run(cx_parts, g, &plan, &mut state, &handover, &mut applied).await?;
            print(&Handoff::new(&loaded, &facts, &values, &state, applied).plain());
            let new = state.resources.get(&resource.address()).and_then(|o| o.access_key_id.clone());
            (old, new.unwrap_or_default())
        }
        Rotation::Finishing { old, new } => {
            if !o.finish {
                crate::output::say(&format!(
                    "A rotation is under way: {new} is the key to use; the previous key {old} still works."
                ));
            }
            (old, new)
        }
    };
    let finish = o.finish
        || (!o.yes
            && std::io::stdin().is_terminal()
            && std::io::stderr().is_terminal()
            && dialoguer::Confirm::new()
                .with_prompt(format!("Does the vendor use the new key {new} now? Delete the previous key {old}"))
                .default(false)
                .interact()
                .map_err(|e| Error::Other(format!("could not read the answer: {e}")))?);
    if !finish {
        crate::output::say(&format!(
            "The previous key {old} keeps working. Once the vendor uses {new}, run `lakepass rotate-key --finish -d {}` to delete it.",
            loaded.name
        ));
        return Ok(0);
    }
    let plan =
        crate::plan::rotation_plan(&resource, &user, &Rotation::Finishing { old: old.clone(), new: new.clone() });
    check_rights(&aws, &caller, &plan, &facts).await?;
    if o.finish {
        print(&output::plan_text(&plan, &heading, Style::detect()));
        confirm(&format!("Delete the previous key {old} of user {user} (the vendor must use {new} by now)"), o.yes)?;
    }
    run(cx_parts, g, &plan, &mut state, &SecretOut::shown(), &mut Applied::default()).await?;
    print(&format!("Deleted the previous key {old}; {new} is the only key of user {user}.\n"));
    Ok(0)
}

/// IAM's policy simulator on the rotation's calls, before any change.
async fn check_rights(aws: &Aws, caller: &str, plan: &Plan, facts: &Facts) -> Result<(), Error> {
    let denied = observe::iam_denied(aws, caller, &crate::plan::iam_needed(plan, facts)).await;
    if denied.is_empty() { Ok(()) } else { Err(Error::Denied { caller: caller.to_string(), denied }) }
}

type Parts<'a> = (&'a Aws, &'a String, &'a Facts, &'a Loaded, &'a Store);

/// Applies one rotation step, recording state.
async fn run(
    (aws, caller, facts, loaded, store): Parts<'_>,
    g: &Global,
    plan: &Plan,
    state: &mut State,
    handover: &SecretOut,
    applied: &mut Applied,
) -> Result<(), Error> {
    let cx = apply::Context {
        aws,
        caller,
        facts,
        deployment: &loaded.name,
        stack: &loaded.stack.name,
        store,
        propagation: g.propagation,
        progress: &apply::Lines,
        handover,
    };
    let before = state.resources.clone();
    apply::apply(&cx, plan, state, applied).await.map_err(|e| partial(e, &before, state, "rotate-key"))?;
    crate::output::say(&output::applied(plan));
    Ok(())
}
