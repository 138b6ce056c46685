//! The commands: each loads what it needs, calls the stages in order and reports.
//!
//! Results go to stdout; progress, prompts and warnings to stderr. Input is checked before
//! any AWS call, and nothing is changed before the plan has been shown and confirmed.

use crate::apply::{self, Applied};
use crate::aws::{Aws, Connect};
use crate::config::{Deployment, Project};
use crate::error::Error;
use crate::model::{Facts, Resource};
use crate::observe::{self, Observed};
use crate::output::{self, Heading, Style};
use crate::plan::{self, Plan};
use crate::render::render;
use crate::stack::{Stack, Values, validate_values};
use crate::state::{State, Store};
use std::io::{IsTerminal, Write};
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
}

#[derive(Debug, Clone, Default)]
pub struct TeardownOpts {
    pub plan_only: bool,
    pub yes: bool,
}

/// A deployment loaded and checked, not yet connected.
struct Loaded {
    project: Project,
    name: String,
    deployment: Deployment,
    stack: Stack,
}

impl Loaded {
    fn new(g: &Global, name: Option<&str>) -> Result<Loaded, Error> {
        let project = Project::load(&g.config)?;
        let (name, deployment) = project.deployment(name)?;
        let deployment = deployment.clone();
        let stack = match &g.stack_file {
            Some(path) => Stack::from_file(path)?,
            None => Stack::shipped(&deployment.stack)?,
        };
        if stack.name != deployment.stack {
            return Err(Error::Value {
                field: format!("deployments.{name}.stack"),
                problem: format!("is {}, but the stack file is {}", deployment.stack, stack.name),
                fix: "make the deployment's stack match the stack file's name".into(),
            });
        }
        Ok(Loaded { project, name, deployment, stack })
    }

    fn values(&self) -> Result<Values, Error> {
        validate_values(&self.stack, &self.deployment.values, &format!("deployments.{}.values", self.name))
    }

    async fn connect(&self, g: &Global) -> Result<(Aws, Facts, String), Error> {
        let mut connect = g.connect.clone();
        if connect.region.is_none() {
            connect.region = self.deployment.region.clone();
        }
        let aws = Aws::connect(&connect).await?;
        let (facts, caller) = aws.whoami().await?;
        Ok((aws, facts, caller))
    }

    /// Opens and locks the state, for a run that may change things.
    fn open_state(&self, facts: &Facts) -> Result<(Store, State), Error> {
        let store = Store::open(&self.project.state_dir(), &self.name)?;
        let state = store.load()?.unwrap_or_else(|| State::new(&self.name, &self.stack.name));
        check_place(&state, facts, store.path())?;
        Ok((store, state))
    }

    /// Reads the state without the lock, for a run that only looks.
    fn peek_state(&self, facts: &Facts) -> Result<State, Error> {
        let path = self.project.state_dir().join(format!("{}.json", self.name));
        let state = Store::peek(&path)?.unwrap_or_else(|| State::new(&self.name, &self.stack.name));
        check_place(&state, facts, &path)?;
        Ok(state)
    }
}

/// A state belongs to one account and region: acting on it from another would orphan what
/// it records there.
fn check_place(state: &State, facts: &Facts, path: &Path) -> Result<(), Error> {
    let elsewhere = |what: &str, recorded: &str, now: &str| Error::WrongPlace {
        path: path.to_path_buf(),
        what: what.to_string(),
        recorded: recorded.to_string(),
        now: now.to_string(),
    };
    if state.resources.is_empty() {
        return Ok(());
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

fn observe_items(desired: &[Resource], state: &State) -> Vec<Resource> {
    let mut items: Vec<Resource> = desired.to_vec();
    items.extend(state.resources.values().map(|o| o.resource.clone()));
    items
}

fn confirm(what: &str, yes: bool) -> Result<(), Error> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(Error::NeedsYes { what: what.to_string() });
    }
    let ok = dialoguer::Confirm::new()
        .with_prompt(format!("{what}?"))
        .default(false)
        .interact()
        .map_err(|e| Error::Other(format!("could not read the answer: {e}")))?;
    if ok { Ok(()) } else { Err(Error::Declined) }
}

fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// `lakepass provision [--plan]`. Returns the exit code.
pub async fn provision(g: &Global, o: &ProvisionOpts) -> Result<i32, Error> {
    let loaded = Loaded::new(g, g.deployment.as_deref())?;
    let values = loaded.values()?;
    let (aws, facts, caller) = loaded.connect(g).await?;
    let desired = render(&loaded.stack, &values, &facts, &loaded.name)?;
    let (store, mut state) = loaded.open_state(&facts)?;
    state.account.get_or_insert_with(|| facts.account.clone());
    state.region.get_or_insert_with(|| facts.region.clone());
    let observed = observe::observe(&aws, &facts, &caller, &observe_items(&desired, &state), &desired).await?;
    let mut plan = plan::plan(&plan::Input {
        deployment: &loaded.name,
        facts: &facts,
        desired: &desired,
        observed: &observed,
        state: &state,
        adopt: o.adopt,
    })?;
    let needed = plan::grants_needed(&plan);
    let blocked = if needed.is_empty() { Vec::new() } else { observe::grant_blockers(&aws, &caller, &needed).await? };
    let heading = Heading { deployment: &loaded.name, stack: &loaded.stack.name, facts: &facts };

    if o.plan_only {
        if !blocked.is_empty() {
            plan.notes.push(format!(
                "applying will fail: {caller} may not grant Lake Formation permissions on {}; make it a data lake administrator first",
                blocked.join("; ")
            ));
        }
        if o.json {
            print(&format!("{}\n", serde_json::to_string_pretty(&output::plan_json(&plan, &heading)).expect("json")));
        } else {
            print(&output::plan_text(&plan, &heading, Style::detect()));
        }
        return Ok(if o.detailed_exitcode && plan.has_changes() { 2 } else { 0 });
    }
    if !blocked.is_empty() {
        return Err(Error::CannotGrant { caller: caller.clone(), targets: blocked });
    }
    print(&output::plan_text(&plan, &heading, Style::detect()));
    if plan.has_changes() {
        confirm(&format!("Apply these changes to account {}", facts.account), o.yes)?;
    }
    // A new key's secret exists once: make sure it can be written before creating it.
    let secret_out = match &o.secret_file {
        Some(path) if creates_access_key(&plan) => Some(SecretFile::prepare(path)?),
        _ => None,
    };
    let cx = apply::Context {
        aws: &aws,
        caller: &caller,
        facts: &facts,
        deployment: &loaded.name,
        stack: &loaded.stack.name,
        store: &store,
        propagation: g.propagation,
    };
    let mut applied = Applied::default();
    let result = apply::apply(&cx, &plan, &mut state, &mut applied).await;
    if let Err(e) = result {
        // A key made before the failure has a secret that exists nowhere else.
        if applied.access_key.is_some() {
            handoff(&loaded, &facts, &values, &state, applied, secret_out)?;
        }
        return Err(e);
    }
    let before = (state.values.clone(), state.account.clone(), state.region.clone());
    state.values = serde_json::Value::Object(values.clone());
    state.account = Some(facts.account.clone());
    state.region = Some(facts.region.clone());
    if plan.has_changes() || before != (state.values.clone(), state.account.clone(), state.region.clone()) {
        store.save(&mut state)?;
    }
    if plan.has_changes() {
        eprintln!("{}", output::applied(&plan));
    }
    handoff(&loaded, &facts, &values, &state, applied, secret_out)?;
    Ok(0)
}

fn creates_access_key(plan: &Plan) -> bool {
    plan.actions.iter().flat_map(|a| &a.steps).any(|s| matches!(s, plan::Step::CreateAccessKey { .. }))
}

