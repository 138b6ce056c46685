//! IAM policy documents: building trust policies, normalizing for comparison, diffing.
//!
//! IAM hands documents back URL-encoded, reorders nothing reliably and turns one-element
//! lists into strings at will, so documents are only ever compared after [`normalize`].

pub mod actions;

use serde_json::{Map, Value, json};

/// IAM's limit for a customer managed policy, in characters without whitespace.
pub const MANAGED_POLICY_LIMIT: usize = 6144;

/// Trust for a role assumed from another account, only with the external id.
pub fn account_trust(principal_arn: &str, external_id: &str) -> Value {
    normalize(&json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": principal_arn},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
        }],
    }))
}

/// Trust for a role assumed by an AWS service on behalf of one account only.
pub fn service_trust(service: &str, source_account: &str) -> Value {
    normalize(&json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": source_account}},
        }],
    }))
}

/// A canonical form: single values become sorted lists, statements are sorted, so two
/// documents IAM treats alike compare equal.
pub fn normalize(doc: &Value) -> Value {
    let mut out = Map::new();
    if let Some(v) = doc.get("Version") {
        out.insert("Version".into(), v.clone());
    }
    let statements = match doc.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        _ => Vec::new(),
    };
    let mut statements: Vec<Value> = statements.iter().map(normalize_statement).collect();
    statements.sort_by_key(|s| (s.get("Sid").and_then(Value::as_str).unwrap_or("").to_string(), s.to_string()));
    out.insert("Statement".into(), Value::Array(statements));
    for (k, v) in doc.as_object().into_iter().flatten() {
        if k != "Version" && k != "Statement" {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

fn normalize_statement(s: &Value) -> Value {
    let Value::Object(map) = s else { return s.clone() };
    let mut out = Map::new();
    for (k, v) in map {
        let v = match k.as_str() {
            "Action" | "NotAction" | "Resource" | "NotResource" => sorted_list(v),
            "Principal" | "NotPrincipal" => match v {
                Value::Object(p) => Value::Object(p.iter().map(|(k, v)| (k.clone(), sorted_list(v))).collect()),
                other => other.clone(),
            },
            "Condition" => match v {
                Value::Object(ops) => Value::Object(
                    ops.iter()
                        .map(|(op, keys)| {
                            let keys = match keys {
                                Value::Object(km) => {
                                    Value::Object(km.iter().map(|(k, v)| (k.clone(), sorted_list(v))).collect())
                                }
                                other => other.clone(),
                            };
                            (op.clone(), keys)
                        })
                        .collect(),
                ),
                other => other.clone(),
            },
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    Value::Object(out)
}

fn sorted_list(v: &Value) -> Value {
    let mut items: Vec<Value> = match v {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    items.sort_by_key(|x| x.to_string());
    items.dedup();
    Value::Array(items)
}

/// Parses a document as IAM returns it: URL-encoded from some calls, raw from others.
pub fn decode(text: &str) -> Result<Value, String> {
    let raw = if text.trim_start().starts_with('{') {
        text.to_string()
    } else {
        percent_encoding::percent_decode_str(text)
            .decode_utf8()
            .map_err(|e| format!("policy document is not UTF-8 after URL-decoding: {e}"))?
            .into_owned()
    };
    let v: Value = serde_json::from_str(&raw).map_err(|e| format!("policy document is not JSON: {e}"))?;
    Ok(normalize(&v))
}

/// Characters that count against IAM's size limits (whitespace excluded).
pub fn compact_len(doc: &Value) -> usize {
    doc.to_string().chars().filter(|c| !c.is_whitespace()).count()
}

/// A line diff of two documents, pretty printed: lines prefixed "- " or "+ ", with
/// unchanged lines of context prefixed "  ".
pub fn diff(old: &Value, new: &Value) -> Vec<String> {
    let old = serde_json::to_string_pretty(old).unwrap_or_default();
    let new = serde_json::to_string_pretty(new).unwrap_or_default();
    let diff = similar::TextDiff::from_lines(&old, &new);
    let mut out = Vec::new();
    for (i, group) in diff.grouped_ops(2).into_iter().enumerate() {
        if i > 0 {
            out.push("  ...".to_string());
        }
        for op in group {
            for change in diff.iter_changes(&op) {
                let sign = match change.tag() {
                    similar::ChangeTag::Delete => "- ",
                    similar::ChangeTag::Insert => "+ ",
                    similar::ChangeTag::Equal => "  ",
                };
                out.push(format!("{sign}{}", change.value().trim_end_matches('\n')));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoded_and_raw_documents_normalize_alike() {
        let raw =
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":["b","a"]}}"#;
        let encoded: String =
            percent_encoding::utf8_percent_encode(raw, percent_encoding::NON_ALPHANUMERIC).to_string();
        let mine = normalize(&json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["a", "b"]}],
        }));
        assert_eq!(decode(raw).unwrap(), mine);
        assert_eq!(decode(&encoded).unwrap(), mine);
    }

    #[test]
    fn a_different_resource_is_a_difference() {
        let a = normalize(&json!({"Statement": [{"Action": "x", "Resource": "a"}]}));
        let b = normalize(&json!({"Statement": [{"Action": "x", "Resource": "b"}]}));
        assert_ne!(a, b);
        let d = diff(&a, &b);
        assert!(d.iter().any(|l| l.starts_with("- ") && l.contains("\"a\"")), "{d:?}");
        assert!(d.iter().any(|l| l.starts_with("+ ") && l.contains("\"b\"")), "{d:?}");
    }

    #[test]
    fn trust_condition_is_normalized_for_comparison_with_iam() {
        let from_iam = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::482836992928:root"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"abc"}}}]}"#;
        assert_eq!(decode(from_iam).unwrap(), account_trust("arn:aws:iam::482836992928:root", "abc"));
    }

    #[test]
    fn size_ignores_whitespace() {
        assert_eq!(compact_len(&json!({"a": "b c"})), 10);
    }
}
