//! The commands: each loads what it needs, calls the stages in order and reports.
//!
//! Results go to stdout; progress, prompts and warnings to stderr. Input is checked before
//! any AWS call, and nothing is changed before the plan has been shown and confirmed.

mod export;
mod look;
mod provision;
mod rotate;
mod secret;
mod stack_engine;
mod stack_set;
mod stack_teardown;
mod stacks;
mod status;
mod teardown;
mod verify;

pub use export::{ExportOpts, export};
pub use provision::{ApplyOpts, Handoff, Prepared, execute, prepare, provision};

/// `lakepass profile`: the deployment's profiles-file target, on stdout.
pub async fn profile(g: &Global) -> Result<i32, Error> {
    let loaded = Loaded::new(g, g.deployment.as_deref())?;
    let values = loaded.values()?;
    let (_, facts, _) = loaded.connect(g).await?;
    let Some(t) = provision::profile_of(&loaded, &facts, &values)? else {
        return Err(Error::Other(format!("stack {} writes no profile", loaded.stack.name)));
    };
    print(&crate::profile::profile_text(&t.profile, &t.target, &t.fields, &loaded.name));
    Ok(0)
}
pub use rotate::{RotateOpts, rotate_key};
pub use stacks::{project_dir, stacks};
pub use status::{StatusOpts, status};
pub use teardown::teardown;
pub use verify::{VERIFY_FAILED, VerifyOpts, after_apply as verify_after_apply, verify};

use crate::aws::{Aws, Connect};
use crate::config::{Deployment, Engine, Project};
use crate::error::Error;
use crate::model::{Facts, Resource};
use crate::stack::{Stack, Values, validate_values};
use crate::state::{State, Store};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Options every command shares.
#[derive(Debug, Clone)]
pub struct Global {
    pub config: PathBuf,
    pub deployment: Option<String>,
    pub connect: Connect,
    pub stack_file: Option<PathBuf>,
    /// How long to retry while IAM changes propagate to Lake Formation.
    pub propagation: Duration,
}

#[derive(Debug, Clone, Default)]
pub struct ProvisionOpts {
    pub plan_only: bool,
    pub json: bool,
    pub detailed_exitcode: bool,
    pub yes: bool,
    pub adopt: bool,
    pub secret_file: Option<PathBuf>,
    pub replace_secret_file: bool,
    /// Replace a profiles.yml target lakepass did not write.
    pub overwrite_profile: bool,
    /// Delete an owned Glue database no longer wanted that still holds tables.
    pub force: bool,
}

/// What a plan may do beyond creating, changing and deleting what the deployment owns.
#[derive(Debug, Clone, Copy, Default)]
pub struct Consent {
    /// Take over existing resources with the target names (--adopt).
    pub adopt: bool,
    /// Delete an owned Glue database that still holds tables (--force).
    pub force: bool,
}

#[derive(Debug, Clone, Default)]
pub struct TeardownOpts {
    pub plan_only: bool,
    pub yes: bool,
    /// Also remove resources carrying this deployment's tag that no state records.
    pub adopt: bool,
    /// Take off policies others put on the role or user before deleting it.
    pub detach_foreign: bool,
    /// Delete an owned Glue database that still holds tables.
    pub force: bool,
}

/// A deployment loaded and checked, not yet connected.
pub struct Loaded {
    pub project: Project,
    pub name: String,
    pub deployment: Deployment,
    pub stack: Stack,
}

impl Loaded {
    pub(crate) fn new(g: &Global, name: Option<&str>) -> Result<Loaded, Error> {
        let project = Project::load(&g.config)?;
        let (name, deployment) = project.deployment(name)?;
        let deployment = deployment.clone();
        Loaded::with(g, project, name, deployment)
    }

    /// A deployment that may not be in the config file yet (the wizard's).
    pub(crate) fn with(g: &Global, project: Project, name: String, deployment: Deployment) -> Result<Loaded, Error> {
        let stack = match &g.stack_file {
            Some(path) => Stack::from_file(path)?,
            None => Stack::find(&deployment.stack, &project_dir(&g.config))?,
        };
        if let Some(a) = &deployment.account
            && !(a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(Error::Value {
                field: format!("deployments.{name}.account"),
                problem: format!("is {a:?}, not a 12-digit AWS account id"),
                fix: "write the account id in quotes, e.g. account: \"123456789012\" (`aws sts get-caller-identity` shows yours), or remove the line".into(),
            });
        }
        if let Some(t) = &deployment.targets {
            t.check(&name, deployment.engine)?;
        }
        if stack.name != deployment.stack {
            return Err(Error::Value {
                field: format!("deployments.{name}.stack"),
                problem: format!("is {}, but the stack file is {}", deployment.stack, stack.name),
                fix: "make the deployment's stack match the stack file's name".into(),
            });
        }
        Ok(Loaded { project, name, deployment, stack })
    }