/// A file opened (mode 0600) before the key exists, written once it does.
struct SecretFile {
    path: PathBuf,
    file: std::fs::File,
}

impl SecretFile {
    fn prepare(path: &Path) -> Result<SecretFile, Error> {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let io = |e| Error::Io { what: format!("open the secret file {}", path.display()), source: e };
        let file =
            std::fs::OpenOptions::new().write(true).create(true).truncate(false).mode(0o600).open(path).map_err(io)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        Ok(SecretFile { path: path.to_path_buf(), file })
    }

    fn write(mut self, secret: &str) -> Result<PathBuf, Error> {
        let io = |e| Error::Io { what: format!("write the secret to {}", self.path.display()), source: e };
        self.file.set_len(0).map_err(io)?;
        self.file.write_all(secret.as_bytes()).map_err(io)?;
        self.file.write_all(b"\n").map_err(io)?;
        self.file.sync_all().map_err(io)?;
        Ok(self.path)
    }
}

/// What to paste into the vendor's form.
fn handoff(
    loaded: &Loaded,
    facts: &Facts,
    values: &Values,
    state: &State,
    applied: Applied,
    secret_file: Option<SecretFile>,
) -> Result<(), Error> {
    let mut out = format!("\nConnect {} (deployment {}):\n", loaded.stack.name, loaded.name);
    for owned in state.resources.values() {
        match &owned.resource {
            Resource::Role { .. } => {
                out.push_str(&format!("  role ARN:       {}\n", owned.arn.as_deref().unwrap_or_default()));
                if let Some(id) = values.get("external_id").and_then(|v| v.as_str()) {
                    out.push_str(&format!("  external ID:    {id}\n"));
                }
            }
            Resource::AccessKey { .. } => {
                out.push_str(&format!("  access key ID:  {}\n", owned.access_key_id.as_deref().unwrap_or_default()));
            }
            _ => {}
        }
    }
    out.push_str(&format!("  region:         {}\n", facts.region));
    match (applied.access_key, secret_file) {
        (Some((_, secret)), Some(file)) => {
            let path = file.write(secret.expose())?;
            out.push_str(&format!("  secret key:     written to {} (mode 0600)\n", path.display()));
        }
        (Some((_, secret)), None) => {
            out.push_str(&format!("  secret key:     {}\n", secret.expose()));
            out.push_str("                  (shown once: lakepass does not keep it)\n");
        }
        (None, _) => {
            if state.resources.values().any(|o| matches!(o.resource, Resource::AccessKey { .. })) {
                out.push_str("  secret key:     shown when the key was created; lakepass does not keep it\n");
            }
        }
    }
    print(&out);
    Ok(())
}

