//! The project config, `lakepass.yaml`: named deployments, each a stack with values.

use crate::error::Error;
use crate::render::IamScope;
use crate::stack::{Stack, Values};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const DEFAULT_PATH: &str = "lakepass.yaml";

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the team keeps state and locks: `s3://BUCKET/PREFIX`. Without it, state is
    /// kept in `.lakepass/` beside this file, for this checkout alone.
    #[serde(default)]
    pub state: Option<String>,
    /// The state bucket's region, where it is not each deployment's.
    #[serde(default)]
    pub state_region: Option<String>,
    pub deployments: BTreeMap<String, Deployment>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    pub stack: String,
    /// The AWS account the deployment belongs to: a run whose credentials resolve to
    /// another account stops before any change.
    #[serde(default)]
    pub account: Option<String>,
    pub region: Option<String>,
    /// How the catalog access is scoped in IAM (see [`crate::render::scope`]).
    #[serde(default)]
    pub iam_scope: IamScope,
    /// Managed policies a role or user may carry (IAM's default quota is 10; AWS raises
    /// it to 20 on request).
    #[serde(default)]
    pub managed_policy_quota: Option<usize>,
    /// Who builds the resources: lakepass itself, or a CloudFormation stack.
    #[serde(default, skip_serializing_if = "Engine::is_direct")]
    pub engine: Engine,
    /// With `engine: cloudformation`: deploy to these accounts (or the accounts of these
    /// organizational units) as a StackSet, instead of one stack here.
    #[serde(default)]
    pub targets: Option<Targets>,
    #[serde(default)]
    pub values: Values,
}

/// Where a StackSet deploys: accounts (self-managed permissions) or organizational units
/// (service-managed), in each of `regions` (default: the deployment's region).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    #[serde(default)]
    pub accounts: Vec<String>,
    #[serde(default)]
    pub organizational_units: Vec<String>,
    #[serde(default)]
    pub regions: Vec<String>,
}

impl Targets {
    /// Checks the targets of deployment `name`: one kind, well-formed, with the engine
    /// that deploys them.
    pub fn check(&self, name: &str, engine: Engine) -> Result<(), Error> {
        let field = |f: &str| format!("deployments.{name}.targets{f}");
        let bad = |f: &str, problem: String, fix: &str| Error::Value { field: field(f), problem, fix: fix.into() };
        if engine != Engine::Cloudformation {
            return Err(bad(
                "",
                "is set, but only a StackSet deploys to other accounts".into(),
                "add `engine: cloudformation` to the deployment, or remove `targets`",
            ));
        }
        match (self.accounts.is_empty(), self.organizational_units.is_empty()) {
            (true, true) => {
                return Err(bad(
                    "",
                    "names no accounts and no organizational units".into(),
                    "list `accounts: [\"111111111111\"]` or `organizational_units: [ou-ab12-cd34ef56]`",
                ));
            }
            (false, false) => {
                return Err(bad(
                    "",
                    "names both accounts and organizational units".into(),
                    "use one: accounts (self-managed StackSet) or organizational units (service-managed)",
                ));
            }
            _ => {}
        }
        if let Some(a) = self.accounts.iter().find(|a| !(a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))) {
            return Err(bad(
                ".accounts",
                format!("holds {a:?}, not a 12-digit AWS account id"),
                "write each account id in quotes, e.g. \"111111111111\"",
            ));
        }
        let ou = |o: &str| {
            let parts: Vec<&str> = o.split('-').collect();
            let plain = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
            (parts.len() == 3 && parts[0] == "ou" && plain(parts[1]) && plain(parts[2]))
                || (parts.len() == 2 && parts[0] == "r" && plain(parts[1]))
        };
        if let Some(o) = self.organizational_units.iter().find(|o| !ou(o)) {
            return Err(bad(
                ".organizational_units",
                format!("holds {o:?}, not an organizational unit id"),
                "use ids as AWS Organizations shows them: ou-ab12-cd34ef56, or r-ab12 for the root",
            ));
        }
        if let Some(r) = self.regions.iter().find(|r| crate::aws::check_region(r).is_err()) {
            return Err(bad(
                ".regions",
                format!("holds {r:?}, not an AWS region"),
                "use region names such as us-east-1",
            ));
        }
        Ok(())
    }
}

