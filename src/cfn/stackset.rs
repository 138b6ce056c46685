//! The StackSet calls of the CloudFormation engine: the same template in many accounts
//! (`targets:`). Each operation (create, update, add or remove instances) is waited for;
//! a failed one names the account and region that failed and why.

use super::engine::{Deploy, failed};
use crate::error::Error;
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_cloudformation::types::{
    AutoDeployment, Capability, DeploymentTargets, Parameter, PermissionModels, StackSetOperationStatus, Tag,
};
use std::time::Duration;

/// A StackSet as CloudFormation has it.
#[derive(Debug, Clone, PartialEq)]
pub struct Set {
    pub id: String,
    pub template: String,
    pub service_managed: bool,
    pub tags: Vec<(String, String)>,
}

/// One stack instance: an account and region the StackSet deploys to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub account: String,
    pub region: String,
    pub unit: Option<String>,
    /// CURRENT, OUTDATED or INOPERABLE.
    pub status: String,
    pub reason: Option<String>,
    pub drift: Option<String>,
}

/// Where instances go: accounts, or organizational units.
#[derive(Debug, Clone, Copy)]
pub enum Where<'a> {
    Accounts(&'a [String]),
    Units(&'a [String]),
}

/// The StackSet named `name`, if there is one (a deleted one is none).
pub async fn find(client: &Client, name: &str) -> Result<Option<Set>, Error> {
    let out = match client.describe_stack_set().stack_set_name(name).send().await {
        Ok(out) => out,
        Err(e) if e.code() == Some("StackSetNotFoundException") => return Ok(None),
        Err(e) => return Err(failed("cloudformation:DescribeStackSet", e)),
    };
    let Some(s) = out.stack_set() else { return Ok(None) };
    if s.status().map(|x| x.as_str()) == Some("DELETED") {
        return Ok(None);
    }
    Ok(Some(Set {
        id: s.stack_set_id().unwrap_or_default().to_string(),
        template: s.template_body().unwrap_or_default().to_string(),
        service_managed: s.permission_model() == Some(&PermissionModels::ServiceManaged),
        tags: s
            .tags()
            .iter()
            .map(|t| (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string()))
            .collect(),
    }))
}

/// Every stack instance of the StackSet.
pub async fn instances(client: &Client, name: &str) -> Result<Vec<Instance>, Error> {
    let mut all = Vec::new();
    let mut pages = client.list_stack_instances().stack_set_name(name).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| failed("cloudformation:ListStackInstances", e))?;
        for i in page.summaries() {
            all.push(Instance {
                account: i.account().unwrap_or_default().to_string(),
                region: i.region().unwrap_or_default().to_string(),
                unit: i.organizational_unit_id().map(str::to_string),
                status: i.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
                reason: i.status_reason().filter(|r| !r.is_empty()).map(str::to_string),
                drift: i.drift_status().map(|s| s.as_str().to_string()),
            });
        }
    }
    all.sort_by(|a, b| (&a.account, &a.region).cmp(&(&b.account, &b.region)));
    Ok(all)
}

/// Creates the StackSet (no instances yet) and returns its ID.
pub async fn create(client: &Client, d: &Deploy<'_>, service_managed: bool) -> Result<String, Error> {
    let mut request = client
        .create_stack_set()
        .stack_set_name(d.name)
        .description("made by lakepass")
        .template_body(d.template)
        .capabilities(Capability::CapabilityNamedIam);
    request = if service_managed {
        // Only the accounts in the units now: an account added later gets the vendor's
        // role when provision runs again, not on its own.
        request
            .permission_model(PermissionModels::ServiceManaged)
            .auto_deployment(AutoDeployment::builder().enabled(false).build())
    } else {
        request.permission_model(PermissionModels::SelfManaged)
    };
    for (k, v) in d.parameters {
        request = request.parameters(Parameter::builder().parameter_key(k).parameter_value(v).build());
    }
    for (k, v) in d.tags {
        request = request.tags(Tag::builder().key(k).value(v).build());
    }
    match request.send().await {
        Ok(out) => Ok(out.stack_set_id().unwrap_or_default().to_string()),
        Err(e) if service_managed && e.message().is_some_and(|m| m.to_ascii_lowercase().contains("organizations")) => {
            Err(Error::Value {
                field: "targets.organizational_units".into(),
                problem: format!(
                    "make a service-managed StackSet, which needs CloudFormation's trusted access to AWS Organizations, which it refused: {}",
                    e.message().unwrap_or_default()
                ),
                fix: "turn it on from the management account (`aws cloudformation activate-organizations-access`), or list accounts instead (a self-managed StackSet)".into(),
            })
        }
        Err(e) => Err(failed("cloudformation:CreateStackSet", e)),
    }
}

