//! Apply: walk a plan's steps against AWS, recording state after every action.
//!
//! No decisions are made here beyond retrying what AWS says is transient. IAM steps are
//! in [`iam`]; Lake Formation grants, in batches, in [`grants`].

mod glue;
mod grants;
mod iam;

use crate::aws::Aws;
use crate::error::Error;
use crate::model::Facts;
use crate::observe::CONCURRENCY;
use crate::plan::{Action, Change, Plan, Step};
use crate::state::{State, Store};
use futures_util::{StreamExt, stream};
use grants::apply_grants;
use iam::run_action;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A secret access key. Its Debug and Display never show it; only [`Secret::expose`] does.
pub struct Secret(pub(super) String);

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
        crate::output::say(&format!("  {} {}", action.change.symbol(), action.resource.describe()));
    }

    fn waiting(&self, message: &str) {
        crate::output::say(&format!("  {message}"));
    }
}

/// Fault injection for the tests of interrupted runs: with
/// `LAKEPASS_FAULT_CRASH_AFTER_ACTIONS=N`, the process dies (exit 101) right after its
/// N-th change succeeds (an AWS call that changes something, or a secret handed over) and
/// before anything records it — the worst moment to die.
pub(crate) fn crash_point() {
    static DONE: AtomicUsize = AtomicUsize::new(0);
    let done = DONE.fetch_add(1, Ordering::SeqCst) + 1;
    let limit = std::env::var("LAKEPASS_FAULT_CRASH_AFTER_ACTIONS").ok().and_then(|v| v.parse::<usize>().ok());
    if limit == Some(done) {
        crate::output::say(&format!(
            "lakepass: simulated crash after {done} change(s) (LAKEPASS_FAULT_CRASH_AFTER_ACTIONS)"
        ));
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
            a.steps.iter().any(|s| {
                matches!(
                    s,
                    Step::CreatePolicy { .. }
                        | Step::CreateRole { .. }
                        | Step::CreateUser { .. }
                        | Step::CreateDatabase { .. }
                )
            })
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
        cx.store.save(state).await?;
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
                    cx.store.save(state).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let s = Secret("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into());
        assert_eq!(format!("{s:?}"), "Secret(redacted)");
    }
}
