//! The secoda-glue stack end to end: the real binary against a real emulator, with AWS
//! checked through the SDK afterwards.

mod support;

use serde_json::Value;
use support::*;

fn statement<'a>(doc: &'a Value, sid: &str) -> &'a Value {
    doc["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == sid).unwrap_or_else(|| panic!("no {sid} in {doc}"))
}

/// Whether the plan shows a diff line with `sign` ('+' or '-') containing `text`.
fn diff_line(stdout: &str, sign: char, text: &str) -> bool {
    stdout.lines().any(|l| l.trim_start().starts_with(sign) && l.contains(text))
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_string()).collect(),
        Value::String(s) => vec![s.clone()],
        _ => panic!("{v}"),
    }
}

#[tokio::test]
async fn role_access_plan_apply_replan_and_teardown() {
    let w = World::new().await;
    w.secoda(ROLE_VALUES);

    // --plan shows every resource and changes nothing.
    let plan = w.run(&["provision", "--plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{plan:?}");
    assert!(plan.stdout.contains("+ iam role secoda-glue-role"), "{}", plan.stdout);
    assert!(plan.stdout.contains("+ lake formation DESCRIBE, SELECT on all tables in sales"), "{}", plan.stdout);
    assert!(plan.stdout.contains("Plan: 7 to create, 0 to update, 0 to delete."), "{}", plan.stdout);
    // The whole plan a user reads, with the policy document it would create.
    insta::assert_snapshot!("role_plan", plan.stdout);
    assert!(w.role("secoda-glue-role").await.is_none());
    assert!(!w.policy_exists("secoda-glue-policy").await);
    assert!(w.grants().await.is_empty());
    assert!(w.state().is_none());

    // Apply: the plan, what was done, the hand-off and the verification, whole.
    let applied = w.run(&["provision", "--yes"]).ok();
    insta::assert_snapshot!("role_apply", applied.stdout);
    assert!(
        applied.stdout.contains("role ARN:       arn:aws:iam::123456789012:role/secoda-glue-role"),
        "{}",
        applied.stdout
    );
    assert!(applied.stdout.contains("external ID:    sec-7f3a9c21e4b8"));
    assert!(applied.stdout.contains("region:         us-east-1"));

    // The role trusts only the vendor's account, with the external id, and is tagged.
    let role = w.role("secoda-glue-role").await.expect("role created");
    let trust = decode(role.assume_role_policy_document().unwrap());
    let s = &trust["Statement"][0];
    assert_eq!(strings(&s["Principal"]["AWS"]), ["arn:aws:iam::482836992928:root"]);
    assert_eq!(strings(&s["Action"]), ["sts:AssumeRole"]);
    assert_eq!(strings(&s["Condition"]["StringEquals"]["sts:ExternalId"]), ["sec-7f3a9c21e4b8"]);
    let tags = w.aws.iam.list_role_tags().role_name("secoda-glue-role").send().await.unwrap();
    assert!(tags.tags().iter().any(|t| t.key() == "lakepass:deployment" && t.value() == "secoda"));
    assert_eq!(w.role_policies("secoda-glue-role").await, ["secoda-glue-policy"]);

    // The policy is the least-privilege one.
    let doc = w.policy_document("secoda-glue-policy").await;
    assert!(!doc.to_string().contains("sts:AssumeRole"));
    let glue = strings(&statement(&doc, "GlueCatalogRead")["Resource"]);
    assert!(glue.contains(&"arn:aws:glue:us-east-1:123456789012:database/sales".to_string()));
    assert!(glue.contains(&"arn:aws:glue:us-east-1:123456789012:table/marketing/*".to_string()));
    assert!(!glue.iter().any(|r| r.contains("finance")));
    assert_eq!(strings(&statement(&doc, "AthenaList")["Resource"]), ["*"]);

    // Lake Formation: DESCRIBE on each database, SELECT + DESCRIBE on its tables.
    assert_eq!(
        w.grants_to(&role_arn("secoda-glue-role")).await,
        [
            ("database/marketing".to_string(), vec!["DESCRIBE".to_string()]),
            ("database/sales".to_string(), vec!["DESCRIBE".to_string()]),
            ("table/marketing/*".to_string(), vec!["DESCRIBE".to_string(), "SELECT".to_string()]),
            ("table/sales/*".to_string(), vec!["DESCRIBE".to_string(), "SELECT".to_string()]),
        ]
    );

    // State records what was created, and no secret.
    let state = w.state().unwrap();
    assert_eq!(state["resources"].as_object().unwrap().len(), 7);
    let serial = state["serial"].clone();

    // A second run changes nothing, and makes no mutating call.
    w.proxy.clear();
    let again = w.run(&["provision", "--yes"]).ok();
    let calls = w.proxy.actions();
    assert!(calls.iter().any(|a| a == "iam:GetRole"), "{calls:?}");
    let writes: Vec<&String> = calls.iter().filter(|a| !proxy::is_read(a)).collect();
    assert!(writes.is_empty(), "mutating calls on a run without changes: {writes:?}");
    assert!(again.stdout.starts_with("No changes."), "{}", again.stdout);
    assert_eq!(w.policy_versions("secoda-glue-policy").await, 1);
    assert_eq!(w.state().unwrap()["serial"], serial, "a run without changes does not rewrite state");
    assert_eq!(w.run(&["provision", "--plan", "--detailed-exitcode"]).code, 0);

    // Status says all is well.
    let status = w.run(&["status"]).ok();
    let (notes, lines): (Vec<&str>, Vec<&str>) =
        status.stdout.lines().skip(1).partition(|l| l.trim_start().starts_with("note:"));
    assert!(lines.iter().all(|l| l.trim_start().starts_with("ok")), "{}", status.stdout);
    assert_eq!(notes.len(), 1, "only the scope: {}", status.stdout);

    // Teardown removes all of it, and the state.
    let down = w.run(&["teardown", "--yes"]).ok();
    assert!(down.stdout.contains("Teardown complete: removed 7"), "{}", down.stdout);
    assert!(w.role("secoda-glue-role").await.is_none());
    assert!(!w.policy_exists("secoda-glue-policy").await);
    assert!(w.grants().await.is_empty());
    assert!(w.state().is_none());
    let nothing = w.run(&["teardown", "--yes"]).ok();
    assert!(nothing.stdout.starts_with("Nothing to tear down"), "{}", nothing.stdout);
}

#[tokio::test]
async fn user_access_writes_the_secret_only_to_a_0600_file() {
    let w = World::new().await;
    w.secoda(USER_VALUES);
    let secret_path = w.dir.path().join("secoda-secret");
    let run = w.run(&["provision", "--yes", "--secret-file", secret_path.to_str().unwrap()]).ok();

    let keys = w.access_keys("secoda-glue-user").await;
    assert_eq!(keys.len(), 1);
    assert!(run.stdout.contains(&format!("access key ID:  {}", keys[0])), "{}", run.stdout);
    let secret = std::fs::read_to_string(&secret_path).unwrap().trim().to_string();
    assert!(secret.len() >= 20);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&secret_path).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(!run.stdout.contains(&secret) && !run.stderr.contains(&secret));
    let state_text = std::fs::read_to_string(w.state_path()).unwrap();
    assert!(!state_text.contains(&secret));
    assert!(state_text.contains(&keys[0]), "state records the key id");

    assert!(w.user_exists("secoda-glue-user").await);
    assert_eq!(w.user_policies("secoda-glue-user").await, ["secoda-glue-policy"]);
    assert_eq!(w.grants_to(&user_arn("secoda-glue-user")).await.len(), 4);
    assert!(w.role("secoda-glue-role").await.is_none());

    // Re-running keeps the same single key and prints no secret.
    let again = w.run(&["provision", "--yes"]).ok();
    assert!(again.stdout.starts_with("No changes."));
    assert_eq!(w.access_keys("secoda-glue-user").await, keys);
    assert!(!again.stdout.contains(&secret));

    w.run(&["teardown", "--yes"]).ok();
    assert!(!w.user_exists("secoda-glue-user").await);
    assert!(!w.policy_exists("secoda-glue-policy").await);
    assert!(w.grants().await.is_empty());
}

