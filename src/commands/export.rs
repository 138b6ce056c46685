//! `lakepass export`: a deployment as a CloudFormation template of exactly what `provision`
//! would build (see [`crate::cfn`]).

use super::*;
use crate::cfn::launch::{MAX_INLINE_TEMPLATE, MAX_S3_TEMPLATE, Upload, quick_create_link, stack_name};
use crate::output::say;
use crate::stack::ParamType;
use aws_sdk_s3::error::ProvideErrorMetadata;

#[derive(Debug, Clone, Default)]
pub struct ExportOpts {
    /// Write the template here rather than to stdout.
    pub output: Option<PathBuf>,
    /// Put the template in S3 (`s3://BUCKET/KEY`) and print the console link that launches it.
    pub upload: Option<String>,
}

/// `lakepass export`: observes the account as a plan does (databases `"*"` stand for, the
/// policies as split), changes nothing, and prints or writes the template.
pub async fn export(g: &Global, o: &ExportOpts) -> Result<i32, Error> {
    let loaded = Loaded::new(g, g.deployment.as_deref())?;
    // A bad --upload is refused before anything is read.
    let upload = o.upload.as_deref().map(|u| Upload::parse(u, &loaded.name)).transpose()?;
    let p = prepare(g, loaded, Consent::default(), false).await?;
    let stack = &p.loaded.stack;
    let (template, launch_parameters) = template_of(&p.loaded, &p.values, &p.facts, &p.desired)?;
    let text = format!("{}\n", serde_json::to_string_pretty(&template).expect("a template is JSON"));
    for note in &p.plan.notes {
        say(&format!("note: {note}"));
    }
    if stack.profile_file.is_some() {
        say("note: the template does not write the profiles-file target; `lakepass profile` prints it");
    }
    let resources = template["Resources"].as_object().map_or(0, |r| r.len());
    if let Some(upload) = &upload {
        if text.len() > MAX_S3_TEMPLATE {
            return Err(Error::Value {
                field: "--upload".into(),
                problem: format!("would put a template of {} bytes, over the 1 MB CloudFormation reads from S3", text.len()),
                fix: "split the deployment in two (fewer databases or tables each), or use the direct engine (`lakepass provision`)".into(),
            });
        }
        let region = put(&p.aws, upload, &p.loaded.name, &text).await?;
        let url = upload.https(&p.facts.partition, &region);
        say(&format!(
            "Uploaded the template to {} ({resources} resources). Open this link to launch it in {}; the stack creates IAM resources, so the console asks you to acknowledge that:",
            upload.url(),
            p.facts.region
        ));
        print(&format!(
            "{}\n",
            quick_create_link(
                &p.facts.partition,
                &p.facts.region,
                &url,
                &stack_name(&p.loaded.name),
                &launch_parameters
            )
        ));
    } else if o.output.is_none() && text.len() > MAX_INLINE_TEMPLATE {
        say(&format!(
            "note: the template is {} bytes; CloudFormation takes at most 51,200 inline, so deploy it from S3 (`--upload s3://BUCKET/KEY`)",
            text.len()
        ));
    }
    match &o.output {
        Some(path) => {
            crate::files::replace(path, &text)
                .map_err(|source| Error::Io { what: format!("write {}", path.display()), source })?;
            say(&format!("Wrote {} ({resources} resources).", path.display()));
            if text.len() > MAX_INLINE_TEMPLATE && upload.is_none() {
                say(&format!(
                    "note: the template is {} bytes; CloudFormation takes at most 51,200 inline, so deploy it from S3 (`--upload s3://BUCKET/KEY`)",
                    text.len()
                ));
            }
        }
        None if upload.is_none() => print(&text),
        None => {}
    }
    Ok(0)
}