/// Who builds a deployment's resources (docs/cloudformation.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// lakepass's own calls, recorded in its state (the default).
    #[default]
    Direct,
    /// One CloudFormation stack, `lakepass-NAME`, whose ID the state records.
    Cloudformation,
}

impl Engine {
    pub fn is_direct(&self) -> bool {
        *self == Engine::Direct
    }
}

/// A loaded config and where it lives (state goes in `.lakepass/` beside it).
#[derive(Debug, Clone)]
pub struct Project {
    pub path: PathBuf,
    pub config: Config,
}

impl Project {
    pub fn load(path: &Path) -> Result<Project, Error> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NoConfig { path: path.to_path_buf() });
            }
            Err(e) => return Err(Error::Io { what: format!("read {}", path.display()), source: e }),
        };
        let config = parse(&text, path)?;
        Ok(Project { path: path.to_path_buf(), config })
    }

    /// This project with `deployment` added or replaced (in memory only).
    pub fn with(&self, name: &str, deployment: Deployment) -> Project {
        let mut p = self.clone();
        p.config.deployments.insert(name.to_string(), deployment);
        p
    }

    /// The team's state location, when the config names one.
    pub fn state_location(&self) -> Option<crate::state::S3Location> {
        self.config.state.as_deref().and_then(|url| crate::state::S3Location::parse(url, "state").ok())
    }

    pub fn state_dir(&self) -> PathBuf {
        let parent = self.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        parent.join(".lakepass")
    }

    /// The deployment named, or the only one.
    pub fn deployment(&self, name: Option<&str>) -> Result<(String, &Deployment), Error> {
        let known = || self.config.deployments.keys().cloned().collect::<Vec<_>>().join(", ");
        match name {
            Some(n) => self.config.deployments.get(n).map(|d| (n.to_string(), d)).ok_or_else(|| {
                Error::UnknownDeployment { name: n.to_string(), known: known(), path: self.path.clone() }
            }),
            None => {
                let mut all = self.config.deployments.iter();
                match (all.next(), all.next()) {
                    (Some((n, d)), None) => Ok((n.clone(), d)),
                    _ => Err(Error::WhichDeployment { known: known(), path: self.path.clone() }),
                }
            }
        }
    }
}

/// Writes `deployment` into the config file at `path` (created if missing), replacing the
/// block of a deployment of that name or appending one. Every other line of the file —
/// other deployments, comments — stays byte for byte. Values are written in the stack's
/// parameter order as JSON scalars and flow lists, which YAML reads as written.
pub fn upsert_deployment(path: &Path, name: &str, deployment: &Deployment, stack: &Stack) -> Result<(), Error> {
    let old = match std::fs::read_to_string(path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::Io { what: format!("read {}", path.display()), source: e }),
    };
    let before = match &old {
        Some(text) => Some(parse(text, path)?),
        None => None,
    };
    let new = match &old {
        None => format!("deployments:\n{}", block(name, deployment, stack, "  ")),
        Some(text) => splice(text, name, deployment, stack),
    };
    // The result must parse, hold this deployment as given and every other one unchanged.
    let after = parse(&new, path).map_err(|_| Error::Config {
        path: path.to_path_buf(),
        problem: format!("could not update deployment {name} in place; edit the file by hand"),
    })?;
    let mut expected = before.unwrap_or_default();
    expected.deployments.insert(name.to_string(), deployment.clone());
    if after != expected {
        return Err(Error::Config {
            path: path.to_path_buf(),
            problem: format!(
                "could not update deployment {name} in place without changing the rest; edit the file by hand"
            ),
        });
    }
    crate::files::replace(path, &new).map_err(|e| Error::Io { what: format!("write {}", path.display()), source: e })
}

