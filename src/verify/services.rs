//! What lies beyond IAM and Lake Formation: the Athena workgroup the vendor queries in,
//! where the granted tables are stored, and bucket policies that deny the vendor's reads.

use super::Finding;
use super::evaluate::{self, Decision, Request};
use crate::aws::{Aws, classify};
use crate::error::Error;
use crate::model::LfTarget;
use aws_sdk_iam::error::ProvideErrorMetadata;
use futures_util::{StreamExt, TryStreamExt, stream};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

fn finding(ok: bool, layer: &'static str, what: &str, line: String, fix: Option<String>) -> Finding {
    Finding::decided_by_layer(ok, layer, what, line, fix)
}

/// The workgroup exists, where it enforces its result location that lies in the results
/// bucket, and where it encrypts results with a customer managed KMS key the vendor may
/// use it.
pub async fn athena(
    aws: &Aws,
    workgroup: &str,
    results_bucket: &str,
    principal_arn: &str,
    policies: &[&Value],
) -> Result<Vec<Finding>, Error> {
    let got = aws.athena.get_work_group().work_group(workgroup).send().await;
    let group = match got {
        Ok(out) => out.work_group().cloned(),
        Err(e) if e.code() == Some("InvalidRequestException") || e.code() == Some("ResourceNotFoundException") => None,
        Err(e) => return Err(classify("athena:GetWorkGroup", "", e)),
    };
    let Some(group) = group else {
        return Ok(vec![finding(
            false,
            "Athena",
            "query in its workgroup",
            format!("workgroup {workgroup} does not exist"),
            Some(format!(
                "create it (`aws athena create-work-group --name {workgroup}`), or set the deployment's workgroup to an existing one (`aws athena list-work-groups`)"
            )),
        )]);
    };
    let mut out = vec![workgroup_location(&group, workgroup, results_bucket)];
    let encryption =
        group.configuration().and_then(|c| c.result_configuration()).and_then(|r| r.encryption_configuration());
    if let Some(e) = encryption
        && matches!(
            e.encryption_option(),
            aws_sdk_athena::types::EncryptionOption::SseKms | aws_sdk_athena::types::EncryptionOption::CseKms
        )
        && let Some(key) = e.kms_key()
        && let Some(f) = super::keys::results_encryption(aws, workgroup, key, principal_arn, policies).await?
    {
        out.push(f);
    }
    Ok(out)
}

/// Where the workgroup enforces its result location, that lies in the results bucket.
fn workgroup_location(group: &aws_sdk_athena::types::WorkGroup, workgroup: &str, results_bucket: &str) -> Finding {
    let what = "query in its workgroup";
    let config = group.configuration();
    let enforced = config.and_then(|c| c.enforce_work_group_configuration()).unwrap_or(false);
    let location = config.and_then(|c| c.result_configuration()).and_then(|r| r.output_location());
    let bucket = location.and_then(crate::model::bucket_of);
    match (enforced, location, bucket) {
        (true, Some(loc), Some(b)) if b != results_bucket => finding(
            false,
            "Athena",
            what,
            format!("workgroup {workgroup} enforces its results in {loc}, outside the results bucket {results_bucket}"),
            Some(format!(
                "set the deployment's results bucket to {b} (the workgroup's) and run `lakepass provision`, or change the workgroup's query result location to s3://{results_bucket}/"
            )),
        ),
        _ => finding(
            true,
            "Athena",
            what,
            format!("workgroup {workgroup} exists and its results go to {results_bucket}"),
            None,
        ),
    }
}

/// A granted table: database, name and storage location ("" where it has none).
pub struct Stored {
    pub database: String,
    pub table: String,
    pub location: String,
}

/// The granted tables, with their locations, read up to 16 databases at a time.
pub async fn granted_tables(aws: &Aws, grants: &BTreeSet<LfTarget>) -> Result<Vec<Stored>, Error> {
    let mut wanted: BTreeMap<String, Option<BTreeSet<String>>> = BTreeMap::new();
    for t in grants {
        match t {
            LfTarget::AllTables { database } => {
                wanted.insert(database.clone(), None);
            }
            LfTarget::Table { database, table } => {
                if let Some(Some(set)) = wanted.get_mut(database) {
                    set.insert(table.clone());
                } else if !wanted.contains_key(database) {
                    wanted.insert(database.clone(), Some([table.clone()].into()));
                }
            }
            _ => {}
        }
    }
    // Each database's tables, up to 16 databases at a time.
    let reads = wanted.into_iter().map(|(database, only)| async move {
        let mut found = Vec::new();
        let mut pages = aws.glue.get_tables().database_name(&database).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("glue:GetTables", "", e))?;
            for t in page.table_list() {
                if only.as_ref().is_some_and(|o| !o.contains(t.name())) {
                    continue;
                }
                let location = t.storage_descriptor().and_then(|s| s.location()).unwrap_or_default();
                found.push(Stored {
                    database: database.clone(),
                    table: t.name().to_string(),
                    location: location.to_string(),
                });
            }
        }
        Ok::<_, Error>(found)
    });
    let tables: Vec<Vec<Stored>> =
        stream::iter(reads).buffer_unordered(crate::observe::CONCURRENCY).try_collect().await?;
    Ok(tables.into_iter().flatten().collect())
}

