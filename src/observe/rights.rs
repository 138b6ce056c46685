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
    let needed: BTreeMap<(String, Context), BTreeSet<String>> =
        needed.iter().map(|(r, a)| ((r.clone(), Context::new()), a.clone())).collect();
    let answers = simulate_in_context(aws, principal, &needed).await?;
    Some(answers.into_iter().map(|((a, r, _), d)| ((a, r), d)).collect())
}

/// Roles and users can be simulated; the root user, federated users and the emulator's
/// default identity cannot.
fn simulatable(caller: &str) -> bool {
    crate::arn::Arn::parse(caller).is_some_and(|a| a.principal().is_some())
}

/// Context keys of a request, and their values (`s3:prefix`, say).
pub type Context = BTreeMap<String, Vec<String>>;

/// How many resources one simulation asks about. IAM evaluates each action on each
/// resource of a call and answers per resource, so resources that need the same actions
/// in the same context share calls: 1,000 databases take about 32 calls, not 1,000.
const RESOURCES_PER_CALL: usize = 32;

/// One simulation: actions on resources (none: `*`), in a context.
struct Question<'a> {
    actions: &'a BTreeSet<String>,
    resources: Vec<&'a str>,
    context: &'a Context,
}

/// The calls that answer `needed`: its resources grouped by (context, actions), at most
/// [`RESOURCES_PER_CALL`] per call; `*` alone.
fn questions(needed: &BTreeMap<(String, Context), BTreeSet<String>>) -> Vec<Question<'_>> {
    let mut groups: BTreeMap<(&Context, &BTreeSet<String>, bool), Vec<&str>> = BTreeMap::new();
    for ((resource, context), actions) in needed {
        groups.entry((context, actions, resource == "*")).or_default().push(resource);
    }
    let mut out = Vec::new();
    for ((context, actions, star), resources) in groups {
        if star {
            out.push(Question { actions, resources: Vec::new(), context });
            continue;
        }
        for chunk in resources.chunks(RESOURCES_PER_CALL) {
            out.push(Question { actions, resources: chunk.to_vec(), context });
        }
    }
    out
}

/// Every (action, resource, context) decision for `principal`, for requests that may
/// carry context keys, or None when IAM could not be asked for all of them.
pub async fn simulate_in_context(
    aws: &Aws,
    principal: &str,
    needed: &BTreeMap<(String, Context), BTreeSet<String>>,
) -> Option<BTreeMap<(String, String, Context), Simulated>> {
    if needed.is_empty() || !simulatable(principal) {
        return None;
    }
    let asked = questions(needed);
    let calls = asked.iter().map(|q| async move {
        let answers = simulate(aws, principal, q).await?;
        Some(answers.into_iter().map(|((a, r), d)| ((a, r, q.context.clone()), d)).collect::<Vec<_>>())
    });
    let answers: Vec<Option<Vec<_>>> = stream::iter(calls).buffer_unordered(CONCURRENCY).collect().await;
    let mut out = BTreeMap::new();
    for a in answers {
        out.extend(a?);
    }
    // Every question must have its answer.
    let complete = needed.iter().all(|((resource, context), actions)| {
        actions.iter().all(|a| out.contains_key(&(a.clone(), resource.clone(), context.clone())))
    });
    complete.then_some(out)
}

fn decision(d: &PolicyEvaluationDecisionType) -> Simulated {
    match d {
        PolicyEvaluationDecisionType::Allowed => Simulated::Allowed,
        PolicyEvaluationDecisionType::ExplicitDeny => Simulated::ExplicitDeny,
        _ => Simulated::ImplicitDeny,
    }
}

/// One question's decisions, per action and resource; None when IAM did not answer.
async fn simulate(aws: &Aws, principal: &str, q: &Question<'_>) -> Option<Decisions> {
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
            .set_action_names(Some(q.actions.iter().cloned().collect()))
            .set_marker(marker.clone());
        for r in &q.resources {
            call = call.resource_arns(*r);
        }
        for (key, values) in q.context {
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
            let action = r.eval_action_name().to_string();
            let per_resource = r.resource_specific_results();
            if per_resource.is_empty() {
                // One resource (or `*`): the result is its own.
                let resource = match q.resources.as_slice() {
                    [one] => one.to_string(),
                    [] => "*".to_string(),
                    _ => continue,
                };
                out.push(((action, resource), decision(r.eval_decision())));
            } else {
                for rs in per_resource {
                    out.push((
                        (action.clone(), rs.eval_resource_name().to_string()),
                        decision(rs.eval_resource_decision()),
                    ));
                }
            }
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
    fn resources_that_need_the_same_actions_share_calls() {
        let glue: BTreeSet<String> = ["glue:GetTables".to_string()].into();
        let iam: BTreeSet<String> = ["iam:CreateRole".to_string()].into();
        let prefix = Context::from([("s3:prefix".to_string(), vec!["a/".to_string()])]);
        let mut needed = BTreeMap::new();
        for i in 0..100 {
            needed.insert((format!("arn:aws:glue:us-east-1:1:database/db{i}"), Context::new()), glue.clone());
        }
        needed.insert(("*".to_string(), Context::new()), iam.clone());
        needed.insert(("arn:aws:s3:::lake".to_string(), prefix.clone()), glue.clone());
        let qs = questions(&needed);
        // 100 databases in 4 calls, `*` alone, and the one with a context apart.
        assert_eq!(qs.len(), 6);
        assert!(qs.iter().all(|q| q.resources.len() <= RESOURCES_PER_CALL));
        assert_eq!(qs.iter().filter(|q| q.resources.is_empty()).count(), 1);
        assert_eq!(qs.iter().filter(|q| *q.context == prefix).count(), 1);
        assert_eq!(qs.iter().map(|q| q.resources.len()).sum::<usize>(), 101);
    }

    #[test]
    fn only_roles_and_users_are_simulated() {
        assert!(simulatable("arn:aws:iam::123456789012:role/admin"));
        assert!(simulatable("arn:aws:iam::123456789012:user/alice"));
        assert!(!simulatable("arn:aws:iam::123456789012:root"));
        assert!(!simulatable("arn:aws:sts::123456789012:federated-user/bob"));
    }
}
