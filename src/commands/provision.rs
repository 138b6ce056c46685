//! `lakepass provision`: plan, confirm, apply, hand over. The wizard runs the same
//! [`prepare`] and [`execute`].

use super::look::{Looked, look};
use super::secret::SecretOut;
use super::*;
use crate::apply::{self, Applied, Progress};
use crate::observe;
use crate::output::{self, Heading, Style};
use crate::plan::{self, Plan};

/// `lakepass provision [--plan]`. Returns the exit code.
pub async fn provision(g: &Global, o: &ProvisionOpts) -> Result<i32, Error> {
    let loaded = Loaded::new(g, g.deployment.as_deref())?;
    if loaded.deployment.targets.is_some() {
        return super::stack_set::provision(g, o, loaded).await;
    }
    if loaded.deployment.engine == Engine::Cloudformation {
        return super::stack_engine::provision(g, o, loaded).await;
    }
    let mut p = prepare(g, loaded, Consent { adopt: o.adopt, force: o.force }, !o.plan_only).await?;
    p.ask_simulator().await;
    // A new key's secret needs somewhere to go: checked before the plan is shown.
    let secret_file = match &o.secret_file {
        Some(path) if creates_access_key(&p.plan) => {
            super::secret::check_secret_file(path, o.replace_secret_file).err()
        }
        _ => None,
    };
    if o.plan_only {
        if let Some(e) = secret_file {
            p.plan.notes.push(format!("applying will fail: {e}"));
        }
        if !p.blocked.is_empty() {
            p.plan.notes.push(format!(
                "applying will fail: {} may not grant Lake Formation permissions on {}; make it a data lake administrator first",
                p.caller,
                p.blocked.join("; ")
            ));
        }
        if !p.denied.is_empty() {
            p.plan.notes.push(format!(
                "applying will fail: IAM would refuse {} {}; ask an administrator to allow them",
                p.caller,
                p.denied.join("; ")
            ));
        }
        if o.json {
            print(&format!(
                "{}\n",
                serde_json::to_string_pretty(&output::plan_json(&p.plan, &p.heading())).expect("json")
            ));
        } else {
            print(&p.plan_text());
        }
        return Ok(if o.detailed_exitcode && p.plan.has_changes() { 2 } else { 0 });
    }
    p.check_can_apply()?;
    if let Some(e) = secret_file {
        return Err(e);
    }
    print(&p.plan_text());
    if p.plan.has_changes() {
        confirm(&format!("Apply these changes to account {}", p.facts.account), o.yes)?;
    }
    let opts = ApplyOpts {
        secret_file: o.secret_file.clone(),
        replace_secret_file: o.replace_secret_file,
        overwrite_profile: o.overwrite_profile,
    };
    let (name, changed) = (p.loaded.name.clone(), p.plan.has_changes());
    let handoff = execute(g, p, &opts, &apply::Lines).await?;
    print(&handoff.plain());
    // What changed is proven at once; a run that changed nothing stays quick.
    if changed {
        print(&format!("\n{}", super::verify::after_apply(g, &name).await));
    }
    Ok(0)
}

/// How [`execute`] writes what it hands over.
#[derive(Debug, Clone, Default)]
pub struct ApplyOpts {
    /// Write a new access key's secret to this new file (mode 0600) instead of stdout.
    pub secret_file: Option<PathBuf>,
    /// Replace an existing secret file (never a symbolic link).
    pub replace_secret_file: bool,
    /// Replace a profiles.yml target lakepass did not write.
    pub overwrite_profile: bool,
}

/// A deployment observed and planned, ready to show and apply.
pub struct Prepared {
    pub loaded: Loaded,
    pub values: Values,
    pub aws: Aws,
    pub facts: Facts,
    pub caller: String,
    /// The locked state store; None when planned from a peek (the wizard locks on yes).
    pub store: Option<Store>,
    pub state: State,
    /// The rendered resources the plan aims at.
    pub desired: Vec<Resource>,
    pub plan: Plan,
    /// Lake Formation targets the caller may not grant on.
    pub blocked: Vec<String>,
    /// IAM actions the caller may not call, as IAM's policy simulator says (filled by
    /// [`Prepared::ask_simulator`], for runs that would apply; status and verify skip it).
    pub denied: Vec<String>,
    /// What the run saw of the catalog and of IAM.
    pub catalog: observe::Catalog,
    pub observed: crate::model::Observed,
}

