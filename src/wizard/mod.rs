//! `lakepass wizard`: the guided way in. It asks only what it cannot find out, checks each
//! answer as it is given, writes the deployment to the config, and plans and applies it
//! through the same code as `lakepass provision`.
//!
//! Nothing is written and nothing is created before the user says yes: the answers live in
//! memory until then, and the plan is made from them.

mod ask;
mod flow;
mod lookup;
mod names;
mod progress;

pub use ask::{Answers, Asker, Terminal};
pub use flow::{Flow, Question, Source};

use crate::aws::Aws;
use crate::commands::{self, Global, Loaded};
use crate::config::{self, Deployment, Project};
use crate::error::Error;
use crate::stack::{ALL_DATABASES, ParamType, Parameter, Stack, Values, check_value, validate_values};
use serde_json::{Value, json};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Debug, Clone, Default)]
pub struct WizardOpts {
    pub stack: Option<String>,
    pub answers: Option<PathBuf>,
    pub yes: bool,
    pub secret_file: Option<PathBuf>,
    pub replace_secret_file: bool,
    pub adopt: bool,
    pub overwrite_profile: bool,
}

/// Runs the wizard; returns the exit code: 0 done (or declined), 2 when an answers file
/// without --yes leaves changes to apply.
pub async fn wizard(g: &Global, o: &WizardOpts) -> Result<i32, Error> {
    let mut asker: Box<dyn Asker> = match &o.answers {
        Some(path) => Box::new(Answers::load(path, o.yes)?),
        None if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() => Box::new(Terminal::new()),
        None => return Err(Error::NeedsTerminal),
    };
    let asker = asker.as_mut();
    if let Some(name) = &g.deployment {
        config::check_deployment_name(name)?;
    }

    // 0. Credentials, before the first question: a missing or expired sign-in is said at
    // once, not after the answers. (Without a region yet, the region is settled below.)
    let mut probed = None;
    if let Ok(probe) = Aws::connect(&g.connect).await {
        let who = probe.whoami().await?;
        probed = Some((probe, who));
    }

    // 1. The integration.
    let here = commands::project_dir(&g.config);
    let stack = pick_stack(asker, o.stack.as_deref(), &here)?;
    let flow = Flow::find(&stack, &here)?;
    if asker.interactive() {
        crate::output::say(&format!("\n{}\n", flow.intro));
    }

    // 2. Who and where: an existing deployment keeps its region unless --region says.
    let name = g.deployment.clone().unwrap_or_else(|| flow.deployment.clone());
    let project = match Project::load(&g.config) {
        Ok(p) => p,
        Err(Error::NoConfig { .. }) => Project { path: g.config.clone(), config: config::Config::default() },
        Err(e) => return Err(e),
    };
    let existing = project.config.deployments.get(&name);
    if let Some(d) = existing.filter(|d| d.stack != stack.name) {
        return Err(Error::Value {
            field: format!("deployments.{name}"),
            problem: format!("already exists for stack {}", d.stack),
            fix: format!("pass -d NAME to set up {} under another name", stack.name),
        });
    }
    if existing.is_some_and(|d| d.engine == config::Engine::Cloudformation) {
        return Err(Error::Value {
            field: format!("deployments.{name}.engine"),
            problem: "is cloudformation: a CloudFormation stack builds this deployment, not the wizard".into(),
            fix: format!(
                "edit its values in lakepass.yaml and run `lakepass provision -d {name}`, or pass -d NAME to set up another deployment"
            ),
        });
    }
    let mut connect = g.connect.clone();
    if connect.region.is_none() {
        connect.region = existing.and_then(|d| d.region.clone());
    }
    // The probe's clients and identity serve unless the deployment's region differs.
    let (aws, (facts, caller)) = match probed {
        Some((probe, who)) if connect.region.as_ref().is_none_or(|r| *r == probe.region) => (probe, who),
        _ => {
            let aws = Aws::connect(&connect).await?;
            let who = aws.whoami().await?;
            (aws, who)
        }
    };
    if let Some(d) = existing {
        commands::check_account(&name, d, &facts, &caller)?;
    }
    if asker.interactive() {
        crate::output::say(&format!("AWS account {}, as {caller}, in region {}.", facts.account, facts.region));
        if !asker.confirm("Set up access in this account and region?", true)? {
            crate::output::say("Choose another with --profile NAME and --region REGION, then run the wizard again.");
            return Err(Error::Cancelled);
        }
    }

    // 3. The questions, with the deployment's current values as defaults on a re-run.
    let current = existing.map(|d| d.values.clone()).unwrap_or_default();
    let mut values = interview(asker, &stack, &flow, &aws, &caller, current).await?;
    names::free_names(asker, &stack, &mut values, &name, &project, &aws, &facts).await?;

    // 4. Plan from the answers (reading state, locking nothing), then write and apply on yes.
    let mut g = g.clone();
    g.connect.region = Some(facts.region.clone());
    let deployment = Deployment {
        stack: stack.name.clone(),
        account: Some(facts.account.clone()),
        region: Some(facts.region.clone()),
        iam_scope: existing.map(|d| d.iam_scope).unwrap_or_default(),
        managed_policy_quota: existing.and_then(|d| d.managed_policy_quota),
        engine: existing.map(|d| d.engine).unwrap_or_default(),
        targets: existing.and_then(|d| d.targets.clone()),
        values,
    };
    let loaded = Loaded::with(&g, project.with(&name, deployment.clone()), name.clone(), deployment.clone())?;
    let mut prepared = commands::prepare(&g, loaded, commands::Consent { adopt: o.adopt, force: false }, false).await?;
    prepared.ask_simulator().await;
    prepared.check_can_apply()?;
    crate::commands::print(&prepared.plan_text());
    let unchanged = existing == Some(&deployment);
    let apply = !prepared.plan.has_changes() || asker.confirm("Apply these changes now?", true)?;
    let config_flag = if g.config == std::path::Path::new(config::DEFAULT_PATH) {
        String::new()
    } else {
        format!(" --config {}", g.config.display())
    };
    if !apply {
        // A person is asked; an answers file without --yes means "save and show".
        let save = !asker.interactive()
            || asker.confirm(&format!("Save deployment {name} to {} to apply later?", g.config.display()), true)?;
        if save {
            // Another run of this deployment holds the lock: leave its config alone.
            prepared.lock().await?;
            if !unchanged {
                config::upsert_deployment(&g.config, &name, &deployment, &stack)?;
            }
            prepared.release().await;
            crate::output::say(&format!("Saved. Apply it with `lakepass provision -d {name}{config_flag}`."));
        } else {
            crate::output::say("Nothing was written and nothing was created.");
        }
        return Ok(if asker.interactive() { 0 } else { 2 });
    }
    prepared.lock().await?;
    if !unchanged {
        config::upsert_deployment(&g.config, &name, &deployment, &stack)?;
    }
    let bars = progress::Bars::new(asker.interactive());
    let opts = commands::ApplyOpts {
        secret_file: o.secret_file.clone(),
        replace_secret_file: o.replace_secret_file,
        overwrite_profile: o.overwrite_profile,
    };
    let changed = prepared.plan.has_changes();
    let handoff = commands::execute(&g, prepared, &opts, &bars).await?;
    crate::commands::print(&progress::boxed(&flow.handoff.title, &handoff, &format!("{name}{config_flag}")));
    if changed {
        crate::commands::print(&commands::verify_after_apply(&g, &name).await);
    }
    Ok(0)
}

