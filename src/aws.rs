//! AWS clients, built once from the standard credential chain, and error classification.
//!
//! `AWS_ENDPOINT_URL` (and the per-service variants) is honoured by the SDK itself, which
//! is how the end-to-end tests point lakepass at a local emulator.

use crate::error::Error;
use crate::model::Facts;
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_iam::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use std::time::Duration;

/// The clients lakepass uses, for one account and region.
pub struct Aws {
    pub athena: aws_sdk_athena::Client,
    pub iam: aws_sdk_iam::Client,
    pub lf: aws_sdk_lakeformation::Client,
    pub glue: aws_sdk_glue::Client,
    pub sts: aws_sdk_sts::Client,
    pub region: String,
}

/// Where to connect: overrides of the credential chain's profile and region.
#[derive(Debug, Clone, Default)]
pub struct Connect {
    pub profile: Option<String>,
    pub region: Option<String>,
}

impl Aws {
    pub async fn connect(opts: &Connect) -> Result<Aws, Error> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        // Adaptive retries (throttling-aware) unless the user chose with AWS_MAX_ATTEMPTS or
        // AWS_RETRY_MODE, which the loader honours when left alone.
        let set = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if let Some(v) = set("AWS_MAX_ATTEMPTS")
            && v.parse::<u32>().map_or(true, |n| n == 0)
        {
            return Err(Error::Value {
                field: "AWS_MAX_ATTEMPTS".into(),
                problem: format!("is {v:?}, not a positive whole number"),
                fix: "set it to e.g. 5, or unset it".into(),
            });
        }
        if let Some(v) = set("AWS_RETRY_MODE")
            && !["standard", "adaptive", "legacy"].contains(&v.as_str())
        {
            return Err(Error::Value {
                field: "AWS_RETRY_MODE".into(),
                problem: format!("is {v:?}"),
                fix: "use standard or adaptive, or unset it".into(),
            });
        }
        if set("AWS_MAX_ATTEMPTS").is_none() && set("AWS_RETRY_MODE").is_none() {
            loader = loader
                .retry_config(RetryConfig::adaptive().with_max_attempts(6).with_max_backoff(Duration::from_secs(10)));
        }
        if let Some(p) = &opts.profile {
            // As in the AWS CLI, --profile wins over credentials in the environment: the
            // default chain would try AWS_ACCESS_KEY_ID first and sign with another account.
            let credentials = aws_config::profile::ProfileFileCredentialsProvider::builder().profile_name(p).build();
            loader = loader.profile_name(p).credentials_provider(credentials);
        }
        if let Some(r) = &opts.region {
            loader = loader.region(aws_config::Region::new(r.clone()));
        }
        let config = loader.load().await;
        let Some(region) = config.region().map(|r| r.to_string()) else {
            return Err(Error::Value {
                field: "region".into(),
                problem: "is not set: no --region, no region in the deployment and none in the AWS config".into(),
                fix: "add `region: us-east-1` (your Glue catalog's region) to the deployment, or pass --region".into(),
            });
        };
        Ok(Aws {
            athena: aws_sdk_athena::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
            lf: aws_sdk_lakeformation::Client::new(&config),
            glue: aws_sdk_glue::Client::new(&config),
            sts: aws_sdk_sts::Client::new(&config),
            region,
        })
    }

    /// Who is calling, and the account facts every ARN is built from.
    pub async fn whoami(&self) -> Result<(Facts, String), Error> {
        let out =
            self.sts.get_caller_identity().send().await.map_err(|e| classify("sts:GetCallerIdentity", "you", e))?;
        let arn = out.arn().unwrap_or_default().to_string();
        let account = out.account().unwrap_or_default().to_string();
        let partition = arn.split(':').nth(1).filter(|p| !p.is_empty()).unwrap_or("aws").to_string();
        Ok((Facts { account, partition, region: self.region.clone() }, caller_principal(&arn)))
    }
}

