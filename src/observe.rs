//! Observe: what AWS has now, read with Get/List calls only.
//!
//! Observation is keyed by physical names, so resources from the desired set and from the
//! state file (which may name old resources) are read alike.

use crate::aws::{Aws, classify, is_not_found};
use crate::error::Error;
use crate::model::{Facts, LfTarget, Principal, Resource};
use crate::policy;
use aws_sdk_lakeformation::types as lft;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The tag that records which deployment created (or adopted) an IAM resource.
pub const OWNER_TAG: &str = "lakepass:deployment";
pub const STACK_TAG: &str = "lakepass:stack";
/// The tag on a user that records its live access key (see [`crate::plan::KeyTag`]).
pub const KEY_TAG: &str = "lakepass:access-key";

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    pub policies: BTreeMap<String, PolicyObs>,
    pub roles: BTreeMap<String, PrincipalObs>,
    pub users: BTreeMap<String, PrincipalObs>,
    /// Lake Formation permissions each principal of interest holds on each target.
    pub grants: BTreeMap<(Principal, LfTarget), BTreeSet<String>>,
    /// Databases and tables the desired grants name that the Glue catalog lacks.
    pub missing_in_catalog: Vec<String>,
    /// Databases to grant on whose new tables default to IAM_ALLOWED_PRINCIPALS: IAM alone
    /// governs them, and Lake Formation grants take effect only once they opt in.
    pub iam_governed: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PolicyObs {
    pub arn: String,
    pub document: Value,
    /// All versions, oldest first; `(id, is_default)`.
    pub versions: Vec<(String, bool)>,
    pub owner: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct PrincipalObs {
    pub arn: String,
    /// A role's trust policy.
    pub trust: Option<Value>,
    pub owner: Option<String>,
    /// ARNs of attached managed policies.
    pub attached: BTreeSet<String>,
    /// Names of inline policies.
    pub inline: Vec<String>,
    /// A user's access key ids.
    pub keys: Vec<String>,
    /// A user's [`KEY_TAG`] value.
    pub key_tag: Option<String>,
}

impl Observed {
    pub fn principal(&self, p: &Principal) -> Option<&PrincipalObs> {
        match p {
            Principal::Role(n) => self.roles.get(n),
            Principal::User(n) => self.users.get(n),
        }
    }
}

/// Reads everything `items` refer to, and checks that the databases and tables the grants
/// in `to_grant` name exist (the emulator grants on anything; AWS would refuse later).
/// Grants only recorded in state are not checked: their database may rightly be gone.
pub async fn observe(
    aws: &Aws,
    facts: &Facts,
    caller: &str,
    items: &[Resource],
    to_grant: &[Resource],
) -> Result<Observed, Error> {
    let mut policies = BTreeSet::new();
    let mut principals = BTreeSet::new();
    let mut targets = BTreeSet::new();
    for r in items {
        match r {
            Resource::Policy { name, .. } => {
                policies.insert(name.clone());
            }
            Resource::Role { name, .. } => {
                principals.insert(Principal::Role(name.clone()));
            }
            Resource::User { name } | Resource::AccessKey { user: name } => {
                principals.insert(Principal::User(name.clone()));
            }
            Resource::Attachment { policy, principal } => {
                policies.insert(policy.clone());
                principals.insert(principal.clone());
            }
            Resource::Grant { principal, target, .. } => {
                principals.insert(principal.clone());
                targets.insert(target.clone());
            }
        }
    }
    tracing::debug!(policies = policies.len(), principals = principals.len(), targets = targets.len(), "observing");
    let mut obs = Observed::default();
    for name in policies {
        if let Some(p) = observe_policy(aws, facts, caller, &name).await? {
            obs.policies.insert(name, p);
        }
    }
    for p in &principals {
        let seen = match p {
            Principal::Role(n) => observe_role(aws, caller, n).await?,
            Principal::User(n) => observe_user(aws, caller, n).await?,
        };
        if let Some(seen) = seen {
            match p {
                Principal::Role(n) => obs.roles.insert(n.clone(), seen),
                Principal::User(n) => obs.users.insert(n.clone(), seen),
            };
        }
    }
    let by_arn: BTreeMap<String, Principal> = principals.iter().map(|p| (p.arn(facts), p.clone())).collect();
    let mut kinds = BTreeSet::new();
    for t in &targets {
        kinds.insert(match t {
            LfTarget::Database { .. } => "DATABASE",
            _ => "TABLE",
        });
    }
    for kind in kinds {
        for (arn, resource, perms) in list_permissions(aws, caller, kind).await? {
            let Some(p) = by_arn.get(&arn) else { continue };
            for target in targets.iter().filter(|t| matches_target(Some(&resource), t)) {
                obs.grants.entry((p.clone(), target.clone())).or_default().extend(perms.iter().cloned());
            }
        }
    }
    let granting: BTreeSet<LfTarget> = to_grant
        .iter()
        .filter_map(|r| match r {
            Resource::Grant { target, .. } => Some(target.clone()),
            _ => None,
        })
        .collect();
    (obs.missing_in_catalog, obs.iam_governed) = check_catalog(aws, caller, &granting).await?;
    Ok(obs)
}

fn tag<'a>(mut tags: impl Iterator<Item = (&'a str, &'a str)>, key: &str) -> Option<String> {
    tags.find(|(k, _)| *k == key).map(|(_, v)| v.to_string())
}

