//! CloudFormation: the desired resources of a deployment as a template that builds exactly
//! what `provision` would, for teams that deploy through CloudFormation (a review, the
//! console's quick-create link, StackSets).
//!
//! Pure: (desired resources, facts, the values a vendor hands out, hand-off rows) →
//! template JSON. The account, region and partition in ARNs become pseudo parameters, so
//! one template serves any account; a value the vendor hands out (an external ID) becomes
//! a template parameter whose default is the deployment's value.

pub mod engine;
pub mod launch;
pub mod stackset;

use crate::error::Error;
use crate::model::{Facts, LfTarget, Principal, Resource};
use crate::observe::{OWNER_TAG, STACK_TAG};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// CloudFormation's limit on resources in one stack.
pub const MAX_RESOURCES: usize = 500;

/// What the template is made from.
pub struct Input<'a> {
    pub deployment: &'a str,
    pub stack: &'a str,
    pub description: &'a str,
    pub facts: &'a Facts,
    pub desired: &'a [Resource],
    /// Template parameters: (logical name, the value it stands for, description).
    pub parameters: Vec<(String, String, String)>,
    /// The hand-off rows beyond the role ARN and region: (label, value).
    pub outputs: Vec<(String, String)>,
}

/// The template, or why this deployment cannot be one.
pub fn template(i: &Input) -> Result<Value, Error> {
    let refuse = |problem: String, fix: &str| Error::Value {
        field: format!("deployments.{}", i.deployment),
        problem,
        fix: fix.into(),
    };
    if i.desired.iter().any(|r| matches!(r, Resource::AccessKey { .. })) {
        return Err(refuse(
            "builds an IAM user's access key, whose secret a CloudFormation stack would hold in plain sight".into(),
            "export role access, or keep user access on lakepass's own engine (`lakepass provision`)",
        ));
    }
    if i.desired.len() > MAX_RESOURCES {
        return Err(refuse(
            format!(
                "needs {} CloudFormation resources (mostly Lake Formation grants); one stack holds at most {MAX_RESOURCES}",
                i.desired.len()
            ),
            "choose fewer databases or tables for this deployment, or use `lakepass provision`, which has no such limit",
        ));
    }
    let sub = Sub::new(i.facts, &i.parameters);
    let ids = LogicalIds::new(i.desired);
    let tags = json!([
        {"Key": OWNER_TAG, "Value": i.deployment},
        {"Key": STACK_TAG, "Value": i.stack},
    ]);
    let mut resources = Map::new();
    for r in i.desired {
        let id = ids.of(r);
        let body = match r {
            Resource::Policy { name, description, document } => {
                let (mut roles, mut users) = (vec![], vec![]);
                for a in i.desired {
                    if let Resource::Attachment { policy, principal } = a
                        && policy == name
                    {
                        let to = ids.principal_name(principal);
                        match principal {
                            Principal::Role(_) => roles.push(to),
                            Principal::User(_) => users.push(to),
                        }
                    }
                }
                let mut p = json!({
                    "ManagedPolicyName": name,
                    "Description": description,
                    "PolicyDocument": sub.value(document),
                });
                if !roles.is_empty() {
                    p["Roles"] = Value::Array(roles);
                }
                if !users.is_empty() {
                    p["Users"] = Value::Array(users);
                }
                json!({"Type": "AWS::IAM::ManagedPolicy", "Properties": p})
            }
            Resource::Role { name, description, trust } => json!({
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": name,
                    "Description": description,
                    "AssumeRolePolicyDocument": sub.value(trust),
                    "Tags": tags,
                },
            }),
            Resource::User { name } => json!({
                "Type": "AWS::IAM::User",
                "Properties": {"UserName": name, "Tags": tags},
            }),
            // Attachments are the policies' Roles and Users; keys are refused above.
            Resource::Attachment { .. } | Resource::AccessKey { .. } => continue,
            Resource::Database { name, description, location } => {
                let mut input = json!({"Name": name, "Description": description});
                if let Some(l) = location {
                    input["LocationUri"] = sub.string(l);
                }
                json!({
                    "Type": "AWS::Glue::Database",
                    // Deleting a Glue database deletes its tables: the stack never does.
                    "DeletionPolicy": "Retain",
                    "UpdateReplacePolicy": "Retain",
                    "Properties": {"CatalogId": {"Ref": "AWS::AccountId"}, "DatabaseInput": input},
                })
            }
            Resource::Grant { principal, target, permissions } => {
                let catalog = json!({"Ref": "AWS::AccountId"});
                let resource = match target {
                    LfTarget::Database { database } => {
                        json!({"Database": {"CatalogId": catalog, "Name": database}})
                    }
                    LfTarget::AllTables { database } => {
                        json!({"Table": {"CatalogId": catalog, "DatabaseName": database, "TableWildcard": {}}})
                    }
                    LfTarget::Table { database, table } => {
                        json!({"Table": {"CatalogId": catalog, "DatabaseName": database, "Name": table}})
                    }
                };
                let mut g = json!({
                    "Type": "AWS::LakeFormation::PrincipalPermissions",
                    "Properties": {
                        "Principal": {"DataLakePrincipalIdentifier": ids.principal_arn(principal, &sub, i.facts)},
                        "Resource": resource,
                        "Permissions": permissions.iter().collect::<Vec<_>>(),
                        "PermissionsWithGrantOption": [],
                    },
                });
                // A grant on a database this stack creates waits for it.
                if let Some(db) = ids.database(target.database()) {
                    g["DependsOn"] = json!([db]);
                }
                g
            }
        };
        resources.insert(id, body);
    }
    let mut parameters = Map::new();
    for (name, value, description) in &i.parameters {
        parameters.insert(name.clone(), json!({"Type": "String", "Default": value, "Description": description}));
    }
    let mut outputs = Map::new();
    for r in i.desired {
        if let Resource::Role { .. } = r {
            outputs.insert(
                "RoleArn".into(),
                json!({"Description": "role ARN", "Value": {"Fn::GetAtt": [ids.of(r), "Arn"]}}),
            );
        }
    }
    for (label, value) in &i.outputs {
        outputs.insert(camel(label), json!({"Description": label, "Value": sub.string(value)}));
    }
    outputs.insert("Region".into(), json!({"Description": "region", "Value": {"Ref": "AWS::Region"}}));
    Ok(json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!(
            "lakepass deployment {} (stack {}): {}",
            i.deployment, i.stack, i.description
        ),
        "Parameters": parameters,
        "Resources": resources,
        "Outputs": outputs,
    }))
}