fn block(name: &str, d: &Deployment, stack: &Stack, indent: &str) -> String {
    let mut out = format!("{indent}{name}:\n{indent}  stack: {}\n", d.stack);
    if let Some(a) = &d.account {
        out.push_str(&format!("{indent}  account: \"{a}\"\n"));
    }
    if let Some(r) = &d.region {
        out.push_str(&format!("{indent}  region: {r}\n"));
    }
    if d.iam_scope != IamScope::Auto {
        let scope = serde_json::to_value(d.iam_scope).expect("serializes");
        out.push_str(&format!("{indent}  iam_scope: {}\n", scope.as_str().unwrap_or("auto")));
    }
    if let Some(q) = d.managed_policy_quota {
        out.push_str(&format!("{indent}  managed_policy_quota: {q}\n"));
    }
    if d.engine == Engine::Cloudformation {
        out.push_str(&format!("{indent}  engine: cloudformation\n"));
    }
    out.push_str(&format!("{indent}  values:\n"));
    let mut keys: Vec<&String> = d.values.keys().collect();
    let order = |k: &String| stack.parameters.iter().position(|p| &p.name == k).unwrap_or(usize::MAX);
    keys.sort_by_key(|k| order(k));
    for k in keys {
        out.push_str(&format!("{indent}    {k}: {}\n", d.values[k]));
    }
    out
}

/// The key of a `key:` line (quotes and a trailing comment allowed), if it is one.
fn key_of(line: &str) -> Option<&str> {
    let t = line.trim();
    let body = t.split(" #").next().unwrap_or(t).trim_end();
    let key = body.strip_suffix(':')?.trim_end();
    Some(key.trim_matches(|c| c == '"' || c == '\''))
}

/// Replaces or appends the deployment's block in the config text.
fn splice(text: &str, name: &str, d: &Deployment, stack: &Stack) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let indent_of = |l: &str| l.len() - l.trim_start().len();
    let content = |l: &str| !l.trim().is_empty() && !l.trim_start().starts_with('#');
    let top = lines.iter().position(|l| l.starts_with("deployments:")).unwrap_or(0);
    let child = lines[top + 1..].iter().find(|l| content(l)).map(|l| indent_of(l)).unwrap_or(2).max(1);
    let indent = " ".repeat(child);
    let start = lines
        .iter()
        .enumerate()
        .skip(top + 1)
        .find(|(_, l)| indent_of(l) == child && key_of(l) == Some(name))
        .map(|(i, _)| i);
    let new_block = block(name, d, stack, &indent);
    let mut out = String::new();
    match start {
        Some(s) => {
            let end = (s + 1..lines.len())
                .find(|&i| content(lines[i]) && indent_of(lines[i]) <= child)
                .unwrap_or(lines.len());
            // Trailing blank lines and comments before the next block belong to it.
            let mut end_block = end;
            while end_block > s + 1 && !content(lines[end_block - 1]) {
                end_block -= 1;
            }
            for l in &lines[..s] {
                out.push_str(l);
                out.push('\n');
            }
            out.push_str(&new_block);
            for l in &lines[end_block..] {
                out.push_str(l);
                out.push('\n');
            }
        }
        None => {
            out.push_str(text);
            if !text.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&new_block);
        }
    }
    out
}

/// Parses config text; errors carry the line and column.
pub fn parse(text: &str, path: &Path) -> Result<Config, Error> {
    let config: Config = serde_saphyr::from_str(text).map_err(|e| Error::Config {
        path: path.to_path_buf(),
        problem: crate::error::yaml_problem(&e, &path.display().to_string()),
    })?;
    if let Some(url) = &config.state {
        crate::state::S3Location::parse(url, "state")?;
    }
    if config.deployments.is_empty() {
        return Err(Error::Config { path: path.to_path_buf(), problem: "deployments is empty".into() });
    }
    for name in config.deployments.keys() {
        check_deployment_name(name)?;
    }
    Ok(config)
}

