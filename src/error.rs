//! One error type for everything a user can see go wrong, each with the fix named.
//!
//! Messages are full sentences; [`Error::hint`] says what to do about it. Secrets never
//! appear in either: AWS error messages are passed through [`crate::aws`] which only ever
//! sees requests without secrets.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {problem}")]
    Config { path: PathBuf, problem: String },

    #[error("no config file at {path}")]
    NoConfig { path: PathBuf },

    #[error("the stack {origin} is invalid: {problem}")]
    StackFile { origin: String, problem: String },

    #[error("there is no stack named {name:?}, shipped or in the project's stacks/ folder")]
    UnknownStack { name: String, known: String },

    #[error("there is no deployment named {name:?} in {path}")]
    UnknownDeployment { name: String, known: String, path: PathBuf },

    #[error("{path} holds several deployments ({known}); which one?")]
    WhichDeployment { known: String, path: PathBuf },

    #[error("{field} {problem}")]
    Value { field: String, problem: String, fix: String },

    #[error("could not {what}: {}", io_reason(source))]
    Io { what: String, source: std::io::Error },

    #[error("no AWS credentials were found ({detail})")]
    NoCredentials { detail: String },

    #[error("the AWS profile {profile:?} is not defined in {files}")]
    NoProfile { profile: String, files: String },

    #[error(
        "deployment {deployment} is pinned to account {pinned}, but the credentials are for account {actual} ({caller})"
    )]
    WrongAccount { deployment: String, pinned: String, actual: String, caller: String },

    #[error("AWS refused {action}: access denied for {caller}")]
    AccessDenied { action: String, caller: String, detail: String },

    #[error("AWS call {action} {problem}")]
    Unreachable { action: String, problem: String },

    #[error("AWS call {action} failed: {message}")]
    Aws { action: String, message: String },

    #[error("AWS did not accept the credentials for {action}: {problem}")]
    BadCredentials { action: String, problem: String },

    #[error("IAM would refuse {caller} what this run needs: {}", .denied.join("; "))]
    Denied { caller: String, denied: Vec<String> },

    #[error("{error}")]
    Partial { error: Box<Error>, done: usize, command: String },

    #[error("lakepass does not own {}", .resources.join(", "))]
    NotOwned { resources: Vec<String>, others: Vec<String> },

    #[error("{caller} may not grant or revoke Lake Formation permissions on {}", .targets.join("; "))]
    CannotGrant { caller: String, targets: Vec<String> },

    #[error("{} not found in the Glue Data Catalog of account {account} in {region}", .missing.join(", "))]
    NotInCatalog { missing: Vec<String>, account: String, region: String },

    #[error("the policy {name} would be {size} characters without whitespace; IAM allows at most 6144")]
    PolicyTooLarge { name: String, size: usize },

    #[error("{what} needs confirmation, and standard input is not a terminal")]
    NeedsYes { what: String },

    #[error("nothing was changed")]
    Declined,

    #[error("cancelled: nothing was written and nothing was created")]
    Cancelled,

    #[error("the wizard needs a terminal, and standard input or standard error is not one")]
    NeedsTerminal,

    #[error("another lakepass run holds the lock {path}")]
    Locked { path: PathBuf },

    #[error("another lakepass run holds the lock {lock}: {holder}")]
    LockedRemote { lock: String, holder: String },

    #[error("the state file {path} is unreadable: {problem}")]
    State { path: PathBuf, problem: String },

    #[error("the state file {path} records resources in {what} {recorded}, but this run is for {what} {now}")]
    WrongPlace { path: PathBuf, what: String, recorded: String, now: String },

    #[error("the state file {path} records {recorded}, not {now}")]
    ForeignState { path: PathBuf, recorded: String, now: String },

    #[error("target {target} of profile {profile} in {path} was not written by lakepass")]
    ProfileNotOurs { path: PathBuf, profile: String, target: String },

    #[error("{0}")]
    Other(String),
}

/// A YAML library's error as a user reads it: the line and the problem, without the
/// library's own option names.
pub fn yaml_problem(e: &impl std::fmt::Display, origin: &str) -> String {
    let text = e.to_string().replace("<input>", origin);
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    let mut out = text.replace(
        ", set DuplicateKeyPolicy in Options if acceptable",
        " (a key may appear only once in a mapping: merge the two entries, or rename one)",
    );
    if out.contains("duplicate mapping key: ") {
        out = out.replace("duplicate mapping key: ", "the key ").replacen(" (a key", " appears twice (a key", 2);
    }
    out
}

/// An I/O error as a sentence, without the OS's error number.
pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

impl Error {
    /// Names the caller in a refusal read before the caller was known.
    pub fn for_caller(self, caller: &str) -> Error {
        match self {
            Error::AccessDenied { action, caller: c, detail } if c.is_empty() => {
                Error::AccessDenied { action, caller: caller.to_string(), detail }
            }
            other => other,
        }
    }

