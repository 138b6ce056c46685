//! State in S3, shared by a team: `state: s3://BUCKET/PREFIX` in lakepass.yaml keeps each
//! deployment's state at `PREFIX/NAME.json` and its lock at `PREFIX/NAME.lock`.
//!
//! Both use S3's conditional writes. The lock is created with `If-None-Match: *`, so of
//! two runs exactly one gets it; it names its holder (user, host, process, command, time)
//! and is deleted when the run ends. Every state write carries `If-Match` with the ETag
//! this run last read or wrote (or `If-None-Match: *` for the first), so a write from a
//! run that lost its lock can never replace another's state.
//!
//! A lock left by a run that died (killed, crashed) stays, and a later run names it with
//! the fix; one left on this same machine by a process that no longer runs is taken over.

use super::{State, parse_state};
use crate::error::Error;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Mutex;

/// Where a team's state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// Without leading or trailing slashes; may be empty.
    pub prefix: String,
}

impl S3Location {
    /// Parses `s3://bucket/prefix`, naming `field` in errors.
    pub fn parse(url: &str, field: &str) -> Result<S3Location, Error> {
        let bad = |problem: String| {
            Error::Value {
            field: field.to_string(),
            problem,
            fix: "write it as s3://BUCKET/PREFIX (a bucket your team can read and write, e.g. s3://acme-platform/lakepass), or remove the line to keep state in .lakepass/".into(),
        }
        };
        let Some(rest) = url.strip_prefix("s3://") else {
            return Err(bad(format!("is {url:?}, not an s3:// URL")));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
            && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !valid_bucket {
            return Err(bad(format!("names bucket {bucket:?}, which is not a valid S3 bucket name")));
        }
        Ok(S3Location { bucket: bucket.to_string(), prefix: prefix.trim_matches('/').to_string() })
    }

    fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() { name.to_string() } else { format!("{}/{name}", self.prefix) }
    }

    pub fn url(&self, name: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.key(name))
    }
}

/// Who holds a lock: written into the lock object, shown to whoever is refused.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Holder {
    who: String,
    host: String,
    pid: u32,
    command: String,
    since: u64,
}

