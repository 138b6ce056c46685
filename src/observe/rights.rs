//! Whether the caller may make the plan's IAM and Lake Formation calls, asked of IAM's
//! policy simulator (`iam:SimulatePrincipalPolicy`, which weighs identity policies,
//! permissions boundaries and the organization's SCPs) before the first change.
//!
//! The check is best effort: a caller who may not simulate, a root or federated caller,
//! or an endpoint that does not answer (the emulator lacks the API) leaves it unchecked,
//! and AWS's own refusal then stops the run where it happens.

use super::CONCURRENCY;
use crate::aws::Aws;
use aws_sdk_iam::types::PolicyEvaluationDecisionType;
use futures_util::{StreamExt, stream};
use std::collections::{BTreeMap, BTreeSet};

/// The actions IAM would refuse the caller, as "iam:CreateRole on arn:…" (or just the
/// action where it takes no resource). Empty when all are allowed or nobody can tell.
pub async fn denied(aws: &Aws, caller: &str, needed: &BTreeMap<String, BTreeSet<&'static str>>) -> Vec<String> {
    let needed: BTreeMap<String, BTreeSet<String>> =
        needed.iter().map(|(r, a)| (r.clone(), a.iter().map(|x| x.to_string()).collect())).collect();
    let Some(decisions) = simulate_all(aws, caller, &needed).await else { return Vec::new() };
    let mut out: Vec<String> = decisions
        .into_iter()
        .filter(|(_, d)| *d != Simulated::Allowed)
        .map(|((action, resource), d)| {
            let why = if d == Simulated::ExplicitDeny { "denied explicitly" } else { "not allowed" };
            let on = if resource == "*" { String::new() } else { format!(" on {resource}") };
            format!("{action}{on} ({why})")
        })
        .collect();
    out.sort();
    out
}

/// ((action, resource), decision) as IAM's simulator answered.
type Decisions = Vec<((String, String), Simulated)>;

/// IAM's policy simulator's answer for one action on one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Simulated {
    Allowed,
    ExplicitDeny,
    ImplicitDeny,
}

/// Every (action, resource) decision for `principal`, or None when IAM could not be
/// asked for all of them (one unanswered question would read as a clean bill).
pub async fn simulate_all(
    aws: &Aws,
    principal: &str,
    needed: &BTreeMap<String, BTreeSet<String>>,
) -> Option<BTreeMap<(String, String), Simulated>> {
    if needed.is_empty() || !simulatable(principal) {
        return None;
    }
    let none = BTreeMap::new();
    let calls = needed.iter().map(|(resource, actions)| simulate(aws, principal, resource, &none, actions));
    let answers: Vec<Option<Decisions>> = stream::iter(calls).buffer_unordered(CONCURRENCY).collect().await;
    let mut out = BTreeMap::new();
    for a in answers {
        out.extend(a?);
    }
    Some(out)
}

/// Roles and users can be simulated; the root user, federated users and the emulator's
/// default identity cannot.
fn simulatable(caller: &str) -> bool {
    let resource = caller.splitn(6, ':').nth(5).unwrap_or_default();
    caller.starts_with("arn:")
        && caller.contains(":iam::")
        && (resource.starts_with("role/") || resource.starts_with("user/"))
}

/// Context keys of a request, and their values (`s3:prefix`, say).
pub type Context = BTreeMap<String, Vec<String>>;

/// Like [`simulate_all`], for requests that carry context keys: one question per
/// (resource, context), each with its actions.
pub async fn simulate_in_context(
    aws: &Aws,
    principal: &str,
    needed: &BTreeMap<(String, Context), BTreeSet<String>>,
) -> Option<BTreeMap<(String, String, Context), Simulated>> {
    if needed.is_empty() || !simulatable(principal) {
        return None;
    }
    let calls = needed.iter().map(|((resource, context), actions)| async move {
        let answers = simulate(aws, principal, resource, context, actions).await?;
        Some(answers.into_iter().map(|((a, r), d)| ((a, r, context.clone()), d)).collect::<Vec<_>>())
    });
    let answers: Vec<Option<Vec<_>>> = stream::iter(calls).buffer_unordered(CONCURRENCY).collect().await;
    let mut out = BTreeMap::new();
    for a in answers {
        out.extend(a?);
    }
    Some(out)
}

/// One resource's actions, in `context`; None when IAM did not answer.
async fn simulate(
    aws: &Aws,
    principal: &str,
    resource: &str,
    context: &Context,
    actions: &BTreeSet<String>,
) -> Option<Decisions> {
    // One attempt: an endpoint without the API answers 500, and waiting through the
    // retries for a check that is only advice would slow every run.
    let once = aws_sdk_iam::config::Builder::default()
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1));
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let mut call = aws
            .iam
            .simulate_principal_policy()
            .policy_source_arn(principal)
            .set_action_names(Some(actions.iter().cloned().collect()))
            .set_marker(marker.clone());
        if resource != "*" {
            call = call.resource_arns(resource);
        }
        for (key, values) in context {
            let entry = aws_sdk_iam::types::ContextEntry::builder()
                .context_key_name(key)
                .set_context_key_values(Some(values.clone()))
                .context_key_type(aws_sdk_iam::types::ContextKeyTypeEnum::String)
                .build();
            call = call.context_entries(entry);
        }
        let answer = match call.customize().config_override(once.clone()).send().await {
            Ok(answer) => answer,
            Err(e) => {
                tracing::debug!(error = %aws_sdk_iam::error::DisplayErrorContext(&e), "policy simulation unavailable; not checked");
                return None;
            }
        };
        for r in answer.evaluation_results() {
            let decision = match r.eval_decision() {
                PolicyEvaluationDecisionType::Allowed => Simulated::Allowed,
                PolicyEvaluationDecisionType::ExplicitDeny => Simulated::ExplicitDeny,
                _ => Simulated::ImplicitDeny,
            };
            out.push(((r.eval_action_name().to_string(), resource.to_string()), decision));
        }
        match (answer.is_truncated(), answer.marker()) {
            (true, Some(m)) => marker = Some(m.to_string()),
            _ => return Some(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_roles_and_users_are_simulated() {
        assert!(simulatable("arn:aws:iam::123456789012:role/admin"));
        assert!(simulatable("arn:aws:iam::123456789012:user/alice"));
        assert!(!simulatable("arn:aws:iam::123456789012:root"));
        assert!(!simulatable("arn:aws:sts::123456789012:federated-user/bob"));
    }
}
