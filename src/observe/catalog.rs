//! The catalog as Lake Formation and Glue see it, read once per run with list calls: every
//! database, the tables of databases with table grants to make, the data lake settings,
//! every grant on databases and tables, and the registered locations. From these come
//! the catalog checks, the observed grants and the governance facts that choose the IAM
//! scope, without one call per database.

use super::CONCURRENCY;
use crate::aws::{Aws, classify};
use crate::error::Error;
use crate::model::{LfTarget, Tables};
use aws_sdk_lakeformation::types as lft;
use futures_util::{StreamExt, TryStreamExt, stream};
use std::collections::{BTreeMap, BTreeSet};

/// The principal that stands for "IAM alone decides" in Lake Formation.
pub const IAM_ALLOWED_PRINCIPALS: &str = "IAM_ALLOWED_PRINCIPALS";

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    /// Every database in the catalog, with whether its defaults for new tables grant
    /// `IAM_ALLOWED_PRINCIPALS`.
    pub databases: BTreeMap<String, bool>,
    /// The tables of each database whose tables were asked for, with their locations.
    pub tables: Tables,
    /// Data lake administrators.
    pub admins: Vec<String>,
    /// Whether the account's defaults give new databases or tables to IAM_ALLOWED_PRINCIPALS.
    pub defaults_open: bool,
    /// Every grant on a database or table.
    pub grants: Vec<Grant>,
    /// Registered locations in hybrid access mode.
    pub hybrid_locations: Vec<String>,
    /// (principal, target) → the permissions held and grantable there, for the grants
    /// that are on a database, all tables of one, or one whole table.
    by_target: std::collections::HashMap<(String, LfTarget), (BTreeSet<String>, BTreeSet<String>)>,
}

/// One grant as ListPermissions returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub principal: String,
    pub resource: lft::Resource,
    pub permissions: BTreeSet<String>,
    pub grantable: BTreeSet<String>,
}

impl Catalog {
    pub fn new(
        databases: BTreeMap<String, bool>,
        tables: Tables,
        admins: Vec<String>,
        defaults_open: bool,
        grants: Vec<Grant>,
        hybrid_locations: Vec<String>,
    ) -> Catalog {
        let mut by_target: std::collections::HashMap<_, (BTreeSet<String>, BTreeSet<String>)> = Default::default();
        for g in &grants {
            if let Some(target) = target_of(&g.resource) {
                let entry = by_target.entry((g.principal.clone(), target)).or_default();
                entry.0.extend(g.permissions.iter().cloned());
                entry.1.extend(g.grantable.iter().cloned());
            }
        }
        Catalog { databases, tables, admins, defaults_open, grants, hybrid_locations, by_target }
    }

    /// Databases where IAM alone decides access: an `IAM_ALLOWED_PRINCIPALS` grant on the
    /// database or any of its tables, or in its defaults for new tables.
    pub fn iam_governed(&self) -> BTreeSet<String> {
        let mut out: BTreeSet<String> =
            self.databases.iter().filter(|(_, open)| **open).map(|(d, _)| d.clone()).collect();
        for g in self.grants.iter().filter(|g| g.principal == IAM_ALLOWED_PRINCIPALS) {
            if let Some(db) = database_of(&g.resource) {
                out.insert(db.to_string());
            }
        }
        out
    }

    /// What is missing from the catalog: the databases of `targets`, and the tables of
    /// `tables` (whose table lists were read).
    pub fn missing(&self, targets: &BTreeSet<LfTarget>, tables: &BTreeSet<LfTarget>) -> Vec<String> {
        let mut missing = Vec::new();
        let databases: BTreeSet<&str> = targets.iter().chain(tables).map(LfTarget::database).collect();
        for db in &databases {
            if !self.databases.contains_key(*db) {
                missing.push(format!("database {db}"));
            }
        }
        for t in tables {
            if let LfTarget::Table { database, table } = t
                && self.databases.contains_key(database)
                && !self.tables.get(database).is_some_and(|ts| ts.contains_key(table))
            {
                missing.push(format!("table {database}.{table}"));
            }
        }
        missing
    }

    /// The permissions `principal` holds (and may grant) on `target`.
    pub fn held(&self, principal: &str, target: &LfTarget) -> (BTreeSet<String>, BTreeSet<String>) {
        self.by_target.get(&(principal.to_string(), target.clone())).cloned().unwrap_or_default()
    }
}

/// The target a listed grant is on, where it is one lakepass grants: a database, all
/// tables of one, or one table (SELECT comes back as TableWithColumns with a column
/// wildcard, matched to its table). Column subsets and data filters are no target.
fn target_of(r: &lft::Resource) -> Option<LfTarget> {
    if let Some(d) = r.database() {
        return Some(LfTarget::Database { database: d.name().to_string() });
    }
    if let Some(t) = r.table() {
        let database = t.database_name().to_string();
        return match (t.table_wildcard(), t.name()) {
            (Some(_), _) => Some(LfTarget::AllTables { database }),
            (None, Some(table)) => Some(LfTarget::Table { database, table: table.to_string() }),
            (None, None) => None,
        };
    }
    let t = r.table_with_columns()?;
    let whole = t.column_wildcard().is_some_and(|w| w.excluded_column_names().is_empty());
    whole.then(|| LfTarget::Table { database: t.database_name().to_string(), table: t.name().to_string() })
}

