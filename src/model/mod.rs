//! The resources lakepass manages, as plain data.
//!
//! A deployment renders to a list of [`Resource`]s (the *desired* set); the planner compares
//! them with what AWS has and what the state file says lakepass owns. Every resource has a
//! stable [`Resource::address`], the key under which plan, state and observation meet.

mod observed;

pub use observed::{DatabaseObs, Observed, PolicyObs, PrincipalObs};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// An IAM principal lakepass creates: the target of attachments and Lake Formation grants.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Principal {
    Role(String),
    User(String),
}

impl Principal {
    pub fn name(&self) -> &str {
        match self {
            Principal::Role(n) | Principal::User(n) => n,
        }
    }

    pub fn arn(&self, facts: &Facts) -> String {
        match self {
            Principal::Role(n) => format!("arn:{}:iam::{}:role/{n}", facts.partition, facts.account),
            Principal::User(n) => format!("arn:{}:iam::{}:user/{n}", facts.partition, facts.account),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Principal::Role(_) => "role",
            Principal::User(_) => "user",
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind(), self.name())
    }
}

/// What a Lake Formation grant is on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LfTarget {
    Database { database: String },
    AllTables { database: String },
    Table { database: String, table: String },
}

impl LfTarget {
    pub fn database(&self) -> &str {
        match self {
            LfTarget::Database { database } | LfTarget::AllTables { database } | LfTarget::Table { database, .. } => {
                database
            }
        }
    }

    fn key(&self) -> String {
        match self {
            LfTarget::Database { database } => format!("database/{database}"),
            LfTarget::AllTables { database } => format!("table/{database}/*"),
            LfTarget::Table { database, table } => format!("table/{database}/{table}"),
        }
    }
}

impl fmt::Display for LfTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LfTarget::Database { database } => write!(f, "database {database}"),
            LfTarget::AllTables { database } => write!(f, "all tables in {database}"),
            LfTarget::Table { database, table } => write!(f, "table {database}.{table}"),
        }
    }
}

/// Account facts looked up once per run; everything ARN-shaped is derived from them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    pub account: String,
    pub partition: String,
    pub region: String,
}

impl Facts {
    pub fn policy_arn(&self, name: &str) -> String {
        format!("arn:{}:iam::{}:policy/{name}", self.partition, self.account)
    }

    pub fn database_arn(&self, name: &str) -> String {
        format!("arn:{}:glue:{}:{}:database/{name}", self.partition, self.region, self.account)
    }

    pub fn catalog_arn(&self) -> String {
        format!("arn:{}:glue:{}:{}:catalog", self.partition, self.region, self.account)
    }
}

/// One resource lakepass manages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Resource {
    /// A customer managed policy; `document` is normalized JSON.
    Policy {
        name: String,
        description: String,
        document: serde_json::Value,
    },
    /// A role with its trust policy (normalized JSON).
    Role {
        name: String,
        description: String,
        trust: serde_json::Value,
    },
    User {
        name: String,
    },
    /// The one access key lakepass keeps on a user it created.
    AccessKey {
        user: String,
    },
    /// A managed policy (by name) attached to a principal.
    Attachment {
        policy: String,
        principal: Principal,
    },
    /// A Glue database lakepass creates (and deletes only when empty, or when told to).
    /// `location` is its default location for new tables.
    Database {
        name: String,
        description: String,
        location: Option<String>,
    },
    /// Lake Formation permissions for a principal on one target.
    Grant {
        principal: Principal,
        target: LfTarget,
        permissions: BTreeSet<String>,
    },
}

impl Resource {
    /// The stable key of this resource in plan, state and observation. Names are part of
    /// the address, so renaming a resource plans a delete and a create.
    pub fn address(&self) -> String {
        match self {
            Resource::Policy { name, .. } => format!("policy/{name}"),
            Resource::Role { name, .. } => format!("role/{name}"),
            Resource::User { name } => format!("user/{name}"),
            Resource::AccessKey { user } => format!("access-key/{user}"),
            Resource::Database { name, .. } => format!("glue-database/{name}"),
            Resource::Attachment { policy, principal } => {
                format!("attachment/{}/{}/{policy}", principal.kind(), principal.name())
            }
            Resource::Grant { principal, target, .. } => {
                format!("grant/{}/{}/{}", principal.kind(), principal.name(), target.key())
            }
        }
    }

    /// Creation order: a resource may only depend on ones with a lower rank.
    /// Deletion walks the ranks the other way.
    pub fn rank(&self) -> u8 {
        match self {
            Resource::Policy { .. } | Resource::Database { .. } => 0,
            Resource::Role { .. } | Resource::User { .. } => 1,
            Resource::AccessKey { .. } => 2,
            Resource::Attachment { .. } => 3,
            Resource::Grant { .. } => 4,
        }
    }

    /// Whether this resource carries ownership tags.
    pub fn is_taggable(&self) -> bool {
        matches!(
            self,
            Resource::Policy { .. } | Resource::Role { .. } | Resource::User { .. } | Resource::Database { .. }
        )
    }

    /// A short human description: "iam role NAME".
    pub fn describe(&self) -> String {
        match self {
            Resource::Policy { name, .. } => format!("iam policy {name}"),
            Resource::Role { name, .. } => format!("iam role {name}"),
            Resource::User { name } => format!("iam user {name}"),
            Resource::AccessKey { user } => format!("access key of user {user}"),
            Resource::Database { name, .. } => format!("glue database {name}"),
            Resource::Attachment { policy, principal } => {
                format!("attachment of policy {policy} to {principal}")
            }
            Resource::Grant { principal, target, permissions } => format!(
                "lake formation {} on {target} to {principal}",
                permissions.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

/// "s3://bucket/prefix" → "bucket".
pub fn bucket_of(location: &str) -> Option<String> {
    s3_location(location).map(|(bucket, _)| bucket)
}

/// "s3://bucket/some/prefix/" → ("bucket", "some/prefix"); the Hadoop schemes `s3a://` and
/// `s3n://` name the same objects. None for anything else (a view has no location).
pub fn s3_location(location: &str) -> Option<(String, String)> {
    let rest = ["s3://", "s3a://", "s3n://"].iter().find_map(|s| location.strip_prefix(s))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then(|| (bucket.to_string(), prefix.trim_matches('/').to_string()))
}

/// The tables of some databases as Glue lists them: database → table → storage location
/// (None where a table has none, such as a view).
pub type Tables = std::collections::BTreeMap<String, std::collections::BTreeMap<String, Option<String>>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_distinct_per_kind_and_name() {
        let role = Principal::Role("r".into());
        let a = Resource::Grant {
            principal: role.clone(),
            target: LfTarget::AllTables { database: "sales".into() },
            permissions: BTreeSet::new(),
        };
        let b = Resource::Grant {
            principal: role.clone(),
            target: LfTarget::Database { database: "sales".into() },
            permissions: BTreeSet::new(),
        };
        assert_eq!(a.address(), "grant/role/r/table/sales/*");
        assert_eq!(b.address(), "grant/role/r/database/sales");
        let att = Resource::Attachment { policy: "p".into(), principal: role };
        assert_eq!(att.address(), "attachment/role/r/p");
    }

    #[test]
    fn resources_round_trip_through_json() {
        let r = Resource::Grant {
            principal: Principal::User("u".into()),
            target: LfTarget::Table { database: "d".into(), table: "t".into() },
            permissions: ["SELECT".to_string()].into_iter().collect(),
        };
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Resource>(&json).unwrap(), r);
    }
}
