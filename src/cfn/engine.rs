//! The CloudFormation engine's calls: find the deployment's stack, preview a template as a
//! change set, deploy it and wait, delete the stack and wait. Each wait polls at once and
//! sleeps only while CloudFormation is still working; a failure names the first resource
//! that failed and why.

use crate::error::Error;
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_cloudformation::types::{
    Capability, ChangeAction, ChangeSetStatus, ChangeSetType, Parameter, StackStatus, Tag,
};
use std::time::Duration;

/// The deployment's stack as CloudFormation has it.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    pub id: String,
    pub status: String,
    /// (key, description, value) of each output.
    pub outputs: Vec<(String, String, String)>,
    pub tags: Vec<(String, String)>,
}

/// One change a change set would make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub action: Action,
    pub logical_id: String,
    pub kind: String,
    /// The resource's name or ARN, once it exists.
    pub physical_id: Option<String>,
    /// Whether CloudFormation replaces the resource (True, Conditional).
    pub replacement: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Add,
    Modify,
    Remove,
}

/// What a deploy sends besides the template.
pub struct Deploy<'a> {
    pub name: &'a str,
    pub template: &'a str,
    pub parameters: &'a [(String, String)],
    pub tags: &'a [(String, String)],
}

/// One line of progress (a resource's new status), or a wait.
pub trait Watch {
    fn event(&self, line: &str);
}

pub(crate) fn failed<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
    action: &str,
    e: aws_sdk_cloudformation::error::SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
) -> Error {
    crate::aws::classify(action, "", e)
}

/// The stack named `name_or_id`, if there is one (a deleted stack is none).
pub async fn find(client: &Client, name_or_id: &str) -> Result<Option<Live>, Error> {
    let out = match client.describe_stacks().stack_name(name_or_id).send().await {
        Ok(out) => out,
        Err(e) if e.code() == Some("ValidationError") && e.message().is_some_and(|m| m.contains("does not exist")) => {
            return Ok(None);
        }
        Err(e) => return Err(failed("cloudformation:DescribeStacks", e)),
    };
    let Some(s) = out.stacks().first() else { return Ok(None) };
    let status = s.stack_status().map(|x| x.as_str().to_string()).unwrap_or_default();
    if status == StackStatus::DeleteComplete.as_str() {
        return Ok(None);
    }
    Ok(Some(Live {
        id: s.stack_id().unwrap_or_default().to_string(),
        status,
        outputs: s
            .outputs()
            .iter()
            .map(|o| {
                (
                    o.output_key().unwrap_or_default().to_string(),
                    o.description().unwrap_or_default().to_string(),
                    o.output_value().unwrap_or_default().to_string(),
                )
            })
            .collect(),
        tags: s
            .tags()
            .iter()
            .map(|t| (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string()))
            .collect(),
    }))
}

/// The template the stack runs now.
pub async fn template(client: &Client, id: &str) -> Result<serde_json::Value, Error> {
    let out = client.get_template().stack_name(id).send().await.map_err(|e| failed("cloudformation:GetTemplate", e))?;
    let body = out.template_body().unwrap_or("{}");
    // The template lakepass wrote is JSON; one in YAML was not written by lakepass.
    Ok(serde_json::from_str(body).unwrap_or(serde_json::Value::Null))
}