fn owner_of<'a>(tags: impl Iterator<Item = (&'a str, &'a str)>) -> Option<String> {
    tag(tags, OWNER_TAG)
}

async fn observe_policy(aws: &Aws, facts: &Facts, caller: &str, name: &str) -> Result<Option<PolicyObs>, Error> {
    let arn = facts.policy_arn(name);
    let got = match aws.iam.get_policy().policy_arn(&arn).send().await {
        Ok(out) => out,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(classify("iam:GetPolicy", caller, e)),
    };
    let default = got.policy().and_then(|p| p.default_version_id()).unwrap_or("v1").to_string();
    let version = aws
        .iam
        .get_policy_version()
        .policy_arn(&arn)
        .version_id(&default)
        .send()
        .await
        .map_err(|e| classify("iam:GetPolicyVersion", caller, e))?;
    let text = version.policy_version().and_then(|v| v.document()).unwrap_or("{}");
    let document =
        policy::decode(text).map_err(|e| Error::Aws { action: "iam:GetPolicyVersion".into(), message: e })?;
    let listed = aws
        .iam
        .list_policy_versions()
        .policy_arn(&arn)
        .send()
        .await
        .map_err(|e| classify("iam:ListPolicyVersions", caller, e))?;
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
    let tags = aws
        .iam
        .list_policy_tags()
        .policy_arn(&arn)
        .send()
        .await
        .map_err(|e| classify("iam:ListPolicyTags", caller, e))?;
    Ok(Some(PolicyObs {
        arn,
        document,
        versions: versions.into_iter().map(|(_, id, d)| (id, d)).collect(),
        owner: owner_of(tags.tags().iter().map(|t| (t.key(), t.value()))),
    }))
}

async fn observe_role(aws: &Aws, caller: &str, name: &str) -> Result<Option<PrincipalObs>, Error> {
    let got = match aws.iam.get_role().role_name(name).send().await {
        Ok(out) => out,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(classify("iam:GetRole", caller, e)),
    };
    let Some(role) = got.role() else { return Ok(None) };
    let trust = role
        .assume_role_policy_document()
        .map(policy::decode)
        .transpose()
        .map_err(|e| Error::Aws { action: "iam:GetRole".into(), message: e })?;
    let tags =
        aws.iam.list_role_tags().role_name(name).send().await.map_err(|e| classify("iam:ListRoleTags", caller, e))?;
    let attached = aws
        .iam
        .list_attached_role_policies()
        .role_name(name)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| classify("iam:ListAttachedRolePolicies", caller, e))?;
    let inline = aws
        .iam
        .list_role_policies()
        .role_name(name)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| classify("iam:ListRolePolicies", caller, e))?;
    Ok(Some(PrincipalObs {
        arn: role.arn().to_string(),
        trust,
        owner: owner_of(tags.tags().iter().map(|t| (t.key(), t.value()))),
        attached: attached.iter().filter_map(|a| a.policy_arn().map(str::to_string)).collect(),
        inline,
        keys: Vec::new(),
        key_tag: None,
    }))
}

