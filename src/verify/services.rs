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
    Finding { ok, layer, what: what.into(), line, fix, decided_by: layer }
}

/// The workgroup exists, and where it enforces its result location, that lies in the
/// results bucket.
pub async fn athena(aws: &Aws, workgroup: &str, results_bucket: &str) -> Result<Finding, Error> {
    let what = "query in its workgroup";
    let got = aws.athena.get_work_group().work_group(workgroup).send().await;
    let group = match got {
        Ok(out) => out.work_group().cloned(),
        Err(e) if e.code() == Some("InvalidRequestException") || e.code() == Some("ResourceNotFoundException") => None,
        Err(e) => return Err(classify("athena:GetWorkGroup", "", e)),
    };
    let Some(group) = group else {
        return Ok(finding(
            false,
            "Athena",
            what,
            format!("workgroup {workgroup} does not exist"),
            Some(format!(
                "create it (`aws athena create-work-group --name {workgroup}`), or set the deployment's workgroup to an existing one (`aws athena list-work-groups`)"
            )),
        ));
    };
    let config = group.configuration();
    let enforced = config.and_then(|c| c.enforce_work_group_configuration()).unwrap_or(false);
    let location = config.and_then(|c| c.result_configuration()).and_then(|r| r.output_location());
    let bucket = location.and_then(crate::model::bucket_of);
    Ok(match (enforced, location, bucket) {
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
    })
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

/// No bucket policy denies the principal's reads (a Deny on a condition the vendor's
/// requests cannot meet, such as a VPC endpoint, counts).
pub async fn bucket_policies(aws: &Aws, principal_arn: &str, buckets: &[String]) -> Result<Vec<Finding>, Error> {
    let s3 = aws.s3(None);
    let mut out = Vec::new();
    for bucket in buckets {
        let text = match s3.get_bucket_policy().bucket(bucket).send().await {
            Ok(p) => p.policy().unwrap_or_default().to_string(),
            Err(e) if matches!(e.code(), Some("NoSuchBucketPolicy" | "NoSuchBucket")) => continue,
            Err(e) => return Err(classify("s3:GetBucketPolicy", "", e)),
        };
        let policy: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if let Some(f) = bucket_denies(&policy, principal_arn, bucket) {
            out.push(f);
        }
    }
    Ok(out)
}

/// Each bucket encrypted with a customer managed KMS key lets the principal decrypt:
/// the key policy allows it directly, or delegates to IAM (the account root) and an
/// attached policy allows `kms:Decrypt` on the key.
pub async fn encryption(
    aws: &Aws,
    principal_arn: &str,
    buckets: &[String],
    policies: &[&Value],
) -> Result<Vec<Finding>, Error> {
    let s3 = aws.s3(None);
    let mut out = Vec::new();
    for bucket in buckets {
        let got = match s3.get_bucket_encryption().bucket(bucket).send().await {
            Ok(got) => got,
            Err(e) if matches!(e.code(), Some("ServerSideEncryptionConfigurationNotFoundError" | "NoSuchBucket")) => {
                continue;
            }
            Err(e) => return Err(classify("s3:GetBucketEncryption", "", e)),
        };
        let key = got
            .server_side_encryption_configuration()
            .map(|c| c.rules())
            .unwrap_or_default()
            .iter()
            .filter_map(|r| r.apply_server_side_encryption_by_default())
            .find_map(|d| d.kms_master_key_id().map(str::to_string));
        let Some(key) = key else { continue };
        let Some((key_arn, key_policy)) = customer_key(aws, &key).await? else { continue };
        let encrypted = Encrypted { what: "decrypt the data", thing: format!("bucket {bucket}"), hides: "" };
        out.push(decrypt_finding(&encrypted, &key_arn, &key_policy, principal_arn, policies));
    }
    Ok(out)
}

/// Where the Glue Data Catalog is encrypted with a customer managed KMS key that the
/// caller's requests decrypt with (`SSE-KMS`; with a service role, Glue decrypts), the
/// principal may decrypt with it: otherwise Glue hides every table from it.
pub async fn catalog_encryption(aws: &Aws, principal_arn: &str, policies: &[&Value]) -> Result<Option<Finding>, Error> {
    let got = aws
        .glue
        .get_data_catalog_encryption_settings()
        .send()
        .await
        .map_err(|e| classify("glue:GetDataCatalogEncryptionSettings", "", e))?;
    let at_rest = got.data_catalog_encryption_settings().and_then(|s| s.encryption_at_rest());
    let Some(at_rest) = at_rest else { return Ok(None) };
    if at_rest.catalog_encryption_mode() != &aws_sdk_glue::types::CatalogEncryptionMode::Ssekms {
        return Ok(None);
    }
    // No key named: Glue uses the AWS managed key aws/glue, which any principal of the
    // account may use through Glue.
    let Some(key) = at_rest.sse_aws_kms_key_id() else { return Ok(None) };
    let Some((key_arn, key_policy)) = customer_key(aws, key).await? else { return Ok(None) };
    let encrypted = Encrypted {
        what: "see the catalog",
        thing: "the Data Catalog".into(),
        hides: ": Glue hides every database and table from it",
    };
    Ok(Some(decrypt_finding(&encrypted, &key_arn, &key_policy, principal_arn, policies)))
}

/// A customer managed key's ARN and key policy; None for an AWS managed key (whose
/// policy lets the account's principals use it through the service).
async fn customer_key(aws: &Aws, key: &str) -> Result<Option<(String, Value)>, Error> {
    let described = aws.kms.describe_key().key_id(key).send().await.map_err(|e| classify("kms:DescribeKey", "", e))?;
    let Some(meta) = described.key_metadata() else { return Ok(None) };
    if meta.key_manager() == Some(&aws_sdk_kms::types::KeyManagerType::Aws) {
        return Ok(None);
    }
    let key_arn = meta.arn().unwrap_or(key).to_string();
    let policy = aws
        .kms
        .get_key_policy()
        .key_id(&key_arn)
        .policy_name("default")
        .send()
        .await
        .map_err(|e| classify("kms:GetKeyPolicy", "", e))?;
    let key_policy: Value = serde_json::from_str(policy.policy().unwrap_or("{}")).unwrap_or(Value::Null);
    Ok(Some((key_arn, key_policy)))
}

/// What a key encrypts, for the finding: its check, the thing, and what failing means.
struct Encrypted {
    what: &'static str,
    thing: String,
    hides: &'static str,
}

/// Whether the key policy and the principal's IAM policies together allow decrypting.
fn decrypt_finding(e: &Encrypted, key_arn: &str, key_policy: &Value, principal_arn: &str, iam: &[&Value]) -> Finding {
    let (what, thing, hides) = (e.what, &e.thing, e.hides);
    let account = principal_arn.split(':').nth(4).unwrap_or_default();
    let context = BTreeMap::new();
    let request = Request { action: "kms:Decrypt", resource: key_arn, context: &context };
    // The key policy's statements for the principal itself, and for the account (which
    // hands the decision to IAM).
    let root = format!("arn:aws:iam::{account}:root");
    let for_whom = |exactly: &dyn Fn(&str) -> bool| {
        let statements: Vec<Value> = key_policy["Statement"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|s| principals(&s["Principal"]).iter().any(|p| exactly(p)))
            .collect();
        serde_json::json!({ "Statement": statements })
    };
    let direct = evaluate::evaluate(&[&for_whom(&|p| p == "*" || p == principal_arn)], &request);
    let delegated = evaluate::evaluate(&[&for_whom(&|p| p == root || p == account)], &request) == Decision::Allowed
        && evaluate::evaluate(iam, &request) == Decision::Allowed;
    if direct == Decision::ExplicitDeny {
        return finding(
            false,
            "KMS",
            what,
            format!(
                "{thing} is encrypted with KMS key {key_arn}, whose key policy denies the vendor kms:Decrypt{hides}"
            ),
            Some("remove that Deny from the key policy, or exempt the vendor's principal from it".into()),
        );
    }
    if direct == Decision::Allowed || delegated {
        return finding(true, "KMS", what, format!("may decrypt {thing}'s key {key_arn}"), None);
    }
    finding(
        false,
        "KMS",
        what,
        format!("{thing} is encrypted with KMS key {key_arn}, which the vendor may not use to decrypt{hides}"),
        Some(format!(
            "add a statement to the key policy of {key_arn} allowing \"kms:Decrypt\" to {principal_arn} (`aws kms get-key-policy` / `put-key-policy`)"
        )),
    )
}

/// A finding when the bucket policy denies (or may deny) the principal `s3:GetObject`.
fn bucket_denies(policy: &Value, principal_arn: &str, bucket: &str) -> Option<Finding> {
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
    let request = Request { action: "s3:GetObject", resource: &object, context: &context };
    let line = match evaluate::evaluate(&[&doc], &request) {
        Decision::ExplicitDeny => format!("the bucket policy of {bucket} denies s3:GetObject to the vendor"),
        Decision::CannotDecide(why) => {
            format!(
                "the bucket policy of {bucket} may deny s3:GetObject to the vendor: a Deny applies under {why}, which requests from outside your network meet"
            )
        }
        _ => return None,
    };
    Some(finding(
        false,
        "S3",
        "read the data in each bucket",
        line,
        Some(format!(
            "exempt the vendor's principal from that Deny, e.g. add \"StringNotEquals\": {{\"aws:PrincipalArn\": \"{principal_arn}\"}} to its condition"
        )),
    ))
}

/// The AWS principals a statement's `Principal` names ("*" for everyone).
fn principals(principal: &Value) -> Vec<String> {
    match principal {
        Value::String(s) => vec![s.clone()],
        Value::Object(m) => match m.get("AWS") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// Whether a statement's `Principal` covers `arn` ("*", {"AWS": "*"}, or the ARN, or its
/// account's root).
fn names(principal: &Value, arn: &str) -> bool {
    let account = arn.split(':').nth(4).unwrap_or_default();
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
    fn a_key_policy_must_name_the_vendor_or_hand_the_decision_to_iam() {
        let key = "arn:aws:kms:us-east-1:123456789012:key/k1";
        let admins_only = json!({"Statement": [{"Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:role/admin"}, "Action": "kms:*", "Resource": "*"}]});
        let bucket = Encrypted { what: "decrypt the data", thing: "bucket acme-lake".into(), hides: "" };
        let f = decrypt_finding(&bucket, key, &admins_only, ROLE, &[]);
        assert_eq!(
            f.line,
            "bucket acme-lake is encrypted with KMS key arn:aws:kms:us-east-1:123456789012:key/k1, which the vendor may not use to decrypt"
        );
        assert!(!f.ok);
        let names_vendor = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": ROLE},
            "Action": ["kms:Decrypt"], "Resource": "*"}]});
        assert!(decrypt_finding(&bucket, key, &names_vendor, ROLE, &[]).ok);
        // The account root delegates to IAM, which must then allow it.
        let delegates = json!({"Statement": [{"Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*", "Resource": "*"}]});
        assert!(!decrypt_finding(&bucket, key, &delegates, ROLE, &[]).ok);
        let iam = json!({"Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key}]});
        assert!(decrypt_finding(&bucket, key, &delegates, ROLE, &[&iam]).ok);
    }

    #[test]
    fn a_vpc_endpoint_deny_is_named_and_an_exemption_clears_it() {
        let vpce = json!({"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": ["arn:aws:s3:::acme-lake", "arn:aws:s3:::acme-lake/*"],
            "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-1a2b"}}}]});
        let f = bucket_denies(&vpce, ROLE, "acme-lake").expect("a problem");
        assert!(f.line.contains("a Deny applies under condition StringNotEquals on aws:SourceVpce"), "{}", f.line);
        assert!(f.fix.unwrap().contains(ROLE));
        let exempt = json!({"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": "arn:aws:s3:::acme-lake/*",
            "Condition": {"StringNotEquals": {"aws:PrincipalArn": ROLE}}}]});
        assert!(bucket_denies(&exempt, ROLE, "acme-lake").is_none());
        let others = json!({"Statement": {"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::1:role/x"},
            "Action": "s3:GetObject", "Resource": "*"}});
        assert!(bucket_denies(&others, ROLE, "acme-lake").is_none());
    }
}
