//! `lakepass verify`: prove, per deployment, that the vendor's principal can make every
//! call its stack needs and none it must not, through IAM and Lake Formation.

use super::*;
use crate::model::{LfTarget, Principal};
use crate::observe;
use crate::render::{Call, render_probes, render_value};
use crate::verify::evaluate::Decision;
use crate::verify::{self, Finding, Subject, services};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The exit code when verification finds a problem (1 stays "could not run").
pub const VERIFY_FAILED: i32 = 3;

#[derive(Debug, Clone, Default)]
pub struct VerifyOpts {
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    deployment: String,
    principal: String,
    databases: usize,
    /// Listed tables the principal sees (a database's tables, when not listed, are all).
    #[serde(skip_serializing_if = "Option::is_none")]
    tables: Option<usize>,
    problems: usize,
    findings: Vec<Finding>,
}

impl Report {
    fn text(&self) -> String {
        let mut out = format!("{} ({}):\n", self.deployment, self.principal);
        for f in &self.findings {
            let mark = if f.ok { "ok     " } else { "PROBLEM" };
            out.push_str(&format!("  {mark} {}: {} {} [{}]\n", f.what, f.layer, f.line, f.decided_by));
            if let Some(fix) = &f.fix {
                out.push_str(&format!("          fix: {fix}\n"));
            }
        }
        out.push_str(&format!("{}\n", self.summary()));
        out
    }

    /// One line, for the end of a provision as well.
    fn summary(&self) -> String {
        let tables = self.tables.map(|n| format!(" and {n} listed table(s)")).unwrap_or_default();
        format!(
            "{} can see {} database(s){tables}; {} problem(s) in {} check(s).",
            self.principal,
            self.databases,
            self.problems,
            self.findings.len()
        )
    }
}

/// `lakepass verify`. Returns 0 when everything is proven, [`VERIFY_FAILED`] when a check
/// fails, 1 when a deployment could not be checked.
pub async fn verify(g: &Global, o: &VerifyOpts) -> Result<i32, Error> {
    let mut out = Reports::new(o.json);
    for name in deployment_names(g)? {
        out.add(&name, verify_one(g, &name, true).await, Report::text);
    }
    out.finish();
    Ok(if !out.errors.is_empty() {
        1
    } else if out.reports.iter().any(|r| r.problems > 0) {
        VERIFY_FAILED
    } else {
        0
    })
}

/// The verification a provision ends with: IAM (built-in evaluator, no simulator calls)
/// and Lake Formation, then one line, or each problem with its fix.
pub async fn after_apply(g: &Global, name: &str) -> String {
    match verify_one(g, name, false).await {
        Ok(r) if r.problems == 0 => format!("Verified: {}\n", r.summary()),
        Ok(r) => {
            let mut out = String::from("Verification found problems:\n");
            for f in r.findings.iter().filter(|f| !f.ok) {
                out.push_str(&format!("  {}: {} {}\n", f.what, f.layer, f.line));
                if let Some(fix) = &f.fix {
                    out.push_str(&format!("    fix: {fix}\n"));
                }
            }
            out.push_str(&format!("{} `lakepass verify` shows every check.\n", r.summary()));
            out
        }
        Err(e) => format!("Could not verify: {e}; run `lakepass verify`.\n"),
    }
}

