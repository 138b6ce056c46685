//! Verify: prove that the vendor's principal can make every call its stack says it needs,
//! and none of those it must not make, through IAM and Lake Formation together.
//!
//! IAM decides with its own policy simulator where the caller may ask it, otherwise with
//! [`evaluate`] over the documents attached to the principal; the report says which. For
//! catalog calls on a database, Lake Formation decides too: the principal sees a database
//! it holds a permission on, or one Lake Formation leaves to IAM
//! (`IAM_ALLOWED_PRINCIPALS`).

pub mod evaluate;
pub mod keys;
pub mod services;

use crate::aws::{Aws, classify};
use crate::error::Error;
use crate::model::{LfTarget, Principal};
use crate::model::{PolicyObs, PrincipalObs};
use crate::observe::CONCURRENCY;
use crate::observe::Catalog;
use crate::render::Call;
use evaluate::{Decision, Request};
use futures_util::{StreamExt, TryStreamExt, stream};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// One thing verified, or one problem found with its fix.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub ok: bool,
    /// IAM, Lake Formation.
    pub layer: &'static str,
    pub what: String,
    pub line: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// Who decided: "IAM policy simulator" or "built-in evaluator".
    pub decided_by: &'static str,
}

impl Finding {
    /// A finding of a layer that decides for itself (S3, KMS, Athena): it is its own judge.
    pub fn decided_by_layer(ok: bool, layer: &'static str, what: &str, line: String, fix: Option<String>) -> Finding {
        Finding { ok, layer, what: what.into(), line, fix, decided_by: layer }
    }
}

/// A policy attached to the principal: its name (for fixes) and document.
pub struct Attached {
    pub name: String,
    /// The managed policy's ARN; None for an inline policy.
    pub arn: Option<String>,
    pub document: Value,
}

/// The documents of every policy on the principal (managed, at its default version; and
/// inline). A managed policy the observation already read (lakepass's own, at their default
/// version) is not read again; the others are read concurrently.
pub async fn documents(
    aws: &Aws,
    principal: &Principal,
    seen: &PrincipalObs,
    observed: &BTreeMap<String, PolicyObs>,
) -> Result<Vec<Attached>, Error> {
    let known: BTreeMap<&str, &Value> = observed.values().map(|p| (p.arn.as_str(), &p.document)).collect();
    let known = &known;
    let managed = seen.attached.iter().map(|arn| async move {
        let name = arn.rsplit('/').next().unwrap_or(arn).to_string();
        let document = match known.get(arn.as_str()) {
            Some(document) => (*document).clone(),
            None => managed_document(aws, arn).await?,
        };
        Ok::<_, Error>(Attached { name, arn: Some(arn.clone()), document })
    });
    let inline = seen.inline.iter().map(|name| async move {
        let document = inline_document(aws, principal, name).await?;
        Ok::<_, Error>(Attached { name: name.clone(), arn: None, document })
    });
    let (mut out, inline): (Vec<Attached>, Vec<Attached>) = tokio::try_join!(
        stream::iter(managed).buffered(CONCURRENCY).try_collect(),
        stream::iter(inline).buffered(CONCURRENCY).try_collect(),
    )?;
    out.extend(inline);
    Ok(out)
}

/// A managed policy's document at its default version.
async fn managed_document(aws: &Aws, arn: &str) -> Result<Value, Error> {
    let p = aws.iam.get_policy().policy_arn(arn).send().await.map_err(|e| classify("iam:GetPolicy", "", e))?;
    let version = p.policy().and_then(|p| p.default_version_id()).unwrap_or("v1").to_string();
    let v = aws
        .iam
        .get_policy_version()
        .policy_arn(arn)
        .version_id(&version)
        .send()
        .await
        .map_err(|e| classify("iam:GetPolicyVersion", "", e))?;
    Ok(decode(v.policy_version().and_then(|v| v.document()).unwrap_or("{}")))
}

/// An inline policy's document.
async fn inline_document(aws: &Aws, principal: &Principal, name: &str) -> Result<Value, Error> {
    let iam = &aws.iam;
    let text = match principal {
        Principal::Role(r) => iam
            .get_role_policy()
            .role_name(r)
            .policy_name(name)
            .send()
            .await
            .map_err(|e| classify("iam:GetRolePolicy", "", e))?
            .policy_document()
            .to_string(),
        Principal::User(u) => iam
            .get_user_policy()
            .user_name(u)
            .policy_name(name)
            .send()
            .await
            .map_err(|e| classify("iam:GetUserPolicy", "", e))?
            .policy_document()
            .to_string(),
    };
    Ok(decode(&text))
}

