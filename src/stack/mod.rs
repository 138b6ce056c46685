//! Stacks: what lakepass can build, as data.
//!
//! A stack file (`stacks/NAME.yaml`) declares typed parameters and the resources they
//! produce. Shipped stacks are embedded in the binary; `--stack-file` loads a user's own.
//! This module only parses and checks the file; [`crate::render`] turns a stack plus values
//! into resources.

mod params;
pub mod template;

pub use params::{
    ALL_DATABASES, ParamType, Parameter, Values, check_bucket, check_external_id, check_value, expand_all_databases,
    validate_values,
};

use crate::error::Error;
use serde::Deserialize;
use std::path::Path;

/// The stacks shipped inside the binary, every `stacks/*.yaml` (see build.rs): (file
/// name, contents), by name.
const SHIPPED: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/stacks.rs"));

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stack {
    pub name: String,
    pub description: String,
    pub parameters: Vec<Parameter>,
    /// Conditions over several values, checked after each value's own check.
    #[serde(default)]
    pub checks: Vec<Check>,
    /// A target lakepass writes into a YAML profiles file after provisioning and removes
    /// on teardown.
    pub profile_file: Option<ProfileFile>,
    /// Rows for the vendor's form, shown after provisioning besides the role ARN, the
    /// access key ID and the region.
    #[serde(default)]
    pub handoff: Vec<HandoffRow>,
    /// Example values, complete and valid: `lakepass stacks show` renders them.
    pub example: Option<Values>,
    /// What the stack deliberately does not grant that the vendor's documentation asks
    /// for, and why.
    #[serde(default)]
    pub omits: Vec<Omission>,
    pub resources: Vec<ResourceTemplate>,
    /// What `lakepass verify` proves of the vendor's principal.
    #[serde(default)]
    pub verify: Verify,
    /// AWS resources the values name that must exist before anything is changed.
    #[serde(default)]
    pub requires: Vec<Requirement>,
}

/// A target in a YAML profiles file (`PROFILE: {target: TARGET, outputs: {TARGET: ...}}`,
/// a YAML file of named profiles). Its strings are templates over the values and the
/// account facts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    /// Names it in the hand-off and in notes.
    pub label: String,
    pub path: String,
    pub profile: String,
    pub target: String,
    /// The target's settings, in order.
    pub fields: Vec<FieldTemplate>,
}

/// One setting of a [`ProfileFile`] target: a `value` template (text), or an `expr`
/// expression (any type; left out when undefined or none).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldTemplate {
    pub name: String,
    pub value: Option<String>,
    pub expr: Option<String>,
}

/// A row of the hand-off: `value` is a template, shown when `when` holds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffRow {
    pub label: String,
    pub value: String,
    pub when: Option<String>,
}

/// Something the vendor asks for that the stack does not grant.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Omission {
    pub what: String,
    pub why: String,
}

/// An AWS resource a value names, which the plan checks exists (AWS would refuse only
/// part way, or a session would fail later).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    /// What it is.
    pub kind: RequiredKind,
    /// A template naming it (with `for_each`, once per element, as `item`).
    pub name: String,
    /// An expression giving a list.
    pub for_each: Option<String>,
    /// The value that names it, for the error (`profile.connections`).
    pub field: String,
    /// A template variable that receives what lakepass found (see [`RequiredKind`]).
    pub provides: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequiredKind {
    /// A Glue connection; provides nothing.
    GlueConnection,
    /// A Glue security configuration; provides `{keys: [KMS key ARN, ...], encrypts_logs}`:
    /// the keys its S3, job bookmark and CloudWatch encryption use, and whether it
    /// encrypts logs.
    GlueSecurityConfiguration,
}

impl RequiredKind {
    /// What a `provides` variable holds before (or without) the lookup.
    pub fn nothing_found(&self) -> serde_json::Value {
        match self {
            RequiredKind::GlueConnection => serde_json::json!([]),
            RequiredKind::GlueSecurityConfiguration => serde_json::json!({"keys": [], "encrypts_logs": false}),
        }
    }
}

/// The calls the vendor needs and those it must not be able to make.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verify {
    #[serde(default)]
    pub needs: Vec<Probe>,
    #[serde(default)]
    pub forbidden: Vec<Probe>,
    /// The Athena workgroup the vendor queries in, and the bucket its results go to.
    pub athena: Option<AthenaCheck>,
    /// An expression giving the buckets the vendor reads: every granted table must be
    /// stored in one, and no bucket policy may deny the vendor's reads.
    pub data_buckets: Option<String>,
}