/// The database a database, table or column grant is on.
fn database_of(r: &lft::Resource) -> Option<&str> {
    if let Some(d) = r.database() {
        return Some(d.name());
    }
    if let Some(t) = r.table() {
        return Some(t.database_name());
    }
    r.table_with_columns().map(|t| t.database_name())
}

/// Reads the catalog: all of it at once, concurrently; table lists are read later, only
/// where grants on listed tables are still to make.
pub async fn read(aws: &Aws) -> Result<Catalog, Error> {
    let (databases, settings, db_grants, table_grants, locations) = tokio::try_join!(
        databases(aws),
        settings(aws),
        list_permissions(aws, "DATABASE"),
        list_permissions(aws, "TABLE"),
        hybrid_locations(aws),
    )?;
    let tables = BTreeMap::new();
    let (admins, defaults_open) = settings;
    let mut grants = db_grants;
    grants.extend(table_grants);
    Ok(Catalog::new(databases, tables, admins, defaults_open, grants, locations))
}

async fn databases(aws: &Aws) -> Result<BTreeMap<String, bool>, Error> {
    let pages: Vec<_> = aws
        .glue
        .get_databases()
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| classify("glue:GetDatabases", "", e))?;
    let mut out = BTreeMap::new();
    for page in pages {
        for d in page.database_list() {
            let open = d.create_table_default_permissions().iter().any(|p| {
                p.principal().and_then(|p| p.data_lake_principal_identifier()) == Some(IAM_ALLOWED_PRINCIPALS)
            });
            out.insert(d.name().to_string(), open);
        }
    }
    Ok(out)
}

async fn settings(aws: &Aws) -> Result<(Vec<String>, bool), Error> {
    let out = aws
        .lf
        .get_data_lake_settings()
        .send()
        .await
        .map_err(|e| classify("lakeformation:GetDataLakeSettings", "", e))?;
    let Some(s) = out.data_lake_settings() else { return Ok((Vec::new(), false)) };
    let admins = s.data_lake_admins().iter().filter_map(|p| p.data_lake_principal_identifier()).map(str::to_string);
    let iam = |ps: &[lft::PrincipalPermissions]| {
        ps.iter()
            .any(|p| p.principal().and_then(|p| p.data_lake_principal_identifier()) == Some(IAM_ALLOWED_PRINCIPALS))
    };
    let open = iam(s.create_database_default_permissions()) || iam(s.create_table_default_permissions());
    Ok((admins.collect(), open))
}

/// Every grant on resources of one type (DATABASE or TABLE). Listing by type, without a
/// principal filter, sees every principal (a principal filter can miss cross-account
/// ones) in one paginated call, however many databases there are.
async fn list_permissions(aws: &Aws, kind: &str) -> Result<Vec<Grant>, Error> {
    let pages: Vec<_> = aws
        .lf
        .list_permissions()
        .resource_type(lft::DataLakeResourceType::from(kind))
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| classify("lakeformation:ListPermissions", "", e))?;
    let set = |ps: &[lft::Permission]| ps.iter().map(|x| x.as_str().to_string()).collect();
    Ok(pages
        .iter()
        .flat_map(|page| page.principal_resource_permissions())
        .filter_map(|p| {
            let principal = p.principal()?.data_lake_principal_identifier()?;
            Some(Grant {
                principal: principal.to_string(),
                resource: p.resource()?.clone(),
                permissions: set(p.permissions()),
                grantable: set(p.permissions_with_grant_option()),
            })
        })
        .collect())
}

async fn hybrid_locations(aws: &Aws) -> Result<Vec<String>, Error> {
    let pages: Vec<_> = aws
        .lf
        .list_resources()
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| classify("lakeformation:ListResources", "", e))?;
    Ok(pages
        .iter()
        .flat_map(|page| page.resource_info_list())
        .filter(|r| r.hybrid_access_enabled() == Some(true))
        .filter_map(|r| r.resource_arn().map(str::to_string))
        .collect())
}