#[tokio::test]
async fn without_a_secret_file_the_secret_is_printed_once_and_kept_nowhere() {
    let w = World::new().await;
    w.secoda(USER_VALUES);
    let run = w.run(&["provision", "--yes", "-v"]).ok();
    let line = run.stdout.lines().find(|l| l.trim_start().starts_with("secret key:")).expect("secret shown");
    let secret = line.split(':').nth(1).unwrap().trim().to_string();
    assert!(secret.len() >= 20, "{line}");
    assert_eq!(run.stdout.matches(&secret).count(), 1);
    assert!(!run.stderr.contains(&secret), "not in logs");
    assert!(!std::fs::read_to_string(w.state_path()).unwrap().contains(&secret));
    let plan = w.run(&["provision", "--plan", "--json"]).ok();
    assert!(!plan.stdout.contains(&secret));
}

#[tokio::test]
async fn changes_are_minimal() {
    let w = World::new().await;
    w.secoda(ROLE_VALUES);
    w.run(&["provision", "--yes"]).ok();
    let role = role_arn("secoda-glue-role");

    // Adding a database adds its grants and a policy version, nothing else.
    w.secoda(&ROLE_VALUES.replace("[sales, marketing]", "[sales, marketing, finance]"));
    let plan = w.run(&["provision", "--plan"]).ok();
    assert!(plan.stdout.contains("~ iam policy secoda-glue-policy"), "{}", plan.stdout);
    assert!(
        diff_line(&plan.stdout, '+', "\"arn:aws:glue:us-east-1:123456789012:database/finance\""),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("Plan: 2 to create, 1 to update, 0 to delete."), "{}", plan.stdout);
    w.run(&["provision", "--yes"]).ok();
    assert_eq!(w.grants_to(&role).await.len(), 6);
    assert_eq!(w.policy_versions("secoda-glue-policy").await, 2);

    // Removing one revokes only its grants.
    w.secoda(&ROLE_VALUES.replace("[sales, marketing]", "[sales, finance]"));
    let run = w.run(&["provision", "--yes"]).ok();
    assert!(run.stdout.contains("- lake formation DESCRIBE on database marketing"), "{}", run.stdout);
    let held: Vec<String> = w.grants_to(&role).await.into_iter().map(|(r, _)| r).collect();
    assert_eq!(held, ["database/finance", "database/sales", "table/finance/*", "table/sales/*"]);

    // Bucket changes are new policy versions, pruned before IAM's limit of five.
    for i in 0..6 {
        let values = ROLE_VALUES.replace("[sales, marketing]", "[sales, finance]");
        w.secoda(&values.replace("[acme-lake]", &format!("[lake-{i}]")));
        let run = w.run(&["provision", "--yes"]).ok();
        assert!(run.stdout.contains("Plan: 0 to create, 1 to update, 0 to delete."), "{}", run.stdout);
        assert!(w.policy_versions("secoda-glue-policy").await <= 5);
    }
    let doc = w.policy_document("secoda-glue-policy").await;
    assert_eq!(strings(&statement(&doc, "DataObjectsRead")["Resource"]), ["arn:aws:s3:::lake-5/*"]);

    // Listing tables narrows the grants to them.
    w.secoda(&format!("{ROLE_VALUES}\ntables: {{sales: [orders]}}"));
    let run = w.run(&["provision", "--yes"]).ok();
    // marketing is chosen whole, so its tables may be anywhere in the bucket: S3 stays
    // bucket-wide, and the plan says why.
    assert!(
        run.stdout.contains("S3 reads: the whole of acme-lake, because marketing is chosen with all tables"),
        "{}",
        run.stdout
    );
    let held: Vec<String> = w.grants_to(&role).await.into_iter().map(|(r, _)| r).collect();
    assert!(held.contains(&"table/sales/orders".to_string()), "{held:?}");
    assert!(!held.contains(&"table/sales/*".to_string()), "{held:?}");
}

