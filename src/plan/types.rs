//! What a plan is made of: the changes, the AWS steps each takes, and how a finished
//! action is recorded in state.

use crate::model::{Facts, LfTarget, Principal, Resource};
use crate::state::{Owned, State};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Create,
    Update,
    Delete,
    Adopt,
}

impl Change {
    pub fn symbol(self) -> &'static str {
        match self {
            Change::Create => "+",
            Change::Update => "~",
            Change::Delete => "-",
            Change::Adopt => "&",
        }
    }
}

/// One AWS operation with every parameter decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Step {
    CreatePolicy {
        name: String,
        description: String,
        document: Value,
    },
    /// A new default version; `prune` is deleted first to stay within IAM's five versions.
    NewPolicyVersion {
        arn: String,
        document: Value,
        prune: Option<String>,
    },
    DeletePolicy {
        arn: String,
        old_versions: Vec<String>,
    },
    CreateRole {
        name: String,
        description: String,
        trust: Value,
    },
    UpdateTrust {
        name: String,
        trust: Value,
    },
    DeleteRole {
        name: String,
    },
    CreateUser {
        name: String,
    },
    /// Deletes the user's remaining access keys, then the user.
    DeleteUser {
        name: String,
        keys: Vec<String>,
    },
    Attach {
        policy_arn: String,
        principal: Principal,
    },
    Detach {
        policy_arn: String,
        principal: Principal,
    },
    /// Creates a key after deleting `delete_first` (keys an interrupted run created and
    /// never handed over), hands its secret over, then marks it live on the user. `had`
    /// are the user's other keys, which the creating mark lists so that they are never
    /// taken for leftovers.
    CreateAccessKey {
        user: String,
        delete_first: Vec<String>,
        had: Vec<String>,
        /// A rotation: this key stays live while the new one is made, then is marked
        /// retiring beside it.
        #[serde(skip_serializing_if = "Option::is_none")]
        retire: Option<String>,
    },
    /// Records on the user which key is live (its secret was handed over).
    MarkLiveKey {
        user: String,
        id: String,
    },
    DeleteAccessKey {
        user: String,
        id: String,
    },
    /// Deletes an inline policy from a principal about to be deleted (--detach-foreign).
    DeleteInlinePolicy {
        principal: Principal,
        name: String,
    },
    Grant {
        principal: Principal,
        principal_arn: String,
        target: LfTarget,
        permissions: BTreeSet<String>,
    },
    Revoke {
        principal: Principal,
        principal_arn: String,
        target: LfTarget,
        permissions: BTreeSet<String>,
    },
    /// Creates a Glue database carrying the ownership tags.
    CreateDatabase {
        name: String,
        description: String,
        location: Option<String>,
    },
    /// Sets an owned Glue database's location, keeping everything else it has.
    SetDatabaseLocation {
        name: String,
        location: Option<String>,
    },
    /// Deletes an owned Glue database; the `tables` it holds go with it (--force).
    DeleteDatabase {
        name: String,
        tables: Vec<String>,
    },
    /// Puts the ownership tags on a resource being adopted.
    Tag {
        resource: String,
        arn_or_name: String,
    },
}

/// Why an action is planned, for `status` and `--json`; its `reason` says it in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// Not made yet.
    New,
    /// Made by lakepass, then deleted, detached or revoked outside it.
    Gone,
    /// The deployment's values (or its stack) ask for the change.
    Wanted,
    /// Changed outside lakepass.
    Drifted,
    /// Taken over (--adopt).
    Adopted,
    /// No longer part of the deployment, or torn down.
    Unwanted,
    /// Lakepass's own bookkeeping (a key's tag, keys an interrupted run left).
    Upkeep,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Action {
    pub change: Change,
    pub cause: Cause,
    pub address: String,
    /// The desired resource (create, update, adopt) or the owned one (delete).
    pub resource: Resource,
    pub reason: String,
    /// For document changes: a line diff of the old and new documents.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diff: Vec<String>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// Resources found in AWS that are this deployment's but not in the state (an
    /// interrupted run): recorded without any AWS call.
    pub record: Vec<(String, Owned)>,
    /// State entries whose resource is gone: dropped without any AWS call.
    pub forget: Vec<String>,
    /// Warnings a person should read before applying.
    pub notes: Vec<String>,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        !self.actions.is_empty()
    }

    pub fn count(&self, change: Change) -> usize {
        self.actions.iter().filter(|a| a.change == change).count()
    }
}

/// What applying an action's steps produced that state records.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Made {
    /// The key a CreateAccessKey step made.
    pub access_key_id: Option<String>,
    /// The default version a policy step left.
    pub version: Option<String>,
}

impl Action {
    /// Updates `state` after this action succeeded.
    pub fn record_into(&self, state: &mut State, facts: &Facts, made: Made) {
        if self.change == Change::Delete {
            state.resources.remove(&self.address);
            return;
        }
        let arn = match &self.resource {
            Resource::Policy { name, .. } => Some(facts.policy_arn(name)),
            Resource::Role { name, .. } => Some(Principal::Role(name.clone()).arn(facts)),
            Resource::User { name } => Some(Principal::User(name.clone()).arn(facts)),
            Resource::Database { name, .. } => Some(facts.database_arn(name)),
            _ => None,
        };
        state.pending.remove(&self.address);
        let previous = state.resources.get(&self.address);
        let adopted = self.change == Change::Adopt || previous.is_some_and(|o| o.adopted);
        let marked = self.steps.iter().find_map(|s| match s {
            Step::MarkLiveKey { id, .. } => Some(id.clone()),
            _ => None,
        });
        let access_key_id = made.access_key_id.or(marked).or_else(|| previous.and_then(|o| o.access_key_id.clone()));
        let version = made.version.or_else(|| previous.and_then(|o| o.version.clone()));
        let owned = Owned { resource: self.resource.clone(), arn, access_key_id, adopted, version };
        state.resources.insert(self.address.clone(), owned);
    }
}
