//! Glue steps: the databases a deployment creates. A create answered "already exists"
//! is settled by the ownership tags, as IAM creates are.

use super::Context;
use crate::aws::{classify, is_not_found};
use crate::error::Error;
use crate::observe::{OWNER_TAG, STACK_TAG};
use crate::plan::Step;
use aws_sdk_glue::error::ProvideErrorMetadata;
use aws_sdk_glue::types::DatabaseInput;
use std::collections::HashMap;

fn tags(cx: &Context) -> HashMap<String, String> {
    HashMap::from([(OWNER_TAG.to_string(), cx.deployment.to_string()), (STACK_TAG.to_string(), cx.stack.to_string())])
}

/// Runs one Glue step.
pub(super) async fn run_step(cx: &Context<'_>, step: &Step) -> Result<(), Error> {
    let glue = &cx.aws.glue;
    let c = cx.caller;
    match step {
        Step::CreateDatabase { name, description, location } => {
            let input = DatabaseInput::builder()
                .name(name)
                .description(description)
                .set_location_uri(location.clone())
                .build()
                .expect("name set");
            match glue.create_database().database_input(input).set_tags(Some(tags(cx))).send().await {
                Ok(_) => {}
                Err(e) if e.code() == Some("AlreadyExistsException") => settle(cx, name).await?,
                Err(e) => return Err(classify("glue:CreateDatabase", c, e)),
            }
        }
        Step::SetDatabaseLocation { name, location } => {
            // UpdateDatabase replaces the definition whole: everything else is kept as read.
            let got = glue.get_database().name(name).send().await.map_err(|e| classify("glue:GetDatabase", c, e))?;
            let Some(d) = got.database() else {
                return Err(Error::Aws {
                    action: "glue:GetDatabase".into(),
                    message: format!("database {name} has no definition"),
                });
            };
            let input = DatabaseInput::builder()
                .name(name)
                .set_description(d.description().map(str::to_string))
                .set_location_uri(location.clone())
                .set_parameters(d.parameters().cloned())
                .set_create_table_default_permissions(Some(d.create_table_default_permissions().to_vec()))
                .set_target_database(d.target_database().cloned())
                .set_federated_database(d.federated_database().cloned())
                .build()
                .expect("name set");
            glue.update_database()
                .name(name)
                .database_input(input)
                .send()
                .await
                .map_err(|e| classify("glue:UpdateDatabase", c, e))?;
        }
        Step::DeleteDatabase { name, .. } => match glue.delete_database().name(name).send().await {
            Err(e) if !is_not_found(&e) => return Err(classify("glue:DeleteDatabase", c, e)),
            _ => {}
        },
        Step::Tag { arn_or_name, .. } => {
            glue.tag_resource()
                .resource_arn(arn_or_name)
                .set_tags_to_add(Some(tags(cx)))
                .send()
                .await
                .map_err(|e| classify("glue:TagResource", c, e))?;
        }
        other => unreachable!("not a Glue step: {other:?}"),
    }
    Ok(())
}

/// A create answered "already exists" for a name the plan saw free: ours (the retry of a
/// create whose first answer was lost) only if it carries this deployment's tags.
async fn settle(cx: &Context<'_>, name: &str) -> Result<(), Error> {
    let got = cx
        .aws
        .glue
        .get_tags()
        .resource_arn(cx.facts.database_arn(name))
        .send()
        .await
        .map_err(|e| classify("glue:GetTags", cx.caller, e))?;
    let tags = got.tags().cloned().unwrap_or_default();
    let has = |k: &str, v: &str| tags.get(k).map(String::as_str) == Some(v);
    if has(OWNER_TAG, cx.deployment) && has(STACK_TAG, cx.stack) {
        return Ok(());
    }
    Err(Error::Aws {
        action: "glue:CreateDatabase".into(),
        message: format!(
            "glue database {name} appeared while this run was creating it, and it is not this deployment's (no lakepass tags on it); another tool or person made it. Nothing of it was changed; run again to use it as it is, or choose another name"
        ),
    })
}
