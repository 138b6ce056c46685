//! KMS keys the vendor's requests must be able to use: a data bucket's default key, the
//! Data Catalog's key, and the key an Athena workgroup encrypts its results with. A key
//! allows a principal where its key policy names the principal, or hands the decision to
//! IAM (the account root) and an attached policy allows the actions on the key.

use super::Finding;
use super::evaluate::{self, Decision, Request};
use crate::aws::{Aws, classify};
use crate::error::Error;
use aws_sdk_iam::error::ProvideErrorMetadata;
use serde_json::Value;
use std::collections::BTreeMap;

fn finding(ok: bool, layer: &'static str, what: &str, line: String, fix: Option<String>) -> Finding {
    Finding::decided_by_layer(ok, layer, what, line, fix)
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
        let encrypted = Encrypted {
            what: "decrypt the data",
            thing: format!("bucket {bucket}"),
            is: "is encrypted",
            actions: &["kms:Decrypt"],
            use_for: "decrypt",
            hides: "",
        };
        out.push(key_finding(&encrypted, &key_arn, &key_policy, principal_arn, policies));
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
        is: "is encrypted",
        actions: &["kms:Decrypt"],
        use_for: "decrypt",
        hides: ": Glue hides every database and table from it",
    };
    Ok(Some(key_finding(&encrypted, &key_arn, &key_policy, principal_arn, policies)))
}

/// Where the workgroup encrypts query results with a customer managed KMS key
/// (`SSE_KMS` or `CSE_KMS`), the principal may use it to write and read them.
pub async fn results_encryption(
    aws: &Aws,
    workgroup: &str,
    key: &str,
    principal_arn: &str,
    policies: &[&Value],
) -> Result<Option<Finding>, Error> {
    let Some((key_arn, key_policy)) = customer_key(aws, key).await? else { return Ok(None) };
    let encrypted = Encrypted {
        what: "query in its workgroup",
        thing: format!("workgroup {workgroup}'s query results"),
        is: "are encrypted",
        actions: &["kms:GenerateDataKey", "kms:Decrypt"],
        use_for: "write and read them",
        hides: ": every preview query fails",
    };
    Ok(Some(key_finding(&encrypted, &key_arn, &key_policy, principal_arn, policies)))
}

/// A customer managed key's ARN and key policy; None for an AWS managed key (whose
/// policy lets the account's principals use it through the service).
pub async fn customer_key(aws: &Aws, key: &str) -> Result<Option<(String, Value)>, Error> {
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

/// What a key encrypts, for the finding: its check, the thing ("bucket lake is
/// encrypted"), the actions the vendor's requests need on the key, what for, and what
/// failing means.
struct Encrypted {
    what: &'static str,
    thing: String,
    is: &'static str,
    actions: &'static [&'static str],
    use_for: &'static str,
    hides: &'static str,
}

/// Whether the key policy and the principal's IAM policies together allow the actions.
fn key_finding(e: &Encrypted, key_arn: &str, key_policy: &Value, principal_arn: &str, iam: &[&Value]) -> Finding {
    let (what, thing, is, hides) = (e.what, &e.thing, e.is, e.hides);
    let account = crate::arn::account_of(principal_arn);
    let context = BTreeMap::new();
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
    let vendor = for_whom(&|p| p == "*" || p == principal_arn);
    let account_wide = for_whom(&|p| p == root || p == account);
    let mut denied = Vec::new();
    let mut missing = Vec::new();
    for action in e.actions {
        let request = Request { action, resource: key_arn, context: &context };
        let direct = evaluate::evaluate(&[&vendor], &request);
        let delegated = evaluate::evaluate(&[&account_wide], &request) == Decision::Allowed
            && evaluate::evaluate(iam, &request) == Decision::Allowed;
        if direct == Decision::ExplicitDeny {
            denied.push(*action);
        } else if direct != Decision::Allowed && !delegated {
            missing.push(*action);
        }
    }
    if !denied.is_empty() {
        return finding(
            false,
            "KMS",
            what,
            format!(
                "{thing} {is} with KMS key {key_arn}, whose key policy denies the vendor {}{hides}",
                denied.join(", ")
            ),
            Some("remove that Deny from the key policy, or exempt the vendor's principal from it".into()),
        );
    }
    if missing.is_empty() {
        return finding(true, "KMS", what, format!("may use the key of {thing}, {key_arn}, to {}", e.use_for), None);
    }
    let quoted: Vec<String> = missing.iter().map(|a| format!("\"{a}\"")).collect();
    finding(
        false,
        "KMS",
        what,
        format!("{thing} {is} with KMS key {key_arn}, which the vendor may not use to {}{hides}", e.use_for),
        Some(format!(
            "add a statement to the key policy of {key_arn} allowing {} to {principal_arn} (`aws kms get-key-policy` / `put-key-policy`)",
            quoted.join(", ")
        )),
    )
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
        let bucket = Encrypted {
            what: "decrypt the data",
            thing: "bucket acme-lake".into(),
            is: "is encrypted",
            actions: &["kms:Decrypt"],
            use_for: "decrypt",
            hides: "",
        };
        let f = key_finding(&bucket, key, &admins_only, ROLE, &[]);
        assert_eq!(
            f.line,
            "bucket acme-lake is encrypted with KMS key arn:aws:kms:us-east-1:123456789012:key/k1, which the vendor may not use to decrypt"
        );
        assert!(!f.ok);
        let names_vendor = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": ROLE},
            "Action": ["kms:Decrypt"], "Resource": "*"}]});
        assert!(key_finding(&bucket, key, &names_vendor, ROLE, &[]).ok);
        // The account root delegates to IAM, which must then allow it.
        let delegates = json!({"Statement": [{"Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*", "Resource": "*"}]});
        assert!(!key_finding(&bucket, key, &delegates, ROLE, &[]).ok);
        let iam = json!({"Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key}]});
        assert!(key_finding(&bucket, key, &delegates, ROLE, &[&iam]).ok);
        // Writing Athena results needs a data key too: Decrypt alone is not enough.
        let results = Encrypted {
            what: "query in its workgroup",
            thing: "workgroup primary's query results".into(),
            is: "are encrypted",
            actions: &["kms:GenerateDataKey", "kms:Decrypt"],
            use_for: "write and read them",
            hides: "",
        };
        let f = key_finding(&results, key, &names_vendor, ROLE, &[]);
        assert!(!f.ok);
        assert!(f.fix.unwrap().contains("allowing \"kms:GenerateDataKey\" to"));
    }
}
