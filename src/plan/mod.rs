//! Plan: (desired, observed, state) → the ordered actions that make AWS match. Pure.
//!
//! Every decision is made here, down to which policy version to prune, so that apply only
//! walks the steps. Ownership is decided here too: an IAM resource is lakepass's when the
//! state file records it (or a run of this state was about to create it) *and* its
//! ownership tag names this deployment; anything else with a target name stops the plan
//! unless the user adopts it.

mod database;
mod discover;
mod keys;
mod rights;
mod types;

pub use discover::discover;
pub use keys::{KeyTag, Rotation, rotation, rotation_plan};
pub use rights::{grants_needed, iam_needed};
pub use types::{Action, Cause, Change, Made, Plan, Step};

use crate::error::Error;
use crate::model::{Facts, Observed, Principal, Resource};
use crate::policy;
use crate::state::{Owned, State};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

pub struct Input<'a> {
    pub deployment: &'a str,
    pub facts: &'a Facts,
    pub desired: &'a [Resource],
    pub observed: &'a Observed,
    pub state: &'a State,
    pub adopt: bool,
    /// Managed policies a role or user may carry (IAM's quota).
    pub policy_quota: usize,
    /// Take off policies others put on a principal lakepass deletes (teardown
    /// --detach-foreign); without it such a deletion stops the plan.
    pub detach_foreign: bool,
    /// Delete owned Glue databases that still hold tables (--force); without it such a
    /// deletion stops the plan.
    pub force: bool,
}

/// IAM's default quota of managed policies per role or user.
pub const DEFAULT_POLICY_QUOTA: usize = 10;

/// Plans the changes. Fails when a target name belongs to someone else (and `adopt` is
/// off) or a database or table to grant on is missing from the catalog.
pub fn plan(input: &Input) -> Result<Plan, Error> {
    let mut p =
        Planner { input, plan: Plan::default(), not_owned: Vec::new(), others: BTreeSet::new(), refusals: Vec::new() };
    let desired_addresses: BTreeSet<String> = input.desired.iter().map(Resource::address).collect();
    for r in input.desired {
        p.desired(r);
    }
    if !p.not_owned.is_empty() {
        return Err(Error::NotOwned { resources: p.not_owned, others: p.others.into_iter().collect() });
    }
    p.check_quota();
    if !p.refusals.is_empty() {
        return Err(p.refusals.remove(0));
    }
    if !input.observed.missing_in_catalog.is_empty() {
        return Err(Error::NotInCatalog {
            missing: input.observed.missing_in_catalog.clone(),
            account: input.facts.account.clone(),
            region: input.facts.region.clone(),
        });
    }
    for (address, owned) in &input.state.resources {
        if !desired_addresses.contains(address) {
            p.removed(address, owned);
        }
    }
    if !p.refusals.is_empty() {
        return Err(p.refusals.remove(0));
    }
    if !input.observed.iam_governed.is_empty() {
        p.plan.notes.push(format!(
            "Lake Formation does not govern {} yet (new tables default to IAM_ALLOWED_PRINCIPALS): IAM policy alone decides access there, and the grants take effect once the databases use Lake Formation permissions",
            input.observed.iam_governed.join(", ")
        ));
    }
    let mut plan = p.plan;
    // Creates and updates in dependency order, then deletes in reverse.
    let (mut deletes, mut rest): (Vec<Action>, Vec<Action>) =
        plan.actions.into_iter().partition(|a| a.change == Change::Delete);
    rest.sort_by_key(|a| a.resource.rank());
    deletes.reverse();
    deletes.sort_by_key(|a| std::cmp::Reverse(a.resource.rank()));
    rest.extend(deletes);
    plan.actions = rest;
    Ok(plan)
}

struct Planner<'a> {
    input: &'a Input<'a>,
    plan: Plan,
    not_owned: Vec<String>,
    /// The other lakepass deployments those belong to.
    others: BTreeSet<String>,
    /// Desired resources that cannot be made as things stand: the plan stops.
    refusals: Vec<Error>,
}