    /// What the user should do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Error::Config { .. } => "fix the line named above; the format is in docs/config.md".into(),
            Error::NoConfig { .. } => {
                "create lakepass.yaml (see README.md and docs/config.md), or pass --config PATH".into()
            }
            Error::StackFile { .. } => "see docs/stacks.md for the stack file format".into(),
            Error::UnknownStack { known, .. } => format!("use one of the stacks: {known}"),
            Error::UnknownDeployment { known, .. } => format!("use one of: {known}"),
            Error::WhichDeployment { .. } => "pass --deployment NAME".into(),
            Error::Value { fix, .. } => fix.clone(),
            Error::Io { source, .. } => match source.kind() {
                std::io::ErrorKind::NotFound => "check the path: it, or a directory on the way, does not exist".into(),
                std::io::ErrorKind::PermissionDenied => {
                    "check the permissions of the file and its directory (ls -l), or run where you may write".into()
                }
                _ => "check the path, its permissions and the free space of its disk".into(),
            },
            Error::NoCredentials { .. } => "sign in first: `aws sso login --profile NAME` then --profile NAME, or set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into(),
            Error::NoProfile { profile, .. } => format!(
                "check the name (`aws configure list-profiles` lists them), or create it: `aws configure sso --profile {profile}`"
            ),
            Error::WrongAccount { pinned, .. } => format!(
                "sign in to account {pinned} (e.g. --profile NAME for that account); nothing was changed. If the deployment really moved, change `account:` in lakepass.yaml"
            ),
            Error::AccessDenied { detail, .. } => format!(
                "the identity running lakepass needs this permission ({detail}); run lakepass as an administrator of IAM and Lake Formation, or ask one to grant it"
            ),
            Error::Unreachable { .. } => "check the network and any proxy (HTTPS_PROXY), the region (--region or the deployment's region), and AWS_ENDPOINT_URL if it is set; -v shows the SDK's detail".into(),
            Error::Denied { caller, .. } => format!(
                "nothing was changed. Ask an administrator to allow these actions to {caller} (IAM's policy simulator decided, including permissions boundaries and SCPs), or run with credentials that have them (--profile)"
            ),
            Error::Partial { error, done, command } => {
                let fix = error.hint().map(|h| format!("{h}. ")).unwrap_or_default();
                let undo = if command == "teardown" { "" } else { ", or `lakepass teardown` to remove them" };
                format!(
                    "{fix}{done} change(s) were made before this and are recorded in the state: fix the cause and run `lakepass {command}` again to finish{undo}"
                )
            }
            Error::BadCredentials { .. } => "sign in again (`aws sso login --profile NAME`, then --profile NAME), or put valid keys in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; `aws sts get-caller-identity` checks them".into(),
            Error::Aws { message, .. } => {
                if ["Throttl", "ServiceUnavailable", "InternalFailure", "InternalError", "SlowDown", "InternalService"]
                    .iter()
                    .any(|t| message.contains(t))
                {
                    "AWS kept failing after every retry: run again in a few minutes (each change already made is recorded, so the run picks up where this one stopped), or raise AWS_MAX_ATTEMPTS".into()
                } else {
                    "this is AWS's answer to the call named; -v shows the request, and docs/security.md lists what each call needs".into()
                }
            }
            Error::NotOwned { others, .. } if !others.is_empty() => format!(
                "choose other names in this deployment's values (the names are the stack's defaults unless set); --adopt never takes over what lakepass deployment {} uses, as its vendor would lose its access",
                others.join(", ")
            ),
            Error::NotOwned { .. } => "choose another name in the deployment's values, or pass --adopt to take the existing resources over deliberately (lakepass will then manage and, on teardown, delete them)".into(),
            Error::CannotGrant { caller, .. } => format!(
                "make {caller} a data lake administrator (Lake Formation console, Administrative roles and tasks), or have an administrator grant it these permissions with grant option"
            ),
            Error::NotInCatalog { .. } => "create them in Glue first, or remove them from the deployment's values".into(),
            Error::PolicyTooLarge { .. } => "lakepass spreads databases over several policies, but not the other resources: list fewer buckets or tables of one database, or split the deployment in two".into(),
            Error::NeedsYes { .. } => "review it with --plan, then pass --yes".into(),
            Error::NeedsTerminal => {
                "run it in a terminal, or give the answers in a file: lakepass wizard --answers FILE [--yes]".into()
            }
            Error::WrongPlace { what, recorded, .. } => format!(
                "run with the {what} {recorded} (e.g. `lakepass teardown` there) before using another {what}, or give this deployment another name; do not move the state file aside, that would orphan what it records"
            ),
            Error::ForeignState { recorded, .. } => format!(
                "nothing was changed. The file is not this deployment's: put it back where {recorded} keeps its state and restore this one's from version control. If you changed the deployment's stack, set it back and run `lakepass teardown` before switching"
            ),
            Error::ProfileNotOurs { .. } => "choose another target (profile.target in lakepass.yaml), or pass --overwrite-profile to replace it (a backup of the file is kept)".into(),
            Error::Locked { .. } => "wait for the other run to finish; the lock is released when it exits".into(),
            Error::LockedRemote { lock, .. } => format!(
                "wait for that run to finish (it deletes the lock when it ends). If it died, check with its owner that nothing runs, then delete the lock: `aws s3 rm {lock}`"
            ),
            Error::State { .. } => "restore the file from version control, or move it aside and run again with --adopt: lakepass then takes over what carries this deployment's ownership tags".into(),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_errors_name_field_problem_and_fix() {
        let e = Error::Value { field: "values.x".into(), problem: "is missing".into(), fix: "add it".into() };
        assert_eq!(e.to_string(), "values.x is missing");
        assert_eq!(e.hint().as_deref(), Some("add it"));
    }
}
