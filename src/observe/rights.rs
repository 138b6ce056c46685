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
    if needed.is_empty() || !simulatable(caller) {
        return Vec::new();
    }
    let calls = needed.iter().map(|(resource, actions)| simulate(aws, caller, resource, actions));
    let answers: Vec<Option<Vec<String>>> = stream::iter(calls).buffer_unordered(CONCURRENCY).collect().await;
    // One unanswered question leaves the whole check undecided: a partial answer would
    // read as a clean bill.
    if answers.iter().any(Option::is_none) {
        return Vec::new();
    }
    let mut out: Vec<String> = answers.into_iter().flatten().flatten().collect();
    out.sort();
    out
}

/// Roles and users can be simulated; the root user, federated users and the emulator's
/// default identity cannot.
fn simulatable(caller: &str) -> bool {
    let resource = caller.splitn(6, ':').nth(5).unwrap_or_default();
    caller.starts_with("arn:")
        && caller.contains(":iam::")
        && (resource.starts_with("role/") || resource.starts_with("user/"))
}

/// One resource's actions; None when IAM did not answer.
async fn simulate(aws: &Aws, caller: &str, resource: &str, actions: &BTreeSet<&'static str>) -> Option<Vec<String>> {
    // One attempt: an endpoint without the API answers 500, and waiting through the
    // retries for a check that is only advice would slow every run.
    let once = aws_sdk_iam::config::Builder::default()
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1));
    let mut denied = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let mut call = aws
            .iam
            .simulate_principal_policy()
            .policy_source_arn(caller)
            .set_action_names(Some(actions.iter().map(|a| a.to_string()).collect()))
            .set_marker(marker.clone());
        if resource != "*" {
            call = call.resource_arns(resource);
        }
        let out = match call.customize().config_override(once.clone()).send().await {
            Ok(out) => out,
            Err(e) => {
                tracing::debug!(error = %aws_sdk_iam::error::DisplayErrorContext(&e), "policy simulation unavailable; not checked");
                return None;
            }
        };
        for r in out.evaluation_results() {
            if *r.eval_decision() != PolicyEvaluationDecisionType::Allowed {
                let why = match r.eval_decision() {
                    PolicyEvaluationDecisionType::ExplicitDeny => "denied explicitly",
                    _ => "not allowed",
                };
                let on = if resource == "*" { String::new() } else { format!(" on {resource}") };
                denied.push(format!("{}{on} ({why})", r.eval_action_name()));
            }
        }
        match (out.is_truncated(), out.marker()) {
            (true, Some(m)) => marker = Some(m.to_string()),
            _ => return Some(denied),
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
