//! AWS clients, built once from the standard credential chain, and error classification.
//!
//! `AWS_ENDPOINT_URL` (and the per-service variants) is honoured by the SDK itself, which
//! is how the end-to-end tests point lakepass at a local emulator.

use crate::error::Error;
use crate::model::Facts;
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_iam::config::retry::{RetryPartition, TokenBucket};
use aws_sdk_iam::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata};
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use std::time::Duration;

/// The clients lakepass uses, for one account and region.
pub struct Aws {
    pub athena: aws_sdk_athena::Client,
    pub iam: aws_sdk_iam::Client,
    pub lf: aws_sdk_lakeformation::Client,
    pub glue: aws_sdk_glue::Client,
    pub sts: aws_sdk_sts::Client,
    pub kms: aws_sdk_kms::Client,
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub region: String,
    config: aws_config::SdkConfig,
    notice: RetryNotice,
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
            && !["standard", "adaptive"].contains(&v.as_str())
        {
            return Err(Error::Value {
                field: "AWS_RETRY_MODE".into(),
                problem: format!("is {v:?}"),
                fix: "use standard or adaptive, or unset it".into(),
            });
        }
        // Standard retries with AWS's backoff, unless AWS_RETRY_MODE / AWS_MAX_ATTEMPTS say
        // otherwise (the loader honours them when left alone). Adaptive mode's client-side
        // rate limiter stretched a throttled run from seconds to minutes.
        let max_attempts = match (set("AWS_MAX_ATTEMPTS"), set("AWS_RETRY_MODE")) {
            (Some(v), _) => v.parse().unwrap_or(MAX_ATTEMPTS),
            // The SDK's own default when only the mode is chosen.
            (None, Some(_)) => 3,
            (None, None) => MAX_ATTEMPTS,
        };
        if set("AWS_MAX_ATTEMPTS").is_none() && set("AWS_RETRY_MODE").is_none() {
            loader = loader
                .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS).with_max_backoff(MAX_BACKOFF));
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
        check_region(&region)?;
        // Each client gets its own retry quota, large enough that attempts, not the SDK's
        // shared token bucket (500 tokens: about 100 throttled retries a run), bound the
        // retries; and a notice on stderr whenever AWS makes a run wait.
        let partition = |name: &'static str| {
            RetryPartition::custom(name).token_bucket(TokenBucket::builder().capacity(100_000).build()).build()
        };
        let notice = RetryNotice::new(max_attempts);
        macro_rules! client {
            ($sdk:ident, $name:literal) => {
                $sdk::Client::from_conf(
                    $sdk::config::Builder::from(&config)
                        .retry_partition(partition($name))
                        .interceptor(notice.clone())
                        .build(),
                )
            };
        }
        Ok(Aws {
            athena: client!(aws_sdk_athena, "lakepass-athena"),
            iam: client!(aws_sdk_iam, "lakepass-iam"),
            lf: client!(aws_sdk_lakeformation, "lakepass-lakeformation"),
            glue: client!(aws_sdk_glue, "lakepass-glue"),
            sts: client!(aws_sdk_sts, "lakepass-sts"),
            kms: client!(aws_sdk_kms, "lakepass-kms"),
            cloudformation: client!(aws_sdk_cloudformation, "lakepass-cloudformation"),
            region,
            config,
            notice,
        })
    }

    /// An S3 client for the team's state bucket, in `region` where that is not the
    /// deployment's. Path-style addressing where an endpoint is set (an emulator).
    pub fn s3(&self, region: Option<&str>) -> aws_sdk_s3::Client {
        let mut b = aws_sdk_s3::config::Builder::from(&self.config)
            .retry_partition(
                RetryPartition::custom("lakepass-s3")
                    .token_bucket(TokenBucket::builder().capacity(100_000).build())
                    .build(),
            )
            .interceptor(self.notice.clone());
        if let Some(r) = region {
            b = b.region(aws_config::Region::new(r.to_string()));
        }
        if self.config.endpoint_url().is_some() {
            b = b.force_path_style(true);
        }
        aws_sdk_s3::Client::from_conf(b.build())
    }

    /// Who is calling, and the account facts every ARN is built from.
    pub async fn whoami(&self) -> Result<(Facts, String), Error> {
        // The first call: where AWS cannot be reached at all, say so in seconds, not
        // after the full retry budget.
        // AWS that answers but throttles or fails gets the full budget, like every other call.
        let quick = aws_sdk_sts::config::Builder::default().retry_config(RetryConfig::standard().with_max_attempts(3));
        let out = match self.sts.get_caller_identity().customize().config_override(quick).send().await {
            Ok(out) => out,
            Err(e @ (SdkError::DispatchFailure(_) | SdkError::TimeoutError(_))) => {
                return Err(classify("sts:GetCallerIdentity", "you", e));
            }
            Err(e)
                if e.code()
                    .is_some_and(|c| !c.contains("Throttl") && c != "ServiceUnavailable" && c != "InternalFailure") =>
            {
                return Err(in_region(&self.region, classify("sts:GetCallerIdentity", "you", e)));
            }
            Err(_) => self
                .sts
                .get_caller_identity()
                .send()
                .await
                .map_err(|e| in_region(&self.region, classify("sts:GetCallerIdentity", "you", e)))?,
        };
        let arn = out.arn().unwrap_or_default().to_string();
        let account = out.account().unwrap_or_default().to_string();
        let partition = crate::arn::Arn::parse(&arn).map(|a| a.partition).filter(|p| !p.is_empty());
        let partition = partition.unwrap_or("aws").to_string();
        Ok((Facts { account, partition, region: self.region.clone() }, caller_principal(&arn)))
    }
}