impl Holder {
    fn me() -> Holder {
        let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).take(1).collect();
        Holder {
            who: std::env::var("USER").unwrap_or_else(|_| "someone".into()),
            host: hostname(),
            pid: std::process::id(),
            command: format!("lakepass {}", args.join(" ")),
            since: now(),
        }
    }

    fn describe(&self) -> String {
        let ago = now().saturating_sub(self.since);
        format!("{} ({}@{}, process {}, {} min ago)", self.command, self.who, self.host, self.pid, ago / 60)
    }

    /// A lock this machine's process left when it died.
    fn is_dead_here(&self) -> bool {
        let host = hostname();
        host != "unknown"
            && self.host == host
            && self.pid != std::process::id()
            && std::path::Path::new("/proc/self").exists()
            && !std::path::Path::new(&format!("/proc/{}", self.pid)).exists()
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Locks held by this process, deleted by [`release_all`] when the command ends, however
/// it ends (a crash leaves them, and the next run names them).
static HELD: Mutex<Vec<(Client, String, String)>> = Mutex::new(Vec::new());

/// Deletes every lock this process still holds.
pub async fn release_all() {
    let held: Vec<_> = std::mem::take(&mut *HELD.lock().unwrap_or_else(|e| e.into_inner()));
    for (client, bucket, key) in held {
        if let Err(e) = client.delete_object().bucket(&bucket).key(&key).send().await {
            crate::output::say(&format!(
                "warning: could not release the lock s3://{bucket}/{key} ({}); delete it once no run is going on",
                e.code().unwrap_or("no answer")
            ));
        }
    }
}

/// One deployment's state in S3, locked while this value lives (until [`release_all`]).
pub struct Remote {
    client: Client,
    location: S3Location,
    deployment: String,
    /// The state's s3:// URL, for messages.
    url: PathBuf,
    /// The ETag of the state as this run last read or wrote it; None: no object yet.
    etag: Mutex<Option<String>>,
}

impl Remote {
    /// Takes the lock of `deployment`, failing at once if another run holds it.
    pub async fn open(client: Client, location: S3Location, deployment: &str) -> Result<Remote, Error> {
        let lock_key = location.key(&format!("{deployment}.lock"));
        let me = serde_json::to_vec(&Holder::me()).expect("holder serializes");
        for attempt in 0..2 {
            let put = client
                .put_object()
                .bucket(&location.bucket)
                .key(&lock_key)
                .if_none_match("*")
                .content_type("application/json")
                .body(ByteStream::from(me.clone()))
                .send()
                .await;
            match put {
                Ok(_) => {
                    HELD.lock().unwrap_or_else(|e| e.into_inner()).push((
                        client.clone(),
                        location.bucket.clone(),
                        lock_key.clone(),
                    ));
                    let url = PathBuf::from(location.url(&format!("{deployment}.json")));
                    return Ok(Remote {
                        client,
                        location,
                        deployment: deployment.to_string(),
                        url,
                        etag: Mutex::new(None),
                    });
                }
                Err(e) if is_precondition(e.code()) && attempt == 0 => {
                    let (holder, etag) = read_holder(&client, &location.bucket, &lock_key).await?;
                    match holder {
                        Some(h) if h.is_dead_here() => {
                            crate::output::say(&format!(
                                "note: taking over the lock {} left by {}, which no longer runs",
                                location.url(&format!("{deployment}.lock")),
                                h.describe()
                            ));
                            let mut del = client.delete_object().bucket(&location.bucket).key(&lock_key);
                            if let Some(etag) = etag {
                                del = del.if_match(etag);
                            }
                            del.send().await.map_err(|e| {
                                s3_error("s3:DeleteObject", &location.url(&format!("{deployment}.lock")), e)
                            })?;
                        }
                        h => {
                            return Err(Error::LockedRemote {
                                lock: location.url(&format!("{deployment}.lock")),
                                holder: h.map(|h| h.describe()).unwrap_or_else(|| "another run".into()),
                            });
                        }
                    }
                }
                Err(e) if is_precondition(e.code()) => {
                    return Err(Error::LockedRemote {
                        lock: location.url(&format!("{deployment}.lock")),
                        holder: "another run".into(),
                    });
                }
                Err(e) => return Err(s3_error("s3:PutObject", &location.url(&format!("{deployment}.lock")), e)),
            }
        }
        unreachable!("the loop returns")
    }

    pub fn path(&self) -> PathBuf {
        self.url.clone()
    }

    pub fn path_ref(&self) -> &std::path::Path {
        &self.url
    }

    fn state_key(&self) -> String {
        self.location.key(&format!("{}.json", self.deployment))
    }

    /// The state, remembering its ETag for the next write.
    pub async fn load(&self) -> Result<Option<State>, Error> {
        let got = read(&self.client, &self.location, &self.deployment).await?;
        let (state, etag) = match got {
            Some((state, etag)) => (Some(state), etag),
            None => (None, None),
        };
        *self.etag.lock().unwrap_or_else(|e| e.into_inner()) = etag;
        Ok(state)
    }

    /// Writes `text` only over the version this run knows.
    pub async fn save(&self, text: String) -> Result<(), Error> {
        let known = self.etag.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut put = self
            .client
            .put_object()
            .bucket(&self.location.bucket)
            .key(self.state_key())
            .content_type("application/json")
            .body(ByteStream::from(text.into_bytes()));
        put = match &known {
            Some(etag) => put.if_match(etag),
            None => put.if_none_match("*"),
        };
        match put.send().await {
            Ok(out) => {
                *self.etag.lock().unwrap_or_else(|e| e.into_inner()) = out.e_tag().map(str::to_string);
                Ok(())
            }
            Err(e) if is_precondition(e.code()) => Err(Error::State {
                path: self.path(),
                problem: "changed in S3 while this run held its lock (was the lock deleted by hand?); this run's last change is not recorded there".into(),
            }),
            Err(e) => Err(s3_error("s3:PutObject", &self.path().display().to_string(), e)),
        }
    }

    pub async fn remove(&self) -> Result<(), Error> {
        self.client
            .delete_object()
            .bucket(&self.location.bucket)
            .key(self.state_key())
            .send()
            .await
            .map_err(|e| s3_error("s3:DeleteObject", &self.path().display().to_string(), e))?;
        *self.etag.lock().unwrap_or_else(|e| e.into_inner()) = None;
        Ok(())
    }
}

/// Reads a deployment's state without the lock.
pub async fn read(
    client: &Client,
    location: &S3Location,
    deployment: &str,
) -> Result<Option<(State, Option<String>)>, Error> {
    let url = location.url(&format!("{deployment}.json"));
    let got =
        client.get_object().bucket(&location.bucket).key(location.key(&format!("{deployment}.json"))).send().await;
    let out = match got {
        Ok(out) => out,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
        Err(e) => return Err(s3_error("s3:GetObject", &url, e)),
    };
    let etag = out.e_tag().map(str::to_string);
    let bytes = out.body.collect().await.map_err(|e| Error::Unreachable {
        action: "s3:GetObject".into(),
        problem: format!("was cut off reading {url}: {e}"),
    })?;
    let text = String::from_utf8_lossy(&bytes.into_bytes()).into_owned();
    Ok(Some((parse_state(&text, &PathBuf::from(url))?, etag)))
}

async fn read_holder(client: &Client, bucket: &str, key: &str) -> Result<(Option<Holder>, Option<String>), Error> {
    match client.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => {
            let etag = out.e_tag().map(str::to_string);
            let bytes = out.body.collect().await.map(|b| b.into_bytes()).unwrap_or_default();
            Ok((serde_json::from_slice(&bytes).ok(), etag))
        }
        // Released in the meantime: say "another run" rather than guess.
        Err(_) => Ok((None, None)),
    }
}