/// Brings every instance to the template `d` holds.
pub async fn update(client: &Client, d: &Deploy<'_>) -> Result<(), Error> {
    let mut request = client
        .update_stack_set()
        .stack_set_name(d.name)
        .template_body(d.template)
        .capabilities(Capability::CapabilityNamedIam);
    for (k, v) in d.parameters {
        request = request.parameters(Parameter::builder().parameter_key(k).parameter_value(v).build());
    }
    for (k, v) in d.tags {
        request = request.tags(Tag::builder().key(k).value(v).build());
    }
    let out = request.send().await.map_err(|e| failed("cloudformation:UpdateStackSet", e))?;
    wait(client, d.name, out.operation_id().unwrap_or_default()).await
}

fn targets(w: Where<'_>) -> Option<DeploymentTargets> {
    match w {
        Where::Accounts(_) => None,
        Where::Units(units) => {
            Some(DeploymentTargets::builder().set_organizational_unit_ids(Some(units.to_vec())).build())
        }
    }
}

fn accounts(w: Where<'_>) -> Option<Vec<String>> {
    match w {
        Where::Accounts(a) => Some(a.to_vec()),
        Where::Units(_) => None,
    }
}

/// Deploys the StackSet to `w` in `regions`.
pub async fn add(client: &Client, name: &str, w: Where<'_>, regions: &[String]) -> Result<(), Error> {
    let out = client
        .create_stack_instances()
        .stack_set_name(name)
        .set_accounts(accounts(w))
        .set_deployment_targets(targets(w))
        .set_regions(Some(regions.to_vec()))
        .send()
        .await
        .map_err(|e| failed("cloudformation:CreateStackInstances", e))?;
    wait(client, name, out.operation_id().unwrap_or_default()).await
}

/// Removes the StackSet's instances (and their stacks) from `w` in `regions`.
pub async fn remove(client: &Client, name: &str, w: Where<'_>, regions: &[String]) -> Result<(), Error> {
    let out = client
        .delete_stack_instances()
        .stack_set_name(name)
        .set_accounts(accounts(w))
        .set_deployment_targets(targets(w))
        .set_regions(Some(regions.to_vec()))
        .retain_stacks(false)
        .send()
        .await
        .map_err(|e| failed("cloudformation:DeleteStackInstances", e))?;
    wait(client, name, out.operation_id().unwrap_or_default()).await
}

/// Deletes the StackSet, which must hold no instances.
pub async fn delete(client: &Client, name: &str) -> Result<(), Error> {
    client
        .delete_stack_set()
        .stack_set_name(name)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| failed("cloudformation:DeleteStackSet", e))
}

/// Waits for an operation; a failure names each account and region that failed.
async fn wait(client: &Client, name: &str, operation: &str) -> Result<(), Error> {
    let mut pause = Duration::from_millis(500);
    let started = std::time::Instant::now();
    loop {
        let out = client
            .describe_stack_set_operation()
            .stack_set_name(name)
            .operation_id(operation)
            .send()
            .await
            .map_err(|e| failed("cloudformation:DescribeStackSetOperation", e))?;
        let status = out.stack_set_operation().and_then(|o| o.status()).cloned();
        match status {
            Some(StackSetOperationStatus::Succeeded) => return Ok(()),
            Some(StackSetOperationStatus::Failed | StackSetOperationStatus::Stopped) => {
                let results = client
                    .list_stack_set_operation_results()
                    .stack_set_name(name)
                    .operation_id(operation)
                    .send()
                    .await
                    .map_err(|e| failed("cloudformation:ListStackSetOperationResults", e))?;
                let why: Vec<String> = results
                    .summaries()
                    .iter()
                    .filter(|r| r.status().map(|s| s.as_str()) != Some("SUCCEEDED"))
                    .map(|r| {
                        format!(
                            "{} in {}: {}",
                            r.account().unwrap_or("?"),
                            r.region().unwrap_or("?"),
                            r.status_reason().unwrap_or("no reason given")
                        )
                    })
                    .collect();
                return Err(Error::Other(format!(
                    "StackSet {name}: operation {operation} failed ({}); the failed accounts' stacks were rolled back",
                    if why.is_empty() { "no account named".to_string() } else { why.join("; ") }
                )));
            }
            _ if started.elapsed() > Duration::from_secs(3600) => {
                return Err(Error::Other(format!(
                    "StackSet {name}: operation {operation} still runs after an hour; lakepass stopped waiting (CloudFormation goes on)"
                )));
            }
            _ => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(10));
            }
        }
    }
}
