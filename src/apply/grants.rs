//! Lake Formation steps: revokes, then grants, in batches of at most 20 entries. Each
//! entry's failure is checked, and the ones IAM eventual consistency explains ("Invalid
//! principal" for a role created seconds ago) are retried for a bounded time.

use super::{Context, crash_point};
use crate::aws::classify;
use crate::error::Error;
use crate::observe::{CONCURRENCY, lf_resource};
use crate::plan::{Action, Made, Step};
use crate::state::State;
use aws_sdk_iam::error::ProvideErrorMetadata;
use aws_sdk_lakeformation::types as lft;
use futures_util::{StreamExt, stream};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// LF's limit on entries per batch call.
const BATCH_LIMIT: usize = 20;

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
pub(super) async fn apply_grants(cx: &Context<'_>, actions: &[Action], state: &mut State) -> Result<(), Error> {
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
                    cx.store.save(state).await?;
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
}