#[tokio::test]
async fn drift_shows_in_plan_and_status_and_provision_restores_it() {
    let w = World::new().await;
    w.secoda(ROLE_VALUES);
    w.run(&["provision", "--yes"]).ok();
    let arn = World::policy_arn("secoda-glue-policy");

    // Detached and edited outside lakepass.
    w.aws.iam.detach_role_policy().role_name("secoda-glue-role").policy_arn(&arn).send().await.unwrap();
    let edited = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
    w.aws
        .iam
        .create_policy_version()
        .policy_arn(&arn)
        .policy_document(edited)
        .set_as_default(true)
        .send()
        .await
        .unwrap();

    let plan = w.run(&["provision", "--plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2);
    assert!(plan.stdout.contains("the document was changed outside lakepass"), "{}", plan.stdout);
    assert!(diff_line(&plan.stdout, '-', "\"s3:*\""), "diff shows the edit: {}", plan.stdout);
    assert!(plan.stdout.contains("was detached outside lakepass"), "{}", plan.stdout);
    let status = w.run(&["status"]).ok();
    assert!(status.stdout.contains("drifted"), "{}", status.stdout);
    assert!(status.stdout.contains("missing"), "{}", status.stdout);

    w.run(&["provision", "--yes"]).ok();
    assert_eq!(w.role_policies("secoda-glue-role").await, ["secoda-glue-policy"]);
    assert!(!w.policy_document("secoda-glue-policy").await.to_string().contains("s3:*"));
    assert_eq!(w.run(&["provision", "--plan", "--detailed-exitcode"]).code, 0);

    // A deleted role is recreated, with its attachment.
    w.aws.iam.detach_role_policy().role_name("secoda-glue-role").policy_arn(&arn).send().await.unwrap();
    w.aws.iam.delete_role().role_name("secoda-glue-role").send().await.unwrap();
    let run = w.run(&["provision", "--yes"]).ok();
    assert!(run.stdout.contains("deleted outside lakepass; recreating"), "{}", run.stdout);
    assert!(w.role("secoda-glue-role").await.is_some());
    assert_eq!(w.role_policies("secoda-glue-role").await, ["secoda-glue-policy"]);
}

/// A change the user made to the values is not drift: status says what is to update and
/// to create, and why, and `--json` names each action's cause.
#[tokio::test]
async fn a_values_edit_shows_as_to_update_not_as_drift() {
    let w = World::new().await;
    w.secoda(ROLE_VALUES);
    w.run(&["provision", "--yes"]).ok();
    w.secoda(&ROLE_VALUES.replace("databases: [sales, marketing]", "databases: [sales, marketing, finance]"));
    let status = w.run(&["status"]).ok();
    insta::assert_snapshot!("status_after_values_edit", status.stdout);
    let plan = w.run(&["provision", "--plan", "--json"]).ok();
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    insta::assert_snapshot!("plan_json_after_values_edit", serde_json::to_string_pretty(&plan).unwrap());
    let causes: Vec<(&str, &str)> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["address"].as_str().unwrap(), a["cause"].as_str().unwrap()))
        .collect();
    assert_eq!(
        causes,
        [
            ("policy/secoda-glue-policy", "wanted"),
            ("grant/role/secoda-glue-role/database/finance", "new"),
            ("grant/role/secoda-glue-role/table/finance/*", "new"),
        ]
    );
}