/// A template parameter's name for a stack parameter: `external_id` → `ExternalId`.
pub fn logical_name(parameter: &str) -> String {
    camel(parameter)
}

/// `some-name_x` → `SomeNameX`: the alphanumerics of a name, for logical IDs.
fn camel(s: &str) -> String {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            let first = c.next().unwrap().to_ascii_uppercase();
            std::iter::once(first).chain(c).collect::<String>()
        })
        .collect()
}

/// A short, stable hash (FNV-1a) that keeps logical IDs unique where names differ only in
/// punctuation (`a_b` and `ab`).
fn short_hash(s: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{:08X}", h as u32)
}

/// Logical IDs, and how a resource refers to another one in the template.
struct LogicalIds {
    by_address: BTreeMap<String, String>,
}

impl LogicalIds {
    fn new(desired: &[Resource]) -> LogicalIds {
        let mut by_address = BTreeMap::new();
        let mut taken = std::collections::BTreeSet::new();
        for r in desired {
            let mut id = Self::make(r);
            // Two names with the same letters and digits (`a-b`, `a_b`) get apart by hash.
            if !taken.insert(id.clone()) {
                id.push_str(&short_hash(&r.address()));
                taken.insert(id.clone());
            }
            by_address.insert(r.address(), id);
        }
        LogicalIds { by_address }
    }