/// Each granted table's storage location is in one of `buckets`.
pub fn locations(tables: &[Stored], buckets: &[String]) -> Vec<Finding> {
    let what = "read the tables' data";
    let mut out = Vec::new();
    for Stored { database, table, location } in tables {
        let table = format!("{database}.{table}");
        let Some(bucket) = crate::model::bucket_of(location) else { continue };
        if !buckets.contains(&bucket) {
            out.push(finding(
                false,
                "S3",
                what,
                format!("table {table} is stored in {location}, in bucket {bucket}, which the vendor may not read"),
                Some(format!("add {bucket} to the deployment's data buckets and run `lakepass provision`")),
            ));
        }
    }
    out.sort_by(|a, b| a.line.cmp(&b.line));
    if out.is_empty() {
        out.push(finding(true, "S3", what, format!("every granted table is stored in {}", buckets.join(", ")), None));
    }
    out
}

/// Where a granted table lies in a location registered in hybrid access mode, Lake
/// Formation's grants apply to the principal only once it is opted in (for the table, or
/// all tables of its database); until then IAM alone decides. One note per database.
pub async fn hybrid_opt_ins(
    aws: &Aws,
    principal_arn: &str,
    hybrid: &[String],
    tables: &[Stored],
) -> Result<Vec<Finding>, Error> {
    let under_hybrid = |location: &str| {
        let path = crate::model::s3_location(location)?;
        hybrid.iter().find(|arn| {
            let registered = arn.strip_prefix("arn:aws:s3:::").or_else(|| arn.split_once(":s3:::").map(|(_, r)| r));
            registered.and_then(|r| crate::model::s3_location(&format!("s3://{r}"))).is_some_and(|(b, p)| {
                b == path.0 && (p.is_empty() || path.1 == p || path.1.starts_with(&format!("{p}/")))
            })
        })
    };
    let affected: Vec<(&Stored, &String)> =
        tables.iter().filter_map(|t| under_hybrid(&t.location).map(|h| (t, h))).collect();
    if affected.is_empty() {
        return Ok(Vec::new());
    }
    let principal = aws_sdk_lakeformation::types::DataLakePrincipal::builder()
        .data_lake_principal_identifier(principal_arn)
        .build();
    let pages: Vec<_> = aws
        .lf
        .list_lake_formation_opt_ins()
        .principal(principal)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| classify("lakeformation:ListLakeFormationOptIns", "", e))?;
    // (database, Some(table)) or (database, None) for all its tables.
    let mut opted: BTreeSet<(String, Option<String>)> = BTreeSet::new();
    for info in pages.iter().flat_map(|p| p.lake_formation_opt_ins_info_list()) {
        let Some(t) = info.resource().and_then(|r| r.table()) else { continue };
        let table = if t.table_wildcard().is_some() { None } else { t.name().map(str::to_string) };
        opted.insert((t.database_name().to_string(), table));
    }
    let mut missing: BTreeMap<&str, (Vec<&str>, BTreeSet<&str>)> = BTreeMap::new();
    for (t, location) in affected {
        let covered =
            opted.contains(&(t.database.clone(), None)) || opted.contains(&(t.database.clone(), Some(t.table.clone())));
        if !covered {
            let entry = missing.entry(&t.database).or_default();
            entry.0.push(&t.table);
            entry.1.insert(location);
        }
    }
    Ok(missing
        .into_iter()
        .map(|(database, (tables, locations))| {
            let locations: Vec<&str> = locations.into_iter().collect();
            Finding {
                ok: true,
                layer: "Lake Formation",
                what: "note".into(),
                line: format!(
                    "the vendor is not opted in to hybrid access mode for {database} ({}), whose data is in {}, registered in hybrid access mode: Lake Formation's grants do not apply there and IAM alone decides. To have them apply, a data lake administrator runs: aws lakeformation create-lake-formation-opt-in --principal DataLakePrincipalIdentifier={principal_arn} --resource '{{\"Table\":{{\"DatabaseName\":\"{database}\",\"TableWildcard\":{{}}}}}}'",
                    tables.join(", "),
                    locations.join(", ")
                ),
                fix: None,
                decided_by: "Lake Formation permissions",
            }
        })
        .collect())
}

/// What a bucket is checked for: the action the vendor makes on its objects, and the
/// check's name in the report.
pub struct BucketUse {
    pub action: &'static str,
    pub what: &'static str,
}

