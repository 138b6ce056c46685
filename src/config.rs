//! The project config, `lakepass.yaml`: named deployments, each a stack with values.

use crate::error::Error;
use crate::stack::Values;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const DEFAULT_PATH: &str = "lakepass.yaml";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub deployments: BTreeMap<String, Deployment>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    pub stack: String,
    pub region: Option<String>,
    #[serde(default)]
    pub values: Values,
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

/// Parses config text; errors carry the line and column.
pub fn parse(text: &str, path: &Path) -> Result<Config, Error> {
    let config: Config =
        serde_saphyr::from_str(text).map_err(|e| Error::Config { path: path.to_path_buf(), problem: e.to_string() })?;
    if config.deployments.is_empty() {
        return Err(Error::Config { path: path.to_path_buf(), problem: "deployments is empty".into() });
    }
    for name in config.deployments.keys() {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            return Err(Error::Value {
                field: format!("deployments.{name}"),
                problem: "is not a valid deployment name".into(),
                fix: "use 1 to 64 letters, digits, '-' or '_' (it names the state file and the ownership tags)".into(),
            });
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
