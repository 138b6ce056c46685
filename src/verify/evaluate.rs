//! IAM's evaluation of identity-based policies, for when the policy simulator cannot be
//! asked: an explicit Deny wins, then any Allow, else the request is implicitly denied.
//!
//! Actions match case-insensitively, resources case-sensitively, both with `*` and `?`
//! wildcards; `NotAction` and `NotResource` match what they do not list. Conditions are
//! evaluated where the request carries their keys and the operator is a plain string,
//! ARN, boolean or null test (with `IfExists`); anything else makes the statement
//! "cannot decide", and the decision says so rather than guess.

use serde_json::Value;
use std::collections::BTreeMap;

/// What IAM would decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    ExplicitDeny,
    ImplicitDeny,
    /// A statement that might change the answer has a condition that cannot be evaluated
    /// here (named).
    CannotDecide(String),
}

/// One request: an action on a resource, with the context keys known about it.
pub struct Request<'a> {
    pub action: &'a str,
    pub resource: &'a str,
    pub context: &'a BTreeMap<String, Vec<String>>,
}

/// Decides `request` against identity-based policy `documents`.
pub fn evaluate(documents: &[&Value], request: &Request) -> Decision {
    let mut allowed = false;
    let mut unsure: Option<String> = None;
    for statement in documents.iter().flat_map(|d| statements(d)) {
        if !applies(statement, request) {
            continue;
        }
        let deny = statement.get("Effect").and_then(Value::as_str) == Some("Deny");
        match condition(statement.get("Condition"), request.context) {
            Ok(true) if deny => return Decision::ExplicitDeny,
            Ok(true) => allowed = true,
            Ok(false) => {}
            Err(why) => {
                unsure.get_or_insert(why);
            }
        }
    }
    // An undecidable Deny may deny what an Allow allows; an undecidable Allow may allow
    // what nothing else does.
    match (allowed, unsure) {
        (_, Some(why)) => Decision::CannotDecide(why),
        (true, None) => Decision::Allowed,
        (false, None) => Decision::ImplicitDeny,
    }
}

fn statements(document: &Value) -> Vec<&Value> {
    match document.get("Statement") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    }
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Whether the statement's action and resource elements cover the request.
fn applies(statement: &Value, request: &Request) -> bool {
    let action = |pattern: &str| glob(&pattern.to_ascii_lowercase(), &request.action.to_ascii_lowercase());
    let resource = |pattern: &str| glob(pattern, request.resource);
    let actions = match (statement.get("Action"), statement.get("NotAction")) {
        (Some(a), _) => strings(Some(a)).into_iter().any(action),
        (None, Some(n)) => !strings(Some(n)).into_iter().any(action),
        (None, None) => false,
    };
    let resources = match (statement.get("Resource"), statement.get("NotResource")) {
        (Some(r), _) => strings(Some(r)).into_iter().any(resource),
        (None, Some(n)) => !strings(Some(n)).into_iter().any(resource),
        (None, None) => false,
    };
    actions && resources
}

