//! `lakepass status`: each resource's condition, per deployment.

use super::*;
use crate::plan;
use serde::Serialize;

#[derive(Debug, Clone, Default)]
pub struct StatusOpts {
    /// One JSON document on stdout instead of text.
    pub json: bool,
    /// Exit 2 when any resource is not as the deployment wants it.
    pub detailed_exitcode: bool,
}

/// One deployment as `status` sees it.
#[derive(Debug, Serialize)]
struct Report {
    deployment: String,
    stack: String,
    account: String,
    region: String,
    resources: Vec<Row>,
    notes: Vec<String>,
}

/// One resource: ok, missing (made, then deleted outside lakepass), to create, to update
/// (the deployment's values ask for it), drifted (changed outside lakepass), to adopt, or
/// to remove.
#[derive(Debug, Serialize)]
struct Row {
    condition: &'static str,
    address: String,
    description: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    reason: String,
}

impl Report {
    fn in_order(&self) -> bool {
        self.resources.iter().all(|r| r.condition == "ok")
    }

    fn text(&self) -> String {
        let mut out =
            format!("{} (stack {}, account {}, {}):\n", self.deployment, self.stack, self.account, self.region);
        for r in &self.resources {
            let why = if r.reason.is_empty() { String::new() } else { format!(" ({})", r.reason) };
            out.push_str(&format!("  {:<10} {}{why}\n", r.condition, r.description));
        }
        // The scope chosen, and warnings: policies others put on our principals, keys left alone.
        for n in &self.notes {
            out.push_str(&format!("  note: {n}\n"));
        }
        out
    }
}

/// The fixed name of a condition.
fn condition_name(c: &str) -> &'static str {
    ["ok", "missing", "to create", "to update", "drifted", "to adopt", "to remove"]
        .into_iter()
        .find(|x| *x == c)
        .unwrap_or("unknown")
}

/// `lakepass status`: per deployment, each resource's condition. Returns 1 when a
/// deployment could not be checked; with `detailed_exitcode`, 2 when one is not in order.
pub async fn status(g: &Global, o: &StatusOpts) -> Result<i32, Error> {
    let mut out = Reports::new(o.json);
    for name in deployment_names(g)? {
        out.add(&name, status_of(g, &name).await, Report::text);
    }
    out.finish();
    Ok(if !out.errors.is_empty() {
        1
    } else if o.detailed_exitcode && !out.reports.iter().all(Report::in_order) {
        2
    } else {
        0
    })
}

async fn status_of(g: &Global, name: &str) -> Result<Report, Error> {
    let loaded = Loaded::new(g, Some(name))?;
    if loaded.deployment.engine == crate::config::Engine::Cloudformation {
        let (facts, rows, notes) = if loaded.deployment.targets.is_some() {
            super::stack_set::status(g, &loaded).await?
        } else {
            super::stack_engine::status(g, &loaded).await?
        };
        let resources = rows
            .into_iter()
            .map(|[condition, address, description, reason]| Row {
                condition: condition_name(&condition),
                address,
                description,
                reason,
            })
            .collect();
        return Ok(Report {
            deployment: loaded.name.clone(),
            stack: loaded.stack.name.clone(),
            account: facts.account,
            region: facts.region,
            resources,
            notes,
        });
    }
    // The same observation and plan as `provision --plan`, read without the lock.
    let p = prepare(g, loaded, Consent::default(), false).await?;
    let (loaded, facts, state, plan, desired) = (&p.loaded, &p.facts, &p.state, &p.plan, &p.desired);
    let mut resources = Vec::new();
    for r in desired {
        let address = r.address();
        use plan::Cause;
        let (condition, reason) = match plan.actions.iter().find(|a| a.address == address) {
            None => ("ok", String::new()),
            Some(a) => match a.cause {
                Cause::Gone => ("missing", a.reason.clone()),
                Cause::New if state.resources.contains_key(&address) => ("missing", a.reason.clone()),
                Cause::New => ("to create", String::new()),
                Cause::Wanted | Cause::Upkeep => ("to update", a.reason.clone()),
                Cause::Drifted => ("drifted", a.reason.clone()),
                Cause::Adopted => ("to adopt", a.reason.clone()),
                Cause::Unwanted => ("to remove", a.reason.clone()),
            },
        };
        resources.push(Row { condition, address, description: r.describe(), reason });
    }
    for a in plan.actions.iter().filter(|a| a.change == plan::Change::Delete) {
        resources.push(Row {
            condition: "to remove",
            address: a.address.clone(),
            description: a.resource.describe(),
            reason: a.reason.clone(),
        });
    }
    Ok(Report {
        deployment: loaded.name.clone(),
        stack: loaded.stack.name.clone(),
        account: facts.account.clone(),
        region: facts.region.clone(),
        resources,
        notes: plan.notes.clone(),
    })
}
