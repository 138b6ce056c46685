//! IAM steps (and, through [`super::glue`], Glue's): one action's steps in order. A create whose answer was lost (a 5xx after
//! the change happened) is settled by looking, not by trusting a retry.

use super::{Context, Secret, crash_point};
use crate::aws::{MAX_ATTEMPTS, MAX_BACKOFF, classify, is_not_found};
use crate::error::Error;
use crate::model::Principal;
use crate::observe::{KEY_TAG, OWNER_TAG, STACK_TAG};
use crate::plan::{Action, KeyTag, Made, Step};
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::types::Tag;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use std::fmt;
use std::time::{Duration, Instant};

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

fn tags(cx: &Context) -> Vec<Tag> {
    [(OWNER_TAG, cx.deployment), (STACK_TAG, cx.stack)]
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().expect("key and value set"))
        .collect()
}

/// Runs an action's IAM steps in order. Returns what state records, and a new access
/// key's id with where its secret went.
pub(super) async fn run_action(cx: &Context<'_>, action: &Action) -> Result<(Made, Option<(String, String)>), Error> {
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
                .await;
            let version = match out {
                Ok(out) => out.policy().and_then(|p| p.default_version_id()).unwrap_or("v1").to_string(),
                Err(e) if is_already_exists(&e) => settle_policy(cx, name).await?,
                Err(e) => return Err(classify("iam:CreatePolicy", c, e)),
            };
            return Ok((Some(version), None));
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
                    Err(e) if is_already_exists(&e) => {
                        settle_principal(cx, &Principal::Role(name.clone())).await?;
                        break;
                    }
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
        Step::CreateUser { name } => match iam.create_user().user_name(name).set_tags(Some(tags(cx))).send().await {
            Err(e) if is_already_exists(&e) => settle_principal(cx, &Principal::User(name.clone())).await?,
            Err(e) => return Err(classify("iam:CreateUser", c, e)),
            Ok(_) => {}
        },
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
        Step::CreateAccessKey { user, delete_first, had, retire } => {
            for id in delete_first {
                delete_key(cx, user, id).await?;
            }
            // From here until the secret is handed over, any new key is a leftover.
            tag_key(cx, user, &KeyTag::creating(had, retire.as_deref())).await?;
            crash_point();
            let out = create_key(cx, user, had).await?;
            let key = out.access_key().ok_or_else(|| Error::Aws {
                action: "iam:CreateAccessKey".into(),
                message: "the response carried no access key".into(),
            })?;
            let id = key.access_key_id().to_string();
            crash_point();
            let went = cx.handover.hand_over(user, &id, Secret(key.secret_access_key().to_string()), cx.progress);
            crash_point();
            let tag = match retire {
                Some(old) => KeyTag::live_retiring(&id, old),
                None => KeyTag::live(&id),
            };
            tag_key(cx, user, &tag).await?;
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
        Step::CreateDatabase { .. } | Step::SetDatabaseLocation { .. } | Step::DeleteDatabase { .. } => {
            super::glue::run_step(cx, step).await?;
        }
        Step::Tag { resource, .. } if resource.starts_with("glue-database/") => {
            super::glue::run_step(cx, step).await?;
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

fn is_already_exists<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.code() == Some("EntityAlreadyExists")
}

/// Whether tags say this deployment and stack made the resource.
fn tagged_ours(cx: &Context<'_>, tags: &[Tag]) -> bool {
    let has = |k: &str, v: &str| tags.iter().any(|t| t.key() == k && t.value() == v);
    has(OWNER_TAG, cx.deployment) && has(STACK_TAG, cx.stack)
}

/// A create answered "already exists" for a name the plan saw free: the SDK's retry of a
/// create whose first answer was lost (a 5xx or a dropped connection after the change
/// happened). The address is pending in state and the resource carries our tags, so it
/// is the one this run made: take it as created. Anything else is not ours to touch.
fn not_ours(what: String) -> Error {
    Error::Aws {
        action: "iam:Create".into(),
        message: format!(
            "{what} appeared while this run was creating it, and it is not this deployment's (no lakepass tags for it); another tool or person made it. Nothing of it was changed; choose another name in the deployment's values, or delete it and run again"
        ),
    }
}

/// The default version of a policy this run made (see [`not_ours`]).
async fn settle_policy(cx: &Context<'_>, name: &str) -> Result<String, Error> {
    let arn = cx.facts.policy_arn(name);
    let got =
        cx.aws.iam.get_policy().policy_arn(&arn).send().await.map_err(|e| classify("iam:GetPolicy", cx.caller, e))?;
    let policy = got.policy().filter(|p| tagged_ours(cx, p.tags()));
    let Some(policy) = policy else { return Err(not_ours(format!("policy {name}"))) };
    tracing::debug!(policy = name, "create answered EntityAlreadyExists; the policy is ours");
    Ok(policy.default_version_id().unwrap_or("v1").to_string())
}

/// A role or user this run made (see [`not_ours`]).
async fn settle_principal(cx: &Context<'_>, principal: &Principal) -> Result<(), Error> {
    let iam = &cx.aws.iam;
    let (ours, what) = match principal {
        Principal::Role(n) => {
            let got = iam.get_role().role_name(n).send().await.map_err(|e| classify("iam:GetRole", cx.caller, e))?;
            (got.role().is_some_and(|r| tagged_ours(cx, r.tags())), format!("role {n}"))
        }
        Principal::User(n) => {
            let got = iam.get_user().user_name(n).send().await.map_err(|e| classify("iam:GetUser", cx.caller, e))?;
            (got.user().is_some_and(|u| tagged_ours(cx, u.tags())), format!("user {n}"))
        }
    };
    if !ours {
        return Err(not_ours(what));
    }
    tracing::debug!(%what, "create answered EntityAlreadyExists; it is ours");
    Ok(())
}

/// Creates an access key, retrying by hand: the SDK's own retry of a create whose
/// answer was lost would leave the first key behind with a secret nobody saw. Before each
/// new attempt, any key the user has beyond `had` (the keys it had before; the `creating`
/// tag says the same to any later run) is such a leftover and is deleted.
async fn create_key(
    cx: &Context<'_>,
    user: &str,
    had: &[String],
) -> Result<aws_sdk_iam::operation::create_access_key::CreateAccessKeyOutput, Error> {
    let once = aws_sdk_iam::config::Builder::default()
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1));
    let mut attempt = 1;
    loop {
        let sent =
            cx.aws.iam.create_access_key().user_name(user).customize().config_override(once.clone()).send().await;
        let e = match sent {
            Ok(out) => return Ok(out),
            Err(e) => e,
        };
        if !is_transient(&e) || attempt >= MAX_ATTEMPTS {
            return Err(classify("iam:CreateAccessKey", cx.caller, e));
        }
        cx.progress.waiting(&format!(
            "AWS did not confirm the new access key of {user}; removing any it made, then trying again ({}/{MAX_ATTEMPTS})...",
            attempt + 1
        ));
        tokio::time::sleep(backoff(attempt)).await;
        for id in leftover_keys(cx, user, had).await? {
            delete_key(cx, user, &id).await?;
        }
        attempt += 1;
    }
}

/// Keys of `user` beyond `had`.
async fn leftover_keys(cx: &Context<'_>, user: &str, had: &[String]) -> Result<Vec<String>, Error> {
    let listed = cx
        .aws
        .iam
        .list_access_keys()
        .user_name(user)
        .send()
        .await
        .map_err(|e| classify("iam:ListAccessKeys", cx.caller, e))?;
    Ok(listed
        .access_key_metadata()
        .iter()
        .filter_map(|k| k.access_key_id())
        .filter(|id| !had.iter().any(|h| h == id))
        .map(str::to_string)
        .collect())
}

/// Whether a failed call may have been lost rather than refused: no answer, an answer
/// cut off, throttling, or a failure on AWS's side.
fn is_transient<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    match e {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(s) => {
            s.raw().status().as_u16() >= 500
                || e.code().is_some_and(|c| c.contains("Throttl") || c == "RequestLimitExceeded")
        }
        _ => false,
    }
}

/// AWS's backoff: doubling from 100 ms, with jitter, capped as the SDK's is.
fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_millis(100).saturating_mul(1 << attempt.min(10)).min(MAX_BACKOFF);
    let jitter =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    base.mul_f64(0.5 + f64::from(jitter % 1000) / 2000.0)
}