/// The tables of each listed database with their locations, a bounded number of
/// databases at a time. A database that does not exist has no entry (the catalog check
/// names it).
pub async fn tables(aws: &Aws, listed: &BTreeSet<String>) -> Result<Tables, Error> {
    let reads = listed.iter().map(|db| async move {
        let pages: Result<Vec<_>, _> =
            aws.glue.get_tables().database_name(db).into_paginator().send().try_collect().await;
        match pages {
            Ok(pages) => {
                let tables = pages
                    .iter()
                    .flat_map(|p| p.table_list())
                    .map(|t| {
                        let location = t.storage_descriptor().and_then(|s| s.location()).filter(|l| !l.is_empty());
                        (t.name().to_string(), location.map(str::to_string))
                    })
                    .collect();
                Ok(Some((db.clone(), tables)))
            }
            Err(e) if crate::aws::is_not_found(&e) => Ok(None),
            Err(e) => Err(classify("glue:GetTables", "", e)),
        }
    });
    let found: Vec<Option<(String, _)>> = stream::iter(reads).buffer_unordered(CONCURRENCY).try_collect().await?;
    Ok(found.into_iter().flatten().collect())
}

/// The KMS keys a Glue security configuration encrypts with (S3, job bookmarks,
/// CloudWatch logs) and whether it encrypts logs; None when it does not exist.
pub async fn security_configuration(aws: &Aws, name: &str) -> Result<Option<(Vec<String>, bool)>, Error> {
    use aws_sdk_glue::types::{CloudWatchEncryptionMode, JobBookmarksEncryptionMode, S3EncryptionMode};
    let got = match aws.glue.get_security_configuration().name(name).send().await {
        Ok(got) => got,
        Err(e) if crate::aws::is_not_found(&e) => return Ok(None),
        Err(e) => return Err(classify("glue:GetSecurityConfiguration", "", e)),
    };
    let Some(e) = got.security_configuration().and_then(|c| c.encryption_configuration()) else {
        return Ok(Some((Vec::new(), false)));
    };
    let mut keys = BTreeSet::new();
    for s in e.s3_encryption() {
        if s.s3_encryption_mode() == Some(&S3EncryptionMode::Ssekms)
            && let Some(k) = s.kms_key_arn()
        {
            keys.insert(k.to_string());
        }
    }
    let bookmarks = e.job_bookmarks_encryption();
    if let Some(b) =
        bookmarks.filter(|b| b.job_bookmarks_encryption_mode() == Some(&JobBookmarksEncryptionMode::Csekms))
        && let Some(k) = b.kms_key_arn()
    {
        keys.insert(k.to_string());
    }
    let logs = e
        .cloud_watch_encryption()
        .filter(|c| c.cloud_watch_encryption_mode() == Some(&CloudWatchEncryptionMode::Ssekms));
    if let Some(k) = logs.and_then(|c| c.kms_key_arn()) {
        keys.insert(k.to_string());
    }
    Ok(Some((keys.into_iter().collect(), logs.is_some())))
}

/// Which of these Glue connections do not exist.
pub async fn missing_connections(aws: &Aws, names: &[String]) -> Result<Vec<String>, Error> {
    let reads = names.iter().map(|name| async move {
        match aws.glue.get_connection().name(name).hide_password(true).send().await {
            Ok(_) => Ok(None),
            Err(e) if crate::aws::is_not_found(&e) => Ok(Some(name.clone())),
            Err(e) => Err(classify("glue:GetConnection", "", e)),
        }
    });
    let found: Vec<Option<String>> = stream::iter(reads).buffer_unordered(CONCURRENCY).try_collect().await?;
    Ok(found.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_grants_map_to_the_targets_lakepass_grants() {
        let db =
            lft::Resource::builder().database(lft::DatabaseResource::builder().name("sales").build().unwrap()).build();
        assert_eq!(target_of(&db), Some(LfTarget::Database { database: "sales".into() }));
        let all = crate::observe::lf_resource(&LfTarget::AllTables { database: "sales".into() });
        assert_eq!(target_of(&all), Some(LfTarget::AllTables { database: "sales".into() }));
        // SELECT comes back on the table's columns, all of them: that is the table.
        let columns = |excluded: &[&str]| {
            let wildcard = lft::ColumnWildcard::builder()
                .set_excluded_column_names(Some(excluded.iter().map(|c| c.to_string()).collect()))
                .build();
            let t = lft::TableWithColumnsResource::builder()
                .database_name("sales")
                .name("orders")
                .column_wildcard(wildcard)
                .build()
                .unwrap();
            lft::Resource::builder().table_with_columns(t).build()
        };
        let orders = LfTarget::Table { database: "sales".into(), table: "orders".into() };
        assert_eq!(target_of(&columns(&[])), Some(orders.clone()));
        assert_eq!(target_of(&columns(&["ssn"])), None, "a column subset is not the table");
        let grant = |resource| Grant {
            principal: "arn:aws:iam::1:role/r".into(),
            resource,
            permissions: ["SELECT".to_string()].into(),
            grantable: BTreeSet::new(),
        };
        let c = Catalog::new(BTreeMap::new(), BTreeMap::new(), vec![], false, vec![grant(columns(&[]))], vec![]);
        assert_eq!(c.held("arn:aws:iam::1:role/r", &orders).0, ["SELECT".to_string()].into());
        assert!(c.held("arn:aws:iam::1:role/other", &orders).0.is_empty());
    }
}