/// `lakepass teardown`.
pub async fn teardown(g: &Global, o: &TeardownOpts) -> Result<i32, Error> {
    let loaded = Loaded::new(g, g.deployment.as_deref())?;
    let (aws, facts, caller) = loaded.connect(g).await?;
    // The rendered resources let teardown find what an interrupted first run left before
    // it could write state; with values no longer valid, state alone decides.
    let candidates = match loaded.values() {
        Ok(values) => render(&loaded.stack, &values, &facts, &loaded.name)?,
        Err(e) => {
            eprintln!("warning: {e}; tearing down only what the state file records");
            Vec::new()
        }
    };
    let (store, state) = loaded.open_state(&facts)?;
    let observed: Observed = observe::observe(&aws, &facts, &caller, &observe_items(&candidates, &state), &[]).await?;
    let mut owned = plan::discover(&candidates, &observed, &state, &loaded.name);
    let mut plan: Plan = plan::plan(&plan::Input {
        deployment: &loaded.name,
        facts: &facts,
        desired: &[],
        observed: &observed,
        state: &owned,
        adopt: false,
    })?;
    for a in &mut plan.actions {
        a.reason = format!("created by lakepass for deployment {}", loaded.name);
    }
    let needed = plan::grants_needed(&plan);
    if !o.plan_only && !needed.is_empty() {
        let blocked = observe::grant_blockers(&aws, &caller, &needed).await?;
        if !blocked.is_empty() {
            return Err(Error::CannotGrant { caller: caller.clone(), targets: blocked });
        }
    }
    let heading = Heading { deployment: &loaded.name, stack: &loaded.stack.name, facts: &facts };
    if !plan.has_changes() && owned.resources.is_empty() {
        print(&format!(
            "Nothing to tear down: deployment {} owns no resources in account {}.\n",
            loaded.name, facts.account
        ));
        store.remove()?;
        let _ = std::fs::remove_file(loaded.project.state_dir().join(format!("{}.lock", loaded.name)));
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
    };
    apply::apply(&cx, &plan, &mut owned, &mut Applied::default()).await?;
    if owned.resources.is_empty() {
        store.remove()?;
        let _ = std::fs::remove_file(loaded.project.state_dir().join(format!("{}.lock", loaded.name)));
        print(&format!(
            "Teardown complete: removed {} resource(s); the state of {} is gone.\n",
            plan.actions.len(),
            loaded.name
        ));
        Ok(0)
    } else {
        let left: Vec<&String> = owned.resources.keys().collect();
        Err(Error::Other(format!("teardown left resources it still records: {left:?}")))
    }
}

/// `lakepass status`: per deployment, each resource's condition.
pub async fn status(g: &Global) -> Result<i32, Error> {
    let project = Project::load(&g.config)?;
    let names: Vec<String> = match &g.deployment {
        Some(n) => vec![n.clone()],
        None => project.config.deployments.keys().cloned().collect(),
    };
    let mut worst = 0;
    for name in names {
        match status_of(g, &name).await {
            Ok(text) => print(&text),
            Err(e) => {
                print(&format!("{name}: error: {e}\n"));
                worst = 1;
            }
        }
    }
    Ok(worst)
}

async fn status_of(g: &Global, name: &str) -> Result<String, Error> {
    let loaded = Loaded::new(g, Some(name))?;
    let values = loaded.values()?;
    let (aws, facts, caller) = loaded.connect(g).await?;
    let desired = render(&loaded.stack, &values, &facts, &loaded.name)?;
    let state = loaded.peek_state(&facts)?;
    let observed = observe::observe(&aws, &facts, &caller, &observe_items(&desired, &state), &desired).await?;
    let plan = plan::plan(&plan::Input {
        deployment: &loaded.name,
        facts: &facts,
        desired: &desired,
        observed: &observed,
        state: &state,
        adopt: false,
    })?;
    let mut out =
        format!("{} (stack {}, account {}, {}):\n", loaded.name, loaded.stack.name, facts.account, facts.region);
    for r in &desired {
        let address = r.address();
        let (condition, why) = match plan.actions.iter().find(|a| a.address == address) {
            None => ("ok", String::new()),
            Some(a) if a.change == plan::Change::Create && state.resources.contains_key(&address) => {
                ("missing", format!(" ({})", a.reason))
            }
            Some(a) if a.change == plan::Change::Create => ("to create", String::new()),
            Some(a) => ("drifted", format!(" ({})", a.reason)),
        };
        out.push_str(&format!("  {condition:<10} {}{why}\n", r.describe()));
    }
    for a in plan.actions.iter().filter(|a| a.change == plan::Change::Delete) {
        out.push_str(&format!("  {:<10} {} ({})\n", "to remove", a.resource.describe(), a.reason));
    }
    Ok(out)
}

/// `lakepass stacks`.
pub fn stacks() -> Result<i32, Error> {
    for s in Stack::all_shipped()? {
        print(&format!("{:<14} {}\n", s.name, s.description));
    }
    Ok(0)
}
