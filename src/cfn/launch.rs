//! Where an uploaded template goes and the console link that launches it: the S3 location
//! `--upload` names, the template's https URL CloudFormation reads, and the quick-create
//! ("Launch Stack") link with the stack name and parameters filled in.

use crate::error::Error;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// CloudFormation reads a template of at most this many bytes from S3.
pub const MAX_S3_TEMPLATE: usize = 1_048_576;
/// … and at most this many passed inline (`--template-body`).
pub const MAX_INLINE_TEMPLATE: usize = 51_200;

/// Everything but what RFC 3986 leaves unreserved is escaped in a query value.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
/// A key's `/` separate path segments and stay.
const PATH: &AsciiSet = &QUERY.remove(b'/');

/// An object `--upload` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub bucket: String,
    pub key: String,
}

impl Upload {
    /// Parses `s3://BUCKET/KEY`. A key that is missing or ends in `/` gets
    /// `lakepass-DEPLOYMENT.json` appended.
    pub fn parse(url: &str, deployment: &str) -> Result<Upload, Error> {
        let location = crate::state::S3Location::parse(url, "--upload").map_err(|e| match e {
            Error::Value { field, problem, .. } => Error::Value {
                field,
                problem,
                fix: format!(
                    "write it as s3://BUCKET/KEY, a bucket you may write to, e.g. s3://acme-platform/cloudformation/lakepass-{deployment}.json"
                ),
            },
            other => other,
        })?;
        let rest = url.trim_start_matches("s3://").split_once('/').map_or("", |(_, k)| k);
        let key = if rest.is_empty() || rest.ends_with('/') {
            format!("{rest}lakepass-{deployment}.json")
        } else {
            rest.to_string()
        };
        if key.len() > 1024 || key.split('/').any(|s| s == "." || s == "..") {
            return Err(Error::Value {
                field: "--upload".into(),
                problem: format!("names key {key:?}, which S3 would store under another name or refuse"),
                fix: "use a key of at most 1,024 characters without `.` or `..` segments".into(),
            });
        }
        Ok(Upload { bucket: location.bucket, key })
    }

    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    /// The https URL CloudFormation reads the template from, in the bucket's region.
    /// Virtual-hosted style, except for a bucket with dots in its name, whose virtual host
    /// no certificate covers.
    pub fn https(&self, partition: &str, bucket_region: &str) -> String {
        let suffix = dns_suffix(partition);
        let key = utf8_percent_encode(&self.key, PATH);
        if self.bucket.contains('.') {
            format!("https://s3.{bucket_region}.{suffix}/{}/{key}", self.bucket)
        } else {
            format!("https://{}.s3.{bucket_region}.{suffix}/{key}", self.bucket)
        }
    }
}

fn dns_suffix(partition: &str) -> &'static str {
    match partition {
        "aws-cn" => "amazonaws.com.cn",
        _ => "amazonaws.com",
    }
}

/// The console page that creates the stack from `template_url` in `region`, with the
/// stack name and parameter values filled in. The person who opens it still reviews the
/// template and ticks the IAM acknowledgement.
pub fn quick_create_link(
    partition: &str,
    region: &str,
    template_url: &str,
    stack_name: &str,
    parameters: &[(String, String)],
) -> String {
    let console = match partition {
        "aws-cn" => "https://console.amazonaws.cn",
        "aws-us-gov" => "https://console.amazonaws-us-gov.com",
        _ => "https://console.aws.amazon.com",
    };
    let q = |s: &str| utf8_percent_encode(s, QUERY).to_string();
    let mut link = format!(
        "{console}/cloudformation/home?region={region}#/stacks/create/review?templateURL={}&stackName={}",
        q(template_url),
        q(stack_name)
    );
    for (name, value) in parameters {
        link.push_str(&format!("&param_{name}={}", q(value)));
    }
    link
}

/// A stack name for a deployment: CloudFormation allows letters, digits and hyphens,
/// starting with a letter, at most 128 characters.
pub fn stack_name(deployment: &str) -> String {
    let mut name: String = format!("lakepass-{deployment}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' })
        .collect();
    name.truncate(128);
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upload_names_its_object_and_a_prefix_gets_the_deployments_file() {
        let u = Upload::parse("s3://acme-platform/cfn/secoda.json", "secoda").unwrap();
        assert_eq!((u.bucket.as_str(), u.key.as_str()), ("acme-platform", "cfn/secoda.json"));
        assert_eq!(Upload::parse("s3://acme-platform/cfn/", "secoda").unwrap().key, "cfn/lakepass-secoda.json");
        assert_eq!(Upload::parse("s3://acme-platform", "secoda").unwrap().key, "lakepass-secoda.json");
        let e = Upload::parse("acme-platform/cfn.json", "secoda").unwrap_err();
        assert_eq!(e.to_string(), "--upload is \"acme-platform/cfn.json\", not an s3:// URL");
        assert!(e.hint().unwrap().contains("s3://BUCKET/KEY"), "{:?}", e.hint());
        let e = Upload::parse("s3://acme-platform/a/../b.json", "secoda").unwrap_err();
        assert!(e.to_string().starts_with("--upload names key \"a/../b.json\""), "{e}");
    }

    #[test]
    fn the_template_url_is_virtual_hosted_unless_the_bucket_has_dots() {
        let u = Upload { bucket: "acme-platform".into(), key: "cfn/lake pass+1.json".into() };
        assert_eq!(
            u.https("aws", "eu-west-1"),
            "https://acme-platform.s3.eu-west-1.amazonaws.com/cfn/lake%20pass%2B1.json"
        );
        let u = Upload { bucket: "acme.platform".into(), key: "t.json".into() };
        assert_eq!(u.https("aws-cn", "cn-north-1"), "https://s3.cn-north-1.amazonaws.com.cn/acme.platform/t.json");
    }

    #[test]
    fn the_launch_link_fills_in_the_stack_name_and_parameters_escaped() {
        let link = quick_create_link(
            "aws",
            "eu-west-1",
            "https://acme-platform.s3.eu-west-1.amazonaws.com/cfn/t.json",
            &stack_name("secoda_prod"),
            &[("ExternalId".into(), "a&b=c d".into())],
        );
        assert_eq!(
            link,
            "https://console.aws.amazon.com/cloudformation/home?region=eu-west-1#/stacks/create/review\
             ?templateURL=https%3A%2F%2Facme-platform.s3.eu-west-1.amazonaws.com%2Fcfn%2Ft.json\
             &stackName=lakepass-secoda-prod&param_ExternalId=a%26b%3Dc%20d"
        );
        assert!(
            quick_create_link("aws-us-gov", "us-gov-west-1", "u", "s", &[])
                .starts_with("https://console.amazonaws-us-gov.com/")
        );
        assert_eq!(stack_name(&"x".repeat(200)).len(), 128);
    }
}