/// Attempts per call by default: at 30 % throttled calls, one in 170,000 calls still fails.
pub const MAX_ATTEMPTS: u32 = 10;
/// The longest wait between two attempts (AWS's backoff doubles up to it, with jitter):
/// a call gives up after at most about a minute of waiting.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Regions an account must enable before use: there, AWS does not know the account's
/// keys at all until it does.
const OPT_IN_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-west-1",
    "eu-central-2",
    "eu-south-1",
    "eu-south-2",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
];

/// Unknown keys in an opt-in region most likely mean the region is not enabled.
fn in_region(region: &str, e: Error) -> Error {
    match e {
        Error::BadCredentials { ref problem, .. }
            if OPT_IN_REGIONS.contains(&region) && problem.starts_with("the access key is not known") =>
        {
            Error::Value {
                field: "region".into(),
                problem: format!(
                    "is {region}, a region accounts must enable first, and AWS does not know these credentials there"
                ),
                fix: format!(
                    "enable it (AWS console > Account > AWS Regions, or `aws account enable-region --region-name {region}`), or use the region of your Glue catalog"
                ),
            }
        }
        e => e,
    }
}

/// A region name as AWS writes them ("us-east-1", "us-gov-west-1"), before any call is
/// signed for a region that does not exist.
pub(crate) fn check_region(region: &str) -> Result<(), Error> {
    let parts: Vec<&str> = region.split('-').collect();
    let ok = parts.len() >= 3
        && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
        && parts[0].len() == 2
        && parts.last().is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        return Ok(());
    }
    Err(Error::Value {
        field: "region".into(),
        problem: format!("is {region:?}, which is not an AWS region name"),
        fix: "write it as AWS does, e.g. us-east-1 or eu-west-2 (lower case, with dashes), in --region or the deployment's region".into(),
    })
}

/// Says on stderr when AWS makes a run wait: an attempt throttled or failed on AWS's side
/// that will be retried. At most one line a second, so a throttled run stays readable.
#[derive(Debug, Clone)]
struct RetryNotice {
    max: u32,
    last: std::sync::Arc<std::sync::Mutex<Option<std::time::Instant>>>,
}

impl RetryNotice {
    fn new(max: u32) -> RetryNotice {
        RetryNotice { max, last: Default::default() }
    }
}

impl Intercept for RetryNotice {
    fn name(&self) -> &'static str {
        "RetryNotice"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(response) = context.response() else { return Ok(()) };
        let status = response.status().as_u16();
        let attempt = cfg.load::<RequestAttempts>().map(|a| a.attempts()).unwrap_or(1);
        // A call may carry its own budget (one attempt for a check that is only advice).
        let max = cfg.load::<RetryConfig>().map_or(self.max, |r| r.max_attempts());
        if attempt >= max || status < 400 {
            return Ok(());
        }
        let body = response.body().bytes().unwrap_or_default();
        let throttled = status == 429
            || body.windows(7).any(|w| w == b"Throttl")
            || response.headers().get("x-amzn-errortype").is_some_and(|t| t.contains("Throttl"));
        let what = match (throttled, status >= 500) {
            (true, _) => "throttling",
            (false, true) => "failing",
            (false, false) => return Ok(()),
        };
        let service = cfg.load::<Metadata>().map(|m| m.service().to_string()).unwrap_or_else(|| "AWS".into());
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
            *last = Some(std::time::Instant::now());
            crate::output::say(&format!("  AWS is {what} {service} calls; retrying ({}/{max})...", attempt + 1));
        }
        Ok(())
    }
}