impl Prepared {
    pub fn heading(&self) -> Heading<'_> {
        Heading { deployment: &self.loaded.name, stack: &self.loaded.stack.name, facts: &self.facts }
    }

    pub fn plan_text(&self) -> String {
        output::plan_text(&self.plan, &self.heading(), Style::detect())
    }

    /// Locks the state of a plan made from a peek, refusing if another run changed it
    /// since (the plan would be stale). Held until this is dropped.
    pub async fn lock(&mut self) -> Result<(), Error> {
        if self.store.is_some() {
            return Ok(());
        }
        let (store, now) = self.loaded.open_state(&self.aws).await?;
        if now.serial != self.state.serial || now.resources != self.state.resources {
            return Err(Error::Other(format!(
                "the state of {} changed while the plan was shown (another run?); nothing was changed: run again",
                self.loaded.name
            )));
        }
        self.store = Some(store);
        Ok(())
    }

    /// Lets go of the lock; where no state was ever written, leaves no lock file (or empty
    /// state directory) behind either.
    pub async fn release(self) {
        let Some(store) = self.store else { return };
        let exists = store.exists().await.unwrap_or(true);
        drop(store);
        if !exists {
            let dir = self.loaded.project.state_dir();
            let _ = std::fs::remove_file(dir.join(format!("{}.lock", self.loaded.name)));
            let _ = std::fs::remove_dir(dir);
        }
    }

    /// Asks IAM's policy simulator whether the caller may make the plan's calls.
    pub async fn ask_simulator(&mut self) {
        self.denied = observe::iam_denied(&self.aws, &self.caller, &plan::iam_needed(&self.plan, &self.facts)).await;
    }

    /// Refuses, before any change, a plan the caller could not finish.
    pub fn check_can_apply(&self) -> Result<(), Error> {
        if !self.denied.is_empty() {
            return Err(Error::Denied { caller: self.caller.clone(), denied: self.denied.clone() });
        }
        if self.blocked.is_empty() {
            Ok(())
        } else {
            Err(Error::CannotGrant { caller: self.caller.clone(), targets: self.blocked.clone() })
        }
    }
}