/// Templates naming a workgroup and its results bucket.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AthenaCheck {
    pub workgroup: String,
    pub results_bucket: String,
}

/// Actions × resource templates. With `for_each` (an expression giving a list), the
/// templates are rendered once per element, as `item`; `when` may skip an element.
/// Besides the values, templates see `other_databases` (the catalog's databases that
/// were not chosen), `data_paths` (where the vendor reads the chosen tables' data, as
/// `s3://bucket/prefix` or `s3://bucket`) and `hidden_paths` (the locations of the
/// unlisted tables of databases whose tables are listed, where S3 is narrowed to them).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    /// Says what it is, in the report ("read the chosen databases").
    pub what: String,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    pub for_each: Option<String>,
    pub when: Option<String>,
    /// Context keys the request carries (`s3:prefix` of a listing), as templates.
    #[serde(default)]
    pub context: std::collections::BTreeMap<String, String>,
}

/// A condition the values must meet together, with what to say when they do not.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// A template expression over the values that must be true.
    pub holds: String,
    /// The value to name in the error.
    pub field: String,
    pub problem: String,
    pub fix: String,
}

/// One resource of a stack, with templated fields. `id` names it for `attach` and `to`
/// (default: its type).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ResourceTemplate {
    Policy {
        id: Option<String>,
        when: Option<String>,
        name: String,
        description: String,
        statements: Vec<StatementTemplate>,
    },
    Role {
        id: Option<String>,
        when: Option<String>,
        name: String,
        description: String,
        trust: TrustTemplate,
        #[serde(default)]
        attach: Vec<String>,
    },
    User {
        id: Option<String>,
        when: Option<String>,
        name: String,
        #[serde(default)]
        access_key: bool,
        #[serde(default)]
        attach: Vec<String>,
    },
    /// A policy of this stack attached to a role or user lakepass does not own (given by
    /// ARN). The attachment is lakepass's; the principal is not, and teardown only detaches.
    Attachment {
        when: Option<String>,
        /// Id of the policy to attach.
        policy: String,
        /// Template rendering to the principal's ARN.
        to_arn: String,
    },
    /// A Glue database lakepass creates where it is missing, and owns: one that exists
    /// already is used as it is, never changed or deleted. Teardown deletes it only when
    /// it holds no tables, or with `--force`.
    Database {
        id: Option<String>,
        when: Option<String>,
        name: String,
        description: String,
        /// Template giving its location (`s3://bucket/prefix/`), where new tables go.
        location: Option<String>,
    },
    Grants {
        when: Option<String>,
        /// Template rendering to the id of the principal resource.
        to: Option<String>,
        /// Or a template rendering to the ARN of an existing role or user of the account
        /// (the one who runs the vendor's tool, say): lakepass grants it, and revokes only
        /// what it granted.
        to_arn: Option<String>,
        /// Expression giving the list of databases.
        databases: String,
        /// Expression giving the {database: [table]} map; a database not in it = all tables.
        tables: Option<String>,
        database_permissions: Vec<String>,
        table_permissions: Vec<String>,
    },
}

impl ResourceTemplate {
    pub fn id(&self) -> &str {
        match self {
            ResourceTemplate::Policy { id, .. } => id.as_deref().unwrap_or("policy"),
            ResourceTemplate::Role { id, .. } => id.as_deref().unwrap_or("role"),
            ResourceTemplate::User { id, .. } => id.as_deref().unwrap_or("user"),
            ResourceTemplate::Attachment { .. } => "attachment",
            ResourceTemplate::Database { id, .. } => id.as_deref().unwrap_or("database"),
            ResourceTemplate::Grants { .. } => "grants",
        }
    }

