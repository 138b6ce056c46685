//! Observe: what AWS has now, read with Get/List calls only, concurrently.
//!
//! Two reads: the catalog ([`Catalog`]: databases, grants, data lake settings, with list
//! calls, never one call per database), and IAM ([`Iam`]: the policies, roles and users a
//! deployment names). Observation is keyed by physical names, so resources from the
//! desired set and from the state file (which may name old resources) are read alike.
//! [`assemble`] then puts together, purely, what the planner compares.

mod catalog;
mod glue;
mod iam;
mod rights;

use crate::model::{DatabaseObs, Observed};
pub use catalog::{Catalog, IAM_ALLOWED_PRINCIPALS};
pub use iam::{Iam, Names};
pub use rights::{Context, Simulated, denied as iam_denied, simulate_all, simulate_in_context};

use crate::aws::Aws;
use crate::error::Error;
use crate::model::{Facts, LfTarget, Principal, Resource};
use aws_sdk_lakeformation::types as lft;
use std::collections::{BTreeMap, BTreeSet};

/// How many reads (or Lake Formation batches) go out at once: enough to hide a 50 ms
/// round trip, few enough not to be throttled for it.
pub const CONCURRENCY: usize = 16;

/// Reads the catalog (see [`Catalog`]), without any table list (see [`read_tables`]).
pub async fn read_catalog(aws: &Aws) -> Result<Catalog, Error> {
    catalog::read(aws).await
}

/// Reads the tables of `databases` into `catalog`: those with table grants to make.
pub async fn read_tables(aws: &Aws, catalog: &mut Catalog, databases: &BTreeSet<String>) -> Result<(), Error> {
    if !databases.is_empty() {
        catalog.tables.extend(catalog::tables(aws, databases).await?);
    }
    Ok(())
}

/// Reads the tables of `databases`, with their locations.
pub async fn table_list(aws: &Aws, databases: &BTreeSet<String>) -> Result<crate::model::Tables, Error> {
    if databases.is_empty() {
        return Ok(Default::default());
    }
    catalog::tables(aws, databases).await
}

/// The KMS keys a Glue security configuration uses, and whether it encrypts logs; None
/// when it does not exist.
pub async fn security_configuration(aws: &Aws, name: &str) -> Result<Option<(Vec<String>, bool)>, Error> {
    catalog::security_configuration(aws, name).await
}

/// Which of these Glue connections do not exist.
pub async fn missing_connections(aws: &Aws, names: &[String]) -> Result<Vec<String>, Error> {
    catalog::missing_connections(aws, names).await
}

/// Reads the Glue databases a deployment creates (see [`DatabaseObs`]) that exist, with
/// the tables of those in `listing`.
pub async fn read_databases(
    aws: &Aws,
    facts: &Facts,
    names: &BTreeSet<String>,
    listing: &BTreeSet<String>,
) -> Result<BTreeMap<String, DatabaseObs>, Error> {
    if names.is_empty() {
        return Ok(BTreeMap::new());
    }
    glue::read(aws, facts, names, listing).await
}

/// Completes the version lists of policies read as unchanged that turn out to change.
pub async fn complete_versions(aws: &Aws, iam: &mut Iam, policies: &BTreeSet<String>) -> Result<(), Error> {
    iam::complete_versions(aws, iam, policies).await
}

/// Reads the IAM resources `names` names.
pub async fn read_iam(aws: &Aws, facts: &Facts, names: &Names) -> Result<Iam, Error> {
    iam::read(aws, facts, names).await
}

/// The tag that records which deployment created (or adopted) an IAM resource.
pub const OWNER_TAG: &str = "lakepass:deployment";
pub const STACK_TAG: &str = "lakepass:stack";
/// The tag on a user that records its live access key (see [`crate::plan::KeyTag`]).
pub const KEY_TAG: &str = "lakepass:access-key";

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

/// Whether two principal ARNs name the same role or user. A caller's role is known only
/// by name (an assumed-role ARN has no path), while the admin list may hold the role's ARN
/// with its path (SSO roles live under /aws-reserved/...).
fn same_principal(a: &str, b: &str) -> bool {
    let key = |arn| {
        let a = crate::arn::Arn::parse(arn)?;
        Some((a.partition, a.account, a.principal()?))
    };
    a == b || key(a).is_some_and(|k| Some(k) == key(b))
}