async fn observe_user(aws: &Aws, caller: &str, name: &str) -> Result<Option<PrincipalObs>, Error> {
    let got = match aws.iam.get_user().user_name(name).send().await {
        Ok(out) => out,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(classify("iam:GetUser", caller, e)),
    };
    let Some(user) = got.user() else { return Ok(None) };
    let tags =
        aws.iam.list_user_tags().user_name(name).send().await.map_err(|e| classify("iam:ListUserTags", caller, e))?;
    let attached = aws
        .iam
        .list_attached_user_policies()
        .user_name(name)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| classify("iam:ListAttachedUserPolicies", caller, e))?;
    let keys = aws
        .iam
        .list_access_keys()
        .user_name(name)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| classify("iam:ListAccessKeys", caller, e))?;
    let inline = aws
        .iam
        .list_user_policies()
        .user_name(name)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| classify("iam:ListUserPolicies", caller, e))?;
    Ok(Some(PrincipalObs {
        arn: user.arn().to_string(),
        trust: None,
        owner: owner_of(tags.tags().iter().map(|t| (t.key(), t.value()))),
        attached: attached.iter().filter_map(|a| a.policy_arn().map(str::to_string)).collect(),
        inline,
        keys: keys.iter().filter_map(|k| k.access_key_id().map(str::to_string)).collect(),
        key_tag: tag(tags.tags().iter().map(|t| (t.key(), t.value())), KEY_TAG),
    }))
}

/// The Lake Formation resource for a target.
pub fn lf_resource(target: &LfTarget) -> lft::Resource {
    let built = match target {
        LfTarget::Database { database } => lft::Resource::builder()
            .database(lft::DatabaseResource::builder().name(database).build().expect("name set")),
        LfTarget::AllTables { database } => lft::Resource::builder().table(
            lft::TableResource::builder()
                .database_name(database)
                .table_wildcard(lft::TableWildcard::builder().build())
                .build()
                .expect("database set"),
        ),
        LfTarget::Table { database, table } => lft::Resource::builder()
            .table(lft::TableResource::builder().database_name(database).name(table).build().expect("database set")),
    };
    built.build()
}

/// Every grant on resources of one type (DATABASE or TABLE), as (principal ARN, resource,
/// permissions). Listing by type, without a principal filter, sees every principal (a
/// principal filter can miss cross-account ones) in one paginated call, however many
/// databases the deployment names. SELECT's expanded form (TableWithColumns with a column
/// wildcard) is matched to its table by [`matches_target`].
pub async fn list_permissions(
    aws: &Aws,
    caller: &str,
    kind: &str,
) -> Result<Vec<(String, lft::Resource, BTreeSet<String>)>, Error> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = aws
            .lf
            .list_permissions()
            .resource_type(lft::DataLakeResourceType::from(kind))
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| classify("lakeformation:ListPermissions", caller, e))?;
        for p in page.principal_resource_permissions() {
            let Some(arn) = p.principal().and_then(|p| p.data_lake_principal_identifier()) else { continue };
            let Some(resource) = p.resource() else { continue };
            let perms = p.permissions().iter().map(|x| x.as_str().to_string()).collect();
            out.push((arn.to_string(), resource.clone(), perms));
        }
        token = page.next_token().filter(|t| !t.is_empty()).map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(out)
}

/// Whether two principal ARNs name the same role or user. A caller's role is known only
/// by name (an assumed-role ARN has no path), while the admin list may hold the role's ARN
/// with its path (SSO roles live under /aws-reserved/...).
fn same_principal(a: &str, b: &str) -> bool {
    let key = |arn: &str| {
        let (head, resource) = arn.split_once(":role/").or_else(|| arn.split_once(":user/")).unwrap_or((arn, ""));
        let kind = if arn.contains(":role/") { "role" } else { "user" };
        (head.to_string(), kind, resource.rsplit('/').next().unwrap_or(resource).to_string())
    };
    a == b || key(a) == key(b)
}

