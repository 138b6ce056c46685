//! The demo (scripts/demo, through scripts/demo.py): a private emulator with a demo
//! catalog, and the wizard against it, run to a plan from an answers file as CI can.

mod support;

use std::process::Command;

fn demo(args: &[&str]) -> std::process::Output {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cmd = Command::new(support::venv_python());
    cmd.arg(root.join("scripts/demo.py")).args(["--lakepass", env!("CARGO_BIN_EXE_lakepass"), "--"]).args(args);
    // A real account's settings in the caller's environment never reach the demo.
    cmd.env("AWS_PROFILE", "production").env("AWS_ENDPOINT_URL_IAM", "https://iam.amazonaws.com");
    cmd.output().unwrap()
}

#[test]
fn the_demo_runs_the_wizard_to_a_plan_against_its_own_emulator() {
    let dir = tempfile::tempdir().unwrap();
    let answers = dir.path().join("answers.yaml");
    std::fs::write(
        &answers,
        "stack: secoda-glue\nexternal_id: sec-7f3a9c21e4b8\ndatabases: [sales, marketing]\nglue_buckets: [acme-lake]\nathena_output_bucket: acme-athena-results\nathena_workgroup: analytics\n",
    )
    .unwrap();
    let out = demo(&["--answers", answers.to_str().unwrap()]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "a plan with changes to apply:\n{stdout}\n{stderr}");
    assert!(stdout.contains("Plan: 7 to create, 0 to update, 0 to delete."), "{stdout}");
    assert!(stderr.contains("demo: an AWS emulator at http://127.0.0.1:"), "{stderr}");
}

#[test]
fn the_demo_refuses_a_profile_that_would_name_a_real_account() {
    let out = demo(&["--profile", "production"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the demo runs only against its own emulator"));
}