#[tokio::test]
async fn someone_elses_role_is_never_touched_unless_adopted() {
    let w = World::new().await;
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}"#;
    w.aws.iam.create_role().role_name("secoda-glue-role").assume_role_policy_document(trust).send().await.unwrap();
    w.secoda(ROLE_VALUES);

    for args in [&["provision", "--plan"][..], &["provision", "--yes"][..]] {
        let run = w.run(args).fails();
        assert!(run.stderr.contains("iam role secoda-glue-role"), "{}", run.stderr);
        assert!(run.stderr.contains("--adopt") && run.stderr.contains("another name"), "{}", run.stderr);
    }
    assert!(!w.policy_exists("secoda-glue-policy").await, "nothing created");
    assert!(w.role_policies("secoda-glue-role").await.is_empty());
    assert!(w.state().is_none());

    let run = w.run(&["provision", "--yes", "--adopt"]).ok();
    assert!(run.stdout.contains("& adopt iam role secoda-glue-role"), "{}", run.stdout);
    let role = w.role("secoda-glue-role").await.unwrap();
    let trust = decode(role.assume_role_policy_document().unwrap());
    assert_eq!(strings(&trust["Statement"][0]["Principal"]["AWS"]), ["arn:aws:iam::482836992928:root"]);
    assert_eq!(w.state().unwrap()["resources"]["role/secoda-glue-role"]["adopted"], true);
    w.run(&["teardown", "--yes"]).ok();
    assert!(w.role("secoda-glue-role").await.is_none(), "an adopted role is lakepass's to delete");
}

