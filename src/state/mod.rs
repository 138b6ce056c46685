//! State: what lakepass created and owns, per deployment, in `.lakepass/NAME.json` beside
//! the config, or in S3 for a team ([`remote`]). Written whole after every action that
//! succeeds, and locked for the whole run. Holds names, ARNs, versions and key ids, never
//! a secret.

mod remote;

pub use remote::{S3Location, release_all};

use crate::error::Error;
use crate::model::Resource;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::path::{Path, PathBuf};

pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub format_version: u32,
    pub lakepass_version: String,
    pub deployment: String,
    pub stack: String,
    /// Incremented on every write: a plan made against one serial is stale at another.
    pub serial: u64,
    pub account: Option<String>,
    pub region: Option<String>,
    /// The values of the last successful provision.
    pub values: serde_json::Value,
    /// Owned resources by address.
    pub resources: BTreeMap<String, Owned>,
    /// Addresses of IAM resources a run is about to create, written before it creates
    /// them: a resource found there with this deployment's tag was made by an interrupted
    /// run of this state. A tag alone proves nothing (anyone may tag), so a tagged
    /// resource recorded neither here nor in `resources` needs `--adopt`.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub pending: BTreeSet<String>,
    /// The CloudFormation stack that holds the resources (`engine: cloudformation`), by
    /// its unique ID: a stack of the same name made by someone else is never taken for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_id: Option<String>,
    /// The StackSet that deploys the deployment to other accounts (`targets:`), by ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_set_id: Option<String>,
    /// The (organizational unit, region) pairs the StackSet was deployed to: an instance
    /// does not always name its unit, and removing one needs it.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub stack_set_units: BTreeSet<(String, String)>,
}

/// One resource lakepass owns, as it was last applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Owned {
    pub resource: Resource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// A policy's default version as last applied (read first on the next run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Taken over with --adopt rather than created.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopted: bool,
}

impl State {
    pub fn new(deployment: &str, stack: &str) -> State {
        State {
            format_version: FORMAT_VERSION,
            lakepass_version: env!("CARGO_PKG_VERSION").to_string(),
            deployment: deployment.to_string(),
            stack: stack.to_string(),
            serial: 0,
            account: None,
            region: None,
            values: serde_json::Value::Null,
            resources: BTreeMap::new(),
            pending: BTreeSet::new(),
            stack_id: None,
            stack_set_id: None,
            stack_set_units: BTreeSet::new(),
        }
    }
}

/// The state of one deployment, locked while this value lives.
pub struct Store {
    backend: Backend,
}

enum Backend {
    Local { path: PathBuf, _lock: File },
    S3(remote::Remote),
}

