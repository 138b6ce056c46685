//! Every shipped stack, as data: each provisions its example values against the emulator
//! (with each choice of its access), re-plans with nothing to do and tears down leaving
//! nothing behind; `stacks show` is pinned for each; and a stack a user writes in the
//! project's own `stacks/` works like a shipped one, through the wizard's answers file.

mod support;

use lakepass::stack::{ParamType, Stack};
use serde_json::{Value, json};
use support::*;

/// The deployment `d` of `stack` with `values`, as the config (JSON is YAML).
fn deploy(w: &World, stack: &str, values: &serde_json::Map<String, Value>) {
    let values = serde_json::to_string(values).unwrap();
    w.config(&format!("deployments:\n  d:\n    stack: {stack}\n    region: us-east-1\n    values: {values}\n"));
}

#[tokio::test]
async fn every_shipped_stack_provisions_replans_clean_and_tears_down_without_orphans() {
    let w = World::new().await;
    for stack in Stack::all_shipped().unwrap() {
        let example = stack.example.clone().unwrap();
        let mut variants = vec![example.clone()];
        if let Some(p) = stack.parameters.iter().find(|p| p.kind == ParamType::Choice && p.name == "access") {
            for c in p.choices.iter().filter(|c| example.get("access") != Some(&json!(c))) {
                let mut v = example.clone();
                v.insert("access".into(), json!(c));
                variants.push(v);
            }
        }
        for mut values in variants {
            w.reset().await;
            // The principals and paths an example names exist here.
            w.aws.iam.create_user().user_name("alice").send().await.unwrap();
            if let Some(Value::Object(profile)) = values.get_mut("profile") {
                profile.insert("path".into(), json!("./profiles.yml"));
            }
            let before = w.snapshot().await;
            deploy(&w, &stack.name, &values);
            let ctx = format!("{} {:?}", stack.name, values.get("access"));
            let run = w.run(&["provision", "--yes"]);
            assert_eq!(run.code, 0, "{ctx}: {run:?}");
            assert!(w.state_of("d").is_some(), "{ctx}");
            let again = w.run(&["provision", "--plan", "--detailed-exitcode"]);
            assert_eq!(again.code, 0, "{ctx}: {again:?}");
            let down = w.run(&["teardown", "--yes"]);
            assert_eq!(down.code, 0, "{ctx}: {down:?}");
            assert_eq!(w.snapshot().await, before, "{ctx}: teardown left something behind");
            assert!(w.state_of("d").is_none(), "{ctx}");
        }
    }
}

#[test]
fn stacks_show_is_pinned_for_every_shipped_stack() {
    let dir = tempfile::tempdir().unwrap();
    for stack in Stack::all_shipped().unwrap() {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_lakepass"))
            .args(["stacks", "show", &stack.name])
            .current_dir(dir.path())
            .env_clear()
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        insta::assert_snapshot!(format!("show_{}", stack.name), String::from_utf8(out.stdout).unwrap());
    }
}

/// An invented vendor's stack, written only in the project's `stacks/` folder: listed,
/// shown, and set up by the wizard from an answers file (the flow it asks is made from
/// its parameters), then torn down.
#[tokio::test]
async fn a_stack_of_the_project_s_own_works_like_a_shipped_one() {
    let w = World::new().await;
    std::fs::create_dir(w.dir.path().join("stacks")).unwrap();
    std::fs::write(
        w.dir.path().join("stacks/acme-glue.yaml"),
        r#"name: acme-glue
description: Acme's catalog reader, an invented vendor
parameters:
  - name: vendor_account
    type: account_id
    help: Acme's AWS account.
  - name: external_id
    type: external_id
    help: The external ID from Acme's form.
  - name: databases
    type: database_list
    help: Glue databases Acme may read.
handoff:
  - label: external ID
    value: "{{ external_id }}"
example:
  vendor_account: "210987654321"
  external_id: acme-5d2b7e91c4f0
  databases: [sales]
omits:
  - what: S3 data
    why: Acme reads metadata only
resources:
  - type: policy
    name: acme-glue-policy
    description: Acme reads the catalog (managed by lakepass)
    statements:
      - sid: CatalogRead
        actions: [glue:GetDatabase, glue:GetTables]
        catalog: {databases: databases}
  - type: role
    name: acme-glue-role
    description: Assumed by Acme (managed by lakepass)
    trust: {account: "{{ vendor_account }}", external_id: "{{ external_id }}"}
    attach: [policy]
  - type: grants
    to: role
    databases: databases
    database_permissions: [DESCRIBE]
    table_permissions: [DESCRIBE]
"#,
    )
    .unwrap();
    let listed = w.run(&["stacks"]).ok();
    assert!(
        listed.stdout.contains("acme-glue          Acme's catalog reader, an invented vendor (stacks/)"),
        "{}",
        listed.stdout
    );
    let shown = w.run(&["stacks", "show", "acme-glue"]).ok();
    assert!(shown.stdout.contains("  - S3 data: Acme reads metadata only"), "{}", shown.stdout);

    let before = w.snapshot().await;
    let answers = w.dir.path().join("answers.yaml");
    std::fs::write(
        &answers,
        "stack: acme-glue\nvendor_account: \"210987654321\"\nexternal_id: acme-5d2b7e91c4f0\ndatabases: [sales, marketing]\n",
    )
    .unwrap();
    let run = w.run(&["wizard", "--answers", answers.to_str().unwrap(), "--yes"]).ok();
    assert!(run.stdout.contains("external ID"), "{}", run.stdout);
    assert!(run.stdout.contains("acme-5d2b7e91c4f0"), "{}", run.stdout);
    assert!(w.role("acme-glue-role").await.is_some());
    assert_eq!(w.grants_to(&role_arn("acme-glue-role")).await.len(), 4);
    let config = std::fs::read_to_string(w.dir.path().join("lakepass.yaml")).unwrap();
    assert!(config.contains("stack: acme-glue"), "{config}");
    assert_eq!(w.run(&["provision", "--plan", "--detailed-exitcode"]).code, 0);
    w.run(&["teardown", "--yes"]).ok();
    assert_eq!(w.snapshot().await, before);
}