/// The IAM principal behind a caller ARN: an assumed-role session maps to its role, which
/// is what Lake Formation lists as an administrator.
pub fn caller_principal(arn: &str) -> String {
    let Some(a) = crate::arn::Arn::parse(arn).filter(|a| a.service == "sts") else { return arn.to_string() };
    if let Some(rest) = a.resource.strip_prefix("assumed-role/") {
        let role = rest.split('/').next().unwrap_or(rest);
        return format!("arn:{}:iam::{}:role/{role}", a.partition, a.account);
    }
    // The emulator names an IAM user with an sts ARN; AWS uses the iam form.
    if a.resource.starts_with("user/") {
        return format!("arn:{}:iam::{}:{}", a.partition, a.account, a.resource);
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
        Some(
            c @ ("ExpiredToken"
            | "ExpiredTokenException"
            | "RequestExpired"
            | "InvalidClientTokenId"
            | "UnrecognizedClientException"
            | "SignatureDoesNotMatch"
            | "InvalidSignatureException"
            | "IncompleteSignature"
            | "InvalidAccessKeyId"),
        ) => {
            let problem = if c.starts_with("Expired") || c == "RequestExpired" {
                "they have expired".to_string()
            } else if c.contains("Signature") {
                "the secret key does not match the access key".to_string()
            } else {
                "the access key is not known to AWS (deleted, mistyped, or from another partition)".to_string()
            };
            Error::BadCredentials { action: action.to_string(), problem }
        }
        Some(c) => Error::Aws { action: action.to_string(), message: format!("{c}: {}", message.unwrap_or_default()) },
        None => {
            if let Some(c) = credentials_error(&e) {
                return c;
            }
            // The SDK's own account of it is for -v; the user gets what happened.
            tracing::debug!(action, error = %DisplayErrorContext(&e), "AWS call failed");
            let problem = match &e {
                SdkError::DispatchFailure(d) if d.is_timeout() => "timed out before AWS answered".to_string(),
                SdkError::DispatchFailure(d) if d.is_io() => {
                    "could not connect to AWS (the connection was refused or dropped)".to_string()
                }
                SdkError::DispatchFailure(_) => "could not send the request to AWS".to_string(),
                SdkError::TimeoutError(_) => "timed out before AWS answered".to_string(),
                SdkError::ConstructionFailure(_) => "could not build the request".to_string(),
                _ => match status {
                    Some(s) => {
                        format!("got HTTP {s} with a body that is not an AWS answer (a proxy or firewall in between?)")
                    }
                    None => "got an answer that is not AWS's".to_string(),
                },
            };
            Error::Unreachable { action: action.to_string(), problem }
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
            let detail = chain(c);
            if let Some(profile) = undefined_profile(&detail) {
                return Some(Error::NoProfile { profile, files: profile_files() });
            }
            let detail = first_line(&detail);
            let detail = detail.trim_end_matches(':').trim_end_matches(" Attempted").trim_end_matches('.');
            return Some(Error::NoCredentials { detail: detail.to_string() });
        }
        source = s.source();
    }
    None
}

/// An error and its causes, each as it displays itself ("a: b: c"), without the Debug
/// dump `DisplayErrorContext` appends.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
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

    fn sts_error(
        code: &str,
        status: u16,
    ) -> SdkError<aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityError, HttpResponse> {
        use aws_smithy_runtime_api::http::StatusCode;
        let meta = aws_smithy_types::error::ErrorMetadata::builder().code(code).message("as AWS says it").build();
        let err = aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityError::generic(meta);
        let raw = HttpResponse::new(StatusCode::try_from(status).unwrap(), aws_smithy_types::body::SdkBody::empty());
        SdkError::service_error(err, raw)
    }

    #[test]
    fn refused_credentials_say_why_and_how_to_sign_in() {
        let e = classify("sts:GetCallerIdentity", "you", sts_error("ExpiredToken", 403));
        assert_eq!(e.to_string(), "AWS did not accept the credentials for sts:GetCallerIdentity: they have expired");
        assert!(e.hint().unwrap().contains("aws sso login"), "{e}");
        let e = classify("sts:GetCallerIdentity", "you", sts_error("SignatureDoesNotMatch", 403));
        assert!(e.to_string().ends_with("the secret key does not match the access key"), "{e}");
        // Unknown keys in a region the account has not enabled: the region is named.
        let unknown = || classify("sts:GetCallerIdentity", "you", sts_error("InvalidClientTokenId", 403));
        let e = in_region("ap-southeast-5", unknown());
        assert!(e.to_string().starts_with("region is ap-southeast-5, a region accounts must enable first"), "{e}");
        assert!(e.hint().unwrap().contains("aws account enable-region --region-name ap-southeast-5"));
        assert!(matches!(in_region("us-east-1", unknown()), Error::BadCredentials { .. }));
    }

    #[test]
    fn aws_failing_after_every_retry_says_to_run_again() {
        let e = classify("sts:GetCallerIdentity", "you", sts_error("ServiceUnavailable", 503));
        assert!(e.hint().unwrap().starts_with("AWS kept failing after every retry: run again"), "{e}");
    }

    #[test]
    fn region_names_are_checked_before_any_call() {
        for ok in ["us-east-1", "eu-west-2", "us-gov-west-1", "ap-southeast-3", "cn-north-1"] {
            assert!(check_region(ok).is_ok(), "{ok}");
        }
        for bad in ["US-EAST-1", "us east 1", "useast1", "us-east", "", "us-east-1 ", "eu-west-two"] {
            let e = check_region(bad).unwrap_err();
            assert!(e.to_string().starts_with("region is"), "{e}");
        }
    }

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