    fn make(r: &Resource) -> String {
        let (kind, name) = match r {
            Resource::Policy { name, .. } => ("Policy", name.clone()),
            Resource::Role { name, .. } => ("Role", name.clone()),
            Resource::User { name } => ("User", name.clone()),
            Resource::AccessKey { user } => ("AccessKey", user.clone()),
            Resource::Attachment { policy, principal } => ("Attachment", format!("{}-{policy}", principal.name())),
            Resource::Database { name, .. } => ("Database", name.clone()),
            Resource::Grant { principal, target, .. } => {
                let what = match target {
                    LfTarget::Database { database } => database.clone(),
                    LfTarget::AllTables { database } => format!("{database}-tables"),
                    LfTarget::Table { database, table } => format!("{database}-{table}"),
                };
                ("Grant", format!("{}-{what}", principal.name()))
            }
        };
        // Logical IDs are at most 255 characters.
        let mut id: String = format!("{kind}{}", camel(&name)).chars().take(200).collect();
        if matches!(r, Resource::Grant { .. }) || id.len() == 200 {
            id.push_str(&short_hash(&r.address()));
        }
        id
    }

    fn of(&self, r: &Resource) -> String {
        self.by_address[&r.address()].clone()
    }

    fn local(&self, p: &Principal) -> Option<&String> {
        let address = match p {
            Principal::Role(n) => format!("role/{n}"),
            Principal::User(n) => format!("user/{n}"),
        };
        self.by_address.get(&address)
    }

    /// The principal's name as a policy's Roles or Users list takes it.
    fn principal_name(&self, p: &Principal) -> Value {
        match self.local(p) {
            Some(id) => json!({"Ref": id}),
            None => json!(p.name()),
        }
    }

    fn principal_arn(&self, p: &Principal, sub: &Sub, facts: &Facts) -> Value {
        match self.local(p) {
            Some(id) => json!({"Fn::GetAtt": [id, "Arn"]}),
            None => sub.string(&p.arn(facts)),
        }
    }

    fn database(&self, name: &str) -> Option<&String> {
        self.by_address.get(&format!("glue-database/{name}"))
    }
}

/// Turns the deployment's account, region and partition in strings into `Fn::Sub`
/// references, and a string equal to a parameter's value into a reference to it.
struct Sub {
    /// (literal, replacement), longest literal first.
    swaps: Vec<(String, String)>,
    /// A parameter's value → its name.
    parameters: BTreeMap<String, String>,
}

impl Sub {
    fn new(facts: &Facts, parameters: &[(String, String, String)]) -> Sub {
        let mut swaps = vec![
            (format!("arn:{}:", facts.partition), "arn:${AWS::Partition}:".to_string()),
            (format!(":{}:", facts.region), ":${AWS::Region}:".to_string()),
            (format!(":{}:", facts.account), ":${AWS::AccountId}:".to_string()),
        ];
        swaps.sort_by_key(|(l, _)| std::cmp::Reverse(l.len()));
        let parameters = parameters.iter().map(|(name, value, _)| (value.clone(), name.clone())).collect();
        Sub { swaps, parameters }
    }

    /// A string as it goes into the template: a parameter's `Ref`, `{"Fn::Sub": ...}` where
    /// it holds an account, region or partition, or itself.
    fn string(&self, s: &str) -> Value {
        if let Some(name) = self.parameters.get(s) {
            return json!({"Ref": name});
        }
        if !self.swaps.iter().any(|(l, _)| s.contains(l.as_str())) {
            return json!(s);
        }
        // A literal `${` (an IAM policy variable) is written `${!` in Fn::Sub.
        let mut out = s.replace("${", "${!");
        for (literal, with) in &self.swaps {
            out = out.replace(literal.as_str(), with);
        }
        json!({"Fn::Sub": out})
    }

    fn value(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => self.string(s),
            Value::Array(a) => Value::Array(a.iter().map(|v| self.value(v)).collect()),
            Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), self.value(v))).collect()),
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests;
