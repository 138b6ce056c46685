//! Apply: walk a plan's steps against AWS, recording state after every action.
//!
//! No decisions are made here beyond retrying what AWS says is transient. Lake Formation
//! grants go in batches of at most 20 entries; each entry's failure is checked, and the
//! ones IAM eventual consistency explains ("Invalid principal" for a role created seconds
//! ago) are retried for a bounded time.

use crate::aws::{Aws, classify, is_not_found};
use crate::error::Error;
use crate::model::{Facts, Principal};
use crate::observe::CONCURRENCY;
use crate::observe::{KEY_TAG, OWNER_TAG, STACK_TAG, lf_resource};
use crate::plan::{Action, Change, KeyTag, Made, Plan, Step};
use crate::state::{State, Store};
use aws_sdk_iam::error::ProvideErrorMetadata;
use aws_sdk_iam::types::Tag;
use aws_sdk_lakeformation::types as lft;
use futures_util::{StreamExt, stream};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// LF's limit on entries per batch call.
const BATCH_LIMIT: usize = 20;

/// A secret access key. Its Debug and Display never show it; only [`Secret::expose`] does.
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

/// A step for the log: its operation and target, never a document.
struct StepLog<'a>(&'a Step);

impl fmt::Debug for StepLog<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let json = serde_json::to_value(self.0).unwrap_or_default();
        let op = json["op"].as_str().unwrap_or("?");
        let target = ["name", "arn", "user", "policy_arn", "principal_arn", "resource"]
            .iter()
            .find_map(|k| json.get(*k).and_then(|v| v.as_str()))
            .unwrap_or("");
        write!(f, "{op} {target}")
    }
}

/// What an apply produced that the user needs: a new key's id and where its secret went
/// (the secret itself was handed over the moment it existed).
#[derive(Debug, Default)]
pub struct Applied {
    pub access_key: Option<(String, String)>,
}

/// Gives a new access key's secret to the user the moment it exists: before anything
/// records the key as live, so that no live key's secret is ever lost to a crash.
pub trait Handover {
    /// Writes or shows the secret (never fails: a file that cannot be written gets the
    /// secret shown instead); returns where it went, for the hand-off.
    fn hand_over(&self, user: &str, id: &str, secret: Secret, progress: &dyn Progress) -> String;
}

pub struct Context<'a> {
    pub aws: &'a Aws,
    pub caller: &'a str,
    pub facts: &'a Facts,
    pub deployment: &'a str,
    pub stack: &'a str,
    pub store: &'a Store,
    /// How long to wait for IAM changes to reach Lake Formation.
    pub propagation: Duration,
    pub progress: &'a dyn Progress,
    pub handover: &'a dyn Handover,
}

/// Where apply reports what it does: lines on stderr for `provision`, bars for the wizard.
pub trait Progress {
    /// Apply is about to run these actions.
    fn begin(&self, _actions: &[Action]) {}
    /// One action succeeded.
    fn done(&self, action: &Action);
    /// Apply is waiting (for IAM propagation); says what for.
    fn waiting(&self, message: &str);
    fn finish(&self) {}
    /// Runs `f` (which prints) with any progress display out of the way.
    fn suspend(&self, f: &mut dyn FnMut()) {
        f()
    }
}

/// One line per action on stderr.
pub struct Lines;

impl Progress for Lines {
    fn done(&self, action: &Action) {
        eprintln!("  {} {}", action.change.symbol(), action.resource.describe());
    }

    fn waiting(&self, message: &str) {
        eprintln!("  {message}");
    }
}

/// Fault injection for the tests of interrupted runs: with
/// `LAKEPASS_FAULT_CRASH_AFTER_ACTIONS=N`, the process dies (exit 101) right after its
/// N-th change succeeds (an AWS call that changes something, or a secret handed over) and
/// before anything records it — the worst moment to die.
fn crash_point() {
    static DONE: AtomicUsize = AtomicUsize::new(0);
    let done = DONE.fetch_add(1, Ordering::SeqCst) + 1;
    let limit = std::env::var("LAKEPASS_FAULT_CRASH_AFTER_ACTIONS").ok().and_then(|v| v.parse::<usize>().ok());
    if limit == Some(done) {
        eprintln!("lakepass: simulated crash after {done} change(s) (LAKEPASS_FAULT_CRASH_AFTER_ACTIONS)");
        std::process::exit(101);
    }
}