/// A policy document as IAM returns it: URL-encoded JSON (raw from some endpoints).
fn decode(text: &str) -> Value {
    let raw = if text.trim_start().starts_with('{') {
        text.to_string()
    } else {
        percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
    };
    serde_json::from_str(&raw).unwrap_or(Value::Null)
}

/// What verify looks at for one principal.
pub struct Subject<'a> {
    pub principal: &'a Principal,
    pub arn: &'a str,
    pub policies: &'a [Attached],
    pub catalog: &'a Catalog,
    /// The databases Lake Formation leaves to IAM (`Catalog::iam_governed`, once).
    pub iam_governed: &'a std::collections::BTreeSet<String>,
    /// IAM's simulator's decisions, by (action, resource, context), where it answered.
    pub simulated: &'a BTreeMap<(String, String, crate::observe::Context), Decision>,
}

/// Verifies the needed and forbidden calls. Pure: every AWS fact is in `subject`.
pub fn check(subject: &Subject, needs: &[Call], forbidden: &[Call]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (call, needed) in needs.iter().map(|c| (c, true)).chain(forbidden.iter().map(|c| (c, false))) {
        let (iam, decided_by) = iam_decision(subject, call);
        let lf = lake_formation(subject, call);
        let verb = if needed { "needs" } else { "must not" };
        let mut target = format!("{} on {}", call.action, call.resource);
        for (key, values) in &call.context {
            target.push_str(&format!(" with {key} {:?}", values.join(", ")));
        }
        let finding = |ok: bool, layer: &'static str, line: String, fix: Option<String>| Finding {
            ok,
            layer,
            what: format!("{verb} {}", call.what),
            line,
            fix,
            decided_by,
        };
        let f = match (needed, &iam, &lf) {
            (_, Decision::CannotDecide(why), _) => finding(
                false,
                "IAM",
                format!("cannot tell whether IAM allows {target}: {why}"),
                Some(format!(
                    "allow {} iam:SimulatePrincipalPolicy so that IAM's own evaluator decides, or check the condition by hand",
                    "the identity running lakepass"
                )),
            ),
            (true, Decision::Allowed, Some(false)) => finding(
                false,
                "Lake Formation",
                format!("IAM allows {target}, but Lake Formation hides the database: no permission on it"),
                Some(
                    "run `lakepass provision`: it grants DESCRIBE again (`lakepass status` shows what is missing)"
                        .into(),
                ),
            ),
            (true, Decision::Allowed, _) => finding(true, "IAM", format!("allows {target}"), None),
            (true, d, _) => finding(false, "IAM", format!("{} {target}", denied(d)), Some(need_fix(subject, d))),
            (false, Decision::Allowed, Some(false)) => finding(
                true,
                "Lake Formation",
                format!("IAM would allow {target}, but Lake Formation hides the database"),
                None,
            ),
            (false, Decision::Allowed, _) => {
                let culprits = allowing(subject, call);
                let by = if culprits.is_empty() { String::new() } else { format!(" ({})", culprits.join(", ")) };
                finding(false, "IAM", format!("allows {target}{by}"), Some(forbidden_fix(subject, &culprits)))
            }
            (false, d, _) => finding(true, "IAM", format!("{} {target}", denied(d)), None),
        };
        out.push(f);
    }
    out
}

fn denied(d: &Decision) -> &'static str {
    match d {
        Decision::ExplicitDeny => "denies explicitly",
        _ => "does not allow",
    }
}

fn iam_decision(subject: &Subject, call: &Call) -> (Decision, &'static str) {
    if let Some(d) = subject.simulated.get(&(call.action.clone(), call.resource.clone(), call.context.clone())) {
        return (d.clone(), "IAM policy simulator");
    }
    let docs: Vec<&Value> = subject.policies.iter().map(|p| &p.document).collect();
    (evaluate::evaluate(&docs, &request(call)), "built-in evaluator")
}

fn request(call: &Call) -> Request<'_> {
    Request { action: &call.action, resource: &call.resource, context: &call.context }
}

