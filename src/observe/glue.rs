//! The Glue databases a deployment creates, as Glue has them: who owns each (its
//! ownership tag), where it puts new tables, and, for those lakepass may delete, which
//! tables it holds. One GetDatabase and one GetTags per database, concurrently.

use super::{CONCURRENCY, OWNER_TAG};
use crate::aws::{Aws, classify, is_not_found};
use crate::error::Error;
use crate::model::DatabaseObs;
use crate::model::Facts;
use futures_util::{StreamExt, TryStreamExt, stream};
use std::collections::{BTreeMap, BTreeSet};

/// Reads `names` (those that exist), with the tables of those also in `listing`.
pub async fn read(
    aws: &Aws,
    facts: &Facts,
    names: &BTreeSet<String>,
    listing: &BTreeSet<String>,
) -> Result<BTreeMap<String, DatabaseObs>, Error> {
    let reads = names.iter().map(|name| async move {
        let arn = facts.database_arn(name);
        let tags_of = arn.clone();
        let database = async {
            match aws.glue.get_database().name(name).send().await {
                Ok(got) => Ok(got.database().map(|d| d.location_uri().map(str::to_string))),
                Err(e) if is_not_found(&e) => Ok(None),
                Err(e) => Err(classify("glue:GetDatabase", "", e)),
            }
        };
        let tags = async {
            match aws.glue.get_tags().resource_arn(&tags_of).send().await {
                Ok(got) => Ok(got.tags().and_then(|t| t.get(OWNER_TAG)).cloned()),
                Err(e) if is_not_found(&e) => Ok(None),
                Err(e) => Err(classify("glue:GetTags", "", e)),
            }
        };
        let tables = async {
            if !listing.contains(name) {
                return Ok(None);
            }
            let mut found = super::catalog::tables(aws, &BTreeSet::from([name.clone()])).await?;
            Ok::<_, Error>(found.remove(name).map(|t| t.into_keys().collect()))
        };
        let (location, owner, tables) = tokio::try_join!(database, tags, tables)?;
        Ok::<_, Error>(location.map(|location| (name.clone(), DatabaseObs { arn, owner, location, tables })))
    });
    let found: Vec<Option<(String, DatabaseObs)>> =
        stream::iter(reads).buffer_unordered(CONCURRENCY).try_collect().await?;
    Ok(found.into_iter().flatten().collect())
}