/// Applies `plan`, saving `state` after every action that succeeds. A new key's secret is
/// handed over (through `cx.handover`) the moment the key exists; `applied` says where it
/// went, even when a later step fails.
pub async fn apply(cx: &Context<'_>, plan: &Plan, state: &mut State, applied: &mut Applied) -> Result<(), Error> {
    // Before creating anything, say what: a crash then leaves resources this state can
    // still prove its own.
    let creating: BTreeSet<String> = plan
        .actions
        .iter()
        .filter(|a| {
            a.steps
                .iter()
                .any(|s| matches!(s, Step::CreatePolicy { .. } | Step::CreateRole { .. } | Step::CreateUser { .. }))
        })
        .map(|a| a.address.clone())
        .collect();
    if !plan.record.is_empty() || !plan.forget.is_empty() || creating != state.pending {
        for (address, owned) in &plan.record {
            state.resources.insert(address.clone(), owned.clone());
        }
        for address in &plan.forget {
            state.resources.remove(address);
        }
        state.pending = creating;
        cx.store.save(state)?;
    }
    cx.progress.begin(&plan.actions);
    let mut i = 0;
    while i < plan.actions.len() {
        // A run of Lake Formation actions goes out in batches.
        let run = plan.actions[i..].iter().take_while(|a| is_lf(a)).count();
        if run > 0 {
            apply_grants(cx, &plan.actions[i..i + run], state).await?;
            i += run;
            continue;
        }
        // Actions of one rank and direction do not depend on each other: they go out
        // together, and each is recorded the moment it succeeds.
        let head = &plan.actions[i];
        let n = plan.actions[i..]
            .iter()
            .take_while(|a| {
                !is_lf(a)
                    && a.resource.rank() == head.resource.rank()
                    && (a.change == Change::Delete) == (head.change == Change::Delete)
            })
            .count();
        let group = &plan.actions[i..i + n];
        let mut results = stream::iter(group.iter().map(|a| async move { (a, run_action(cx, a).await) }))
            .buffer_unordered(CONCURRENCY);
        let mut failed = None;
        while let Some((action, result)) = results.next().await {
            match result {
                Ok((made, handed)) => {
                    if handed.is_some() {
                        applied.access_key = handed;
                    }
                    action.record_into(state, cx.facts, made);
                    cx.store.save(state)?;
                    cx.progress.done(action);
                }
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        if let Some(e) = failed {
            return Err(e);
        }
        i += n;
    }
    cx.progress.finish();
    Ok(())
}

fn is_lf(a: &Action) -> bool {
    !a.steps.is_empty() && a.steps.iter().all(|s| matches!(s, Step::Grant { .. } | Step::Revoke { .. }))
}

fn tags(cx: &Context) -> Vec<Tag> {
    [(OWNER_TAG, cx.deployment), (STACK_TAG, cx.stack)]
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().expect("key and value set"))
        .collect()
}

/// Runs an action's IAM steps in order. Returns what state records, and a new access
/// key's id with where its secret went.
async fn run_action(cx: &Context<'_>, action: &Action) -> Result<(Made, Option<(String, String)>), Error> {
    let mut made = Made::default();
    let mut handed = None;
    for step in &action.steps {
        let (version, key) = run_iam_step(cx, step).await?;
        if !matches!(step, Step::CreateAccessKey { .. }) {
            crash_point();
        }
        made.version = version.or(made.version);
        if let Some((id, went)) = key {
            made.access_key_id = Some(id.clone());
            handed = Some((id, went));
        }
    }
    Ok((made, handed))
}

/// A policy version a step left as default, and a new key with where its secret went.
type StepOut = (Option<String>, Option<(String, String)>);

async fn run_iam_step(cx: &Context<'_>, step: &Step) -> Result<StepOut, Error> {
    let iam = &cx.aws.iam;
    let c = cx.caller;
    tracing::debug!(step = ?StepLog(step), "applying");
    match step {
        Step::CreatePolicy { name, description, document } => {
            let out = iam
                .create_policy()
                .policy_name(name)
                .description(description)
                .policy_document(document.to_string())
                .set_tags(Some(tags(cx)))
                .send()
                .await
                .map_err(|e| classify("iam:CreatePolicy", c, e))?;
            let version = out.policy().and_then(|p| p.default_version_id()).unwrap_or("v1");
            return Ok((Some(version.to_string()), None));
        }
        Step::NewPolicyVersion { arn, document, prune } => {
            if let Some(v) = prune {
                match iam.delete_policy_version().policy_arn(arn).version_id(v).send().await {
                    Err(e) if !is_not_found(&e) => return Err(classify("iam:DeletePolicyVersion", c, e)),
                    _ => {}
                }
            }
            let out = iam
                .create_policy_version()
                .policy_arn(arn)
                .policy_document(document.to_string())
                .set_as_default(true)
                .send()
                .await
                .map_err(|e| classify("iam:CreatePolicyVersion", c, e))?;
            return Ok((out.policy_version().and_then(|v| v.version_id()).map(str::to_string), None));
        }
        Step::DeletePolicy { arn, old_versions } => {
            for v in old_versions {
                match iam.delete_policy_version().policy_arn(arn).version_id(v).send().await {
                    Err(e) if !is_not_found(&e) => return Err(classify("iam:DeletePolicyVersion", c, e)),
                    _ => {}
                }
            }
            match iam.delete_policy().policy_arn(arn).send().await {
                Err(e) if !is_not_found(&e) => return Err(classify("iam:DeletePolicy", c, e)),
                _ => {}
            }
        }
        Step::CreateRole { name, description, trust } => {
            let deadline = Instant::now() + cx.propagation;
            loop {
                let sent = iam
                    .create_role()
                    .role_name(name)
                    .description(description)
                    .assume_role_policy_document(trust.to_string())
                    .set_tags(Some(tags(cx)))
                    .send()
                    .await;
                match sent {
                    Ok(_) => break,
                    // A trust policy naming a principal IAM has not propagated yet.
                    Err(e)
                        if e.code() == Some("MalformedPolicyDocument")
                            && e.message().is_some_and(|m| m.contains("Invalid principal"))
                            && Instant::now() < deadline =>
                    {
                        cx.progress.waiting(&format!(
                            "waiting for IAM to accept the trust policy principal of role {name}..."
                        ));
                        tokio::time::sleep(Duration::from_secs(3)).await;
                    }
                    Err(e) => return Err(classify("iam:CreateRole", c, e)),
                }
            }
        }
        Step::UpdateTrust { name, trust } => {
            iam.update_assume_role_policy()
                .role_name(name)
                .policy_document(trust.to_string())
                .send()
                .await
                .map_err(|e| classify("iam:UpdateAssumeRolePolicy", c, e))?;
        }
        Step::DeleteRole { name } => match iam.delete_role().role_name(name).send().await {
            Err(e) if !is_not_found(&e) => return Err(classify("iam:DeleteRole", c, e)),
            _ => {}
        },
        Step::CreateUser { name } => {
            iam.create_user()
                .user_name(name)
                .set_tags(Some(tags(cx)))
                .send()
                .await
                .map_err(|e| classify("iam:CreateUser", c, e))?;
        }
        Step::DeleteUser { name, keys } => {
            for id in keys {
                delete_key(cx, name, id).await?;
            }
            match iam.delete_user().user_name(name).send().await {
                Err(e) if !is_not_found(&e) => return Err(classify("iam:DeleteUser", c, e)),
                _ => {}
            }
        }
        Step::Attach { policy_arn, principal } => match principal {
            Principal::Role(n) => {
                iam.attach_role_policy()
                    .role_name(n)
                    .policy_arn(policy_arn)
                    .send()
                    .await
                    .map_err(|e| classify("iam:AttachRolePolicy", c, e))?;
            }
            Principal::User(n) => {
                iam.attach_user_policy()
                    .user_name(n)
                    .policy_arn(policy_arn)
                    .send()
                    .await
                    .map_err(|e| classify("iam:AttachUserPolicy", c, e))?;
            }
        },
        Step::Detach { policy_arn, principal } => match principal {
            Principal::Role(n) => match iam.detach_role_policy().role_name(n).policy_arn(policy_arn).send().await {
                Err(e) if !is_not_found(&e) => return Err(classify("iam:DetachRolePolicy", c, e)),
                _ => {}
            },
            Principal::User(n) => match iam.detach_user_policy().user_name(n).policy_arn(policy_arn).send().await {
                Err(e) if !is_not_found(&e) => return Err(classify("iam:DetachUserPolicy", c, e)),
                _ => {}
            },
        },
        Step::CreateAccessKey { user, delete_first, had } => {
            for id in delete_first {
                delete_key(cx, user, id).await?;
            }
            // From here until the secret is handed over, any new key is a leftover.
            tag_key(cx, user, &KeyTag::creating(had)).await?;
            crash_point();
            let out = iam
                .create_access_key()
                .user_name(user)
                .send()
                .await
                .map_err(|e| classify("iam:CreateAccessKey", c, e))?;
            let key = out.access_key().ok_or_else(|| Error::Aws {
                action: "iam:CreateAccessKey".into(),
                message: "the response carried no access key".into(),
            })?;
            let id = key.access_key_id().to_string();
            crash_point();
            let went = cx.handover.hand_over(user, &id, Secret(key.secret_access_key().to_string()), cx.progress);
            crash_point();
            tag_key(cx, user, &KeyTag::live(&id)).await?;
            crash_point();
            return Ok((None, Some((id, went))));
        }
        Step::MarkLiveKey { user, id } => tag_key(cx, user, &KeyTag::live(id)).await?,
        Step::DeleteAccessKey { user, id } => delete_key(cx, user, id).await?,
        Step::DeleteInlinePolicy { principal: Principal::Role(n), name } => {
            match iam.delete_role_policy().role_name(n).policy_name(name).send().await {
                Err(e) if !is_not_found(&e) => return Err(classify("iam:DeleteRolePolicy", c, e)),
                _ => {}
            }
        }
        Step::DeleteInlinePolicy { principal: Principal::User(n), name } => {
            match iam.delete_user_policy().user_name(n).policy_name(name).send().await {
                Err(e) if !is_not_found(&e) => return Err(classify("iam:DeleteUserPolicy", c, e)),
                _ => {}
            }
        }
        Step::Tag { resource, arn_or_name } => {
            let t = Some(tags(cx));
            match resource.split('/').next().unwrap_or_default() {
                "policy" => {
                    iam.tag_policy()
                        .policy_arn(arn_or_name)
                        .set_tags(t)
                        .send()
                        .await
                        .map_err(|e| classify("iam:TagPolicy", c, e))?;
                }
                "role" => {
                    iam.tag_role()
                        .role_name(arn_or_name)
                        .set_tags(t)
                        .send()
                        .await
                        .map_err(|e| classify("iam:TagRole", c, e))?;
                }
                _ => {
                    iam.tag_user()
                        .user_name(arn_or_name)
                        .set_tags(t)
                        .send()
                        .await
                        .map_err(|e| classify("iam:TagUser", c, e))?;
                }
            }
        }
        Step::Grant { .. } | Step::Revoke { .. } => unreachable!("Lake Formation steps are batched"),
    }
    Ok((None, None))
}

/// Sets the user's key tag (one TagUser call replaces the value whole).
async fn tag_key(cx: &Context<'_>, user: &str, value: &str) -> Result<(), Error> {
    let tag = Tag::builder().key(KEY_TAG).value(value).build().expect("key and value set");
    cx.aws.iam.tag_user().user_name(user).tags(tag).send().await.map_err(|e| classify("iam:TagUser", cx.caller, e))?;
    Ok(())
}

async fn delete_key(cx: &Context<'_>, user: &str, id: &str) -> Result<(), Error> {
    match cx.aws.iam.delete_access_key().user_name(user).access_key_id(id).send().await {
        Err(e) if !is_not_found(&e) => Err(classify("iam:DeleteAccessKey", cx.caller, e)),
        _ => Ok(()),
    }
}

/// One batch entry: which action and step it came from.
struct Entry {
    action: usize,
    grant: bool,
    request: lft::BatchPermissionsRequestEntry,
}

fn entry(action: usize, step: &Step) -> Option<Entry> {
    let (grant, principal_arn, target, permissions) = match step {
        Step::Grant { principal_arn, target, permissions, .. } => (true, principal_arn, target, permissions),
        Step::Revoke { principal_arn, target, permissions, .. } => (false, principal_arn, target, permissions),
        _ => return None,
    };
    let request = lft::BatchPermissionsRequestEntry::builder()
        .id(format!("a{action}-{}", if grant { "g" } else { "r" }))
        .principal(lft::DataLakePrincipal::builder().data_lake_principal_identifier(principal_arn).build())
        .resource(lf_resource(target))
        .set_permissions(Some(permissions.iter().map(|p| lft::Permission::from(p.as_str())).collect()))
        .build()
        .expect("id set");
    Some(Entry { action, grant, request })
}

/// Whether a per-entry failure is IAM eventual consistency, worth retrying.
pub fn is_propagation(code: &str, message: &str) -> bool {
    message.contains("Invalid principal")
        || message.contains("Grantee has no permissions")
        || code == "ConcurrentModificationException"
}

/// Revoking what is already gone is success.
fn is_already_revoked(message: &str) -> bool {
    message.contains("No permissions revoked")
}

/// One batch call; a ConcurrentModificationException of the whole call (Lake Formation
/// changing under another writer) is retried a few times with backoff.
async fn send_batch(
    cx: &Context<'_>,
    grant: bool,
    chunk: &[&Entry],
) -> Result<Vec<lft::BatchPermissionsFailureEntry>, Error> {
    let requests: Vec<_> = chunk.iter().map(|e| e.request.clone()).collect();
    let mut attempt = 0;
    loop {
        tracing::debug!(entries = requests.len(), grant, "lake formation batch");
        let (action, sent) = if grant {
            let r = cx.aws.lf.batch_grant_permissions().set_entries(Some(requests.clone())).send().await;
            (
                "lakeformation:BatchGrantPermissions",
                r.map(|o| o.failures().to_vec()).map_err(|e| {
                    (e.code().map(str::to_string), classify("lakeformation:BatchGrantPermissions", cx.caller, e))
                }),
            )
        } else {
            let r = cx.aws.lf.batch_revoke_permissions().set_entries(Some(requests.clone())).send().await;
            (
                "lakeformation:BatchRevokePermissions",
                r.map(|o| o.failures().to_vec()).map_err(|e| {
                    (e.code().map(str::to_string), classify("lakeformation:BatchRevokePermissions", cx.caller, e))
                }),
            )
        };
        match sent {
            Ok(failures) => return Ok(failures),
            Err((Some(code), _)) if code == "ConcurrentModificationException" && attempt < 5 => {
                attempt += 1;
                tracing::debug!(action, attempt, "concurrent modification; retrying");
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
            Err((_, e)) => return Err(e),
        }
    }
}

/// Applies a run of Lake Formation actions: revokes, then grants, in batches of at most
/// 20 entries, a bounded number of batches at a time. An action is recorded once all its
/// entries went through; entries refused while IAM propagates a new principal are
/// retried, with backoff, for a bounded time.
async fn apply_grants(cx: &Context<'_>, actions: &[Action], state: &mut State) -> Result<(), Error> {
    let mut pending: Vec<Entry> =
        actions.iter().enumerate().flat_map(|(i, a)| a.steps.iter().filter_map(move |s| entry(i, s))).collect();
    let deadline = Instant::now() + cx.propagation;
    let mut told = false;
    let mut delay = Duration::from_secs(2);
    loop {
        let mut left: BTreeMap<usize, usize> = BTreeMap::new();
        for e in &pending {
            *left.entry(e.action).or_default() += 1;
        }
        let mut retry = BTreeSet::new();
        let mut fatal: BTreeMap<usize, String> = BTreeMap::new();
        let mut failed = None;
        // Revokes before grants, as the plan ordered them within an action.
        for grant in [false, true] {
            let group: Vec<&Entry> = pending.iter().filter(|e| e.grant == grant).collect();
            let batches =
                group.chunks(BATCH_LIMIT).map(|chunk| async move { (chunk, send_batch(cx, grant, chunk).await) });
            let mut results = stream::iter(batches).buffer_unordered(CONCURRENCY);
            while let Some((chunk, result)) = results.next().await {
                let failures = match result {
                    Ok(f) => f,
                    Err(e) => {
                        failed.get_or_insert(e);
                        continue;
                    }
                };
                crash_point();
                let mut refused = BTreeSet::new();
                for f in failures {
                    let id = f.request_entry().map(|r| r.id()).unwrap_or_default();
                    let code = f.error().and_then(|e| e.error_code()).unwrap_or_default();
                    let message = f.error().and_then(|e| e.error_message()).unwrap_or_default();
                    let Some(e) = chunk.iter().find(|e| e.request.id() == id) else { continue };
                    if !grant && is_already_revoked(message) {
                        continue;
                    }
                    refused.insert(e.request.id().to_string());
                    if is_propagation(code, message) {
                        retry.insert(e.action);
                    } else {
                        fatal.insert(e.action, format!("{}: {code}: {message}", actions[e.action].resource.describe()));
                    }
                }
                // Record every action whose entries have all gone through.
                let mut recorded = false;
                for e in chunk.iter().filter(|e| !refused.contains(e.request.id())) {
                    let n = left.get_mut(&e.action).expect("counted above");
                    *n -= 1;
                    if *n == 0 && !retry.contains(&e.action) && !fatal.contains_key(&e.action) {
                        let a = &actions[e.action];
                        a.record_into(state, cx.facts, Made::default());
                        cx.progress.done(a);
                        recorded = true;
                    }
                }
                if recorded {
                    cx.store.save(state)?;
                }
            }
        }
        if let Some(e) = failed {
            return Err(e);
        }
        if !fatal.is_empty() {
            let all: Vec<String> = fatal.into_values().collect();
            return Err(Error::Aws { action: "lakeformation:BatchGrantPermissions".into(), message: all.join("; ") });
        }
        if retry.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::Aws {
                action: "lakeformation:BatchGrantPermissions".into(),
                message: format!(
                    "Lake Formation still refuses the new principal after {} s (IAM propagation); run `lakepass provision` again in a minute",
                    cx.propagation.as_secs()
                ),
            });
        }
        if !told {
            cx.progress.waiting(&format!(
                "waiting for IAM to propagate the new principal to Lake Formation (retrying for up to {} s)...",
                cx.propagation.as_secs()
            ));
            told = true;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(15));
        pending.retain(|e| retry.contains(&e.action));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn propagation_errors_are_recognised() {
        assert!(is_propagation("InvalidInputException", "Invalid principal: arn:aws:iam::1:role/x"));
        assert!(is_propagation("ConcurrentModificationException", ""));
        assert!(!is_propagation("AccessDeniedException", "Insufficient Lake Formation permission(s)"));
        assert!(is_already_revoked("No permissions revoked. Grantee has no permissions and no grantable permissions"));
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into());
        assert_eq!(format!("{s:?}"), "Secret(redacted)");
    }
}
