//! IAM steps: one action's steps in order. A create whose answer was lost (a 5xx after
//! the change happened) is settled by looking, not by trusting a retry.

use super::{Context, Secret, crash_point};
use crate::aws::{classify, is_not_found};
use crate::error::Error;
use crate::model::Principal;
use crate::observe::{KEY_TAG, OWNER_TAG, STACK_TAG};
use crate::plan::{Action, KeyTag, Made, Step};
use aws_sdk_iam::error::ProvideErrorMetadata;
use aws_sdk_iam::types::Tag;
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