fn is_precondition(code: Option<&str>) -> bool {
    matches!(code, Some("PreconditionFailed" | "ConditionalRequestConflict"))
}

fn s3_error<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
    action: &str,
    url: &str,
    e: aws_sdk_s3::error::SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
) -> Error {
    if e.code() == Some("NoSuchBucket") {
        let bucket = url.trim_start_matches("s3://").split('/').next().unwrap_or_default();
        return Error::Value {
            field: "state".into(),
            problem: format!("names bucket {bucket}, which does not exist in this account and region"),
            fix: format!(
                "create it (`aws s3 mb s3://{bucket}`, with versioning on), correct `state:` in lakepass.yaml, or set `state_region:` to the bucket's region"
            ),
        };
    }
    match crate::aws::classify(action, "", e) {
        Error::Aws { action, message } => Error::Aws { action, message: format!("{message} ({url})") },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_and_bad_ones_name_the_fix() {
        let l = S3Location::parse("s3://acme-platform/lakepass/", "state").unwrap();
        assert_eq!(l, S3Location { bucket: "acme-platform".into(), prefix: "lakepass".into() });
        assert_eq!(l.url("secoda.json"), "s3://acme-platform/lakepass/secoda.json");
        assert_eq!(S3Location::parse("s3://acme", "state").unwrap().url("x.lock"), "s3://acme/x.lock");
        let e = S3Location::parse("acme-platform/lakepass", "state").unwrap_err();
        assert!(e.to_string().starts_with("state is \"acme-platform/lakepass\", not an s3:// URL"), "{e}");
        assert!(S3Location::parse("s3://Acme_Bucket/x", "state").is_err());
    }

    #[test]
    fn a_lock_of_a_process_that_ended_on_this_machine_is_dead() {
        let mut h = Holder::me();
        assert!(!h.is_dead_here(), "our own");
        h.pid = u32::MAX - 1;
        assert_eq!(h.is_dead_here(), hostname() != "unknown");
        h.host = "elsewhere".into();
        assert!(!h.is_dead_here(), "another machine's may still run");
    }
}