    pub fn when(&self) -> Option<&str> {
        match self {
            ResourceTemplate::Policy { when, .. }
            | ResourceTemplate::Role { when, .. }
            | ResourceTemplate::User { when, .. }
            | ResourceTemplate::Attachment { when, .. }
            | ResourceTemplate::Database { when, .. }
            | ResourceTemplate::Grants { when, .. } => when.as_deref(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatementTemplate {
    pub sid: String,
    pub actions: Vec<String>,
    #[serde(default)]
    pub resources: Vec<ArnTemplate>,
    /// Glue catalog resources of chosen databases, scoped by lakepass (see
    /// [`crate::render::scope`]): per database and table, or catalog-wide where Lake
    /// Formation governs.
    pub catalog: Option<CatalogTemplate>,
    /// S3 resources of the chosen tables' data, scoped by lakepass (see
    /// [`crate::render::data`]): whole buckets, or the listed tables' locations.
    pub data: Option<DataTemplate>,
    /// An IAM condition block; its string leaves are templates.
    pub condition: Option<serde_json::Value>,
}

/// The databases (and listed tables) a catalog statement reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogTemplate {
    /// Expression giving the list of databases.
    pub databases: String,
    /// Expression giving the {database: [table]} map; a database not in it = all tables.
    pub tables: Option<String>,
}

/// The data of the chosen databases' tables, in S3: `objects` (object ARNs, for
/// s3:GetObject) or `list` (bucket ARNs, for s3:ListBucket, with an `s3:prefix`
/// condition where the scope is the listed tables' locations).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataTemplate {
    /// Expression giving the buckets the chosen databases' data is in.
    pub buckets: String,
    /// Expression giving the list of databases.
    pub databases: String,
    /// Expression giving the {database: [table]} map; a database not in it = all tables.
    pub tables: Option<String>,
    pub grain: DataGrain,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataGrain {
    Objects,
    List,
}

/// A resource ARN template, or one expanded over a list (`item` is each element).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ArnTemplate {
    One(String),
    ForEach { for_each: String, value: String },
}

/// Who may assume a role: another account (with an external id), one role the vendor
/// publishes (with an external id; narrower than its whole account), or an AWS service.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum TrustTemplate {
    Account { account: String, external_id: String },
    Role { role_arn: String, external_id: String },
    Service { service: String, source_account: String },
}

impl Stack {
    /// Parses and checks a stack file's text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Stack, Error> {
        let stack: Stack = serde_saphyr::from_str(text).map_err(|e| Error::StackFile {
            origin: origin.to_string(),
            problem: crate::error::yaml_problem(&e, origin),
        })?;
        stack.check(origin)?;
        Ok(stack)
    }