fn matches_target(resource: Option<&lft::Resource>, target: &LfTarget) -> bool {
    let Some(r) = resource else { return false };
    match target {
        LfTarget::Database { database } => r.database().is_some_and(|d| d.name() == database),
        LfTarget::AllTables { database } => {
            r.table().is_some_and(|t| t.database_name() == database && t.table_wildcard().is_some())
        }
        LfTarget::Table { database, table } => {
            let plain = r.table().is_some_and(|t| t.database_name() == database && t.name() == Some(table.as_str()));
            let columns = r.table_with_columns().is_some_and(|t| {
                t.database_name() == database
                    && t.name() == table
                    && t.column_wildcard().is_some_and(|w| w.excluded_column_names().is_empty())
            });
            plain || columns
        }
    }
}

/// Which targets the catalog lacks, and which databases IAM alone governs.
async fn check_catalog(
    aws: &Aws,
    caller: &str,
    targets: &BTreeSet<LfTarget>,
) -> Result<(Vec<String>, Vec<String>), Error> {
    let mut missing = Vec::new();
    let mut iam_governed = Vec::new();
    let databases: BTreeSet<&str> = targets.iter().map(LfTarget::database).collect();
    for db in &databases {
        match aws.glue.get_database().name(*db).send().await {
            Ok(out) => {
                let defaults = out.database().map(|d| d.create_table_default_permissions()).unwrap_or_default();
                let iam_allowed = defaults.iter().any(|p| {
                    p.principal().and_then(|p| p.data_lake_principal_identifier()) == Some("IAM_ALLOWED_PRINCIPALS")
                });
                if iam_allowed {
                    iam_governed.push(db.to_string());
                }
            }
            Err(e) if is_not_found(&e) => missing.push(format!("database {db}")),
            Err(e) => return Err(classify("glue:GetDatabase", caller, e)),
        }
    }
    for t in targets {
        if let LfTarget::Table { database, table } = t {
            if missing.contains(&format!("database {database}")) {
                continue;
            }
            match aws.glue.get_table().database_name(database).name(table).send().await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => missing.push(format!("table {database}.{table}")),
                Err(e) => return Err(classify("glue:GetTable", caller, e)),
            }
        }
    }
    Ok((missing, iam_governed))
}

/// Lake Formation targets the caller may not grant on: empty when the caller is a data
/// lake administrator or holds the permissions with grant option.
pub async fn grant_blockers(
    aws: &Aws,
    caller: &str,
    needed: &[(LfTarget, BTreeSet<String>)],
) -> Result<Vec<String>, Error> {
    let settings = aws
        .lf
        .get_data_lake_settings()
        .send()
        .await
        .map_err(|e| classify("lakeformation:GetDataLakeSettings", caller, e))?;
    let admins: Vec<&str> = settings
        .data_lake_settings()
        .map(|s| s.data_lake_admins().iter().filter_map(|p| p.data_lake_principal_identifier()).collect())
        .unwrap_or_default();
    if admins.iter().any(|a| same_principal(a, caller)) {
        return Ok(Vec::new());
    }
    let mut blocked = Vec::new();
    for (target, perms) in needed {
        let mut page = aws
            .lf
            .list_permissions()
            .principal(lft::DataLakePrincipal::builder().data_lake_principal_identifier(caller).build())
            .resource(lf_resource(target))
            .send()
            .await
            .map_err(|e| classify("lakeformation:ListPermissions", caller, e))?;
        let grantable: BTreeSet<String> = page
            .principal_resource_permissions
            .take()
            .unwrap_or_default()
            .iter()
            .filter(|p| matches_target(p.resource(), target))
            .flat_map(|p| p.permissions_with_grant_option().iter().map(|x| x.as_str().to_string()).collect::<Vec<_>>())
            .collect();
        if !grantable.contains("ALL") && !perms.is_subset(&grantable) {
            let list: Vec<&str> = perms.iter().map(String::as_str).collect();
            blocked.push(format!("{} on {target}", list.join(", ")));
        }
    }
    Ok(blocked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admins_match_roles_with_a_path() {
        let sso = "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_abc";
        assert!(same_principal(sso, "arn:aws:iam::123456789012:role/AWSReservedSSO_Admin_abc"));
        assert!(!same_principal(sso, "arn:aws:iam::123456789012:role/Other"));
        assert!(!same_principal("arn:aws:iam::123456789012:user/Admin", "arn:aws:iam::123456789012:role/Admin"));
        assert!(!same_principal("arn:aws:iam::111111111111:role/A", "arn:aws:iam::123456789012:role/A"));
    }
}