impl Planner<'_> {
    fn owned(&self, address: &str) -> Option<&Owned> {
        self.input.state.resources.get(address)
    }

    fn tagged_ours(&self, owner: &Option<String>) -> bool {
        owner.as_deref() == Some(self.input.deployment)
    }

    fn action(
        &mut self,
        (change, cause): (Change, Cause),
        r: &Resource,
        reason: impl Into<String>,
        steps: Vec<Step>,
    ) -> &mut Action {
        self.plan.actions.push(Action {
            change,
            cause,
            address: r.address(),
            resource: r.clone(),
            reason: reason.into(),
            diff: Vec::new(),
            steps,
        });
        self.plan.actions.last_mut().expect("just pushed")
    }

    /// Records an unchanged resource the state lacks (or a policy version it lacks).
    fn record(&mut self, r: &Resource, arn: Option<String>, version: Option<String>) {
        match self.owned(&r.address()) {
            None => {
                let owned = Owned { resource: r.clone(), arn, access_key_id: None, adopted: false, version };
                self.plan.record.push((r.address(), owned));
            }
            Some(o) if version.is_some() && o.version != version => {
                let owned = Owned { version, ..o.clone() };
                self.plan.record.push((r.address(), owned));
            }
            Some(_) => {}
        }
    }

    /// Records a resource in state before it is made (see the grants to a principal this
    /// deployment does not own).
    fn record_first(&mut self, r: &Resource) {
        let owned = Owned { resource: r.clone(), arn: None, access_key_id: None, adopted: false, version: None };
        self.plan.record.push((r.address(), owned));
    }

    /// For an existing IAM resource: is it ours, to adopt, or someone else's? Ours means
    /// recorded by this state (or about to be created by its interrupted run) *and* still
    /// carrying this deployment's tag. Returns whether planning should go on comparing it.
    fn claim(&mut self, r: &Resource, owner: &Option<String>, tag_target: String) -> bool {
        let address = r.address();
        let recorded = self.owned(&address).is_some() || self.input.state.pending.contains(&address);
        if recorded && self.tagged_ours(owner) {
            return true;
        }
        let unrecorded =
            "carries this deployment's tag, but no state records it (another checkout's state, or a lost .lakepass/)";
        // Another deployment's resource is never taken over: both would then rewrite it,
        // and the other's vendor would lose its access.
        let another = owner.as_ref().filter(|d| *d != self.input.deployment);
        if self.input.adopt && another.is_none() {
            let reason = match owner {
                Some(_) => format!("{unrecorded}; adopted (--adopt)"),
                None => "exists, not created by lakepass; adopted (--adopt)".to_string(),
            };
            let steps = vec![Step::Tag { resource: address, arn_or_name: tag_target }];
            self.action((Change::Adopt, Cause::Adopted), r, reason, steps);
            return true;
        }
        let whose = match owner {
            Some(d) if d == self.input.deployment => format!("it {unrecorded}"),
            Some(other) => {
                self.others.insert(other.clone());
                format!("it exists and belongs to lakepass deployment {other}")
            }
            None => "it exists and belongs to someone else: lakepass did not create it".to_string(),
        };
        self.not_owned.push(format!("{} ({whose})", r.describe()));
        false
    }

    /// Policies on a principal that lakepass did not attach: managed policies none of
    /// this deployment's attachments names, and every inline policy.
    fn foreign_policies(&self, principal: &Principal) -> Vec<String> {
        let Some(seen) = self.input.observed.principal(principal) else { return Vec::new() };
        let recorded = self.input.state.resources.values().map(|o| &o.resource);
        let ours: BTreeSet<String> = self
            .input
            .desired
            .iter()
            .chain(recorded)
            .filter_map(|r| match r {
                Resource::Attachment { policy, principal: p } if p == principal => {
                    Some(self.input.facts.policy_arn(policy))
                }
                _ => None,
            })
            .collect();
        let mut out: Vec<String> = seen.attached.iter().filter(|a| !ours.contains(*a)).cloned().collect();
        out.extend(seen.inline.iter().map(|n| format!("inline policy {n}")));
        out
    }

    /// Before deleting a principal lakepass made: the steps that take off the policies
    /// others put on it (IAM deletes no principal that carries any), when the user said so
    /// with `detach_foreign`; otherwise a refusal naming them, and None.
    fn clear_foreign(&mut self, principal: &Principal) -> Option<Vec<Step>> {
        let seen = self.input.observed.principal(principal)?;
        let recorded = self.input.state.resources.values().map(|o| &o.resource);
        let ours: BTreeSet<String> = recorded
            .filter_map(|r| match r {
                Resource::Attachment { policy, principal: p } if p == principal => {
                    Some(self.input.facts.policy_arn(policy))
                }
                _ => None,
            })
            .collect();
        let managed: Vec<String> = seen.attached.iter().filter(|a| !ours.contains(*a)).cloned().collect();
        if managed.is_empty() && seen.inline.is_empty() {
            return Some(Vec::new());
        }
        if !self.input.detach_foreign {
            let mut names = managed.clone();
            names.extend(seen.inline.iter().map(|n| format!("inline policy {n}")));
            self.refusals.push(Error::Value {
                field: principal.to_string(),
                problem: format!(
                    "carries policies lakepass did not attach ({}); IAM deletes no {} that carries any",
                    names.join(", "),
                    principal.kind()
                ),
                fix: "detach them yourself, or pass --detach-foreign to have lakepass detach them (it detaches, never deletes, another's managed policy, and deletes inline policies)".into(),
            });
            return None;
        }
        let mut steps: Vec<Step> =
            managed.into_iter().map(|policy_arn| Step::Detach { policy_arn, principal: principal.clone() }).collect();
        steps.extend(
            seen.inline.iter().map(|n| Step::DeleteInlinePolicy { principal: principal.clone(), name: n.clone() }),
        );
        Some(steps)
    }

    /// Refuses a principal that would carry more managed policies than IAM allows.
    fn check_quota(&mut self) {
        let mut ours: BTreeMap<&Principal, usize> = BTreeMap::new();
        for r in self.input.desired {
            if let Resource::Attachment { principal, .. } = r {
                *ours.entry(principal).or_default() += 1;
            }
        }
        let quota = self.input.policy_quota;
        for (principal, n) in ours {
            let foreign = self.foreign_policies(principal).iter().filter(|f| !f.starts_with("inline ")).count();
            if n + foreign <= quota {
                continue;
            }
            let others = if foreign > 0 { format!(" and {foreign} attached by others") } else { String::new() };
            self.refusals.push(Error::Value {
                field: principal.to_string(),
                problem: format!(
                    "would carry {} managed policies ({n} of this deployment's{others}), but IAM allows {quota} per role or user",
                    n + foreign
                ),
                fix: "ask AWS to raise the quota (Service Quotas > IAM > \"Managed policies per role\" or \"per user\", up to 20) and set managed_policy_quota in the deployment; or bring the databases under Lake Formation (no IAM_ALLOWED_PRINCIPALS on them or in the account's defaults for new ones), so that one catalog-wide policy serves them all; or choose fewer databases".into(),
            });
        }
    }

    /// Warns of policies lakepass did not attach on a principal it manages: whoever uses
    /// the principal gets their access too. Returns them.
    fn warn_foreign(&mut self, principal: &Principal) -> Vec<String> {
        let foreign = self.foreign_policies(principal);
        if !foreign.is_empty() {
            self.plan.notes.push(format!(
                "{principal} carries policies lakepass did not attach ({}): whoever uses it gets their access too; detach them unless that is intended",
                foreign.join(", ")
            ));
        }
        foreign
    }

    fn desired(&mut self, r: &Resource) {
        let obs = self.input.observed;
        let facts = self.input.facts;
        let address = r.address();
        let gone = |owned: bool, what: &str| {
            if owned {
                format!("{what} was deleted outside lakepass; recreating")
            } else {
                "does not exist yet".to_string()
            }
        };
        let was_owned = self.owned(&address).is_some();
        match r {
            Resource::Policy { name, description, document } => match obs.policies.get(name) {
                None => {
                    let steps = vec![Step::CreatePolicy {
                        name: name.clone(),
                        description: description.clone(),
                        document: document.clone(),
                    }];
                    self.action(made(was_owned), r, gone(was_owned, "the policy"), steps);
                }
                Some(seen) => {
                    if !self.claim(r, &seen.owner, seen.arn.clone()) {
                        return;
                    }
                    if &seen.document != document {
                        let prune = if seen.versions.len() >= 5 {
                            seen.versions.iter().find(|(_, is_default)| !is_default).map(|(id, _)| id.clone())
                        } else {
                            None
                        };
                        let (cause, reason) = match self.owned(&address) {
                            Some(Owned { resource: Resource::Policy { document: last, .. }, .. })
                                if last == &seen.document =>
                            {
                                (Cause::Wanted, "the deployment's values changed")
                            }
                            Some(_) => (Cause::Drifted, "the document was changed outside lakepass"),
                            None => (Cause::Wanted, "the document differs from the stack's"),
                        };
                        let diff = policy::diff(&seen.document, document);
                        let steps =
                            vec![Step::NewPolicyVersion { arn: seen.arn.clone(), document: document.clone(), prune }];
                        self.action((Change::Update, cause), r, reason, steps).diff = diff;
                    } else {
                        self.record(r, Some(seen.arn.clone()), Some(seen.default_version.clone()));
                    }
                }
            },
            Resource::Role { name, description, trust } => match obs.roles.get(name) {
                None => {
                    let steps = vec![Step::CreateRole {
                        name: name.clone(),
                        description: description.clone(),
                        trust: trust.clone(),
                    }];
                    self.action(made(was_owned), r, gone(was_owned, "the role"), steps);
                }
                Some(seen) => {
                    if !self.claim(r, &seen.owner, name.clone()) {
                        return;
                    }
                    let foreign = self.warn_foreign(&Principal::Role(name.clone()));
                    let current = seen.trust.clone().unwrap_or(Value::Null);
                    if &current != trust && !foreign.is_empty() {
                        // Trusting the vendor would hand it those policies' access.
                        self.refusals.push(Error::Value {
                            field: format!("iam role {name}"),
                            problem: format!(
                                "carries policies lakepass did not attach ({}); lakepass will not rewrite its trust policy to let the vendor assume it",
                                foreign.join(", ")
                            ),
                            fix: "detach those policies from the role first, or choose another role_name".into(),
                        });
                        return;
                    }
                    if &current != trust {
                        if let (Some(old), Some(new)) = (external_id(&current), external_id(trust))
                            && old != new
                        {
                            self.plan.notes.push(format!(
                                "the external id of role {name} changes: the vendor's connection fails until you paste the new external id into its form"
                            ));
                        }
                        let diff = policy::diff(&current, trust);
                        let steps = vec![Step::UpdateTrust { name: name.clone(), trust: trust.clone() }];
                        // Drift, unless the trust is still the one lakepass last applied.
                        let (cause, reason) = match self.owned(&address) {
                            Some(Owned { resource: Resource::Role { trust: last, .. }, .. }) if last == &current => {
                                (Cause::Wanted, "the deployment's values changed the trust policy")
                            }
                            _ => (Cause::Drifted, "the trust policy differs"),
                        };
                        self.action((Change::Update, cause), r, reason, steps).diff = diff;
                    } else {
                        self.record(r, Some(seen.arn.clone()), None);
                    }
                }
            },
            Resource::User { name } => match obs.users.get(name) {
                None => {
                    self.action(
                        made(was_owned),
                        r,
                        gone(was_owned, "the user"),
                        vec![Step::CreateUser { name: name.clone() }],
                    );
                }
                Some(seen) => {
                    if self.claim(r, &seen.owner, name.clone()) {
                        self.warn_foreign(&Principal::User(name.clone()));
                        self.record(r, Some(seen.arn.clone()), None);
                    }
                }
            },
            Resource::Attachment { policy, principal } => {
                let policy_arn = facts.policy_arn(policy);
                let attached = obs.principal(principal).is_some_and(|p| p.attached.contains(&policy_arn));
                if attached {
                    self.record(r, None, None);
                } else {
                    let reason =
                        if was_owned { "was detached outside lakepass; reattaching" } else { "not attached yet" };
                    let steps = vec![Step::Attach { policy_arn, principal: principal.clone() }];
                    self.action(made(was_owned), r, reason, steps);
                }
            }
            Resource::AccessKey { user } => self.access_key(r, user),
            Resource::Database { .. } => self.database(r, was_owned, gone(was_owned, "the database")),
            Resource::Grant { principal, target, permissions } => {
                let held = obs.grants.get(&(principal.clone(), target.clone())).cloned().unwrap_or_default();
                let principal_arn = principal.arn(facts);
                let missing: BTreeSet<String> = permissions.difference(&held).cloned().collect();
                let previously: BTreeSet<String> = match self.owned(&address) {
                    Some(Owned { resource: Resource::Grant { permissions, .. }, .. }) => permissions.clone(),
                    _ => BTreeSet::new(),
                };
                let surplus: BTreeSet<String> =
                    previously.difference(permissions).filter(|x| held.contains(*x)).cloned().collect();
                // A principal this deployment does not own (the one who runs the vendor's tool, say) may
                // hold permissions others granted: state records only those lakepass
                // grants, so that teardown revokes just those.
                let foreign = obs.principal(principal).is_some_and(|p| !self.tagged_ours(&p.owner));
                let ours: BTreeSet<String> = previously.intersection(permissions).chain(&missing).cloned().collect();
                let recorded = if foreign {
                    Resource::Grant { principal: principal.clone(), target: target.clone(), permissions: ours }
                } else {
                    r.clone()
                };
                let mut steps = Vec::new();
                if !surplus.is_empty() {
                    steps.push(Step::Revoke {
                        principal: principal.clone(),
                        principal_arn: principal_arn.clone(),
                        target: target.clone(),
                        permissions: surplus,
                    });
                }
                if !missing.is_empty() {
                    steps.push(Step::Grant {
                        principal: principal.clone(),
                        principal_arn,
                        target: target.clone(),
                        permissions: missing,
                    });
                }
                if steps.is_empty() {
                    // Held already: ours to record unless someone else granted it to a
                    // principal that is not ours.
                    if !foreign || was_owned {
                        self.record(r, None, None);
                    }
                } else if was_owned && !previously.is_subset(&held) && previously.is_subset(permissions) {
                    if foreign {
                        self.record_first(&recorded);
                    }
                    let reason = "was revoked outside lakepass; granting again";
                    self.action((Change::Create, Cause::Gone), &recorded, reason, steps);
                } else {
                    // Recorded before it is granted: no tag can prove a grant to someone
                    // else's principal ours, so a crash in between must not leave it
                    // unrecorded (revoking only what is held makes the early record safe).
                    if foreign {
                        self.record_first(&recorded);
                    }
                    let (change, reason) = if was_owned {
                        ((Change::Update, Cause::Wanted), "the stack's permissions changed")
                    } else {
                        ((Change::Create, Cause::New), "not granted yet")
                    };
                    self.action(change, &recorded, reason, steps);
                }
            }
        }
    }

    /// An owned resource no longer desired: delete it if it is still there and still ours.
    fn removed(&mut self, address: &str, owned: &Owned) {
        let obs = self.input.observed;
        let facts = self.input.facts;
        let r = &owned.resource;
        let forget = |p: &mut Planner, note: Option<String>| {
            p.plan.forget.push(address.to_string());
            if let Some(n) = note {
                p.plan.notes.push(n);
            }
        };
        let not_tagged = |what: String| {
            Some(format!("{what} no longer carries this deployment's ownership tag; left alone and forgotten"))
        };
        match r {
            Resource::Policy { name, .. } => match obs.policies.get(name) {
                None => forget(self, None),
                Some(seen) if !self.tagged_ours(&seen.owner) => forget(self, not_tagged(r.describe())),
                Some(seen) => {
                    let old_versions = seen.versions.iter().filter(|(_, d)| !d).map(|(id, _)| id.clone()).collect();
                    let steps = vec![Step::DeletePolicy { arn: seen.arn.clone(), old_versions }];
                    self.action((Change::Delete, Cause::Unwanted), r, "no longer part of the deployment", steps);
                }
            },
            Resource::Role { name, .. } => match obs.roles.get(name) {
                None => forget(self, None),
                Some(seen) if !self.tagged_ours(&seen.owner) => forget(self, not_tagged(r.describe())),
                Some(_) => {
                    let Some(mut steps) = self.clear_foreign(&Principal::Role(name.clone())) else { return };
                    steps.push(Step::DeleteRole { name: name.clone() });
                    self.action((Change::Delete, Cause::Unwanted), r, "no longer part of the deployment", steps);
                }
            },
            Resource::User { name } => match obs.users.get(name) {
                None => forget(self, None),
                Some(seen) if !self.tagged_ours(&seen.owner) => forget(self, not_tagged(r.describe())),
                Some(seen) => {
                    // Keys the state records are deleted by their own action first.
                    let recorded: Vec<&String> = self
                        .input
                        .state
                        .resources
                        .values()
                        .filter(|o| matches!(&o.resource, Resource::AccessKey { user } if user == name))
                        .filter_map(|o| o.access_key_id.as_ref())
                        .collect();
                    // IAM deletes no user that still has keys; deleting the user ends them
                    // anyway, adopted or not.
                    let keys = seen.keys.iter().filter(|k| !recorded.contains(k)).cloned().collect();
                    let Some(mut steps) = self.clear_foreign(&Principal::User(name.clone())) else { return };
                    steps.push(Step::DeleteUser { name: name.clone(), keys });
                    self.action((Change::Delete, Cause::Unwanted), r, "no longer part of the deployment", steps);
                }
            },
            Resource::Attachment { policy, principal } => {
                let policy_arn = facts.policy_arn(policy);
                let seen = obs.principal(principal);
                // Ours when either end carries our tag: a recorded attachment alone proves
                // nothing (the state file may not be this deployment's own).
                let ours = obs.policies.get(policy).is_some_and(|p| self.tagged_ours(&p.owner))
                    || seen.is_some_and(|p| self.tagged_ours(&p.owner));
                if !seen.is_some_and(|p| p.attached.contains(&policy_arn)) {
                    forget(self, None);
                } else if !ours {
                    forget(self, not_tagged(format!("{}: neither end", r.describe())));
                } else {
                    let steps = vec![Step::Detach { policy_arn, principal: principal.clone() }];
                    self.action((Change::Delete, Cause::Unwanted), r, "no longer part of the deployment", steps);
                }
            }
            Resource::AccessKey { user } => {
                let id = owned.access_key_id.clone().unwrap_or_default();
                let seen = obs.users.get(user);
                if seen.is_some_and(|u| u.keys.contains(&id)) && !seen.is_some_and(|u| self.tagged_ours(&u.owner)) {
                    forget(self, not_tagged(format!("{}: the user", r.describe())));
                } else if seen.is_some_and(|u| u.keys.contains(&id)) {
                    let steps = vec![Step::DeleteAccessKey { user: user.clone(), id }];
                    self.action((Change::Delete, Cause::Unwanted), r, "no longer part of the deployment", steps);
                } else {
                    forget(self, None);
                }
            }
            Resource::Database { .. } => self.database_removed(address, owned),
            Resource::Grant { principal, target, permissions } => {
                let held = obs.grants.get(&(principal.clone(), target.clone())).cloned().unwrap_or_default();
                let revoke: BTreeSet<String> = permissions.intersection(&held).cloned().collect();
                // The principal of another deployment keeps its access. One no lakepass
                // deployment owns (the one who runs the vendor's tool) loses what this one granted, as
                // state records it, and keeps what others granted.
                let foreign =
                    obs.principal(principal).is_some_and(|p| p.owner.is_some() && !self.tagged_ours(&p.owner));
                if revoke.is_empty() {
                    forget(self, None);
                } else if foreign {
                    forget(self, not_tagged(format!("{}: the principal", r.describe())));
                } else {
                    let steps = vec![Step::Revoke {
                        principal: principal.clone(),
                        principal_arn: principal.arn(facts),
                        target: target.clone(),
                        permissions: revoke,
                    }];
                    self.action((Change::Delete, Cause::Unwanted), r, "no longer part of the deployment", steps);
                }
            }
        }
    }
}

/// Creating a resource: anew, or again after it was deleted outside lakepass.
fn made(was_owned: bool) -> (Change, Cause) {
    (Change::Create, if was_owned { Cause::Gone } else { Cause::New })
}

/// The `sts:ExternalId` a trust policy requires, if any.
fn external_id(trust: &Value) -> Option<String> {
    let statements = trust.get("Statement")?.as_array()?;
    statements.iter().find_map(|s| {
        let v = s.get("Condition")?.get("StringEquals")?.get("sts:ExternalId")?;
        Some(v.to_string())
    })
}

#[cfg(test)]
mod tests;