/// The data buckets are read.
pub const READ: BucketUse = BucketUse { action: "s3:GetObject", what: "read the data in each bucket" };
/// Athena writes the query results.
pub const WRITE_RESULTS: BucketUse = BucketUse { action: "s3:PutObject", what: "query in its workgroup" };

/// No bucket policy denies the principal `usage` of the objects (a Deny on a condition the
/// vendor's requests cannot meet, such as a VPC endpoint, counts).
pub async fn bucket_policies(
    aws: &Aws,
    principal_arn: &str,
    buckets: &[String],
    usage: &BucketUse,
) -> Result<Vec<Finding>, Error> {
    let s3 = aws.s3(None);
    let mut out = Vec::new();
    for bucket in buckets {
        let text = match s3.get_bucket_policy().bucket(bucket).send().await {
            Ok(p) => p.policy().unwrap_or_default().to_string(),
            Err(e) if matches!(e.code(), Some("NoSuchBucketPolicy" | "NoSuchBucket")) => continue,
            Err(e) => return Err(classify("s3:GetBucketPolicy", "", e)),
        };
        let policy: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if let Some(f) = bucket_denies(&policy, principal_arn, bucket, usage) {
            out.push(f);
        }
    }
    Ok(out)
}

/// A finding when the bucket policy denies (or may deny) the principal the use.
fn bucket_denies(policy: &Value, principal_arn: &str, bucket: &str, usage: &BucketUse) -> Option<Finding> {
    let action = usage.action;
    let object = format!("arn:aws:s3:::{bucket}/x");
    let context = BTreeMap::from([("aws:PrincipalArn".to_string(), vec![principal_arn.to_string()])]);
    // Only the Deny statements that name the principal (or everyone) matter here.
    let statements: Vec<Value> = policy["Statement"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| vec![policy["Statement"].clone()])
        .into_iter()
        .filter(|s| s["Effect"] == "Deny" && names(&s["Principal"], principal_arn))
        .collect();
    let doc = serde_json::json!({ "Statement": statements });
    let request = Request { action, resource: &object, context: &context };
    let line = match evaluate::evaluate(&[&doc], &request) {
        Decision::ExplicitDeny => format!("the bucket policy of {bucket} denies {action} to the vendor"),
        Decision::CannotDecide(why) => {
            format!(
                "the bucket policy of {bucket} may deny {action} to the vendor: a Deny applies under {why}, which requests from outside your network meet"
            )
        }
        _ => return None,
    };
    Some(finding(
        false,
        "S3",
        usage.what,
        line,
        Some(format!(
            "exempt the vendor's principal from that Deny, e.g. add \"StringNotEquals\": {{\"aws:PrincipalArn\": \"{principal_arn}\"}} to its condition"
        )),
    ))
}

/// Whether a statement's `Principal` covers `arn` ("*", {"AWS": "*"}, or the ARN, or its
/// account's root).
fn names(principal: &Value, arn: &str) -> bool {
    let account = crate::arn::account_of(arn);
    let covers = |p: &str| p == "*" || p == arn || p == format!("arn:aws:iam::{account}:root") || p == account;
    match principal {
        Value::String(s) => covers(s),
        Value::Object(m) => m.get("AWS").is_some_and(|v| match v {
            Value::String(s) => covers(s),
            Value::Array(a) => a.iter().filter_map(Value::as_str).any(covers),
            _ => false,
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ROLE: &str = "arn:aws:iam::123456789012:role/secoda-glue-role";

    #[test]
    fn a_vpc_endpoint_deny_is_named_and_an_exemption_clears_it() {
        let vpce = json!({"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": ["arn:aws:s3:::acme-lake", "arn:aws:s3:::acme-lake/*"],
            "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-1a2b"}}}]});
        let f = bucket_denies(&vpce, ROLE, "acme-lake", &READ).expect("a problem");
        assert!(f.line.contains("a Deny applies under condition StringNotEquals on aws:SourceVpce"), "{}", f.line);
        assert!(f.fix.unwrap().contains(ROLE));
        let exempt = json!({"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": "arn:aws:s3:::acme-lake/*",
            "Condition": {"StringNotEquals": {"aws:PrincipalArn": ROLE}}}]});
        assert!(bucket_denies(&exempt, ROLE, "acme-lake", &READ).is_none());
        let others = json!({"Statement": {"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::1:role/x"},
            "Action": "s3:GetObject", "Resource": "*"}});
        assert!(bucket_denies(&others, ROLE, "acme-lake", &READ).is_none());
        // Writing results: a Deny on PutObject is what matters there.
        let no_writes = json!({"Statement": {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::results/*"}});
        assert!(bucket_denies(&no_writes, ROLE, "results", &READ).is_none());
        let f = bucket_denies(&no_writes, ROLE, "results", &WRITE_RESULTS).expect("a problem");
        assert_eq!(f.line, "the bucket policy of results denies s3:PutObject to the vendor");
        assert_eq!(f.what, "query in its workgroup");
    }
}
