//! Bad input, table-driven: every case exits 1 with the field or thing named, a `hint:`
//! line with the fix, no Debug text, and AWS (IAM and Lake Formation, read through the
//! emulator) and the state byte-identical before and after.

mod support;

use std::io::{Read, Write};
use support::*;

/// One bad input: the config (None: the good one), extra arguments, environment changes,
/// and a fragment the error must contain.
struct Case {
    config: Option<String>,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
    unset: Vec<&'static str>,
    expect: String,
    /// Only `provision --yes` is refused (a plan notes the problem instead).
    yes_only: bool,
}

fn case(config: impl Into<String>, expect: &str) -> Case {
    Case {
        config: Some(config.into()),
        args: Vec::new(),
        env: Vec::new(),
        unset: Vec::new(),
        expect: expect.into(),
        yes_only: false,
    }
}

fn flags(args: &[&str], expect: &str) -> Case {
    Case {
        config: None,
        args: args.iter().map(|a| a.to_string()).collect(),
        env: Vec::new(),
        unset: Vec::new(),
        expect: expect.into(),
        yes_only: false,
    }
}

fn env(vars: &[(&'static str, &str)], expect: &str) -> Case {
    Case {
        config: None,
        args: Vec::new(),
        env: vars.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        unset: Vec::new(),
        expect: expect.into(),
        yes_only: false,
    }
}

/// The secoda deployment with `values` (YAML lines) and `extra` deployment keys.
fn deployment(values: &str, extra: &str) -> String {
    let mut out = format!("deployments:\n  secoda:\n    stack: secoda-glue\n{extra}    values:\n");
    for line in values.lines().filter(|l| !l.trim().is_empty()) {
        out.push_str(&format!("      {}\n", line.trim_start()));
    }
    out
}

/// The role values with `line` replacing the value of its key (or added).
fn with(line: &str) -> String {
    let key = line.split(':').next().unwrap();
    let kept: Vec<&str> = ROLE_VALUES.lines().filter(|l| !l.starts_with(&format!("{key}:"))).collect();
    deployment(&format!("{}\n{line}\n", kept.join("\n")), "")
}

fn without(key: &str) -> String {
    let kept: Vec<&str> = ROLE_VALUES.lines().filter(|l| !l.starts_with(&format!("{key}:"))).collect();
    deployment(&kept.join("\n"), "")
}

/// A server on 127.0.0.1 that answers every request with an HTML error page, as a
/// corporate proxy or a misrouted endpoint does.
fn html_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut conn in listener.incoming().map_while(Result::ok) {
            let mut buf = [0u8; 65536];
            let _ = conn.read(&mut buf);
            let body = "<html><body><h1>502 Bad Gateway</h1></body></html>";
            let _ = write!(
                conn,
                "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

fn cases(w: &World) -> Vec<Case> {
    let dir = w.dir.path();
    std::fs::write(dir.join("stack-broken.yaml"), "name: [unclosed\n").unwrap();
    std::fs::write(dir.join("existing-secret"), "keep me").unwrap();
    std::fs::write(dir.join("aws-config"), "[profile other]\nregion = us-east-1\n").unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let user = |line: &str| {
        let key = line.split(':').next().unwrap();
        let kept: Vec<&str> = USER_VALUES.lines().filter(|l| !l.starts_with(&format!("{key}:"))).collect();
        deployment(&format!("{}\n{line}\n", kept.join("\n")), "")
    };
    vec![
        // The file itself.
        case("deployments:\n  secoda:\n    stack: secoda-glue\n    values: [unclosed\n", "lakepass.yaml: line"),
        case("", "lakepass.yaml"),
        case("- secoda\n", "lakepass.yaml"),
        case("deployments: {}\n", "deployments is empty"),
        case("deploymentz:\n  secoda:\n    stack: secoda-glue\n", "deploymentz"),
        case(deployment(ROLE_VALUES, "    valuez: {}\n"), "valuez"),
        case(
            format!("{}  secoda:\n    stack: secoda-glue\n", deployment(ROLE_VALUES, "")),
            "the key secoda appears twice",
        ),
        case("deployments:\n  secoda:\n    region: us-east-1\n", "stack"),
        case("deployments:\n  secoda:\n\tstack: secoda-glue\n", "lakepass.yaml: line"),
        case("deployments:\n  secoda:\n    stack: snowflake\n", "no stack named \"snowflake\""),
        case(deployment(ROLE_VALUES, "    account: \"12345\"\n"), "deployments.secoda.account is \"12345\""),
        case(deployment(ROLE_VALUES, "    account: \"111111111111\"\n"), "pinned to account 111111111111"),
        case(deployment(ROLE_VALUES, "    region: US-EAST-1\n"), "region is \"US-EAST-1\""),
        case(deployment(ROLE_VALUES, "    region: us east 1\n"), "region is \"us east 1\""),
        case(deployment(ROLE_VALUES, "    region: moon-1\n"), "region is \"moon-1\""),
        case(deployment(ROLE_VALUES, "    iam_scope: everything\n"), "iam_scope"),
        case(deployment(ROLE_VALUES, "    managed_policy_quota: ten\n"), "managed_policy_quota"),
        case(
            format!("state: secoda-state\n{}", deployment(ROLE_VALUES, "")),
            "state is \"secoda-state\", not an s3:// URL",
        ),
        case(format!("state: s3://Team_State/x\n{}", deployment(ROLE_VALUES, "")), "not a valid S3 bucket name"),
        case(format!("state: s3://no-such-bucket/x\n{}", deployment(ROLE_VALUES, "")), "no-such-bucket"),
        case("deployments:\n  secoda:\n    stack: secoda-glue\n    values: [sales]\n", "values"),
        case(deployment(ROLE_VALUES, "").replace("  secoda:", "  Sec oda:"), "Sec oda"),
        // The values.
        case(
            with("vendor_account: \"123456789012\""),
            "values.vendor_account is 123456789012, the account lakepass runs in",
        ),
        case(with("databse: [sales]"), "deployments.secoda.values.databse"),
        case(without("athena_output_bucket"), "values.athena_output_bucket is missing"),
        case(without("glue_buckets"), "values.glue_buckets is missing"),
        case(without("databases"), "values.databases is missing"),
        case(without("external_id"), "values.external_id is missing"),
        case(with("vendor_account: \"48283699292\""), "values.vendor_account"),
        case(with("vendor_account: \"48283699292a\""), "values.vendor_account"),
        case(with("external_id: \"x\""), "values.external_id is 1 character long"),
        case(with("external_id: \"sec 7f3a\""), "values.external_id contains ' '"),
        case(with(&format!("external_id: \"{}\"", "a".repeat(1300))), "values.external_id"),
        case(with("athena_output_bucket: Acme_Results"), "values.athena_output_bucket"),
        case(with("athena_output_bucket: s3://acme-athena-results"), "values.athena_output_bucket"),
        case(with("athena_output_bucket: ab"), "values.athena_output_bucket"),
        case(with("glue_buckets: [s3://acme-lake]"), "values.glue_buckets[0]"),
        case(with("glue_buckets: acme-lake"), "values.glue_buckets"),
        case(with("glue_buckets: [acme-lake, -bad]"), "values.glue_buckets[1]"),
        case(with("databases: []"), "values.databases"),
        case(with("databases: [no_such_db]"), "no_such_db"),
        case(with("databases: [\"sales db\"]"), "values.databases[0]"),
        case(with("databases: sales"), "values.databases"),
        case(with("tables: {sales: [no_such_table]}"), "no_such_table"),
        case(with("tables: {finance: [ledger]}"), "values.tables"),
        case(with("tables: [orders]"), "values.tables"),
        case(with("access: group"), "values.access"),
        case(with("role_name: \"my role\""), "values.role_name"),
        case(with(&format!("role_name: {}", "r".repeat(65))), "values.role_name"),
        case(with("policy_name: \"policy/x\""), "values.policy_name"),
        case(with("athena_workgroup: \"work group\""), "values.athena_workgroup"),
        case(user("user_name: \"secoda user\""), "values.user_name"),
        // Unquoted, YAML reads it as a number and drops the leading zero.
        case(with("vendor_account: 012345678901"), "values.vendor_account"),
        // Flags.
        flags(&["-d", "nosuch"], "nosuch"),
        flags(&["--config", "missing.yaml"], "missing.yaml"),
        flags(&["--region", "US-EAST-1"], "region is \"US-EAST-1\""),
        flags(&["--region", "us-east-1x"], "region is \"us-east-1x\""),
        flags(&["--stack-file", "no-such-stack.yaml"], "no-such-stack.yaml"),
        flags(&["--stack-file", "stack-broken.yaml"], "stack-broken.yaml"),
        Case {
            config: Some(deployment(USER_VALUES, "")),
            yes_only: true,
            ..flags(&["--secret-file", "existing-secret"], "--secret-file existing-secret: already exists")
        },
        Case {
            config: Some(deployment(USER_VALUES, "")),
            yes_only: true,
            ..flags(&["--secret-file", "/nonexistent-dir/secret"], "its directory /nonexistent-dir does not exist")
        },
        Case {
            env: vec![("AWS_CONFIG_FILE", dir.join("aws-config").display().to_string())],
            ..flags(&["--profile", "nosuch"], "the AWS profile \"nosuch\" is not defined")
        },
        // The environment.
        env(&[("AWS_MAX_ATTEMPTS", "0")], "AWS_MAX_ATTEMPTS is \"0\""),
        env(&[("AWS_MAX_ATTEMPTS", "many")], "AWS_MAX_ATTEMPTS is \"many\""),
        env(&[("AWS_RETRY_MODE", "fast")], "AWS_RETRY_MODE is \"fast\""),
        env(&[("AWS_ENDPOINT_URL", &format!("http://{closed}"))], "could not connect to AWS"),
        env(&[("AWS_ENDPOINT_URL", &html_server())], "with a body that is not an AWS answer"),
        Case {
            config: Some(deployment(ROLE_VALUES, "")),
            ..env(&[("AWS_REGION", "eu west 1")], "region is \"eu west 1\"")
        },
        Case { unset: vec!["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"], ..env(&[], "no AWS credentials") },
        Case { config: Some(deployment(ROLE_VALUES, "")), unset: vec!["AWS_REGION"], ..env(&[], "region is not set") },
        // As in the AWS CLI, AWS_PROFILE counts where no credentials are in the environment.
        Case {
            unset: vec!["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
            ..env(
                &[("AWS_PROFILE", "nosuch"), ("AWS_CONFIG_FILE", &dir.join("aws-config").display().to_string())],
                "the AWS profile \"nosuch\" is not defined",
            )
        },
    ]
}

/// Text a user must never see: the SDK's or a library's Debug output.
const DEBUG_TEXT: &[&str] =
    &["DispatchFailure", "ServiceError", "Unhandled", "Error {", "source:", "ConnectorError", "Some(", "<html"];

#[tokio::test]
async fn bad_input_names_the_field_and_the_fix_and_changes_nothing() {
    let w = World::new().await;
    w.secoda(ROLE_VALUES);
    w.run(&["provision", "--yes"]).ok();
    let good = std::fs::read_to_string(w.dir.path().join("lakepass.yaml")).unwrap();
    let before_aws = w.snapshot().await;
    let before_state = std::fs::read(w.state_path()).unwrap();
    let cases = cases(&w);
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let mut failures = Vec::new();
    // Every error a user reads, whole, as `provision --yes` prints it.
    let mut transcript = String::new();
    for c in &cases {
        let config = c.config.clone().unwrap_or_else(|| good.clone());
        if c.config.as_deref() == Some("") {
            std::fs::write(w.dir.path().join("lakepass.yaml"), "").unwrap();
        } else {
            std::fs::write(w.dir.path().join("lakepass.yaml"), &config).unwrap();
        }
        let modes: &[&[&str]] =
            if c.yes_only { &[&["provision", "--yes"]] } else { &[&["provision", "--plan"], &["provision", "--yes"]] };
        for mode in modes {
            let mut args: Vec<&str> = mode.to_vec();
            args.extend(c.args.iter().map(String::as_str));
            let mut cmd = w.command(&args);
            for (k, v) in &c.env {
                cmd.env(k, v);
            }
            for k in &c.unset {
                cmd.env_remove(k);
            }
            let r = run(cmd, &w.emu);
            let name = format!("{} {:?} {:?}: expecting {:?}", args.join(" "), c.env, c.unset, c.expect);
            let hint = r.stderr.lines().any(|l| l.starts_with("  hint: ") && l.len() > 12);
            let debug: Vec<&&str> = DEBUG_TEXT.iter().filter(|d| r.stderr.contains(**d)).collect();
            if *mode == ["provision", "--yes"] {
                transcript.push_str(&format!("$ lakepass {}\n{}\n", args.join(" "), redact(&r.stderr, &w)));
            }
            if r.code != 1 || !r.stderr.contains(&c.expect) || !hint || !debug.is_empty() || !r.stdout.is_empty() {
                failures.push(format!("{name}\n  exit {} stdout {:?}\n  stderr {}", r.code, r.stdout, r.stderr));
            }
        }
        if w.snapshot().await != before_aws {
            failures.push(format!("AWS changed after {:?}", c.expect));
        }
        if std::fs::read(w.state_path()).unwrap() != before_state {
            failures.push(format!("state changed after {:?}", c.expect));
            std::fs::write(w.state_path(), &before_state).unwrap();
        }
    }
    assert!(failures.is_empty(), "{} of {} runs failed:\n{}", failures.len(), cases.len() * 2, failures.join("\n\n"));
    insta::assert_snapshot!("errors", transcript);
}

/// An error as a user reads it, with what differs between runs (the project's temporary
/// directory, local ports, and which of the first concurrent reads met a dead endpoint
/// first) replaced, and retry notices left out.
fn redact(text: &str, w: &World) -> String {
    let dir = w.dir.path().display().to_string();
    let mut out: String = text
        .replace(&dir, "<project>")
        .lines()
        // Retry notices come in the order the concurrent calls met the failure.
        .filter(|l| !l.contains("; retrying ("))
        .map(|l| {
            let raced = l.contains("could not connect to AWS") || l.contains("with a body that is not an AWS answer");
            match (raced, l.split_once("AWS call ")) {
                (true, Some((head, rest))) => {
                    let tail = rest.split_once(' ').map(|(_, t)| t).unwrap_or_default();
                    format!("{head}AWS call <the first read to fail> {tail}\n")
                }
                _ => format!("{l}\n"),
            }
        })
        .collect();
    let mut at = 0;
    while let Some(i) = out[at..].find("127.0.0.1:") {
        let start = at + i + "127.0.0.1:".len();
        let end = start + out[start..].chars().take_while(char::is_ascii_digit).count();
        out.replace_range(start..end, "PORT");
        at = start + 4;
    }
    out
}