/// Creates a change set of `d` against the stack (`existing`: its id; none: a new stack)
/// and waits until CloudFormation has computed it. Returns its id and its changes.
/// Its id is none when CloudFormation said at once that nothing changes.
async fn change_set(client: &Client, d: &Deploy<'_>, existing: bool) -> Result<(Option<String>, Vec<Change>), Error> {
    let kind = if existing { ChangeSetType::Update } else { ChangeSetType::Create };
    let mut request = client
        .create_change_set()
        .stack_name(d.name)
        .change_set_name(format!("lakepass-{}", std::process::id()))
        .change_set_type(kind)
        .template_body(d.template)
        .capabilities(Capability::CapabilityNamedIam)
        .description("made by lakepass");
    for (k, v) in d.parameters {
        request = request.parameters(Parameter::builder().parameter_key(k).parameter_value(v).build());
    }
    for (k, v) in d.tags {
        request = request.tags(Tag::builder().key(k).value(v).build());
    }
    let created = match request.send().await {
        Ok(created) => created,
        // Some endpoints answer a template that changes nothing at once, rather than with
        // a change set that fails for that reason.
        Err(e) if e.code() == Some("ValidationError") && e.message().is_some_and(|m| m.contains("No updates")) => {
            return Ok((None, Vec::new()));
        }
        Err(e) => return Err(failed("cloudformation:CreateChangeSet", e)),
    };
    let id = created.id().unwrap_or_default().to_string();
    let mut pause = Duration::from_millis(500);
    loop {
        let mut changes = Vec::new();
        let mut token: Option<String> = None;
        let mut status;
        let mut reason;
        loop {
            let out = client
                .describe_change_set()
                .change_set_name(&id)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| failed("cloudformation:DescribeChangeSet", e))?;
            status = out.status().cloned();
            reason = out.status_reason().unwrap_or_default().to_string();
            for c in out.changes() {
                let Some(r) = c.resource_change() else { continue };
                let action = match r.action() {
                    Some(ChangeAction::Add) => Action::Add,
                    Some(ChangeAction::Remove) => Action::Remove,
                    _ => Action::Modify,
                };
                changes.push(Change {
                    action,
                    logical_id: r.logical_resource_id().unwrap_or_default().to_string(),
                    kind: r.resource_type().unwrap_or_default().to_string(),
                    physical_id: r.physical_resource_id().filter(|p| !p.is_empty()).map(str::to_string),
                    replacement: r.replacement().map(|x| x.as_str().to_string()).filter(|x| x != "False"),
                });
            }
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        match status {
            Some(ChangeSetStatus::CreateComplete) => return Ok((Some(id), changes)),
            // CloudFormation's way of saying the template changes nothing.
            Some(ChangeSetStatus::Failed)
                if reason.contains("didn't contain changes") || reason.contains("No updates") =>
            {
                return Ok((Some(id), Vec::new()));
            }
            Some(ChangeSetStatus::Failed) => {
                let _ = client.delete_change_set().change_set_name(&id).send().await;
                return Err(Error::Other(format!("CloudFormation could not plan the stack: {reason}")));
            }
            _ => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// The changes deploying `d` to its existing stack would make, from a change set that is
/// deleted again. A stack that does not exist yet is not asked: a change set would create it (in
/// REVIEW_IN_PROGRESS), and a plan changes nothing; every resource is then an Add.
pub async fn preview(client: &Client, d: &Deploy<'_>) -> Result<Vec<Change>, Error> {
    let (id, changes) = change_set(client, d, true).await?;
    if let Some(id) = id {
        let _ = client.delete_change_set().change_set_name(&id).send().await;
    }
    Ok(changes)
}

/// Deploys `d`: creates the stack, or updates `existing`, and waits until CloudFormation
/// is done. Returns the stack and whether anything changed. A stack whose creation
/// failed has been rolled back; it is deleted, so nothing is left behind.
pub async fn deploy(
    client: &Client,
    d: &Deploy<'_>,
    existing: Option<&str>,
    watch: &dyn Watch,
) -> Result<(Live, bool), Error> {
    let (id, changes) = change_set(client, d, existing.is_some()).await?;
    let id = match id {
        Some(id) if !changes.is_empty() || existing.is_none() => id,
        unchanged => {
            if let Some(id) = unchanged {
                let _ = client.delete_change_set().change_set_name(&id).send().await;
            }
            let live = find(client, existing.unwrap_or(d.name)).await?.ok_or_else(|| gone(d.name))?;
            return Ok((live, false));
        }
    };
    let since = std::time::SystemTime::now();
    client
        .execute_change_set()
        .change_set_name(&id)
        .send()
        .await
        .map_err(|e| failed("cloudformation:ExecuteChangeSet", e))?;
    let live = wait(client, existing.unwrap_or(d.name), watch, since).await?;
    let stack_id = live.id.clone();
    match live.status.as_str() {
        "CREATE_COMPLETE" | "UPDATE_COMPLETE" => Ok((live, true)),
        status => {
            let why = first_failure(client, &stack_id, since).await;
            let rolled_back = matches!(status, "ROLLBACK_COMPLETE" | "UPDATE_ROLLBACK_COMPLETE");
            let mut message = format!("stack {} ended in {status}", d.name);
            if let Some(why) = why {
                message.push_str(&format!(": {why}"));
            }
            if status == "ROLLBACK_COMPLETE" {
                // A first creation rolled back holds nothing; CloudFormation keeps the empty
                // stack until it is deleted, and a new one of that name cannot be made.
                delete(client, &stack_id, watch).await?;
                message.push_str(
                    "; CloudFormation rolled back and lakepass deleted the empty stack: nothing was left behind",
                );
            } else if rolled_back {
                message.push_str("; CloudFormation rolled the stack back to what it was before: nothing else changed");
            }
            Err(Error::Other(message))
        }
    }
}

fn gone(name: &str) -> Error {
    Error::Other(format!("stack {name} disappeared while lakepass was deploying it"))
}

/// Deletes the stack `id` and waits until it is gone.
pub async fn delete(client: &Client, id: &str, watch: &dyn Watch) -> Result<(), Error> {
    let since = std::time::SystemTime::now();
    client.delete_stack().stack_name(id).send().await.map_err(|e| failed("cloudformation:DeleteStack", e))?;
    match wait(client, id, watch, since).await {
        Ok(live) if live.status == "DELETE_COMPLETE" => Ok(()),
        Ok(live) => {
            let why = first_failure(client, id, since).await.unwrap_or_default();
            Err(Error::Other(format!("stack {id} ended in {}: {why}", live.status)))
        }
        Err(e) => Err(e),
    }
}

/// The physical ids of the stack's resources, by type.
pub async fn resources(client: &Client, id: &str) -> Result<Vec<(String, String, String)>, Error> {
    let mut all = Vec::new();
    let mut pages = client.list_stack_resources().stack_name(id).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| failed("cloudformation:ListStackResources", e))?;
        for r in page.stack_resource_summaries() {
            all.push((
                r.resource_type().unwrap_or_default().to_string(),
                r.logical_resource_id().unwrap_or_default().to_string(),
                r.physical_resource_id().unwrap_or_default().to_string(),
            ));
        }
    }
    Ok(all)
}

/// Polls the stack until no operation is in progress, reporting each resource's new
/// status once. A deleted stack comes back with status DELETE_COMPLETE.
async fn wait(client: &Client, id: &str, watch: &dyn Watch, since: std::time::SystemTime) -> Result<Live, Error> {
    let mut seen = std::collections::HashSet::new();
    let mut pause = Duration::from_millis(500);
    let started = std::time::Instant::now();
    loop {
        for line in events(client, id, since).await {
            if seen.insert(line.clone()) {
                watch.event(&line);
            }
        }
        let live = match find(client, id).await? {
            Some(live) => live,
            None => {
                return Ok(Live { id: id.into(), status: "DELETE_COMPLETE".into(), outputs: vec![], tags: vec![] });
            }
        };
        if !live.status.ends_with("_IN_PROGRESS") {
            return Ok(live);
        }
        if started.elapsed() > Duration::from_secs(3600) {
            return Err(Error::Other(format!(
                "stack {id} is still {} after an hour; lakepass stopped waiting (CloudFormation goes on): see its events in the console",
                live.status
            )));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

/// The stack's events since `since`, oldest first, as progress lines.
async fn events(client: &Client, id: &str, since: std::time::SystemTime) -> Vec<String> {
    let Ok(out) = client.describe_stack_events().stack_name(id).send().await else { return Vec::new() };
    let mut lines: Vec<(i64, String)> = out
        .stack_events()
        .iter()
        .filter(|e| e.timestamp().is_some_and(|t| t.secs() >= secs(since)))
        .filter(|e| e.resource_type() != Some("AWS::CloudFormation::Stack"))
        .map(|e| {
            let mut line = format!(
                "{} {} {}",
                e.resource_status().map(|s| s.as_str()).unwrap_or_default(),
                e.resource_type().unwrap_or_default(),
                e.logical_resource_id().unwrap_or_default()
            );
            if let Some(r) = e.resource_status_reason().filter(|r| !r.is_empty()) {
                line.push_str(&format!(": {r}"));
            }
            (e.timestamp().map_or(0, |t| t.secs()), line)
        })
        .collect();
    lines.sort_by_key(|(t, _)| *t);
    lines.into_iter().map(|(_, l)| l).collect()
}

fn secs(t: std::time::SystemTime) -> i64 {
    // Events carry whole seconds; a second of slack keeps this run's first event.
    t.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64 - 1)
}

/// The first resource that failed since `since`, with CloudFormation's reason.
async fn first_failure(client: &Client, id: &str, since: std::time::SystemTime) -> Option<String> {
    events(client, id, since).await.into_iter().find(|l| l.contains("_FAILED"))
}

/// Each resource's drift, as CloudFormation's drift detection finds it: (logical ID,
/// MODIFIED | DELETED | IN_SYNC | NOT_CHECKED).
pub async fn drift(client: &Client, id: &str) -> Result<Vec<(String, String)>, Error> {
    let started = client
        .detect_stack_drift()
        .stack_name(id)
        .send()
        .await
        .map_err(|e| failed("cloudformation:DetectStackDrift", e))?;
    let detection = started.stack_drift_detection_id().unwrap_or_default().to_string();
    let mut pause = Duration::from_millis(500);
    loop {
        let out = client
            .describe_stack_drift_detection_status()
            .stack_drift_detection_id(&detection)
            .send()
            .await
            .map_err(|e| failed("cloudformation:DescribeStackDriftDetectionStatus", e))?;
        match out.detection_status().map(|s| s.as_str()).unwrap_or_default() {
            "DETECTION_IN_PROGRESS" => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            "DETECTION_FAILED" if out.stack_drift_status().map(|s| s.as_str()) == Some("UNKNOWN") => {
                return Err(Error::Other(format!(
                    "drift detection failed: {}",
                    out.detection_status_reason().unwrap_or("no reason given")
                )));
            }
            _ => break,
        }
    }
    let mut drifts = Vec::new();
    let mut pages = client.describe_stack_resource_drifts().stack_name(id).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| failed("cloudformation:DescribeStackResourceDrifts", e))?;
        for d in page.stack_resource_drifts() {
            drifts.push((
                d.logical_resource_id().unwrap_or_default().to_string(),
                d.stack_resource_drift_status().map(|s| s.as_str()).unwrap_or_default().to_string(),
            ));
        }
    }
    Ok(drifts)
}

#[cfg(test)]
mod tests {
    //! The paths the emulator cannot take (it never fails a stack): a creation that fails
    //! and rolls back, CloudFormation's "no changes" answer, a change set that fails. A
    //! real SDK client talks to a listener on 127.0.0.1 that gives CloudFormation's
    //! answers, in order, to the calls it expects.
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::{Arc, Mutex};

    const ID: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/lakepass-secoda/1";

    /// Answers each expected action, in order, with (HTTP status, XML); records what came.
    fn cloudformation(script: Vec<(&'static str, u16, String)>) -> (Client, Arc<Mutex<Vec<String>>>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let calls = Arc::new(Mutex::new(Vec::new()));
        let seen = calls.clone();
        std::thread::spawn(move || {
            let mut script = script.into_iter();
            for conn in listener.incoming().map_while(Result::ok) {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                loop {
                    let mut length = 0;
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    loop {
                        line.clear();
                        reader.read_line(&mut line).unwrap();
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap();
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    let body = String::from_utf8(body).unwrap();
                    let action = body.split('&').find_map(|p| p.strip_prefix("Action=")).unwrap_or("?").to_string();
                    seen.lock().unwrap().push(action.clone());
                    let (status, xml) = match script.next() {
                        Some((expected, status, xml)) if expected == action => (status, xml),
                        other => (500, format!("unexpected {action}, expected {other:?}")),
                    };
                    let mut w = &conn;
                    let _ = write!(
                        w,
                        "HTTP/1.1 {status} X\r\ncontent-type: text/xml\r\ncontent-length: {}\r\n\r\n{xml}",
                        xml.len()
                    );
                }
            }
        });
        let config = aws_sdk_cloudformation::Config::builder()
            .behavior_version(aws_sdk_cloudformation::config::BehaviorVersion::latest())
            .region(aws_sdk_cloudformation::config::Region::new("us-east-1"))
            .endpoint_url(url)
            .credentials_provider(aws_credential_types::Credentials::new("AKID", "SECRET", None, None, "test"))
            .retry_config(aws_sdk_cloudformation::config::retry::RetryConfig::disabled())
            .build();
        (Client::from_conf(config), calls)
    }

    fn ok(action: &'static str, result: &str) -> (&'static str, u16, String) {
        (action, 200, format!("<{action}Response><{action}Result>{result}</{action}Result></{action}Response>"))
    }

    fn stack(status: &str) -> (&'static str, u16, String) {
        ok(
            "DescribeStacks",
            &format!(
                "<Stacks><member><StackId>{ID}</StackId><StackName>lakepass-secoda</StackName>\
                 <CreationTime>2026-12-01T00:00:00Z</CreationTime><StackStatus>{status}</StackStatus></member></Stacks>"
            ),
        )
    }

    fn failed_role() -> (&'static str, u16, String) {
        let later = aws_smithy_types::DateTime::from_secs(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64 + 5,
        )
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap();
        ok(
            "DescribeStackEvents",
            &format!(
                "<StackEvents><member><StackId>{ID}</StackId><EventId>2</EventId><StackName>lakepass-secoda</StackName>\
                 <LogicalResourceId>RoleSecodaGlueRole</LogicalResourceId><ResourceType>AWS::IAM::Role</ResourceType>\
                 <Timestamp>{later}</Timestamp><ResourceStatus>CREATE_FAILED</ResourceStatus>\
                 <ResourceStatusReason>secoda-glue-role already exists</ResourceStatusReason></member></StackEvents>"
            ),
        )
    }

    fn created() -> (&'static str, u16, String) {
        ok("CreateChangeSet", &format!("<Id>cs</Id><StackId>{ID}</StackId>"))
    }

    struct Seen(Mutex<Vec<String>>);

    impl Watch for Seen {
        fn event(&self, line: &str) {
            self.0.lock().unwrap().push(line.to_string());
        }
    }

    fn deploy_of(template: &str) -> Deploy<'_> {
        Deploy { name: "lakepass-secoda", template, parameters: &[], tags: &[] }
    }

    #[tokio::test]
    async fn a_creation_that_fails_names_the_resource_and_leaves_no_stack_behind() {
        let gone = (
            "DescribeStacks",
            400,
            format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code>\
                 <Message>Stack with id {ID} does not exist</Message></Error><RequestId>1</RequestId></ErrorResponse>"
            ),
        );
        let (client, calls) = cloudformation(vec![
            created(),
            ok("DescribeChangeSet", "<Status>CREATE_COMPLETE</Status>"),
            ok("ExecuteChangeSet", ""),
            failed_role(),
            stack("ROLLBACK_COMPLETE"),
            failed_role(),
            ok("DeleteStack", ""),
            ok("DescribeStackEvents", "<StackEvents/>"),
            gone,
        ]);
        let seen = Seen(Mutex::new(Vec::new()));
        let e = deploy(&client, &deploy_of("{}"), None, &seen).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "stack lakepass-secoda ended in ROLLBACK_COMPLETE: CREATE_FAILED AWS::IAM::Role RoleSecodaGlueRole: \
             secoda-glue-role already exists; CloudFormation rolled back and lakepass deleted the empty stack: \
             nothing was left behind"
        );
        assert_eq!(
            *seen.0.lock().unwrap(),
            ["CREATE_FAILED AWS::IAM::Role RoleSecodaGlueRole: secoda-glue-role already exists"],
            "the failure is shown as it happens, once"
        );
        assert_eq!(calls.lock().unwrap().len(), 9, "{:?}", calls.lock().unwrap());
    }

    #[tokio::test]
    async fn an_update_that_changes_nothing_executes_nothing() {
        let (client, calls) = cloudformation(vec![
            created(),
            ok(
                "DescribeChangeSet",
                "<Status>FAILED</Status><StatusReason>The submitted information didn't contain changes. \
                 Submit different information to create a change set.</StatusReason>",
            ),
            ok("DeleteChangeSet", ""),
            stack("UPDATE_COMPLETE"),
        ]);
        let (live, changed) = deploy(&client, &deploy_of("{}"), Some(ID), &Seen(Mutex::new(Vec::new()))).await.unwrap();
        assert!(!changed);
        assert_eq!((live.id.as_str(), live.status.as_str()), (ID, "UPDATE_COMPLETE"));
        assert_eq!(
            *calls.lock().unwrap(),
            ["CreateChangeSet", "DescribeChangeSet", "DeleteChangeSet", "DescribeStacks"]
        );
    }

    #[tokio::test]
    async fn a_change_set_that_fails_for_another_reason_is_deleted_and_the_reason_given() {
        let (client, calls) = cloudformation(vec![
            created(),
            ok("DescribeChangeSet", "<Status>FAILED</Status><StatusReason>Template format error</StatusReason>"),
            ok("DeleteChangeSet", ""),
        ]);
        let e = preview(&client, &deploy_of("{}")).await.unwrap_err();
        assert_eq!(e.to_string(), "CloudFormation could not plan the stack: Template format error");
        assert_eq!(*calls.lock().unwrap(), ["CreateChangeSet", "DescribeChangeSet", "DeleteChangeSet"]);
    }
}