#[tokio::test]
async fn teardown_leaves_other_roles_and_other_principals_grants_alone() {
    let w = World::new().await;
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"glue.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    w.aws.iam.create_role().role_name("analyst").assume_role_policy_document(trust).send().await.unwrap();
    {
        use aws_sdk_lakeformation::types::*;
        let principal = DataLakePrincipal::builder().data_lake_principal_identifier(role_arn("analyst")).build();
        let db = Resource::builder().database(DatabaseResource::builder().name("sales").build().unwrap()).build();
        w.aws
            .lf
            .grant_permissions()
            .principal(principal)
            .resource(db)
            .permissions(Permission::Describe)
            .send()
            .await
            .unwrap();
    }
    w.secoda(ROLE_VALUES);
    w.run(&["provision", "--yes"]).ok();
    w.run(&["teardown", "--yes"]).ok();
    assert!(w.role("analyst").await.is_some());
    assert_eq!(w.grants().await, [(role_arn("analyst"), "database/sales".to_string(), vec!["DESCRIBE".to_string()])]);
}

#[tokio::test]
async fn a_caller_who_may_not_grant_is_told_the_fix_before_anything_changes() {
    let w = World::with(false).await;
    w.secoda(ROLE_VALUES);
    let plan = w.run(&["provision", "--plan"]).ok();
    assert!(plan.stdout.contains("applying will fail"), "{}", plan.stdout);
    let run = w.run(&["provision", "--yes"]).fails();
    assert!(run.stderr.contains(CALLER) && run.stderr.contains("data lake administrator"), "{}", run.stderr);
    assert!(w.role("secoda-glue-role").await.is_none());
    assert!(!w.policy_exists("secoda-glue-policy").await);
    assert!(w.state().is_none());
}

#[tokio::test]
async fn grants_on_databases_or_tables_the_catalog_lacks_are_refused() {
    let w = World::new().await;
    w.secoda(&ROLE_VALUES.replace("[sales, marketing]", "[sales, nosuchdb]"));
    let run = w.run(&["provision", "--yes"]).fails();
    assert!(run.stderr.contains("database nosuchdb not found"), "{}", run.stderr);
    w.secoda(&format!("{ROLE_VALUES}\ntables: {{sales: [orders, ghost]}}"));
    let run = w.run(&["provision", "--yes"]).fails();
    assert!(run.stderr.contains("table sales.ghost not found"), "{}", run.stderr);
    assert!(w.grants().await.is_empty() && w.role("secoda-glue-role").await.is_none());
}

#[tokio::test]
async fn without_a_terminal_and_without_yes_provision_refuses_and_names_the_flag() {
    let w = World::new().await;
    w.secoda(ROLE_VALUES);
    let run = w.run(&["provision"]).fails();
    assert!(run.stderr.contains("--yes"), "{}", run.stderr);
    assert!(w.role("secoda-glue-role").await.is_none());
}

#[tokio::test]
async fn a_new_role_refused_by_lake_formation_is_retried_and_the_user_told() {
    let w = World::new().await;
    w.secoda(ROLE_VALUES);
    w.proxy.fail_grants_with_invalid_principal(2);
    let run = w.run(&["provision", "--yes"]).ok();
    assert!(run.stderr.contains("waiting for IAM to propagate"), "{}", run.stderr);
    let grant_calls = w.proxy.actions().iter().filter(|a| *a == "lakeformation:BatchGrantPermissions").count();
    assert_eq!(grant_calls, 3, "two refused, one accepted");
    assert_eq!(w.grants_to(&role_arn("secoda-glue-role")).await.len(), 4);
}

