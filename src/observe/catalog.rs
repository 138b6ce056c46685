//! The catalog as Lake Formation and Glue see it, read once per run with list calls: every
//! database, the tables of databases with table grants to make, the data lake settings,
//! every grant on databases and tables, and the registered locations. From these come
//! the catalog checks, the observed grants and the governance facts that choose the IAM
//! scope, without one call per database.

use super::CONCURRENCY;
use crate::aws::{Aws, classify};
use crate::error::Error;
use crate::model::LfTarget;
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
    /// The tables of each database whose tables were asked for.
    pub tables: BTreeMap<String, BTreeSet<String>>,
    /// Data lake administrators.
    pub admins: Vec<String>,
    /// Whether the account's defaults give new databases or tables to IAM_ALLOWED_PRINCIPALS.
    pub defaults_open: bool,
    /// Every grant on a database or table.
    pub grants: Vec<Grant>,
    /// Registered locations in hybrid access mode.
    pub hybrid_locations: Vec<String>,
    /// Principal → indexes of its grants in `grants`.
    by_principal: BTreeMap<String, Vec<usize>>,
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
        tables: BTreeMap<String, BTreeSet<String>>,
        admins: Vec<String>,
        defaults_open: bool,
        grants: Vec<Grant>,
        hybrid_locations: Vec<String>,
    ) -> Catalog {
        let mut by_principal: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, g) in grants.iter().enumerate() {
            by_principal.entry(g.principal.clone()).or_default().push(i);
        }
        Catalog { databases, tables, admins, defaults_open, grants, hybrid_locations, by_principal }
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
                && !self.tables.get(database).is_some_and(|ts| ts.contains(table))
            {
                missing.push(format!("table {database}.{table}"));
            }
        }
        missing
    }

    /// The permissions `principal` holds (and may grant) on `target`.
    pub fn held(&self, principal: &str, target: &LfTarget) -> (BTreeSet<String>, BTreeSet<String>) {
        let mut held = BTreeSet::new();
        let mut grantable = BTreeSet::new();
        let mine = self.by_principal.get(principal).into_iter().flatten().map(|i| &self.grants[*i]);
        for g in mine.filter(|g| matches_target(&g.resource, target)) {
            held.extend(g.permissions.iter().cloned());
            grantable.extend(g.grantable.iter().cloned());
        }
        (held, grantable)
    }
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

/// Whether a listed grant is on `target`. SELECT comes back in an expanded form
/// (TableWithColumns with a column wildcard), matched to its table.
pub fn matches_target(r: &lft::Resource, target: &LfTarget) -> bool {
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
            .map_err(|e| classify("lakeformation:ListPermissions", "", e))?;
        for p in page.principal_resource_permissions() {
            let Some(principal) = p.principal().and_then(|p| p.data_lake_principal_identifier()) else { continue };
            let Some(resource) = p.resource() else { continue };
            let set = |ps: &[lft::Permission]| ps.iter().map(|x| x.as_str().to_string()).collect();
            out.push(Grant {
                principal: principal.to_string(),
                resource: resource.clone(),
                permissions: set(p.permissions()),
                grantable: set(p.permissions_with_grant_option()),
            });
        }
        token = page.next_token().filter(|t| !t.is_empty()).map(str::to_string);
        if token.is_none() {
            return Ok(out);
        }
    }
}

async fn hybrid_locations(aws: &Aws) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = aws
            .lf
            .list_resources()
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| classify("lakeformation:ListResources", "", e))?;
        for r in page.resource_info_list() {
            if r.hybrid_access_enabled() == Some(true) {
                out.extend(r.resource_arn().map(str::to_string));
            }
        }
        token = page.next_token().filter(|t| !t.is_empty()).map(str::to_string);
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// The tables of each listed database, a bounded number of databases at a time. A
/// database that does not exist has no entry (the catalog check names it).
pub async fn tables(aws: &Aws, listed: &BTreeSet<String>) -> Result<BTreeMap<String, BTreeSet<String>>, Error> {
    let reads = listed.iter().map(|db| async move {
        let pages: Result<Vec<_>, _> =
            aws.glue.get_tables().database_name(db).into_paginator().send().try_collect().await;
        match pages {
            Ok(pages) => {
                let names = pages.iter().flat_map(|p| p.table_list().iter().map(|t| t.name().to_string())).collect();
                Ok(Some((db.clone(), names)))
            }
            Err(e) if crate::aws::is_not_found(&e) => Ok(None),
            Err(e) => Err(classify("glue:GetTables", "", e)),
        }
    });
    let found: Vec<Option<(String, BTreeSet<String>)>> =
        stream::iter(reads).buffer_unordered(CONCURRENCY).try_collect().await?;
    Ok(found.into_iter().flatten().collect())
}
