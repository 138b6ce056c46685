//! Reads in the account that let the wizard suggest answers instead of asking for them.

use crate::aws::{Aws, classify};
use crate::error::Error;
pub use crate::model::bucket_of;
use std::collections::BTreeSet;

/// Every database in the catalog, sorted.
pub async fn glue_databases(aws: &Aws, caller: &str) -> Result<Vec<String>, Error> {
    let pages = aws
        .glue
        .get_databases()
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| classify("glue:GetDatabases", caller, e))?;
    let mut names: Vec<String> = pages.iter().flat_map(|p| p.database_list()).map(|d| d.name().to_string()).collect();
    names.sort();
    Ok(names)
}

/// The buckets the tables of `databases` live in, from their storage locations; the
/// databases are read a bounded number at a time.
pub async fn table_buckets(aws: &Aws, caller: &str, databases: &[String]) -> Result<Vec<String>, Error> {
    use futures_util::{StreamExt, TryStreamExt, stream};
    let reads = databases.iter().map(|db| async move {
        let pages = aws
            .glue
            .get_tables()
            .database_name(db)
            .into_paginator()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| classify("glue:GetTables", caller, e))?;
        let found: Vec<String> = pages
            .iter()
            .flat_map(|p| p.table_list())
            .filter_map(|t| t.storage_descriptor().and_then(|s| s.location()).and_then(bucket_of))
            .collect();
        Ok::<_, Error>(found)
    });
    let found: Vec<Vec<String>> =
        stream::iter(reads).buffer_unordered(crate::observe::CONCURRENCY).try_collect().await?;
    let buckets: BTreeSet<String> = found.into_iter().flatten().collect();
    Ok(buckets.into_iter().collect())
}

/// The bucket of the workgroup's configured query result location, if it has one.
pub async fn athena_output_bucket(aws: &Aws, workgroup: &str) -> Option<String> {
    let out = aws.athena.get_work_group().work_group(workgroup).send().await.ok()?;
    let location = out.work_group()?.configuration()?.result_configuration()?.output_location()?;
    bucket_of(location)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_come_from_s3_locations_only() {
        assert_eq!(bucket_of("s3://acme-lake/sales/orders/"), Some("acme-lake".into()));
        assert_eq!(bucket_of("s3://acme-results"), Some("acme-results".into()));
        assert_eq!(bucket_of("hdfs://x/y"), None);
        assert_eq!(bucket_of("s3://"), None);
    }
}