/// Verifies one deployment. `full`: also ask IAM's simulator, and check the workgroup,
/// table locations, bucket policies and keys (calls that grow with the catalog); without
/// it, IAM (built-in evaluator) and Lake Formation only, for the line after an apply.
async fn verify_one(g: &Global, name: &str, full: bool) -> Result<Report, Error> {
    let p = prepare(g, Loaded::new(g, Some(name))?, Consent::default(), false).await?;
    let principal = p
        .desired
        .iter()
        .find_map(|r| match r {
            Resource::Role { name, .. } => Some(Principal::Role(name.clone())),
            Resource::User { name } => Some(Principal::User(name.clone())),
            _ => None,
        })
        .ok_or_else(|| Error::Other(format!("deployment {name} has no role or user to verify")))?;
    let Some(seen) = p.observed.principal(&principal) else {
        return Err(Error::Value {
            field: format!("deployments.{name}"),
            problem: format!("has no {principal} in account {} yet", p.facts.account),
            fix: "run `lakepass provision` first".into(),
        });
    };
    let arn = principal.arn(&p.facts);
    let policies =
        verify::documents(&p.aws, &principal, seen, &p.observed.policies).await.map_err(|e| e.for_caller(&p.caller))?;
    // The databases this principal is granted on are the chosen ones.
    let chosen: BTreeSet<String> = p
        .desired
        .iter()
        .filter_map(|r| match r {
            Resource::Grant { principal: q, target, .. } if *q == principal => Some(target.database().to_string()),
            _ => None,
        })
        .collect();
    let other: Vec<String> = p.catalog.databases.keys().filter(|d| !chosen.contains(*d)).cloned().collect();
    let data = crate::render::data_access(&p.loaded.stack, &p.values, &p.facts, name, &p.catalog.tables)?;
    let (needs, forbidden) = render_probes(&p.loaded.stack, &p.values, &p.facts, &other, data.as_ref())?;
    let simulated = if full { simulated(&p.aws, &arn, needs.iter().chain(&forbidden)).await } else { BTreeMap::new() };
    let iam_governed = p.catalog.iam_governed();
    let subject = Subject {
        principal: &principal,
        arn: &arn,
        policies: &policies,
        catalog: &p.catalog,
        iam_governed: &iam_governed,
        simulated: &simulated,
    };
    let mut findings = verify::check(&subject, &needs, &forbidden);
    // Beyond IAM and Lake Formation: the catalog's key, the workgroup, where the data
    // lies, bucket policies and keys.
    let stack = &p.loaded.stack;
    let documents: Vec<&serde_json::Value> = policies.iter().map(|x| &x.document).collect();
    if full
        && let Some(f) =
            verify::keys::catalog_encryption(&p.aws, &arn, &documents).await.map_err(|e| e.for_caller(&p.caller))?
    {
        findings.push(f);
    }
    if let Some(a) = stack.verify.athena.as_ref().filter(|_| full) {
        let workgroup = render_value(stack, &p.values, &p.facts, &a.workgroup, false)?.remove(0);
        let results = render_value(stack, &p.values, &p.facts, &a.results_bucket, false)?.remove(0);
        let athena = services::athena(&p.aws, &workgroup, &results, &arn, &documents).await;
        findings.extend(athena.map_err(|e| e.for_caller(&p.caller))?);
        let writes = services::bucket_policies(&p.aws, &arn, &[results], &services::WRITE_RESULTS).await;
        findings.extend(writes.map_err(|e| e.for_caller(&p.caller))?);
    }
    if let Some(expr) = stack.verify.data_buckets.as_ref().filter(|_| full) {
        let buckets = render_value(stack, &p.values, &p.facts, expr, true)?;
        let targets: BTreeSet<LfTarget> = p
            .desired
            .iter()
            .filter_map(|r| match r {
                Resource::Grant { principal: q, target, .. } if *q == principal => Some(target.clone()),
                _ => None,
            })
            .collect();
        let tables = services::granted_tables(&p.aws, &targets).await.map_err(|e| e.for_caller(&p.caller))?;
        findings.extend(services::locations(&tables, &buckets));
        let hybrid = &p.catalog.hybrid_locations;
        findings.extend(
            services::hybrid_opt_ins(&p.aws, &arn, hybrid, &tables).await.map_err(|e| e.for_caller(&p.caller))?,
        );
        findings.extend(
            services::bucket_policies(&p.aws, &arn, &buckets, &services::READ)
                .await
                .map_err(|e| e.for_caller(&p.caller))?,
        );
        findings.extend(
            verify::keys::encryption(&p.aws, &arn, &buckets, &documents).await.map_err(|e| e.for_caller(&p.caller))?,
        );
    }
    // The grants the deployment makes, in place.
    for r in &p.desired {
        let Resource::Grant { principal: q, target, permissions } = r else { continue };
        if *q != principal {
            continue;
        }
        let held = p.catalog.held(&arn, target).0;
        let missing: Vec<&String> = permissions.iter().filter(|x| !held.contains(*x)).collect();
        let ok = missing.is_empty();
        findings.push(Finding {
            ok,
            layer: "Lake Formation",
            what: "needs its grants".into(),
            line: if ok {
                format!("grants {} on {}", permissions.iter().cloned().collect::<Vec<_>>().join(", "), target)
            } else {
                format!(
                    "does not grant {} on {}",
                    missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                    target
                )
            },
            fix: (!ok).then(|| {
                "run `lakepass provision`: it grants them again (someone revoked them outside lakepass)".to_string()
            }),
            decided_by: "Lake Formation permissions",
        });
    }
    // Databases Lake Formation leaves to IAM: visible, but the grants do not scope them.
    for db in chosen.iter().filter(|d| iam_governed.contains(*d)) {
        findings.push(Finding {
            ok: true,
            layer: "Lake Formation",
            what: "note".into(),
            line: format!(
                "does not govern database {db} (IAM_ALLOWED_PRINCIPALS): IAM alone decides who sees it, and its grants take effect only once Lake Formation governs it"
            ),
            fix: None,
            decided_by: "Lake Formation permissions",
        });
    }
    let visible = chosen
        .iter()
        .filter(|db| {
            let target = LfTarget::Database { database: (*db).clone() };
            iam_governed.contains(*db) || !p.catalog.held(&arn, &target).0.is_empty()
        })
        .count();
    let listed: Vec<&LfTarget> = p
        .desired
        .iter()
        .filter_map(|r| match r {
            Resource::Grant { principal: q, target: t @ LfTarget::Table { .. }, .. } if *q == principal => Some(t),
            _ => None,
        })
        .collect();
    let tables = (!listed.is_empty()).then(|| {
        listed.iter().filter(|t| iam_governed.contains(t.database()) || !p.catalog.held(&arn, t).0.is_empty()).count()
    });
    let problems = findings.iter().filter(|f| !f.ok).count();
    Ok(Report {
        deployment: name.to_string(),
        principal: principal.to_string(),
        databases: visible,
        tables,
        problems,
        findings,
    })
}

/// IAM's simulator's decisions for the calls, where the caller may ask for them all.
async fn simulated<'a>(
    aws: &crate::aws::Aws,
    arn: &str,
    calls: impl Iterator<Item = &'a Call>,
) -> BTreeMap<(String, String, observe::Context), Decision> {
    let mut questions: BTreeMap<(String, observe::Context), BTreeSet<String>> = BTreeMap::new();
    for c in calls {
        questions.entry((c.resource.clone(), c.context.clone())).or_default().insert(c.action.clone());
    }
    let Some(answers) = observe::simulate_in_context(aws, arn, &questions).await else { return BTreeMap::new() };
    answers
        .into_iter()
        .map(|(k, d)| {
            let d = match d {
                observe::Simulated::Allowed => Decision::Allowed,
                observe::Simulated::ExplicitDeny => Decision::ExplicitDeny,
                observe::Simulated::ImplicitDeny => Decision::ImplicitDeny,
            };
            (k, d)
        })
        .collect()
}