/// Assembles what AWS has of `items` from the catalog and IAM reads, and checks that the
/// databases the grants in `desired` name exist, and the tables of those in `to_make` (the
/// emulator grants on anything; AWS would refuse later). Grants only recorded in state are
/// not checked: their database may rightly be gone. Pure.
pub fn assemble(
    catalog: &Catalog,
    iam: Iam,
    facts: &Facts,
    items: &[Resource],
    desired: &[Resource],
    to_make: &[Resource],
) -> Observed {
    let mut obs = Observed { policies: iam.policies, roles: iam.roles, users: iam.users, ..Observed::default() };
    for r in items {
        if let Resource::Grant { principal, target, .. } = r {
            let (held, _) = catalog.held(&principal.arn(facts), target);
            if !held.is_empty() {
                obs.grants.insert((principal.clone(), target.clone()), held);
            }
        }
    }
    let targets = |rs: &[Resource]| -> BTreeSet<LfTarget> {
        rs.iter()
            .filter_map(|r| match r {
                Resource::Grant { target, .. } => Some(target.clone()),
                _ => None,
            })
            .collect()
    };
    let (granting, making) = (targets(desired), targets(to_make));
    // A database the deployment creates is missing until it does.
    let creating: BTreeSet<&str> = desired
        .iter()
        .filter_map(|r| match r {
            Resource::Database { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    obs.missing_in_catalog = catalog
        .missing(&granting, &making)
        .into_iter()
        .filter(|m| !m.strip_prefix("database ").is_some_and(|d| creating.contains(d)))
        .collect();
    let governed = catalog.iam_governed();
    let databases: BTreeSet<&str> = making.iter().map(LfTarget::database).collect();
    obs.iam_governed = databases.into_iter().filter(|d| governed.contains(*d)).map(str::to_string).collect();
    obs
}

/// The IAM names `items` refer to, with the policy versions `state` recorded and the
/// documents `desired` wants.
pub fn names(items: &[Resource], state: &crate::state::State, desired: &[Resource]) -> Names {
    let mut n = Names::default();
    let principal = |n: &mut Names, p: &Principal| match p {
        Principal::Role(r) => n.roles.insert(r.clone()),
        Principal::User(u) => n.users.insert(u.clone()),
    };
    for r in items {
        match r {
            Resource::Policy { name, .. } => {
                n.policies.insert(name.clone());
            }
            Resource::Role { name, .. } => {
                n.roles.insert(name.clone());
            }
            Resource::User { name } | Resource::AccessKey { user: name } => {
                n.users.insert(name.clone());
            }
            Resource::Attachment { policy, principal: p } => {
                n.policies.insert(policy.clone());
                principal(&mut n, p);
            }
            Resource::Grant { principal: p, .. } => {
                principal(&mut n, p);
            }
            Resource::Database { .. } => {}
        }
    }
    for o in state.resources.values() {
        if let (Resource::Policy { name, .. }, Some(v)) = (&o.resource, &o.version) {
            n.versions.insert(name.clone(), v.clone());
        }
    }
    for r in desired {
        if let Resource::Policy { name, document, .. } = r {
            n.wanted.insert(name.clone(), document.clone());
        }
    }
    n
}

/// Lake Formation targets the caller may not grant on: empty when the caller is a data
/// lake administrator or holds the permissions with grant option (on the target, or for
/// a table on all tables of its database). Pure, over the catalog read.
pub fn grant_blockers(catalog: &Catalog, caller: &str, needed: &[(LfTarget, BTreeSet<String>)]) -> Vec<String> {
    if catalog.admins.iter().any(|a| same_principal(a, caller)) {
        return Vec::new();
    }
    let mut blocked = Vec::new();
    for (target, perms) in needed {
        let (_, mut grantable) = catalog.held(caller, target);
        if let LfTarget::Table { database, .. } = target {
            grantable.extend(catalog.held(caller, &LfTarget::AllTables { database: database.clone() }).1);
        }
        if !grantable.contains("ALL") && !perms.is_subset(&grantable) {
            let list: Vec<&str> = perms.iter().map(String::as_str).collect();
            blocked.push(format!("{} on {target}", list.join(", ")));
        }
    }
    blocked
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