/// Deployment names name state files and ownership tags: letters, digits, '-' and '_'.
pub fn check_deployment_name(name: &str) -> Result<(), Error> {
    let ok =
        !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::Value {
            field: format!("deployments.{name}"),
            problem: "is not a valid deployment name".into(),
            fix: "use 1 to 64 letters, digits, '-' or '_' (it names the state file and the ownership tags)".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duplicate_deployment_is_named_without_the_yaml_library_s_options() {
        let text = "deployments:\n  a:\n    stack: secoda-glue\n  a:\n    stack: dbt-glue\n";
        let e = parse(text, Path::new("lakepass.yaml")).unwrap_err().to_string();
        assert!(e.starts_with("lakepass.yaml: line 4 column 3: the key a appears twice (a key may appear only once in a mapping: merge the two entries, or rename one)"), "{e}");
        assert!(e.contains("--> lakepass.yaml:4:3"), "{e}");
        assert!(!e.contains("DuplicateKeyPolicy") && !e.contains("<input>"), "{e}");
    }

    const SAMPLE: &str = r#"
deployments:
  secoda:
    stack: secoda-glue
    region: us-east-1
    values:
      access: role
      vendor_account: "482836992928"
      external_id: "sec-7f3a9c21e4b8"
      glue_buckets: [acme-lake]
      databases: [sales, marketing]
      tables: {}
"#;

    #[test]
    fn the_issue_example_parses() {
        let c = parse(SAMPLE, Path::new("lakepass.yaml")).unwrap();
        let d = &c.deployments["secoda"];
        assert_eq!(d.stack, "secoda-glue");
        assert_eq!(d.values["vendor_account"], "482836992928");
        assert_eq!(d.values["databases"][1], "marketing");
    }

    #[test]
    fn malformed_yaml_names_the_line() {
        let e = parse("deployments:\n  secoda:\n    stack: [unclosed\n", Path::new("lakepass.yaml")).unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("lakepass.yaml:"), "{text}");
        assert!(text.contains("line") || text.contains(':'), "{text}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = parse("deployments:\n  s:\n    stack: x\n    valuez: {}\n", Path::new("p.yaml")).unwrap_err();
        assert!(e.to_string().contains("valuez"), "{e}");
    }

    #[test]
    fn one_deployment_may_be_left_unnamed_but_not_two() {
        let p = Project { path: "lakepass.yaml".into(), config: parse(SAMPLE, Path::new("x")).unwrap() };
        assert_eq!(p.deployment(None).unwrap().0, "secoda");
        assert!(p.deployment(Some("nope")).unwrap_err().hint().unwrap().contains("secoda"));
        let two = format!("{SAMPLE}  other:\n    stack: secoda-glue\n");
        let p = Project { path: "lakepass.yaml".into(), config: parse(&two, Path::new("x")).unwrap() };
        assert!(matches!(p.deployment(None), Err(Error::WhichDeployment { .. })));
        assert_eq!(p.state_dir(), Path::new("./.lakepass"));
    }

    fn deployment(values: serde_json::Value) -> Deployment {
        Deployment {
            stack: "secoda-glue".into(),
            account: Some("123456789012".into()),
            region: Some("us-east-1".into()),
            iam_scope: IamScope::Auto,
            managed_policy_quota: None,
            engine: Engine::Direct,
            targets: None,
            values: values.as_object().unwrap().clone(),
        }
    }

    #[test]
    fn upsert_creates_a_file_that_parses_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lakepass.yaml");
        let stack = Stack::shipped("secoda-glue").unwrap();
        let d = deployment(serde_json::json!({"databases": ["sales"], "access": "role", "external_id": "x:y z"}));
        upsert_deployment(&path, "secoda", &d, &stack).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.find("access").unwrap() < text.find("external_id").unwrap(), "stack order: {text}");
        assert_eq!(parse(&text, &path).unwrap().deployments["secoda"], d);
    }

    #[test]
    fn the_engine_is_kept_when_the_wizard_rewrites_a_deployment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lakepass.yaml");
        let stack = Stack::shipped("secoda-glue").unwrap();
        let mut d = deployment(serde_json::json!({"databases": ["sales"]}));
        d.engine = Engine::Cloudformation;
        upsert_deployment(&path, "secoda", &d, &stack).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\n    engine: cloudformation\n"), "{text}");
        assert_eq!(parse(&text, &path).unwrap().deployments["secoda"], d);
        let bad = text.replace("engine: cloudformation", "engine: terraform");
        let e = parse(&bad, &path).unwrap_err().to_string();
        assert!(e.contains("terraform"), "{e}");
    }

    #[test]
    fn targets_name_one_kind_of_target_well_formed_with_the_engine_that_deploys_them() {
        let t = |accounts: &[&str], units: &[&str]| Targets {
            accounts: accounts.iter().map(|s| s.to_string()).collect(),
            organizational_units: units.iter().map(|s| s.to_string()).collect(),
            regions: vec![],
        };
        let cf = Engine::Cloudformation;
        assert!(t(&["111111111111"], &[]).check("d", cf).is_ok());
        assert!(t(&[], &["ou-ab12-cd34ef56", "r-ab12"]).check("d", cf).is_ok());
        let e = t(&["111111111111"], &[]).check("d", Engine::Direct).unwrap_err();
        assert_eq!(e.to_string(), "deployments.d.targets is set, but only a StackSet deploys to other accounts");
        assert_eq!(e.hint().as_deref(), Some("add `engine: cloudformation` to the deployment, or remove `targets`"));
        let e = t(&["111111111111"], &["r-ab12"]).check("d", cf).unwrap_err();
        assert!(e.to_string().ends_with("names both accounts and organizational units"), "{e}");
        assert!(t(&[], &[]).check("d", cf).is_err());
        let e = t(&["1111"], &[]).check("d", cf).unwrap_err();
        assert_eq!(e.to_string(), "deployments.d.targets.accounts holds \"1111\", not a 12-digit AWS account id");
        let e = t(&[], &["ou-AB12-x"]).check("d", cf).unwrap_err();
        assert!(e.to_string().starts_with("deployments.d.targets.organizational_units holds"), "{e}");
        let mut bad_region = t(&["111111111111"], &[]);
        bad_region.regions = vec!["US East".into()];
        assert!(bad_region.check("d", cf).unwrap_err().to_string().contains("not an AWS region"));
    }

    #[test]
    fn upsert_leaves_other_deployments_and_comments_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lakepass.yaml");
        let stack = Stack::shipped("secoda-glue").unwrap();
        let other =
            "  # the analytics team's\n  other:\n    stack: secoda-glue\n    values: {databases: [x]}  # keep\n";
        let original = format!(
            "# top comment\ndeployments:\n{other}\n  secoda:\n    stack: secoda-glue\n    values:\n      databases: [old]\n"
        );
        std::fs::write(&path, &original).unwrap();
        let d = deployment(serde_json::json!({"databases": ["new"]}));
        upsert_deployment(&path, "secoda", &d, &stack).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(&format!("# top comment\ndeployments:\n{other}")), "{text}");
        assert!(!text.contains("old"), "{text}");
        assert_eq!(parse(&text, &path).unwrap().deployments["secoda"], d);
        // A new name is appended, and the rest stays.
        upsert_deployment(&path, "third", &d, &stack).unwrap();
        let again = std::fs::read_to_string(&path).unwrap();
        assert!(again.starts_with(&text), "{again}");
        assert_eq!(parse(&again, &path).unwrap().deployments.len(), 3);
    }
}