/// For a Glue call on a database: whether Lake Formation shows it to the principal.
fn lake_formation(subject: &Subject, call: &Call) -> Option<bool> {
    if !call.action.starts_with("glue:") {
        return None;
    }
    let database = call.resource.split(":database/").nth(1)?.split('/').next()?.to_string();
    if subject.iam_governed.contains(&database) {
        return Some(true);
    }
    let target = LfTarget::Database { database: database.clone() };
    let (held, _) = subject.catalog.held(subject.arn, &target);
    let tables = LfTarget::AllTables { database };
    let (on_tables, _) = subject.catalog.held(subject.arn, &tables);
    Some(!held.is_empty() || !on_tables.is_empty())
}

/// The policies on the principal that, alone, allow the call.
fn allowing(subject: &Subject, call: &Call) -> Vec<String> {
    subject
        .policies
        .iter()
        .filter(|p| evaluate::evaluate(&[&p.document], &request(call)) == Decision::Allowed)
        .map(|p| match &p.arn {
            Some(_) => format!("policy {}", p.name),
            None => format!("inline policy {}", p.name),
        })
        .collect()
}

fn need_fix(subject: &Subject, d: &Decision) -> String {
    match d {
        Decision::ExplicitDeny => format!(
            "a Deny in a policy on {} blocks it: remove that statement (or, if an SCP or permissions boundary denies it, ask an administrator)",
            subject.principal
        ),
        _ => format!(
            "no policy on {} allows it: run `lakepass provision` to restore the deployment's policy (`lakepass status` shows what drifted)",
            subject.principal
        ),
    }
}

fn forbidden_fix(subject: &Subject, culprits: &[String]) -> String {
    let (kind, name) = match subject.principal {
        Principal::Role(n) => ("role", n),
        Principal::User(n) => ("user", n),
    };
    let mut fixes = Vec::new();
    for c in culprits {
        if let Some(policy) = c.strip_prefix("inline policy ") {
            fixes.push(format!("aws iam delete-{kind}-policy --{kind}-name {name} --policy-name {policy}"));
        } else if let Some(p) = c.strip_prefix("policy ")
            && let Some(arn) = subject.policies.iter().find(|x| x.name == p).and_then(|x| x.arn.clone())
        {
            fixes.push(format!("aws iam detach-{kind}-policy --{kind}-name {name} --policy-arn {arn}"));
        }
    }
    if fixes.is_empty() {
        format!(
            "more than the vendor needs: remove what allows it from the policies of {} (or the permissions boundary, group or SCP that grants it)",
            subject.principal
        )
    } else {
        format!("more than the vendor needs: {}", fixes.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(what: &str, action: &str, resource: &str) -> Call {
        Call { what: what.into(), action: action.into(), resource: resource.into(), context: BTreeMap::new() }
    }

    #[test]
    fn needs_met_forbidden_refused_and_the_culprit_named() {
        let ours = Attached {
            name: "secoda-glue-policy".into(),
            arn: Some("arn:aws:iam::1:policy/secoda-glue-policy".into()),
            document: json!({"Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::lake/*"}]}),
        };
        let extra = Attached {
            name: "extra".into(),
            arn: None,
            document: json!({"Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]}),
        };
        let catalog = Catalog::default();
        let simulated = BTreeMap::new();
        let iam_governed = Default::default();
        let principal = Principal::Role("r".into());
        let policies = [ours, extra];
        let subject = Subject {
            principal: &principal,
            arn: "arn:aws:iam::1:role/r",
            policies: &policies,
            catalog: &catalog,
            iam_governed: &iam_governed,
            simulated: &simulated,
        };
        let found = check(
            &subject,
            &[call("read", "s3:GetObject", "arn:aws:s3:::lake/*")],
            &[call("write", "s3:PutObject", "arn:aws:s3:::lake/*")],
        );
        assert!(found[0].ok, "{found:?}");
        assert!(!found[1].ok);
        assert_eq!(found[1].line, "allows s3:PutObject on arn:aws:s3:::lake/* (inline policy extra)");
        assert_eq!(
            found[1].fix.as_deref(),
            Some("more than the vendor needs: aws iam delete-role-policy --role-name r --policy-name extra")
        );
        assert_eq!(found[1].decided_by, "built-in evaluator");
    }
}