fn pick_stack(asker: &mut dyn Asker, wanted: Option<&str>, here: &std::path::Path) -> Result<Stack, Error> {
    let from_answers = asker.take("stack");
    if let Some(name) = wanted.map(str::to_string).or(from_answers) {
        return Stack::find(&name, here);
    }
    let stacks = Stack::all(here)?;
    if !asker.interactive() {
        return Err(Error::Value {
            field: "stack".into(),
            problem: "is not given".into(),
            fix: format!(
                "pass --stack NAME or add `stack: NAME` to the answers file (one of: {})",
                stacks.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
            ),
        });
    }
    let options: Vec<(String, String)> =
        stacks.iter().map(|s| (s.name.clone(), format!("{:<14} {}", s.name, s.description))).collect();
    let picked = asker.select("stack", "Which integration?", &options, 0)?;
    Stack::find(&picked, here)
}

/// Asks the flow's questions and returns the values they give (checked).
async fn interview(
    asker: &mut dyn Asker,
    stack: &Stack,
    flow: &Flow,
    aws: &Aws,
    caller: &str,
    current: Values,
) -> Result<Values, Error> {
    let mut values = current.clone();
    // Answers given in a file that no question asks (tables, names) are kept, and checked
    // with the rest below.
    let asked: Vec<&str> = flow.questions.iter().map(|q| q.param.as_str()).collect();
    values.extend(asker.unasked(&asked));
    for q in &flow.questions {
        let p = stack.parameter(&q.param).expect("flow checked against its stack");
        if !applies(stack, p, &values)? {
            values.remove(&p.name);
            continue;
        }
        let existing = current.get(&p.name).cloned();
        let answer = ask_one(asker, p, q, &mut values, existing, aws, caller).await?;
        values.insert(p.name.clone(), answer);
    }
    // A database no longer chosen takes its table list with it.
    let chosen: Vec<String> = stack
        .parameters
        .iter()
        .filter(|p| p.kind == ParamType::DatabaseList)
        .flat_map(|p| strings(values.get(&p.name)))
        .collect();
    let everything = stack.parameters.iter().any(|p| {
        p.kind == ParamType::DatabaseList && values.get(&p.name).and_then(Value::as_str) == Some(ALL_DATABASES)
    });
    for p in stack.parameters.iter().filter(|p| p.kind == ParamType::TableMap && !everything) {
        if let Some(Value::Object(map)) = values.get_mut(&p.name) {
            map.retain(|db, _| {
                let keep = chosen.contains(db);
                if !keep {
                    crate::output::say(&format!("  {db} is no longer chosen: its table list in {} is dropped", p.name));
                }
                keep
            });
        }
    }
    let checked = validate_values(stack, &values, if asker.interactive() { "values" } else { "answers" })?;
    // Keep what was given, less what no longer applies (defaults stay implicit).
    values.retain(|k, _| checked.contains_key(k));
    Ok(values)
}

