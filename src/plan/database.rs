//! Planning the Glue databases a deployment creates: created where missing; one lakepass
//! did not create is used as it is (or adopted); an owned one follows its location, and is
//! deleted only while it holds no tables, or with `force`.

use super::{Cause, Change, Planner, Step, made};
use crate::error::Error;
use crate::model::Resource;
use crate::state::Owned;

impl Planner<'_> {
    /// A database the deployment wants; `missing` is the reason to create it.
    pub(super) fn database(&mut self, r: &Resource, was_owned: bool, missing: String) {
        let Resource::Database { name, description, location } = r else { return };
        let (obs, facts, address) = (self.input.observed, self.input.facts, r.address());
        match obs.databases.get(name) {
            None => {
                let steps = vec![Step::CreateDatabase {
                    name: name.clone(),
                    description: description.clone(),
                    location: location.clone(),
                }];
                self.action(made(was_owned), r, missing, steps);
            }
            Some(seen) => {
                let recorded = was_owned || self.input.state.pending.contains(&address);
                let adopting = !(recorded && self.tagged_ours(&seen.owner));
                // Another deployment's database is never taken over.
                let another = seen.owner.as_ref().filter(|d| *d != self.input.deployment);
                if adopting && (!self.input.adopt || another.is_some()) {
                    // Used as it is: a database someone made is theirs, tables and all.
                    let whose = match another {
                        Some(d) => format!("; it is lakepass deployment {d}'s"),
                        None if self.tagged_ours(&seen.owner) => {
                            " (it carries this deployment's tag, but no state records it; pass --adopt to take it over)"
                                .to_string()
                        }
                        None => " (pass --adopt to take it over)".to_string(),
                    };
                    self.plan.notes.push(format!(
                        "glue database {name} exists and lakepass did not create it{whose}: it is used as it is, and lakepass never changes or deletes it"
                    ));
                    return;
                }
                let mut steps = Vec::new();
                if adopting {
                    steps.push(Step::Tag { resource: address.clone(), arn_or_name: facts.database_arn(name) });
                }
                let moved = &seen.location != location;
                if moved {
                    steps.push(Step::SetDatabaseLocation { name: name.clone(), location: location.clone() });
                }
                let was = seen.location.as_deref().unwrap_or("unset");
                if adopting {
                    let reason = if moved {
                        format!(
                            "exists, not created by this deployment; adopted (--adopt), its location changed from {was}"
                        )
                    } else {
                        "exists, not created by this deployment; adopted (--adopt)".to_string()
                    };
                    self.action((Change::Adopt, Cause::Adopted), r, reason, steps);
                } else if moved {
                    let reason = format!("its location is {was}, not {}", location.as_deref().unwrap_or("unset"));
                    let last = match self.owned(&address) {
                        Some(Owned { resource: Resource::Database { location, .. }, .. }) => location.clone(),
                        _ => None,
                    };
                    let cause = if last == seen.location { Cause::Wanted } else { Cause::Drifted };
                    self.action((Change::Update, cause), r, reason, steps);
                } else {
                    self.record(r, Some(facts.database_arn(name)), None);
                }
            }
        }
    }

    /// An owned database the deployment no longer wants.
    pub(super) fn database_removed(&mut self, address: &str, owned: &Owned) {
        let r = &owned.resource;
        let Resource::Database { name, .. } = r else { return };
        match self.input.observed.databases.get(name) {
            None => self.plan.forget.push(address.to_string()),
            Some(seen) if !self.tagged_ours(&seen.owner) => {
                self.plan.forget.push(address.to_string());
                self.plan.notes.push(format!(
                    "{} no longer carries this deployment's ownership tag; left alone and forgotten",
                    r.describe()
                ));
            }
            Some(seen) => {
                let tables = seen.tables.clone().unwrap_or_default();
                if !tables.is_empty() && !self.input.force {
                    self.refusals.push(Error::Value {
                        field: format!("glue database {name}"),
                        problem: format!(
                            "holds {} ({}); lakepass deletes a database it created only when it is empty",
                            count(tables.len(), "table"),
                            shortlist(&tables)
                        ),
                        fix: "drop or move the tables first, or pass --force to delete the database with them (their data in S3 stays); nothing was changed".into(),
                    });
                    return;
                }
                let reason = if tables.is_empty() {
                    "no longer part of the deployment (it holds no tables)".to_string()
                } else {
                    format!(
                        "no longer part of the deployment; --force: its {} go with it (their data in S3 stays)",
                        count(tables.len(), "table")
                    )
                };
                let steps = vec![Step::DeleteDatabase { name: name.clone(), tables }];
                self.action((Change::Delete, Cause::Unwanted), r, reason, steps);
            }
        }
    }
}

/// "1 table", "3 tables".
fn count(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

/// Up to five names, and how many more.
fn shortlist(names: &[String]) -> String {
    let mut out = names.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > 5 {
        out.push_str(&format!(" and {} more", names.len() - 5));
    }
    out
}
