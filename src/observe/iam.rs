//! IAM reads: the policies, roles and users a deployment names, all at once under one
//! bound. Each resource's own reads go out together too; a policy's document is read at
//! the version the state last recorded, and only read again if that is no longer the
//! default. Tags come with GetPolicy, GetRole and GetUser.

use super::{CONCURRENCY, KEY_TAG, OWNER_TAG};
use crate::aws::{Aws, classify, is_not_found};
use crate::error::Error;
use crate::model::Facts;
use crate::model::{PolicyObs, PrincipalObs};
use crate::policy;
use aws_sdk_iam::types::Tag;
use futures_util::{StreamExt, TryStreamExt, stream};
use std::collections::{BTreeMap, BTreeSet};

/// The IAM names to read, and the policy versions state recorded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Names {
    pub policies: BTreeSet<String>,
    pub roles: BTreeSet<String>,
    pub users: BTreeSet<String>,
    /// Policy name → the default version id the state last recorded.
    pub versions: BTreeMap<String, String>,
    /// Policy name → the document it should have. A policy whose document already is
    /// that needs no version list (only an update prunes, only a delete clears them).
    pub wanted: BTreeMap<String, serde_json::Value>,
}

impl Names {
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty() && self.roles.is_empty() && self.users.is_empty()
    }

    /// The names in `self` that `other` does not cover.
    pub fn minus(&self, other: &Names) -> Names {
        Names {
            policies: self.policies.difference(&other.policies).cloned().collect(),
            roles: self.roles.difference(&other.roles).cloned().collect(),
            users: self.users.difference(&other.users).cloned().collect(),
            versions: self.versions.clone(),
            wanted: self.wanted.clone(),
        }
    }
}

/// What IAM holds of the names read; a name that does not exist is absent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Iam {
    pub read: Names,
    pub policies: BTreeMap<String, PolicyObs>,
    pub roles: BTreeMap<String, PrincipalObs>,
    pub users: BTreeMap<String, PrincipalObs>,
}

impl Iam {
    pub fn merge(&mut self, other: Iam) {
        self.read.policies.extend(other.read.policies);
        self.read.roles.extend(other.read.roles);
        self.read.users.extend(other.read.users);
        self.policies.extend(other.policies);
        self.roles.extend(other.roles);
        self.users.extend(other.users);
    }
}

enum Read {
    Policy(String, Option<PolicyObs>),
    Role(String, Option<PrincipalObs>),
    User(String, Option<PrincipalObs>),
}

/// Reads `names` in account `facts`.
pub async fn read(aws: &Aws, facts: &Facts, names: &Names) -> Result<Iam, Error> {
    let policies = names.policies.iter().map(|n| {
        let hint = names.versions.get(n).cloned();
        let wanted = names.wanted.get(n);
        Box::pin(async move { Ok::<_, Error>(Read::Policy(n.clone(), policy(aws, facts, n, hint, wanted).await?)) })
            as futures_util::future::BoxFuture<'_, Result<Read, Error>>
    });
    let roles = names.roles.iter().map(|n| {
        Box::pin(async move { Ok(Read::Role(n.clone(), role(aws, n).await?)) })
            as futures_util::future::BoxFuture<'_, Result<Read, Error>>
    });
    let users = names.users.iter().map(|n| {
        Box::pin(async move { Ok(Read::User(n.clone(), user(aws, n).await?)) })
            as futures_util::future::BoxFuture<'_, Result<Read, Error>>
    });
    let reads: Vec<Read> =
        stream::iter(policies.chain(roles).chain(users)).buffer_unordered(CONCURRENCY).try_collect().await?;
    let mut out = Iam { read: names.clone(), ..Iam::default() };
    for r in reads {
        match r {
            Read::Policy(n, Some(p)) => {
                out.policies.insert(n, p);
            }
            Read::Role(n, Some(p)) => {
                out.roles.insert(n, p);
            }
            Read::User(n, Some(p)) => {
                out.users.insert(n, p);
            }
            _ => {}
        }
    }
    Ok(out)
}

fn tag(tags: &[Tag], key: &str) -> Option<String> {
    tags.iter().find(|t| t.key() == key).map(|t| t.value().to_string())
}

/// A missing entity reads as None; any other failure is an error.
fn absent<T, E>(
    r: Result<T, aws_sdk_iam::error::SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>>,
    action: &str,
) -> Result<Option<T>, Error>
where
    E: aws_sdk_iam::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(classify(action, "", e)),
    }
}

async fn policy_document(aws: &Aws, arn: &str, version: &str) -> Result<Option<serde_json::Value>, Error> {
    let got =
        absent(aws.iam.get_policy_version().policy_arn(arn).version_id(version).send().await, "iam:GetPolicyVersion")?;
    let Some(got) = got else { return Ok(None) };
    let text = got.policy_version().and_then(|v| v.document()).unwrap_or("{}");
    policy::decode(text).map(Some).map_err(|e| Error::Aws { action: "iam:GetPolicyVersion".into(), message: e })
}

