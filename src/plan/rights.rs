//! What the caller needs to carry a plan out: IAM actions on resources (checked through
//! IAM's policy simulator before the first change) and Lake Formation permissions on
//! targets (checked against the grants the caller holds).

use super::{Plan, Step};
use crate::model::{Facts, LfTarget, Principal};
use std::collections::{BTreeMap, BTreeSet};

/// IAM actions the plan's steps call, by the resource ARN each acts on ("*" for actions
/// that take no resource). Tags on a create need the tagging action as well.
pub fn iam_needed(plan: &Plan, facts: &Facts) -> BTreeMap<String, BTreeSet<&'static str>> {
    let mut needed: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
    let mut need = |resource: String, actions: &[&'static str]| {
        needed.entry(resource).or_default().extend(actions.iter().copied());
    };
    let role = |n: &str| Principal::Role(n.to_string()).arn(facts);
    let user = |n: &str| Principal::User(n.to_string()).arn(facts);
    for step in plan.actions.iter().flat_map(|a| &a.steps) {
        match step {
            Step::CreatePolicy { name, .. } => need(facts.policy_arn(name), &["iam:CreatePolicy", "iam:TagPolicy"]),
            Step::NewPolicyVersion { arn, prune, .. } => {
                need(arn.clone(), &["iam:CreatePolicyVersion"]);
                if prune.is_some() {
                    need(arn.clone(), &["iam:DeletePolicyVersion"]);
                }
            }
            Step::DeletePolicy { arn, old_versions } => {
                need(arn.clone(), &["iam:DeletePolicy"]);
                if !old_versions.is_empty() {
                    need(arn.clone(), &["iam:DeletePolicyVersion"]);
                }
            }
            Step::CreateRole { name, .. } => need(role(name), &["iam:CreateRole", "iam:TagRole"]),
            Step::UpdateTrust { name, .. } => need(role(name), &["iam:UpdateAssumeRolePolicy"]),
            Step::DeleteRole { name } => need(role(name), &["iam:DeleteRole"]),
            Step::CreateUser { name } => need(user(name), &["iam:CreateUser", "iam:TagUser"]),
            Step::DeleteUser { name, keys } => {
                need(user(name), &["iam:DeleteUser"]);
                if !keys.is_empty() {
                    need(user(name), &["iam:DeleteAccessKey"]);
                }
            }
            Step::Attach { principal: p @ Principal::Role(_), .. } => need(p.arn(facts), &["iam:AttachRolePolicy"]),
            Step::Attach { principal: p @ Principal::User(_), .. } => need(p.arn(facts), &["iam:AttachUserPolicy"]),
            Step::Detach { principal: p @ Principal::Role(_), .. } => need(p.arn(facts), &["iam:DetachRolePolicy"]),
            Step::Detach { principal: p @ Principal::User(_), .. } => need(p.arn(facts), &["iam:DetachUserPolicy"]),
            Step::CreateAccessKey { user: u, delete_first, .. } => {
                need(user(u), &["iam:CreateAccessKey", "iam:TagUser", "iam:ListAccessKeys"]);
                if !delete_first.is_empty() {
                    need(user(u), &["iam:DeleteAccessKey"]);
                }
            }
            Step::MarkLiveKey { user: u, .. } => need(user(u), &["iam:TagUser"]),
            Step::DeleteAccessKey { user: u, .. } => need(user(u), &["iam:DeleteAccessKey"]),
            Step::DeleteInlinePolicy { principal: p @ Principal::Role(_), .. } => {
                need(p.arn(facts), &["iam:DeleteRolePolicy"])
            }
            Step::DeleteInlinePolicy { principal: p @ Principal::User(_), .. } => {
                need(p.arn(facts), &["iam:DeleteUserPolicy"])
            }
            // Glue authorizes a database call on the catalog and the database together.
            Step::CreateDatabase { name, .. } => {
                need(facts.catalog_arn(), &["glue:CreateDatabase"]);
                need(facts.database_arn(name), &["glue:CreateDatabase", "glue:TagResource"]);
            }
            Step::SetDatabaseLocation { name, .. } => {
                need(facts.catalog_arn(), &["glue:GetDatabase", "glue:UpdateDatabase"]);
                need(facts.database_arn(name), &["glue:GetDatabase", "glue:UpdateDatabase"]);
            }
            Step::DeleteDatabase { name, tables } => {
                need(facts.catalog_arn(), &["glue:DeleteDatabase"]);
                need(facts.database_arn(name), &["glue:DeleteDatabase"]);
                if !tables.is_empty() {
                    need(
                        format!("{}/*", facts.database_arn(name).replace(":database/", ":table/")),
                        &["glue:DeleteTable"],
                    );
                }
            }
            Step::Tag { resource, arn_or_name } => match resource.split('/').next().unwrap_or_default() {
                "glue-database" => need(arn_or_name.clone(), &["glue:TagResource"]),
                "policy" => need(arn_or_name.clone(), &["iam:TagPolicy"]),
                "role" => need(role(arn_or_name), &["iam:TagRole"]),
                _ => need(user(arn_or_name), &["iam:TagUser"]),
            },
            Step::Grant { .. } => need("*".into(), &["lakeformation:BatchGrantPermissions"]),
            Step::Revoke { .. } => need("*".into(), &["lakeformation:BatchRevokePermissions"]),
        }
    }
    needed
}

/// The Lake Formation permissions the plan grants or revokes, by target.
pub fn grants_needed(plan: &Plan) -> Vec<(LfTarget, BTreeSet<String>)> {
    let mut needed: BTreeMap<LfTarget, BTreeSet<String>> = BTreeMap::new();
    for a in &plan.actions {
        for s in &a.steps {
            if let Step::Grant { target, permissions, .. } | Step::Revoke { target, permissions, .. } = s {
                needed.entry(target.clone()).or_default().extend(permissions.iter().cloned());
            }
        }
    }
    needed.into_iter().collect()
}
