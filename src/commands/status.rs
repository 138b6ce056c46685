//! `lakepass status`: each resource's condition, per deployment.

use super::*;
use crate::plan;

/// `lakepass status`: per deployment, each resource's condition.
pub async fn status(g: &Global) -> Result<i32, Error> {
    let project = Project::load(&g.config)?;
    let names: Vec<String> = match &g.deployment {
        Some(n) => vec![n.clone()],
        None => project.config.deployments.keys().cloned().collect(),
    };
    let mut worst = 0;
    for name in names {
        match status_of(g, &name).await {
            Ok(text) => print(&text),
            Err(e) => {
                print(&format!("{name}: error: {e}\n"));
                worst = 1;
            }
        }
    }
    Ok(worst)
}

async fn status_of(g: &Global, name: &str) -> Result<String, Error> {
    // The same observation and plan as `provision --plan`, read without the lock.
    let p = prepare(g, Loaded::new(g, Some(name))?, false, false).await?;
    let (loaded, facts, state, plan, desired) = (&p.loaded, &p.facts, &p.state, &p.plan, &p.desired);
    let mut out =
        format!("{} (stack {}, account {}, {}):\n", loaded.name, loaded.stack.name, facts.account, facts.region);
    for r in desired {
        let address = r.address();
        let (condition, why) = match plan.actions.iter().find(|a| a.address == address) {
            None => ("ok", String::new()),
            Some(a) if a.change == plan::Change::Create && state.resources.contains_key(&address) => {
                ("missing", format!(" ({})", a.reason))
            }
            Some(a) if a.change == plan::Change::Create => ("to create", String::new()),
            Some(a) => ("drifted", format!(" ({})", a.reason)),
        };
        out.push_str(&format!("  {condition:<10} {}{why}\n", r.describe()));
    }
    for a in plan.actions.iter().filter(|a| a.change == plan::Change::Delete) {
        out.push_str(&format!("  {:<10} {} ({})\n", "to remove", a.resource.describe(), a.reason));
    }
    // The scope chosen, and warnings: policies others put on our principals, keys left alone.
    for n in &plan.notes {
        out.push_str(&format!("  note: {n}\n"));
    }
    Ok(out)
}