/// The IAM principal behind a caller ARN: an assumed-role session maps to its role, which
/// is what Lake Formation lists as an administrator.
pub fn caller_principal(arn: &str) -> String {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() == 6
        && parts[2] == "sts"
        && let Some(rest) = parts[5].strip_prefix("assumed-role/")
    {
        let role = rest.split('/').next().unwrap_or(rest);
        return format!("arn:{}:iam::{}:role/{role}", parts[1], parts[4]);
    }
    // The emulator names an IAM user with an sts ARN; AWS uses the iam form.
    if parts.len() == 6 && parts[2] == "sts" && parts[5].starts_with("user/") {
        return format!("arn:{}:iam::{}:{}", parts[1], parts[4], parts[5]);
    }
    arn.to_string()
}

/// Whether an error is the service saying the thing does not exist.
pub fn is_not_found<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    matches!(e.code(), Some("NoSuchEntity" | "EntityNotFoundException" | "NoSuchEntityException"))
}

/// Turns an SDK error into one a user can act on. `action` is the IAM action name
/// (e.g. "iam:CreateRole"), `caller` who made the call.
pub fn classify<E>(action: &str, caller: &str, e: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = e.raw_response().map(|r| r.status().as_u16());
    // A 403 whose body names no error code is still a refusal.
    let code = e.code().map(str::to_string).or_else(|| (status == Some(403)).then(|| "AccessDenied".to_string()));
    let message = e.message().map(str::to_string);
    match code.as_deref() {
        Some("AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" | "AuthorizationError") => {
            Error::AccessDenied {
                action: action.to_string(),
                caller: caller.to_string(),
                detail: format!("{action}; AWS said: {}", message.unwrap_or_default()),
            }
        }
        Some(c) => Error::Aws { action: action.to_string(), message: format!("{c}: {}", message.unwrap_or_default()) },
        None => {
            if let Some(c) = credentials_error(&e) {
                return c;
            }
            let text = DisplayErrorContext(&e).to_string();
            Error::Aws { action: action.to_string(), message: first_line(&text) }
        }
    }
}

/// The credential chain's failure behind an SDK error, as the error a user can act on: a
/// profile that is not defined is named with the files searched.
fn credentials_error(e: &(dyn std::error::Error + 'static)) -> Option<Error> {
    use aws_credential_types::provider::error::CredentialsError;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(c) = s.downcast_ref::<CredentialsError>() {
            let detail = DisplayErrorContext(c).to_string();
            if let Some(profile) = undefined_profile(&detail) {
                return Some(Error::NoProfile { profile, files: profile_files() });
            }
            return Some(Error::NoCredentials { detail: first_line(&detail) });
        }
        source = s.source();
    }
    None
}

/// "profile `x` was not defined" → "x".
fn undefined_profile(text: &str) -> Option<String> {
    let rest = text.split("profile `").nth(1)?;
    let (name, tail) = rest.split_once('`')?;
    tail.trim_start().starts_with("was not defined").then(|| name.to_string())
}

/// The AWS config files the credential chain reads, as a user would look for them.
fn profile_files() -> String {
    let file = |var: &str, default: &str| {
        std::env::var(var).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string())
    };
    format!(
        "{} and {}",
        file("AWS_CONFIG_FILE", "~/.aws/config"),
        file("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials")
    )
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).chars().take(400).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_undefined_profile_is_recognised_by_name() {
        assert_eq!(
            undefined_profile("profile `nosuch` was not defined: could not find source profile nosuch").as_deref(),
            Some("nosuch")
        );
        assert_eq!(undefined_profile("the credential provider was not enabled"), None);
    }

    #[test]
    fn assumed_role_sessions_map_to_their_role() {
        assert_eq!(
            caller_principal("arn:aws:sts::123456789012:assumed-role/Admin/alice@example.com"),
            "arn:aws:iam::123456789012:role/Admin"
        );
        assert_eq!(caller_principal("arn:aws:iam::123456789012:user/bob"), "arn:aws:iam::123456789012:user/bob");
    }
}