impl Store {
    /// Opens (and locks) the state of `deployment` under `dir`; fails at once if another
    /// run holds the lock.
    pub fn open(dir: &Path, deployment: &str) -> Result<Store, Error> {
        let lock_path = dir.join(format!("{deployment}.lock"));
        let lock = crate::files::open_lock(&lock_path)
            .map_err(|e| Error::Io { what: format!("open {}", lock_path.display()), source: e })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(Error::Locked { path: lock_path }),
            Err(fs::TryLockError::Error(e)) => {
                return Err(Error::Io { what: format!("lock {}", lock_path.display()), source: e });
            }
        }
        Ok(Store { backend: Backend::Local { path: dir.join(format!("{deployment}.json")), _lock: lock } })
    }

    /// Opens (and locks) the state of `deployment` in S3. A state this checkout kept in
    /// `local_dir` before the team moved to S3 is uploaded on first use (and the local
    /// file renamed `.migrated`); both existing is refused rather than guessed.
    pub async fn open_s3(
        client: aws_sdk_s3::Client,
        location: S3Location,
        deployment: &str,
        local_dir: &Path,
    ) -> Result<Store, Error> {
        let remote = remote::Remote::open(client, location, deployment).await?;
        let store = Store { backend: Backend::S3(remote) };
        let local = local_dir.join(format!("{deployment}.json"));
        if let Some(mut state) = Store::peek(&local)? {
            if store.load().await?.is_some() {
                return Err(Error::State {
                    path: local.clone(),
                    problem: format!(
                        "exists beside the team's state {} (lakepass.yaml says state lives in S3)",
                        store.path().display()
                    ),
                });
            }
            store.save(&mut state).await?;
            let moved = local.with_extension("json.migrated");
            crate::files::rename(&local, &moved)
                .map_err(|e| Error::Io { what: format!("rename {}", local.display()), source: e })?;
            crate::output::say(&format!(
                "note: moved the state of {deployment} to {} (the team's state from now on); the local copy is kept as {}",
                store.path().display(),
                moved.display()
            ));
        }
        Ok(store)
    }

    /// Where the state lives: a file, or an s3:// URL.
    pub fn path(&self) -> &Path {
        match &self.backend {
            Backend::Local { path, .. } => path,
            Backend::S3(r) => r.path_ref(),
        }
    }

    /// Whether a state was ever written here.
    pub async fn exists(&self) -> Result<bool, Error> {
        match &self.backend {
            Backend::Local { path, .. } => Ok(path.exists()),
            Backend::S3(_) => Ok(self.load().await?.is_some()),
        }
    }

    /// The recorded state, or None if this deployment was never applied.
    pub async fn load(&self) -> Result<Option<State>, Error> {
        match &self.backend {
            Backend::Local { path, .. } => Store::peek(path),
            Backend::S3(r) => r.load().await,
        }
    }

    /// Reads a state file without locking it. Safe while another run writes it: writes
    /// replace the file whole.
    pub fn peek(path: &Path) -> Result<Option<State>, Error> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::Io { what: format!("read {}", path.display()), source: e }),
        };
        parse_state(&text, path).map(Some)
    }

    /// Reads a team's state in S3 without the lock.
    pub async fn peek_s3(
        client: &aws_sdk_s3::Client,
        location: &S3Location,
        deployment: &str,
    ) -> Result<Option<State>, Error> {
        Ok(remote::read(client, location, deployment).await?.map(|(state, _)| state))
    }

    /// Writes the state whole, bumping its serial.
    pub async fn save(&self, state: &mut State) -> Result<(), Error> {
        state.serial += 1;
        state.lakepass_version = env!("CARGO_PKG_VERSION").to_string();
        let mut text = serde_json::to_string_pretty(state).expect("state serializes");
        text.push('\n');
        let path = match &self.backend {
            Backend::Local { path, .. } => path,
            Backend::S3(r) => return r.save(text).await,
        };
        crate::files::replace(path, &text)
            .map_err(|e| Error::Io { what: format!("write {}", path.display()), source: e })
    }

    /// Removes the state once nothing is owned any more.
    pub async fn remove(&self) -> Result<(), Error> {
        let path = match &self.backend {
            Backend::Local { path, .. } => path,
            Backend::S3(r) => return r.remove().await,
        };
        match fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::Io { what: format!("remove {}", path.display()), source: e }),
        }
    }
}

/// A state's text, checked; `path` names it in errors.
fn parse_state(text: &str, path: &Path) -> Result<State, Error> {
    let state: State =
        serde_json::from_str(text).map_err(|e| Error::State { path: path.to_path_buf(), problem: e.to_string() })?;
    if state.format_version > FORMAT_VERSION {
        return Err(Error::State {
            path: path.to_path_buf(),
            problem: format!(
                "it has format version {}, newer than this lakepass understands ({FORMAT_VERSION}); upgrade lakepass",
                state.format_version
            ),
        });
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LfTarget, Principal};

    fn sample() -> State {
        let mut s = State::new("secoda", "secoda-glue");
        let r = Resource::Grant {
            principal: Principal::Role("r".into()),
            target: LfTarget::AllTables { database: "sales".into() },
            permissions: ["DESCRIBE".to_string(), "SELECT".to_string()].into_iter().collect(),
        };
        s.resources
            .insert(r.address(), Owned { resource: r, arn: None, access_key_id: None, adopted: false, version: None });
        let u = Resource::AccessKey { user: "u".into() };
        s.resources.insert(
            u.address(),
            Owned { resource: u, arn: None, access_key_id: Some("AKIAEXAMPLE".into()), adopted: false, version: None },
        );
        s
    }

    #[tokio::test]
    async fn state_round_trips_and_bumps_its_serial() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), "secoda").unwrap();
        assert_eq!(store.load().await.unwrap(), None);
        let mut s = sample();
        store.save(&mut s).await.unwrap();
        store.save(&mut s).await.unwrap();
        let back = store.load().await.unwrap().unwrap();
        assert_eq!(back, s);
        assert_eq!(back.serial, 2);
        assert!(!dir.path().join("secoda.json.tmp").exists());
    }

    #[test]
    fn a_second_run_is_locked_out() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path(), "secoda").unwrap();
        let second = Store::open(dir.path(), "secoda");
        assert!(matches!(second, Err(Error::Locked { .. })));
        drop(_first);
        assert!(Store::open(dir.path(), "secoda").is_ok());
    }

    #[tokio::test]
    async fn corrupt_state_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.json"), "{not json").unwrap();
        let store = Store::open(dir.path(), "x").unwrap();
        let e = store.load().await.unwrap_err();
        assert!(e.to_string().contains("x.json"), "{e}");
    }
}