/// The template of a deployment's desired resources, and the values of its parameters
/// (what the vendor hands out, defaulting to the deployment's value).
pub(super) fn template_of(
    loaded: &Loaded,
    values: &Values,
    facts: &Facts,
    desired: &[Resource],
) -> Result<(serde_json::Value, Vec<(String, String)>), Error> {
    let parameters: Vec<(String, String, String)> = loaded
        .stack
        .parameters
        .iter()
        .filter(|x| x.kind == ParamType::ExternalId)
        .filter_map(|x| {
            let value = values.get(&x.name)?.as_str()?.to_string();
            Some((crate::cfn::logical_name(&x.name), value, x.help.clone().unwrap_or_else(|| x.name.clone())))
        })
        .collect();
    let values_of = parameters.iter().map(|(n, v, _)| (n.clone(), v.clone())).collect();
    let template = crate::cfn::template(&crate::cfn::Input {
        deployment: &loaded.name,
        stack: &loaded.stack.name,
        description: &loaded.stack.description,
        facts,
        desired,
        parameters,
        outputs: Handoff::stack_rows(loaded, facts, values),
    })?;
    Ok((template, values_of))
}

/// The metadata that marks an object `lakepass export` wrote, naming the deployment.
const MARK: &str = "lakepass-deployment";

/// Puts the template at `upload` and returns the bucket's region. An object already
/// there is replaced only if this deployment's export wrote it; both writes are
/// conditional, so an object that appears or changes meanwhile is never overwritten.
async fn put(aws: &Aws, upload: &Upload, deployment: &str, text: &str) -> Result<String, Error> {
    let url = upload.url();
    let here = aws.s3(None);
    let location = here
        .get_bucket_location()
        .bucket(&upload.bucket)
        .send()
        .await
        .map_err(|e| s3_error("s3:GetBucketLocation", upload, e))?;
    let region = match location.location_constraint().map(|c| c.as_str()) {
        None | Some("") => "us-east-1".to_string(),
        Some("EU") => "eu-west-1".to_string(),
        Some(r) => r.to_string(),
    };
    let s3 = aws.s3(Some(&region));
    let existing = match s3.head_object().bucket(&upload.bucket).key(&upload.key).send().await {
        Ok(head) => Some(head),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => None,
        Err(e) => return Err(s3_error("s3:GetObject", upload, e)),
    };
    let mut request = s3
        .put_object()
        .bucket(&upload.bucket)
        .key(&upload.key)
        .content_type("application/json")
        .metadata(MARK, deployment)
        .body(aws_sdk_s3::primitives::ByteStream::from(text.as_bytes().to_vec()));
    request = match &existing {
        None => request.if_none_match("*"),
        Some(head) => {
            let writer = head.metadata().and_then(|m| m.get(MARK));
            if writer.map(String::as_str) != Some(deployment) {
                let whose = match writer {
                    Some(other) => format!("deployment {other}'s template"),
                    None => "an object lakepass did not write".to_string(),
                };
                return Err(Error::Value {
                    field: "--upload".into(),
                    problem: format!("names {url}, which holds {whose}"),
                    fix: format!(
                        "choose a key of its own (e.g. s3://{}/cloudformation/lakepass-{deployment}.json); lakepass replaces only a template this deployment's export put there",
                        upload.bucket
                    ),
                });
            }
            request.if_match(head.e_tag().unwrap_or_default())
        }
    };
    match request.send().await {
        Ok(_) => Ok(region),
        Err(e) if matches!(e.code(), Some("PreconditionFailed" | "ConditionalRequestConflict")) => Err(Error::Value {
            field: "--upload".into(),
            problem: format!("names {url}, which someone else wrote while this export ran"),
            fix: "look at what is there now, then run the export again (to another key if the object is not yours)"
                .into(),
        }),
        Err(e) => Err(s3_error("s3:PutObject", upload, e)),
    }
}

fn s3_error<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
    action: &str,
    upload: &Upload,
    e: aws_sdk_s3::error::SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
) -> Error {
    if e.code() == Some("NoSuchBucket") {
        return Error::Value {
            field: "--upload".into(),
            problem: format!("names bucket {}, which does not exist", upload.bucket),
            fix: format!("create it (`aws s3 mb s3://{}`) or name a bucket you may write to", upload.bucket),
        };
    }
    match crate::aws::classify(action, "", e) {
        Error::Aws { action, message } => Error::Aws { action, message: format!("{message} ({})", upload.url()) },
        other => other,
    }
}