/// Database lists longer than this are narrowed before they are shown.
const LONG_LIST: usize = 25;

/// Whether `name` matches `pattern`, where `*` stands for any characters.
fn glob(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || !name[first.len()..].ends_with(last) || name.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

/// Whether a parameter's `when` holds for the values so far (defaults filled in).
fn applies(stack: &Stack, p: &Parameter, values: &Values) -> Result<bool, Error> {
    let Some(cond) = &p.when else { return Ok(true) };
    let mut all = values.clone();
    for q in &stack.parameters {
        if let (false, Some(d)) = (all.contains_key(&q.name), &q.default) {
            all.insert(q.name.clone(), d.clone());
        }
    }
    crate::stack::template::eval_condition(cond, &all)
        .map_err(|e| Error::StackFile { origin: stack.name.clone(), problem: format!("{}: {e}", p.name) })
}

#[allow(clippy::too_many_arguments)]
async fn ask_one(
    asker: &mut dyn Asker,
    p: &Parameter,
    q: &Question,
    values: &mut Values,
    existing: Option<Value>,
    aws: &Aws,
    caller: &str,
) -> Result<Value, Error> {
    let default = existing.clone().or_else(|| p.default.clone());
    let check_one = |s: &str| check_value(p, &json!(s), &p.name).map(|_| ()).map_err(|e| problem_of(&e));
    match p.kind {
        ParamType::Choice => {
            let options: Vec<(String, String)> =
                p.choices.iter().map(|c| (c.clone(), q.choices.get(c).cloned().unwrap_or_else(|| c.clone()))).collect();
            let current = default.as_ref().and_then(Value::as_str);
            let i = options.iter().position(|(v, _)| Some(v.as_str()) == current).unwrap_or(0);
            Ok(json!(asker.select(&p.name, &q.prompt, &options, i)?))
        }
        ParamType::DatabaseList => {
            let chosen: Vec<String> = strings(default.as_ref());
            let mut options = match q.source {
                Some(Source::GlueDatabases) => lookup::glue_databases(aws, caller).await.unwrap_or_else(|e| {
                    crate::output::say(&format!("  (could not list the catalog's databases: {e})"));
                    Vec::new()
                }),
                _ => Vec::new(),
            };
            if options.is_empty() && asker.interactive() {
                crate::output::say("  (no databases found in the Glue catalog of this account and region)");
                let check_db = |s: &str| check_value(p, &json!([s]), &p.name).map(|_| ()).map_err(|e| problem_of(&e));
                return Ok(json!(asker.list(&p.name, &q.prompt, &chosen, &check_db, p.allow_empty)?));
            }
            for c in &chosen {
                if !options.contains(c) {
                    options.push(c.clone());
                }
            }
            let mut checked: Vec<bool> = options.iter().map(|o| chosen.contains(o)).collect();
            // A long list is narrowed first: all of them (now and later), or a pattern.
            if asker.interactive() && options.len() > LONG_LIST {
                let was_all = default.as_ref().and_then(Value::as_str) == Some(ALL_DATABASES);
                let ways = [
                    ("all".to_string(), format!("all {} databases, and any created later", options.len())),
                    ("pattern".to_string(), "those whose names match a pattern (e.g. sales_*)".to_string()),
                    ("pick".to_string(), format!("pick from the list of {}", options.len())),
                ];
                let start = if was_all {
                    0
                } else if chosen.is_empty() {
                    1
                } else {
                    2
                };
                match asker.select(&p.name, &q.prompt, &ways, start)?.as_str() {
                    "all" => return Ok(json!(ALL_DATABASES)),
                    "pattern" => {
                        let any = |pat: &str| {
                            if options.iter().any(|o| glob(pat, o)) {
                                Ok(())
                            } else {
                                Err(format!("no database matches {pat:?}"))
                            }
                        };
                        let pattern = asker.text(&p.name, "Pattern (* matches any characters)", None, &any)?;
                        let matching: Vec<String> = options.iter().filter(|o| glob(&pattern, o)).cloned().collect();
                        // The matches come pre-selected: Enter takes them all.
                        checked = vec![true; matching.len()];
                        options = matching;
                    }
                    _ => {}
                }
            }
            let picked = asker.multi(&p.name, &q.prompt, &options, &checked, p.allow_empty)?;
            check_value(p, &json!(picked), &p.name)?;
            Ok(json!(picked))
        }
        ParamType::BucketList => {
            let mut suggested = strings(default.as_ref());
            if suggested.is_empty() && q.source == Some(Source::TableLocations) {
                let dbs = strings(q.from.as_deref().and_then(|f| values.get(f)));
                // Only a suggestion: a lookup that fails leaves the question open.
                suggested = lookup::table_buckets(aws, caller, &dbs).await.unwrap_or_default();
            }
            let check_bucket = |s: &str| crate::stack::check_bucket(&bucket_named(s, false));
            let answers = asker.list(&p.name, &q.prompt, &suggested, &check_bucket, p.allow_empty)?;
            Ok(json!(answers.iter().map(|s| bucket_named(s, true)).collect::<Vec<_>>()))
        }
        ParamType::Object => {
            // Each field in turn, as text (choices as a select), with its default.
            let current = default.as_ref().and_then(Value::as_object).cloned().unwrap_or_default();
            let mut out = serde_json::Map::new();
            for f in &p.fields {
                let key = format!("{}.{}", p.name, f.name);
                let prompt = format!("{} {}", q.prompt, f.help.as_deref().unwrap_or(&f.name));
                let d = current
                    .get(&f.name)
                    .or(f.default.as_ref())
                    .map(|v| v.as_str().map(str::to_string).unwrap_or(v.to_string()));
                let d = match d {
                    Some(t) if t.contains("{{") => crate::stack::template::render_text(&t, values).ok(),
                    other => other,
                };
                if f.optional {
                    // Optional settings are not asked; a current one is kept.
                    if let Some(v) = current.get(&f.name) {
                        out.insert(f.name.clone(), v.clone());
                    }
                    continue;
                }
                let answer = if f.kind == ParamType::Choice {
                    let options: Vec<(String, String)> = f.choices.iter().map(|c| (c.clone(), c.clone())).collect();
                    let i = options.iter().position(|(v, _)| Some(v) == d.as_ref()).unwrap_or(0);
                    asker.select(&key, &prompt, &options, i)?
                } else {
                    let check = |s: &str| check_value(f, &json!(s), &key).map(|_| ()).map_err(|e| problem_of(&e));
                    asker.text(&key, &prompt, d.as_deref(), &check)?
                };
                out.insert(f.name.clone(), check_value(f, &json!(answer), &key)?);
            }
            Ok(Value::Object(out))
        }
        ParamType::ExternalId if q.generate && default.is_none() && asker.interactive() => {
            if asker.confirm("Generate a strong external ID (40 random characters)?", true)? {
                let id = generate_external_id()?;
                crate::output::say(&format!("  external ID: {id}"));
                return Ok(json!(id));
            }
            Ok(json!(asker.text(&p.name, &q.prompt, None, &check_one)?))
        }
        ParamType::Database if q.source == Some(Source::GlueDatabases) => {
            // Checked against the catalog right after the answer, not after every other
            // question (where all of them would be lost with it).
            let known = match lookup::glue_databases(aws, caller).await {
                Ok(known) => Some(known),
                Err(e) => {
                    crate::output::say(&format!(
                        "  (could not list the catalog's databases, so the answer is not checked: {e})"
                    ));
                    None
                }
            };
            // With `create_with`, a name the catalog lacks may be created by lakepass: an
            // answers file says so with that value, a person is asked.
            let flag = q.create_with.as_deref();
            let creating = flag.and_then(|f| values.get(f)).and_then(Value::as_bool) == Some(true);
            let offer = flag.is_some() && asker.interactive();
            let check = |s: &str| {
                check_one(s)?;
                match &known {
                    Some(known) if !known.iter().any(|k| k == s) && !creating && !offer => Err(format!(
                        "there is no Glue database {s} in this account and region (create it first, e.g. `aws glue create-database --database-input Name={s}`{}, or name one of: {})",
                        flag.map(|f| format!(", or set {f}: true to have lakepass create it")).unwrap_or_default(),
                        shortlist(known)
                    )),
                    _ => Ok(()),
                }
            };
            let mut suggestion = default.as_ref().and_then(Value::as_str).map(str::to_string);
            loop {
                let answer = asker.text(&p.name, &q.prompt, suggestion.as_deref(), &check)?;
                let missing = known.as_ref().is_some_and(|k| !k.contains(&answer));
                let (Some(flag), true, false) = (flag, missing, creating) else { return Ok(json!(answer)) };
                let question = format!(
                    "There is no Glue database {answer} here. Create it? (lakepass owns it; teardown deletes it only while it holds no tables)"
                );
                if asker.confirm(&question, true)? {
                    values.insert(flag.to_string(), json!(true));
                    return Ok(json!(answer));
                }
                crate::output::say(&format!("  Name one of: {}", shortlist(known.as_deref().unwrap_or_default())));
                suggestion = None;
            }
        }
        _ => {
            let mut suggestion = default.as_ref().map(|v| v.as_str().map(str::to_string).unwrap_or(v.to_string()));
            if suggestion.is_none() && q.source == Some(Source::AthenaOutput) {
                let workgroup =
                    q.from.as_deref().and_then(|f| values.get(f)).and_then(Value::as_str).unwrap_or("primary");
                suggestion = lookup::athena_output_bucket(aws, workgroup).await;
            }
            // Kept as the type it checks as (a boolean, a number), not as the text typed;
            // a bucket given as its s3:// location is taken as its name.
            let bucket = p.kind == ParamType::Bucket;
            let named = |s: &str, say: bool| if bucket { bucket_named(s, say) } else { s.to_string() };
            let check = |s: &str| check_one(&named(s, false));
            let answer = asker.text(&p.name, &q.prompt, suggestion.as_deref(), &check)?;
            check_value(p, &json!(named(&answer, true)), &p.name)
        }
    }
}

/// A bucket's name from an answer that may be its location (`s3://acme-lake/raw/`), with
/// a note when `say` and it was one.
fn bucket_named(answer: &str, say: bool) -> String {
    let answer = answer.trim();
    match crate::model::bucket_of(answer) {
        Some(bucket) => {
            if say {
                crate::output::say(&format!("  note: {answer} is in bucket {bucket}; the bucket is what is asked for"));
            }
            bucket
        }
        None => answer.to_string(),
    }
}

/// Up to ten names, and how many more.
fn shortlist(names: &[String]) -> String {
    let mut out = names.iter().take(10).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > 10 {
        out.push_str(&format!(" and {} more", names.len() - 10));
    }
    if out.is_empty() { "none exists".into() } else { out }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// The problem part of a value error, for re-asking ("is 1 character long; ...").
fn problem_of(e: &Error) -> String {
    match e {
        Error::Value { problem, fix, .. } => format!("{problem} ({fix})"),
        other => other.to_string(),
    }
}

/// 40 characters from the OS's random source, of the alphabet every vendor accepts.
fn generate_external_id() -> Result<String, Error> {
    use std::io::Read;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 40];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| Error::Io { what: "read /dev/urandom".into(), source: e })?;
    // 256 is not a multiple of 62: reject the top of the range to stay uniform.
    let mut out = String::new();
    let mut pool = bytes.to_vec();
    while out.len() < 40 {
        match pool.pop() {
            Some(b) if (b as usize) < 248 => out.push(ALPHABET[b as usize % 62] as char),
            Some(_) => {}
            None => {
                let mut more = [0u8; 16];
                std::fs::File::open("/dev/urandom")
                    .and_then(|mut f| f.read_exact(&mut more))
                    .map_err(|e| Error::Io { what: "read /dev/urandom".into(), source: e })?;
                pool.extend_from_slice(&more);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod glob_tests {
    use super::glob;

    #[test]
    fn patterns_match_as_a_shell_would() {
        assert!(glob("sales_*", "sales_eu"));
        assert!(glob("*_eu", "sales_eu"));
        assert!(glob("s*e*u", "sales_eu"));
        assert!(glob("*", "anything"));
        assert!(glob("sales", "sales"));
        assert!(!glob("sales", "sales_eu"));
        assert!(!glob("sales_*", "hr"));
        assert!(!glob("ab*ba", "aba"));
        assert!(!glob("a*b*c", "acb"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_external_ids_are_strong_and_valid() {
        let a = generate_external_id().unwrap();
        let b = generate_external_id().unwrap();
        assert_eq!(a.len(), 40);
        assert_ne!(a, b);
        assert!(crate::stack::check_external_id(&a).is_ok());
    }
}