    /// A shipped stack by name.
    pub fn shipped(name: &str) -> Result<Stack, Error> {
        let (_, text) = SHIPPED
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| Error::UnknownStack { name: name.to_string(), known: shipped_names().join(", ") })?;
        Stack::parse(text, &format!("shipped stack {name}"))
    }

    pub fn from_file(path: &Path) -> Result<Stack, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Value {
            field: "--stack-file".into(),
            problem: format!("{}: {}", path.display(), crate::error::io_reason(&e)),
            fix: "give the path of a stack file (docs/stacks.md describes the format), or leave --stack-file out to use the shipped stack".into(),
        })?;
        Stack::parse(&text, &path.display().to_string())
    }

    pub fn all_shipped() -> Result<Vec<Stack>, Error> {
        SHIPPED.iter().map(|(n, _)| Stack::shipped(n)).collect()
    }

    /// A stack by name: the project's own (`stacks/NAME.yaml` in `project_dir`, beside
    /// lakepass.yaml) where there is one, else the shipped one.
    pub fn find(name: &str, project_dir: &Path) -> Result<Stack, Error> {
        let own = project_dir.join("stacks").join(format!("{name}.yaml"));
        if own.is_file() {
            let stack = Stack::from_file(&own)?;
            if stack.name != name {
                return Err(Error::StackFile {
                    origin: own.display().to_string(),
                    problem: format!("is named {}, not {name} as its file", stack.name),
                });
            }
            return Ok(stack);
        }
        Stack::shipped(name).map_err(|e| match e {
            Error::UnknownStack { name, known } => {
                let mut all = own_names(project_dir);
                all.extend(known.split(", ").map(str::to_string));
                Error::UnknownStack { name, known: all.join(", ") }
            }
            other => other,
        })
    }

    /// Every stack a project can use: its own (`stacks/*.yaml` beside lakepass.yaml),
    /// then the shipped ones it does not replace.
    pub fn all(project_dir: &Path) -> Result<Vec<Stack>, Error> {
        let own = own_names(project_dir);
        let mut out: Vec<Stack> = own.iter().map(|n| Stack::find(n, project_dir)).collect::<Result<_, _>>()?;
        for s in Stack::all_shipped()? {
            if !own.contains(&s.name) {
                out.push(s);
            }
        }
        Ok(out)
    }

    pub fn parameter(&self, name: &str) -> Option<&Parameter> {
        self.parameters.iter().find(|p| p.name == name)
    }

    /// Structural checks a stack author needs: unique names, references that resolve.
    fn check(&self, origin: &str) -> Result<(), Error> {
        let fail = |problem: String| Error::StackFile { origin: origin.to_string(), problem };
        let mut seen = std::collections::BTreeSet::new();
        for p in &self.parameters {
            if !seen.insert(p.name.as_str()) {
                return Err(fail(format!("parameter {} is declared twice", p.name)));
            }
            if let ParamType::Choice = p.kind
                && p.choices.is_empty()
            {
                return Err(fail(format!("parameter {} is a choice without choices", p.name)));
            }
        }
        let ids: Vec<&str> = self.resources.iter().map(|r| r.id()).collect();
        let mut unique = std::collections::BTreeSet::new();
        for r in &self.resources {
            let is_grants = matches!(r, ResourceTemplate::Grants { .. } | ResourceTemplate::Attachment { .. });
            if !is_grants && r.id() == "grants" {
                return Err(fail("the id `grants` is reserved for grants resources".into()));
            }
            if !unique.insert(r.id()) && !is_grants {
                return Err(fail(format!("two resources have the id {}; give one an `id`", r.id())));
            }
        }
        for f in self.profile_file.iter().flat_map(|p| &p.fields) {
            if f.value.is_some() == f.expr.is_some() {
                return Err(fail(format!("profile_file field {} needs either `value` or `expr`", f.name)));
            }
        }
        for r in &self.requires {
            if let Some(v) = &r.provides
                && self.parameters.iter().any(|p| &p.name == v)
            {
                return Err(fail(format!("requires provides {v}, which is also a parameter")));
            }
        }
        for r in &self.resources {
            if let ResourceTemplate::Grants { to, to_arn, .. } = r
                && to.is_some() == to_arn.is_some()
            {
                return Err(fail(
                    "a grants resource needs either `to` (a role or user of the stack) or `to_arn`".into(),
                ));
            }
        }
        for r in &self.resources {
            let attach = match r {
                ResourceTemplate::Role { attach, .. } | ResourceTemplate::User { attach, .. } => attach.clone(),
                ResourceTemplate::Attachment { policy, .. } => vec![policy.clone()],
                _ => continue,
            };
            for a in &attach {
                let target = self.resources.iter().find(|r| r.id() == a);
                if !matches!(target, Some(ResourceTemplate::Policy { .. })) {
                    return Err(fail(format!(
                        "resource {} attaches {a}, which is not a policy of this stack (policies: {})",
                        r.id(),
                        ids.join(", ")
                    )));
                }
            }
            if let ResourceTemplate::Policy { statements, .. } = r {
                for s in statements {
                    if s.sid.is_empty() || !s.sid.chars().all(|c| c.is_ascii_alphanumeric()) {
                        return Err(fail(format!("statement sid {:?} must be letters and digits only", s.sid)));
                    }
                }
            }
        }
        Ok(())
    }
}

pub fn shipped_names() -> Vec<&'static str> {
    SHIPPED.iter().map(|(n, _)| *n).collect()
}

/// Whether a stack is shipped in the binary.
pub fn is_shipped(name: &str) -> bool {
    SHIPPED.iter().any(|(n, _)| *n == name)
}

/// The names of a project's own stacks (`stacks/*.yaml` in `project_dir`), sorted.
pub fn own_names(project_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(project_dir.join("stacks")) else { return Vec::new() };
    let mut names: Vec<String> =
        entries.filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".yaml").map(str::to_string)).collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_stack_parses_and_is_named_after_its_file() {
        for (file, _) in SHIPPED {
            let stack = Stack::shipped(file).unwrap();
            assert_eq!(stack.name, *file);
        }
    }

    #[test]
    fn unknown_stack_names_the_known_ones() {
        let e = Stack::shipped("snowflake").unwrap_err();
        let err = format!("{e} {}", e.hint().unwrap());
        assert!(err.contains("snowflake") && err.contains("secoda-glue"), "{err}");
    }

    #[test]
    fn attach_must_name_a_policy() {
        let text = r#"
name: x
description: d
parameters: []
resources:
  - type: user
    name: u
    attach: [nope]
"#;
        let err = Stack::parse(text, "x.yaml").unwrap_err().to_string();
        assert!(err.contains("attaches nope"), "{err}");
    }

    #[test]
    fn unknown_fields_in_a_stack_are_refused() {
        let text = "name: x\ndescription: d\nparameters: []\nresources: []\nextra: 1\n";
        let err = Stack::parse(text, "x.yaml").unwrap_err().to_string();
        assert!(err.contains("extra"), "{err}");
    }
}