#[tokio::test]
async fn propagation_that_never_ends_fails_bounded_and_the_next_run_finishes() {
    let w = World::new().await;
    w.secoda(ROLE_VALUES);
    w.proxy.fail_grants_with_invalid_principal(1000);
    let run = w.run(&["provision", "--yes"]).fails();
    assert!(run.stderr.contains("still refuses the new principal"), "{}", run.stderr);
    assert!(run.stderr.contains("run `lakepass provision` again"), "{}", run.stderr);
    assert!(w.role("secoda-glue-role").await.is_some(), "IAM work is kept");
    assert!(w.grants().await.is_empty());
    w.proxy.fail_grants_with_invalid_principal(0);
    let run = w.run(&["provision", "--yes"]).ok();
    assert!(run.stdout.contains("Plan: 4 to create, 0 to update, 0 to delete."), "{}", run.stdout);
    assert_eq!(w.grants_to(&role_arn("secoda-glue-role")).await.len(), 4);
}

#[tokio::test]
async fn the_plan_says_when_iam_alone_governs_a_database() {
    let w = World::new().await;
    {
        use aws_sdk_glue::types::{DataLakePrincipal, DatabaseInput, PrincipalPermissions};
        let everyone = DataLakePrincipal::builder().data_lake_principal_identifier("IAM_ALLOWED_PRINCIPALS").build();
        let defaults = PrincipalPermissions::builder().principal(everyone).permissions("ALL".into()).build();
        let input = DatabaseInput::builder().name("legacy").create_table_default_permissions(defaults).build().unwrap();
        w.aws.glue.create_database().database_input(input).send().await.unwrap();
    }
    w.secoda(&ROLE_VALUES.replace("[sales, marketing]", "[sales, legacy]"));
    let plan = w.run(&["provision", "--plan"]).ok();
    let note = plan.stdout.lines().find(|l| l.starts_with("note: Lake Formation does not govern")).unwrap_or_default();
    assert!(note.contains("legacy") && !note.contains("sales"), "{}", plan.stdout);
}

/// `status --json` and `--detailed-exitcode`: what a script or CI job checks.
#[tokio::test]
async fn status_reports_drift_as_json_and_as_an_exit_code() {
    let w = World::new().await;
    w.secoda(ROLE_VALUES);
    w.run(&["provision", "--yes"]).ok();
    assert_eq!(w.run(&["status", "--detailed-exitcode"]).code, 0);

    let arn = World::policy_arn("secoda-glue-policy");
    w.aws.iam.detach_role_policy().role_name("secoda-glue-role").policy_arn(&arn).send().await.unwrap();
    w.proxy.clear();
    let text = w.run(&["status", "--detailed-exitcode"]);
    assert_eq!(text.code, 2, "{text:?}");
    // Status only reads what is: it does not ask whether the caller could fix it.
    assert!(!w.proxy.actions().iter().any(|a| a == "iam:SimulatePrincipalPolicy"), "{:?}", w.proxy.actions());
    let run = w.run(&["status", "--json"]).ok();
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let rows: Vec<(String, String)> = doc["deployments"][0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["condition"].as_str().unwrap().to_string(), r["address"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        rows,
        [
            ("ok", "policy/secoda-glue-policy"),
            ("ok", "role/secoda-glue-role"),
            ("missing", "attachment/role/secoda-glue-role/secoda-glue-policy"),
            ("ok", "grant/role/secoda-glue-role/database/sales"),
            ("ok", "grant/role/secoda-glue-role/table/sales/*"),
            ("ok", "grant/role/secoda-glue-role/database/marketing"),
            ("ok", "grant/role/secoda-glue-role/table/marketing/*"),
        ]
        .map(|(c, a)| (c.to_string(), a.to_string()))
    );
    insta::assert_snapshot!("status_detached_json", run.stdout);
    let missing = &doc["deployments"][0]["resources"][2];
    assert_eq!(missing["reason"], "was detached outside lakepass; reattaching");
    assert_eq!(missing["description"], "attachment of policy secoda-glue-policy to role secoda-glue-role");
    assert_eq!(
        (
            &doc["format_version"],
            &doc["deployments"][0]["deployment"],
            &doc["deployments"][0]["account"],
            &doc["errors"]
        ),
        (
            &serde_json::json!(1),
            &serde_json::json!("secoda"),
            &serde_json::json!("123456789012"),
            &serde_json::json!([])
        )
    );
}