async fn policy(
    aws: &Aws,
    facts: &Facts,
    name: &str,
    hint: Option<String>,
    wanted: Option<&serde_json::Value>,
) -> Result<Option<PolicyObs>, Error> {
    let arn = facts.policy_arn(name);
    let guessed = async {
        match &hint {
            Some(v) => policy_document(aws, &arn, v).await,
            None => Ok(None),
        }
    };
    let (got, guessed) = tokio::join!(aws.iam.get_policy().policy_arn(&arn).send(), guessed);
    let Some(got) = absent(got, "iam:GetPolicy")? else { return Ok(None) };
    let p = got.policy();
    let default = p.and_then(|p| p.default_version_id()).unwrap_or("v1").to_string();
    let document = match guessed? {
        Some(doc) if hint.as_deref() == Some(default.as_str()) => doc,
        _ => policy_document(aws, &arn, &default).await?.unwrap_or(serde_json::Value::Null),
    };
    let versions = if wanted == Some(&document) {
        vec![(default.clone(), true)]
    } else {
        match list_versions(aws, &arn).await? {
            Some(v) => v,
            None => return Ok(None),
        }
    };
    Ok(Some(PolicyObs {
        arn,
        document,
        default_version: default,
        versions,
        owner: p.and_then(|p| tag(p.tags(), OWNER_TAG)),
    }))
}

/// A policy's versions, oldest first, as `(id, is_default)`.
type Versions = Vec<(String, bool)>;

/// A policy's versions; None if it is gone.
async fn list_versions(aws: &Aws, arn: &str) -> Result<Option<Versions>, Error> {
    let listed = absent(aws.iam.list_policy_versions().policy_arn(arn).send().await, "iam:ListPolicyVersions")?;
    let Some(listed) = listed else { return Ok(None) };
    let mut versions: Vec<_> = listed
        .versions()
        .iter()
        .map(|v| {
            (
                v.create_date().map(|d| (d.secs(), d.subsec_nanos())),
                v.version_id().unwrap_or_default().to_string(),
                v.is_default_version(),
            )
        })
        .collect();
    versions.sort_by_key(|(date, id, _)| (*date, id.trim_start_matches('v').parse::<u64>().unwrap_or(0)));
    Ok(Some(versions.into_iter().map(|(_, id, d)| (id, d)).collect()))
}

/// Completes the version lists of `policies` (read as unchanged, without one).
pub async fn complete_versions(aws: &Aws, iam: &mut Iam, policies: &BTreeSet<String>) -> Result<(), Error> {
    let targets: Vec<(String, String)> =
        policies.iter().filter_map(|n| iam.policies.get(n).map(|p| (n.clone(), p.arn.clone()))).collect();
    let reads = targets.into_iter().map(|(n, arn)| async move { Ok::<_, Error>((n, list_versions(aws, &arn).await?)) });
    let lists: Vec<(String, Option<Versions>)> =
        stream::iter(reads).buffer_unordered(CONCURRENCY).try_collect().await?;
    for (name, versions) in lists {
        match versions {
            Some(v) => {
                if let Some(p) = iam.policies.get_mut(&name) {
                    p.versions = v;
                }
            }
            None => {
                iam.policies.remove(&name);
            }
        }
    }
    Ok(())
}

async fn role(aws: &Aws, name: &str) -> Result<Option<PrincipalObs>, Error> {
    let (got, attached, inline) = tokio::join!(
        aws.iam.get_role().role_name(name).send(),
        aws.iam.list_attached_role_policies().role_name(name).into_paginator().items().send().collect::<Vec<_>>(),
        aws.iam.list_role_policies().role_name(name).into_paginator().items().send().collect::<Vec<_>>(),
    );
    let Some(got) = absent(got, "iam:GetRole")? else { return Ok(None) };
    let Some(role) = got.role() else { return Ok(None) };
    let trust = role
        .assume_role_policy_document()
        .map(policy::decode)
        .transpose()
        .map_err(|e| Error::Aws { action: "iam:GetRole".into(), message: e })?;
    let attached = items(attached, "iam:ListAttachedRolePolicies")?;
    Ok(Some(PrincipalObs {
        arn: role.arn().to_string(),
        trust,
        owner: tag(role.tags(), OWNER_TAG),
        attached: attached.iter().filter_map(|a| a.policy_arn().map(str::to_string)).collect(),
        inline: items(inline, "iam:ListRolePolicies")?,
        keys: Vec::new(),
        key_tag: None,
    }))
}

async fn user(aws: &Aws, name: &str) -> Result<Option<PrincipalObs>, Error> {
    let (got, attached, inline, keys) = tokio::join!(
        aws.iam.get_user().user_name(name).send(),
        aws.iam.list_attached_user_policies().user_name(name).into_paginator().items().send().collect::<Vec<_>>(),
        aws.iam.list_user_policies().user_name(name).into_paginator().items().send().collect::<Vec<_>>(),
        aws.iam.list_access_keys().user_name(name).into_paginator().items().send().collect::<Vec<_>>(),
    );
    let Some(got) = absent(got, "iam:GetUser")? else { return Ok(None) };
    let Some(user) = got.user() else { return Ok(None) };
    let attached = items(attached, "iam:ListAttachedUserPolicies")?;
    let keys = items(keys, "iam:ListAccessKeys")?;
    Ok(Some(PrincipalObs {
        arn: user.arn().to_string(),
        trust: None,
        owner: tag(user.tags(), OWNER_TAG),
        attached: attached.iter().filter_map(|a| a.policy_arn().map(str::to_string)).collect(),
        inline: items(inline, "iam:ListUserPolicies")?,
        keys: keys.iter().filter_map(|k| k.access_key_id().map(str::to_string)).collect(),
        key_tag: tag(user.tags(), KEY_TAG),
    }))
}

/// The items of a paginated list, where a principal that does not exist has none.
fn items<T, E>(
    results: Vec<
        Result<T, aws_sdk_iam::error::SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>>,
    >,
    action: &str,
) -> Result<Vec<T>, Error>
where
    E: aws_sdk_iam::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let mut out = Vec::new();
    for r in results {
        match absent(r, action)? {
            Some(v) => out.push(v),
            None => return Ok(Vec::new()),
        }
    }
    Ok(out)
}