/// Checks values, connects, observes and plans. Changes nothing. With `lock`, the state is
/// locked from here on; without, it is only read, and [`execute`] locks it (and checks it
/// did not change meanwhile), so that planning leaves no file behind.
pub async fn prepare(g: &Global, loaded: Loaded, consent: Consent, lock: bool) -> Result<Prepared, Error> {
    let values = loaded.values()?;
    let aws = loaded.aws(g).await?;
    let (store, mut state) = if lock {
        let (store, state) = loaded.open_state(&aws).await?;
        (Some(store), state)
    } else {
        (None, loaded.peek_state(&aws).await?)
    };
    let seen = look(&loaded, &aws, Some(&values), &state, &loaded.state_label(), false).await?;
    let Looked { facts, caller, catalog, desired, observed, scope, data_note, .. } = seen;
    state.account.get_or_insert_with(|| facts.account.clone());
    state.region.get_or_insert_with(|| facts.region.clone());
    let plan = plan::plan(&plan::Input {
        deployment: &loaded.name,
        facts: &facts,
        desired: &desired,
        observed: &observed,
        state: &state,
        adopt: consent.adopt,
        policy_quota: loaded.deployment.managed_policy_quota.unwrap_or(plan::DEFAULT_POLICY_QUOTA),
        detach_foreign: false,
        force: consent.force,
    })?;
    let mut plan = plan;
    if let Some(note) = data_note {
        plan.notes.insert(0, note);
    }
    if let Some(note) = scope {
        plan.notes.insert(0, note);
    }
    // Whoever creates a database may grant on it (Lake Formation's implicit permissions).
    let creating: Vec<&str> = plan
        .actions
        .iter()
        .flat_map(|a| &a.steps)
        .filter_map(|s| match s {
            plan::Step::CreateDatabase { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    let needed: Vec<_> =
        plan::grants_needed(&plan).into_iter().filter(|(t, _)| !creating.contains(&t.database())).collect();
    let blocked = observe::grant_blockers(&catalog, &caller, &needed);
    let denied = Vec::new();
    Ok(Prepared { loaded, values, aws, facts, caller, store, state, desired, plan, blocked, denied, catalog, observed })
}

/// Applies a prepared plan and returns what to hand to the vendor. A new key's secret is
/// handed over (printed, or written to `secret_file`) even when a later step fails.
pub async fn execute(g: &Global, p: Prepared, opts: &ApplyOpts, progress: &dyn Progress) -> Result<Handoff, Error> {
    if p.loaded.deployment.engine == Engine::Cloudformation {
        return Err(Error::Other(format!(
            "deployment {} is built by a CloudFormation stack (engine: cloudformation): run `lakepass provision -d {}`",
            p.loaded.name, p.loaded.name
        )));
    }
    let mut p = p;
    p.lock().await?;
    let Prepared { loaded, values, aws, facts, caller, store, mut state, plan, .. } = p;
    let store = store.expect("locked above");
    // The profile target must be writable before anything changes in AWS.
    if let Some(t) = profile_of(&loaded, &facts, &values)? {
        let file = crate::profile::expand(&t.path);
        crate::profile::check(&file, &t.profile, &t.target, &t.fields, &loaded.name, opts.overwrite_profile)?;
    }
    // A new key's secret exists once: make sure it can be written before creating it.
    let handover = match &opts.secret_file {
        Some(path) if creates_access_key(&plan) => SecretOut::to_file(path, opts.replace_secret_file)?,
        _ => SecretOut::shown(),
    };
    let cx = apply::Context {
        aws: &aws,
        caller: &caller,
        facts: &facts,
        deployment: &loaded.name,
        stack: &loaded.stack.name,
        store: &store,
        propagation: g.propagation,
        progress,
        handover: &handover,
    };
    let mut applied = Applied::default();
    // A new key's secret was handed over the moment it existed, even if a later step failed.
    let before = state.resources.clone();
    if let Err(e) = apply::apply(&cx, &plan, &mut state, &mut applied).await {
        return Err(partial(e, &before, &state, "provision"));
    }
    let mut handoff = Handoff::new(&loaded, &facts, &values, &state, applied);
    let before = (state.values.clone(), state.account.clone(), state.region.clone());
    state.values = serde_json::Value::Object(values.clone());
    state.account = Some(facts.account.clone());
    state.region = Some(facts.region.clone());
    let changed = plan.has_changes() || before != (state.values.clone(), state.account.clone(), state.region.clone());
    if changed && let Err(e) = store.save(&mut state).await {
        print(&handoff.plain());
        return Err(e);
    }
    if plan.has_changes() {
        crate::output::say(&output::applied(&plan));
    }
    if let Some(row) = write_profile(&loaded, &facts, &values, opts.overwrite_profile)? {
        handoff.rows.push(row);
    }
    Ok(handoff)
}

/// The profiles-file target of a stack that has one (`profile_file`), rendered for
/// `values`: its file, profile and target names and its settings.
pub fn profile_of(loaded: &Loaded, facts: &Facts, values: &Values) -> Result<Option<crate::profile::Target>, Error> {
    let Some(spec) = &loaded.stack.profile_file else { return Ok(None) };
    let vars = crate::stack::template::with_facts(values, facts, &loaded.name);
    let fail = |what: &str, e: String| Error::StackFile {
        origin: loaded.stack.name.clone(),
        problem: format!("profile_file {what}: {e}"),
    };
    let text = |what: &str, t: &str| crate::stack::template::render_text(t, &vars).map_err(|e| fail(what, e));
    let mut fields = Vec::new();
    for f in &spec.fields {
        let value = match (&f.value, &f.expr) {
            (Some(t), _) => Some(serde_json::Value::from(text(&f.name, t)?)),
            (None, Some(e)) => crate::stack::template::eval_value(e, &vars).map_err(|e| fail(&f.name, e))?,
            (None, None) => None,
        };
        if let Some(v) = value {
            fields.push((f.name.clone(), v));
        }
    }
    Ok(Some(crate::profile::Target {
        label: spec.label.clone(),
        path: text("path", &spec.path)?,
        profile: text("profile", &spec.profile)?,
        target: text("target", &spec.target)?,
        fields,
    }))
}

/// Writes the deployment's profiles-file target, if its stack has one; returns the hand-off
/// row.
fn write_profile(
    loaded: &Loaded,
    facts: &Facts,
    values: &Values,
    overwrite: bool,
) -> Result<Option<(String, String)>, Error> {
    let Some(t) = profile_of(loaded, facts, values)? else { return Ok(None) };
    let (name, target) = (&t.profile, &t.target);
    let file = crate::profile::expand(&t.path);
    let what = match crate::profile::merge(&file, name, target, &t.fields, &loaded.name, overwrite)? {
        crate::profile::Merged::Created => "written".to_string(),
        crate::profile::Merged::Unchanged => "up to date".to_string(),
        crate::profile::Merged::Updated { backup } => format!("updated (backup: {})", backup.display()),
    };
    Ok(Some((t.label.clone(), format!("{name}, target {target}, in {} ({what})", file.display()))))
}

fn creates_access_key(plan: &Plan) -> bool {
    plan.actions.iter().flat_map(|a| &a.steps).any(|s| matches!(s, plan::Step::CreateAccessKey { .. }))
}

/// What to paste into the vendor's form, and how to go on. Never a secret: a new key's
/// was handed over the moment it existed, and a row says where it went.
#[derive(Debug)]
pub struct Handoff {
    pub stack: String,
    pub deployment: String,
    /// (label, value) rows.
    pub rows: Vec<(String, String)>,
}

impl Handoff {
    pub(super) fn new(loaded: &Loaded, facts: &Facts, values: &Values, state: &State, applied: Applied) -> Handoff {
        let mut rows = Vec::new();
        for owned in state.resources.values() {
            match &owned.resource {
                Resource::Role { .. } => rows.push(("role ARN".into(), owned.arn.clone().unwrap_or_default())),
                Resource::AccessKey { .. } => {
                    rows.push(("access key ID".into(), owned.access_key_id.clone().unwrap_or_default()));
                }
                _ => {}
            }
        }
        rows.extend(Handoff::stack_rows(loaded, facts, values));
        rows.push(("region".into(), facts.region.clone()));
        match applied.access_key {
            Some((_, went)) => rows.push(("secret key".into(), went)),
            None => {
                if state.resources.values().any(|o| matches!(o.resource, Resource::AccessKey { .. })) {
                    rows.push((
                        "secret key".into(),
                        "handed over when the key was created; lakepass keeps no copy".into(),
                    ));
                }
            }
        }
        Handoff { stack: loaded.stack.name.clone(), deployment: loaded.name.clone(), rows }
    }

    /// The stack's own rows (the external ID the vendor's form asks for, say); one whose
    /// template fails is left out rather than shown wrong.
    pub(super) fn stack_rows(loaded: &Loaded, facts: &Facts, values: &Values) -> Vec<(String, String)> {
        let vars = crate::stack::template::with_facts(values, facts, &loaded.name);
        let mut rows = Vec::new();
        for row in &loaded.stack.handoff {
            let shown =
                row.when.as_deref().is_none_or(|w| crate::stack::template::eval_condition(w, &vars) == Ok(true));
            if let (true, Ok(value)) = (shown, crate::stack::template::render_text(&row.value, &vars)) {
                rows.push((row.label.clone(), value));
            }
        }
        rows
    }

    /// Plain lines, for `provision`.
    pub fn plain(&self) -> String {
        let mut out = format!("\nConnect {} (deployment {}):\n", self.stack, self.deployment);
        for (label, value) in &self.rows {
            out.push_str(&format!("  {:<15} {value}\n", format!("{label}:")));
        }
        out
    }
}