/// A `Condition` block: every operator and key must hold (values of one key: any).
fn condition(block: Option<&Value>, context: &BTreeMap<String, Vec<String>>) -> Result<bool, String> {
    let Some(Value::Object(operators)) = block else { return Ok(true) };
    for (operator, keys) in operators {
        let Value::Object(keys) = keys else { return Err(format!("condition {operator}")) };
        for (key, wanted) in keys {
            if !test(operator, key, &strings(Some(wanted)), context)? {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

fn test(operator: &str, key: &str, wanted: &[&str], context: &BTreeMap<String, Vec<String>>) -> Result<bool, String> {
    let undecided = || Err(format!("condition {operator} on {key}"));
    if operator.starts_with("ForAnyValue:") || operator.starts_with("ForAllValues:") {
        return undecided();
    }
    let (op, if_exists) = match operator.strip_suffix("IfExists") {
        Some(op) => (op, true),
        None => (operator, false),
    };
    let present =
        context.get(key).or_else(|| context.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v));
    if op == "Null" {
        let Some(present) = present.map(|v| !v.is_empty()) else { return undecided() };
        return Ok(wanted.iter().any(|w| (*w == "true") != present));
    }
    let Some(values) = present else {
        return if if_exists { Ok(true) } else { undecided() };
    };
    let any = |f: &dyn Fn(&str, &str) -> bool| values.iter().any(|v| wanted.iter().any(|w| f(w, v)));
    Ok(match op {
        "StringEquals" | "ArnEquals" => any(&|w, v| w == v),
        "StringNotEquals" | "ArnNotEquals" => !any(&|w, v| w == v),
        "StringEqualsIgnoreCase" => any(&|w, v| w.eq_ignore_ascii_case(v)),
        "StringNotEqualsIgnoreCase" => !any(&|w, v| w.eq_ignore_ascii_case(v)),
        "StringLike" | "ArnLike" => any(&|w, v| glob(w, v)),
        "StringNotLike" | "ArnNotLike" => !any(&|w, v| glob(w, v)),
        "Bool" => any(&|w, v| w.eq_ignore_ascii_case(v)),
        _ => return undecided(),
    })
}

/// `*` (any run of characters) and `?` (any one) wildcards.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decide(docs: &[Value], action: &str, resource: &str, context: &[(&str, &str)]) -> Decision {
        let context: BTreeMap<String, Vec<String>> =
            context.iter().map(|(k, v)| (k.to_string(), vec![v.to_string()])).collect();
        evaluate(&docs.iter().collect::<Vec<_>>(), &Request { action, resource, context: &context })
    }

    fn allow(action: Value, resource: Value) -> Value {
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}]})
    }

    const OBJECT: &str = "arn:aws:s3:::acme-lake/sales/orders/part-0.parquet";

    /// AWS's evaluation logic, case by case (IAM User Guide, "Policy evaluation logic"
    /// and the element references of Action, NotAction, Resource, NotResource, Condition).
    #[test]
    fn decisions_follow_aws_evaluation_logic() {
        use Decision::*;
        let read = allow(json!("s3:GetObject"), json!("arn:aws:s3:::acme-lake/*"));
        let deny_all_puts = json!({"Statement": {"Effect": "Deny", "Action": "s3:Put*", "Resource": "*"}});
        type Case<'a> = (&'a str, Vec<Value>, &'a str, &'a str, Vec<(&'a str, &'a str)>, Decision);
        let cases: Vec<Case> = vec![
            ("nothing allows: implicit deny", vec![], "s3:GetObject", OBJECT, vec![], ImplicitDeny),
            ("an allow that matches", vec![read.clone()], "s3:GetObject", OBJECT, vec![], Allowed),
            ("actions are case-insensitive", vec![read.clone()], "S3:getobject", OBJECT, vec![], Allowed),
            (
                "resources are case-sensitive",
                vec![read.clone()],
                "s3:GetObject",
                "arn:aws:s3:::ACME-LAKE/x",
                vec![],
                ImplicitDeny,
            ),
            ("another action", vec![read.clone()], "s3:PutObject", OBJECT, vec![], ImplicitDeny),
            (
                "a wildcard action",
                vec![allow(json!("glue:Get*"), json!("*"))],
                "glue:GetTables",
                "arn:aws:glue:us-east-1:1:database/x",
                vec![],
                Allowed,
            ),
            (
                "? matches one character",
                vec![allow(json!("s3:GetObjec?"), json!("*"))],
                "s3:GetObject",
                OBJECT,
                vec![],
                Allowed,
            ),
            (
                "an explicit deny wins over an allow",
                vec![allow(json!("s3:*"), json!("*")), deny_all_puts.clone()],
                "s3:PutObject",
                OBJECT,
                vec![],
                ExplicitDeny,
            ),
            (
                "a deny of other actions does not deny",
                vec![allow(json!("s3:*"), json!("*")), deny_all_puts.clone()],
                "s3:GetObject",
                OBJECT,
                vec![],
                Allowed,
            ),
            (
                "NotAction allows everything else",
                vec![json!({"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]})],
                "s3:PutObject",
                OBJECT,
                vec![],
                Allowed,
            ),
            (
                "NotAction does not allow what it lists",
                vec![json!({"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]})],
                "iam:CreateUser",
                "arn:aws:iam::1:user/x",
                vec![],
                ImplicitDeny,
            ),
            (
                "NotResource denies everywhere else",
                vec![
                    allow(json!("s3:*"), json!("*")),
                    json!({"Statement": [{"Effect": "Deny", "Action": "s3:*", "NotResource": "arn:aws:s3:::acme-lake/*"}]}),
                ],
                "s3:GetObject",
                "arn:aws:s3:::secrets/key",
                vec![],
                ExplicitDeny,
            ),
            (
                "a condition that holds",
                vec![json!({"Statement": [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*",
                    "Condition": {"StringEquals": {"iam:PassedToService": "glue.amazonaws.com"}}}]})],
                "iam:PassRole",
                "arn:aws:iam::1:role/r",
                vec![("iam:PassedToService", "glue.amazonaws.com")],
                Allowed,
            ),
            (
                "a condition that does not hold",
                vec![json!({"Statement": [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*",
                    "Condition": {"StringEquals": {"iam:PassedToService": ["glue.amazonaws.com", "athena.amazonaws.com"]}}}]})],
                "iam:PassRole",
                "arn:aws:iam::1:role/r",
                vec![("iam:PassedToService", "ec2.amazonaws.com")],
                ImplicitDeny,
            ),
            (
                "a condition key the request does not carry: cannot decide",
                vec![
                    json!({"Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*",
                    "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-1"}}}]}),
                    read.clone(),
                ],
                "s3:GetObject",
                OBJECT,
                vec![],
                CannotDecide("condition StringNotEquals on aws:SourceVpce".into()),
            ),
            (
                "IfExists holds where the key is absent",
                vec![json!({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
                    "Condition": {"StringEqualsIfExists": {"s3:prefix": "sales/"}}}]})],
                "s3:GetObject",
                OBJECT,
                vec![],
                Allowed,
            ),
            (
                "StringLike with a wildcard",
                vec![
                    json!({"Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::acme-lake",
                    "Condition": {"StringLike": {"s3:prefix": ["sales/*"]}}}]}),
                ],
                "s3:ListBucket",
                "arn:aws:s3:::acme-lake",
                vec![("s3:prefix", "sales/orders/")],
                Allowed,
            ),
            (
                "a statement object, not a list",
                vec![json!({"Statement": {"Effect": "Allow", "Action": ["glue:GetDatabase"], "Resource": ["*"]}})],
                "glue:GetDatabase",
                "arn:aws:glue:us-east-1:1:database/x",
                vec![],
                Allowed,
            ),
        ];
        for (name, docs, action, resource, context, expected) in cases {
            assert_eq!(decide(&docs, action, resource, &context), expected, "{name}");
        }
    }

    #[test]
    fn wildcards_match_as_iam_does() {
        assert!(glob("arn:aws:s3:::acme-lake/*", "arn:aws:s3:::acme-lake/a/b"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b*c", "aXXbYY"));
        assert!(glob("arn:aws:glue:*:*:table/sales/*", "arn:aws:glue:us-east-1:1:table/sales/orders"));
        assert!(!glob("arn:aws:glue:*:*:table/sales/*", "arn:aws:glue:us-east-1:1:table/salesx"));
    }
}
