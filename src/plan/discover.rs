//! Discovery: what a deployment owns in AWS that its state file does not record.
//!
//! A run that dies between an AWS call and the state write leaves such resources: the
//! state's pending creations name them and their ownership tags confirm them (a tag alone
//! proves nothing: anyone may tag). Grants and attachments are found through a principal
//! or policy so proven. Teardown removes them too and leaves no orphans. With `adopt`, a
//! tagged resource no state records is taken as well (a lost `.lakepass/`).

use crate::model::Observed;
use crate::model::Resource;
use crate::state::{Owned, State};
use std::collections::BTreeSet;

/// `state` plus every candidate that AWS shows is this deployment's, and the tagged
/// resources left alone because no state records them (without `adopt`).
pub fn discover(
    candidates: &[Resource],
    observed: &Observed,
    state: &State,
    deployment: &str,
    adopt: bool,
) -> (State, Vec<String>) {
    let mut out = state.clone();
    let mut unrecorded = Vec::new();
    let ours = |owner: &Option<String>| owner.as_deref() == Some(deployment);
    for r in candidates {
        let address = r.address();
        if out.resources.contains_key(&address) {
            continue;
        }
        let arn = match r {
            Resource::Policy { name, .. } => {
                observed.policies.get(name).filter(|p| ours(&p.owner)).map(|p| p.arn.clone())
            }
            Resource::Role { name, .. } => observed.roles.get(name).filter(|p| ours(&p.owner)).map(|p| p.arn.clone()),
            Resource::User { name } => observed.users.get(name).filter(|p| ours(&p.owner)).map(|p| p.arn.clone()),
            Resource::Database { name, .. } => {
                observed.databases.get(name).filter(|d| ours(&d.owner)).map(|d| d.arn.clone())
            }
            _ => continue,
        };
        let Some(arn) = arn else { continue };
        if !adopt && !state.pending.contains(&address) {
            unrecorded.push(r.describe());
            continue;
        }
        out.resources.insert(
            address,
            Owned { resource: r.clone(), arn: Some(arn), access_key_id: None, adopted: adopt, version: None },
        );
    }
    let owned_principal = |out: &State, p: &crate::model::Principal| {
        let address = match p {
            crate::model::Principal::Role(n) => format!("role/{n}"),
            crate::model::Principal::User(n) => format!("user/{n}"),
        };
        out.resources.contains_key(&address)
    };
    for r in candidates {
        let address = r.address();
        if out.resources.contains_key(&address) {
            continue;
        }
        let found = match r {
            // Ours when either end is: the client policy attached to a principal lakepass
            // does not own must be detached before its policy can go.
            Resource::Attachment { principal, policy } => {
                let attached = observed
                    .principal(principal)
                    .is_some_and(|p| p.attached.iter().any(|a| a.ends_with(&format!(":policy/{policy}"))));
                let policy_ours = out.resources.contains_key(&format!("policy/{policy}"));
                (owned_principal(&out, principal) || (policy_ours && attached)).then(|| r.clone())
            }
            Resource::Grant { principal, target, permissions } if owned_principal(&out, principal) => {
                let held = observed.grants.get(&(principal.clone(), target.clone())).cloned().unwrap_or_default();
                let ours: BTreeSet<String> = permissions.intersection(&held).cloned().collect();
                (!ours.is_empty()).then(|| Resource::Grant {
                    principal: principal.clone(),
                    target: target.clone(),
                    permissions: ours,
                })
            }
            _ => None,
        };
        if let Some(resource) = found {
            out.resources
                .insert(address, Owned { resource, arn: None, access_key_id: None, adopted: false, version: None });
        }
    }
    (out, unrecorded)
}