    pub(crate) fn values(&self) -> Result<Values, Error> {
        validate_values(&self.stack, &self.deployment.values, &format!("deployments.{}.values", self.name))
    }

    /// The SDK clients for this deployment's region (no call yet).
    pub(crate) async fn aws(&self, g: &Global) -> Result<Aws, Error> {
        let mut connect = g.connect.clone();
        if connect.region.is_none() {
            connect.region = self.deployment.region.clone();
        }
        Aws::connect(&connect).await
    }

    pub(crate) async fn connect(&self, g: &Global) -> Result<(Aws, Facts, String), Error> {
        let aws = self.aws(g).await?;
        let (facts, caller) = aws.whoami().await?;
        check_account(&self.name, &self.deployment, &facts, &caller)?;
        Ok((aws, facts, caller))
    }

    pub(crate) fn state_path(&self) -> PathBuf {
        self.project.state_dir().join(format!("{}.json", self.name))
    }

    /// Where the state lives, for messages: the local file or the team's s3:// URL.
    pub(crate) fn state_label(&self) -> PathBuf {
        match self.project.state_location() {
            Some(l) => PathBuf::from(l.url(&format!("{}.json", self.name))),
            None => self.state_path(),
        }
    }

    /// Opens and locks the state, for a run that may change things. Whether it belongs
    /// to this deployment, account and region is checked once the caller is known.
    pub(crate) async fn open_state(&self, aws: &Aws) -> Result<(Store, State), Error> {
        let store = match self.project.state_location() {
            Some(location) => {
                let client = aws.s3(self.project.config.state_region.as_deref());
                Store::open_s3(client, location, &self.name, &self.project.state_dir()).await?
            }
            None => Store::open(&self.project.state_dir(), &self.name)?,
        };
        let state = store.load().await?.unwrap_or_else(|| State::new(&self.name, &self.stack.name));
        Ok((store, state))
    }

    /// Reads the state without the lock, for a run that only looks.
    pub(crate) async fn peek_state(&self, aws: &Aws) -> Result<State, Error> {
        let state = match self.project.state_location() {
            Some(location) => {
                let client = aws.s3(self.project.config.state_region.as_deref());
                match Store::peek_s3(&client, &location, &self.name).await? {
                    Some(s) => Some(s),
                    // Not migrated yet: the local state is still this checkout's truth.
                    None => Store::peek(&self.state_path())?,
                }
            }
            None => Store::peek(&self.state_path())?,
        };
        Ok(state.unwrap_or_else(|| State::new(&self.name, &self.stack.name)))
    }
}

/// A deployment pinned to an account is acted on only with credentials of that account.
pub(crate) fn check_account(name: &str, d: &Deployment, facts: &Facts, caller: &str) -> Result<(), Error> {
    match &d.account {
        Some(pinned) if pinned != &facts.account => Err(Error::WrongAccount {
            deployment: name.to_string(),
            pinned: pinned.clone(),
            actual: facts.account.clone(),
            caller: caller.to_string(),
        }),
        _ => Ok(()),
    }
}

/// A state belongs to exactly one deployment, stack, account and region. Another
/// deployment's state would have this one revoke and delete what that one built; acting on
/// it from another account or region would orphan what it records there.
pub(crate) fn check_state(state: &State, name: &str, stack: &str, facts: &Facts, path: &Path) -> Result<(), Error> {
    let elsewhere = |what: &str, recorded: &str, now: &str| Error::WrongPlace {
        path: path.to_path_buf(),
        what: what.to_string(),
        recorded: recorded.to_string(),
        now: now.to_string(),
    };
    if state.resources.is_empty() && state.stack_id.is_none() && state.stack_set_id.is_none() {
        return Ok(());
    }
    if state.deployment != name || state.stack != stack {
        return Err(Error::ForeignState {
            path: path.to_path_buf(),
            recorded: format!("deployment {} (stack {})", state.deployment, state.stack),
            now: format!("deployment {name} (stack {stack})"),
        });
    }
    if let Some(account) = &state.account
        && account != &facts.account
    {
        return Err(elsewhere("account", account, &facts.account));
    }
    if let Some(region) = &state.region
        && region != &facts.region
    {
        return Err(elsewhere("region", region, &facts.region));
    }
    Ok(())
}

