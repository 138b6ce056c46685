//! What AWS has of a deployment's resources, as observation (see [`crate::observe`], which
//! reads it): what the planner compares with the desired resources and the state.

use super::{LfTarget, Principal};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    pub policies: BTreeMap<String, PolicyObs>,
    pub roles: BTreeMap<String, PrincipalObs>,
    pub users: BTreeMap<String, PrincipalObs>,
    /// The Glue databases a deployment creates (or created) that exist.
    pub databases: BTreeMap<String, DatabaseObs>,
    /// Lake Formation permissions each principal of interest holds on each target.
    pub grants: BTreeMap<(Principal, LfTarget), BTreeSet<String>>,
    /// Databases and tables the desired grants name that the Glue catalog lacks.
    pub missing_in_catalog: Vec<String>,
    /// Databases to grant on whose new tables default to IAM_ALLOWED_PRINCIPALS: IAM alone
    /// governs them, and Lake Formation grants take effect only once they opt in.
    pub iam_governed: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PolicyObs {
    pub arn: String,
    pub document: Value,
    /// The id of the default version (whose document `document` is).
    pub default_version: String,
    /// All versions, oldest first; `(id, is_default)`.
    pub versions: Vec<(String, bool)>,
    pub owner: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct PrincipalObs {
    pub arn: String,
    /// A role's trust policy.
    pub trust: Option<Value>,
    pub owner: Option<String>,
    /// ARNs of attached managed policies.
    pub attached: BTreeSet<String>,
    /// Names of inline policies.
    pub inline: Vec<String>,
    /// A user's access key ids.
    pub keys: Vec<String>,
    /// A user's key tag value (see [`crate::observe::KEY_TAG`]).
    pub key_tag: Option<String>,
}

impl Observed {
    pub fn principal(&self, p: &Principal) -> Option<&PrincipalObs> {
        match p {
            Principal::Role(n) => self.roles.get(n),
            Principal::User(n) => self.users.get(n),
        }
    }
}

/// A Glue database a deployment creates (or created), as Glue has it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DatabaseObs {
    pub arn: String,
    /// The deployment its ownership tag names.
    pub owner: Option<String>,
    pub location: Option<String>,
    /// Its tables, where they were asked for (a database lakepass may delete).
    pub tables: Option<Vec<String>>,
}