/// A deployment is built by one engine from its first provision to its teardown: the
/// other would not see what the first made.
pub(crate) fn check_engine(loaded: &Loaded, state: &State) -> Result<(), Error> {
    let field = format!("deployments.{}.engine", loaded.name);
    let built_as = state.stack_id.as_ref().or(state.stack_set_id.as_ref());
    match (loaded.deployment.engine, built_as) {
        (Engine::Direct, Some(id)) => Err(Error::Value {
            field,
            problem: format!("is direct (the default), but the deployment was built as CloudFormation stack {id}"),
            fix: "set `engine: cloudformation` again; to move the deployment to lakepass's own engine, tear it down with that engine first".into(),
        }),
        (Engine::Cloudformation, None) if !state.resources.is_empty() => Err(Error::Value {
            field,
            problem: "is cloudformation, but lakepass's own engine built the deployment".into(),
            fix: "remove the line; to move the deployment into a stack, `lakepass teardown` it first, then set the engine and provision".into(),
        }),
        _ => Ok(()),
    }
}

pub(crate) fn observe_items(desired: &[Resource], state: &State) -> Vec<Resource> {
    let mut items: Vec<Resource> = desired.to_vec();
    items.extend(state.resources.values().map(|o| o.resource.clone()));
    items
}

pub(crate) fn confirm(what: &str, yes: bool) -> Result<(), Error> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(Error::NeedsYes { what: what.to_string() });
    }
    let ok = dialoguer::Confirm::new()
        .with_prompt(format!("{what}?"))
        .default(false)
        .wait_for_newline(true)
        .interact()
        .map_err(|e| Error::Other(format!("could not read the answer: {e}")))?;
    if ok { Ok(()) } else { Err(Error::Declined) }
}

pub(crate) use crate::output::print;

/// An apply that failed after changing something says so, and how to finish: the state
/// records every change made, so running again (or tearing down) completes it.
pub(crate) fn partial(
    e: Error,
    before: &std::collections::BTreeMap<String, crate::state::Owned>,
    after: &State,
    command: &str,
) -> Error {
    let changed = after.resources.iter().filter(|(k, v)| before.get(*k) != Some(*v)).count()
        + before.keys().filter(|k| !after.resources.contains_key(*k)).count();
    if changed == 0 {
        return e;
    }
    Error::Partial { error: Box::new(e), done: changed, command: command.to_string() }
}

/// The deployment `-d` names, or every one in the config.
pub(crate) fn deployment_names(g: &Global) -> Result<Vec<String>, Error> {
    let project = Project::load(&g.config)?;
    Ok(match &g.deployment {
        Some(n) => vec![n.clone()],
        None => project.config.deployments.keys().cloned().collect(),
    })
}

/// What a per-deployment report command prints: each report as text as it comes, or one
/// JSON document at the end; a deployment that could not be checked, as an error.
pub(crate) struct Reports<R> {
    json: bool,
    pub reports: Vec<R>,
    pub errors: Vec<serde_json::Value>,
}

impl<R: serde::Serialize> Reports<R> {
    pub(crate) fn new(json: bool) -> Reports<R> {
        Reports { json, reports: Vec::new(), errors: Vec::new() }
    }

    pub(crate) fn add(&mut self, name: &str, result: Result<R, Error>, text: impl Fn(&R) -> String) {
        match result {
            Ok(r) => {
                if !self.json {
                    print(&text(&r));
                }
                self.reports.push(r);
            }
            Err(e) => {
                if !self.json {
                    print(&format!("{name}: error: {e}\n"));
                    if let Some(h) = e.hint() {
                        print(&format!("  hint: {h}\n"));
                    }
                }
                self.errors.push(serde_json::json!({"deployment": name, "error": e.to_string(), "hint": e.hint()}));
            }
        }
    }

    /// Prints the JSON document, when asked for.
    pub(crate) fn finish(&self) {
        if self.json {
            let doc = serde_json::json!({"format_version": 1, "deployments": self.reports, "errors": self.errors});
            print(&format!("{}\n", serde_json::to_string_pretty(&doc).expect("json")));
        }
    }
}
