//! What must hold when things go wrong: missing credentials, refused calls, throttling,
//! and runs that die half way.

mod support;

use support::*;

#[tokio::test]
async fn no_credentials_says_how_to_get_them() {
    let w = World::new().await;
    w.secoda(ROLE_VALUES);
    let mut cmd = w.command(&["provision", "--plan"]);
    cmd.env_remove("AWS_ACCESS_KEY_ID").env_remove("AWS_SECRET_ACCESS_KEY");
    let run = run(cmd, &w.emu).fails();
    assert!(run.stderr.contains("no AWS credentials"), "{}", run.stderr);
    assert!(run.stderr.contains("aws sso login") && run.stderr.contains("--profile"), "{}", run.stderr);
    assert!(w.state().is_none());
}

#[tokio::test]
async fn access_denied_names_the_missing_permission_and_leaves_aws_alone() {
    let w = World::new().await;
    // A caller that may read but not create IAM resources, with the emulator enforcing IAM.
    w.aws.iam.create_user().user_name("reader").send().await.unwrap();
    let key = w.aws.iam.create_access_key().user_name("reader").send().await.unwrap();
    let key = key.access_key().unwrap();
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:GetCallerIdentity","iam:Get*","iam:List*","glue:Get*","lakeformation:*"],"Resource":"*"}]}"#;
    w.aws.iam.put_user_policy().user_name("reader").policy_name("read").policy_document(policy).send().await.unwrap();
    {
        use aws_sdk_lakeformation::types::{DataLakePrincipal, DataLakeSettings};
        let admin = DataLakePrincipal::builder().data_lake_principal_identifier(user_arn("reader")).build();
        let settings = DataLakeSettings::builder().data_lake_admins(admin).build();
        w.aws.lf.put_data_lake_settings().data_lake_settings(settings).send().await.unwrap();
    }
    w.emu.post_body("/moto-api/reset-auth", "0").unwrap();
    w.secoda(ROLE_VALUES);
    let mut cmd = w.command(&["provision", "--yes"]);
    cmd.env("AWS_ACCESS_KEY_ID", key.access_key_id()).env("AWS_SECRET_ACCESS_KEY", key.secret_access_key());
    let run = run(cmd, &w.emu).fails();
    w.emu.post_body("/moto-api/reset-auth", "inf").unwrap();

    assert!(run.stderr.contains("AWS refused iam:CreatePolicy"), "{}", run.stderr);
    assert!(run.stderr.contains("user/reader"), "names who was refused: {}", run.stderr);
    assert!(run.stderr.contains("hint:"), "{}", run.stderr);
    assert!(!run.stderr.contains(key.secret_access_key()));
    assert!(!w.policy_exists("secoda-glue-policy").await);
    assert!(w.role("secoda-glue-role").await.is_none());
}

/// Dies after each successful AWS change in turn (before state records it), then checks
/// that the next run completes the job without duplicates, or that teardown removes all.
#[tokio::test]
async fn interrupted_runs_converge() {
    let w = World::new().await;
    for (values, principal) in
        [(ROLE_VALUES, role_arn("secoda-glue-role")), (USER_VALUES, user_arn("secoda-glue-user"))]
    {
        // Changes: policy, principal, (for a key: the creating mark, the key, its secret
        // handed over, the live mark), attachment, one batch of grants.
        let changes = if principal.contains(":user/") { 8 } else { 4 };
        for crash_after in 1..=changes {
            for then_teardown in [false, true] {
                w.reset().await;
                w.secoda(values);
                let mut cmd = w.command(&["provision", "--yes"]);
                cmd.env("LAKEPASS_FAULT_CRASH_AFTER_ACTIONS", crash_after.to_string());
                let crashed = run(cmd, &w.emu);
                assert_eq!(crashed.code, 101, "{crashed:?}");

                if then_teardown {
                    w.run(&["teardown", "--yes"]).ok();
                    let left = w.snapshot().await;
                    assert_eq!(left, SEEDED, "crash after {crash_after}: teardown left {left}");
                    assert!(w.state().is_none());
                    continue;
                }
                let next = w.run(&["provision", "--yes"]).ok();
                let ctx = format!("{values} crash after {crash_after}");
                assert_eq!(w.policy_versions("secoda-glue-policy").await, 1, "{ctx}");
                assert_eq!(w.grants_to(&principal).await.len(), 4, "{ctx}");
                if principal.contains(":user/") {
                    let keys = w.access_keys("secoda-glue-user").await;
                    assert_eq!(keys.len(), 1, "{ctx}");
                    // The live key's secret was handed over, by the crashed run or the next.
                    let handed = |out: &str| {
                        out.lines().skip_while(|l| !l.contains(&keys[0])).nth(1).is_some_and(|l| {
                            l.trim_start().starts_with("secret key:")
                                && l.split_whitespace().last().unwrap().len() >= 20
                        })
                    };
                    assert!(handed(&crashed.stdout) || handed(&next.stdout), "{ctx}: {crashed:?}\n{next:?}");
                    assert_eq!(w.user_policies("secoda-glue-user").await, ["secoda-glue-policy"], "{ctx}");
                } else {
                    assert_eq!(w.role_policies("secoda-glue-role").await, ["secoda-glue-policy"], "{ctx}");
                }
                let state = w.state().unwrap();
                let expected = if principal.contains(":user/") { 8 } else { 7 };
                assert_eq!(state["resources"].as_object().unwrap().len(), expected, "{ctx}");
                let again = w.run(&["provision", "--plan", "--detailed-exitcode"]);
                assert_eq!(again.code, 0, "{ctx}: {again:?}");
            }
        }
    }
}

#[tokio::test]
async fn a_second_run_while_one_holds_the_lock_is_refused() {
    let w = World::new().await;
    w.secoda(ROLE_VALUES);
    std::fs::create_dir_all(w.dir.path().join(".lakepass")).unwrap();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(w.dir.path().join(".lakepass/secoda.lock"))
        .unwrap();
    lock.lock().unwrap();
    let run = w.run(&["provision", "--yes"]).fails();
    assert!(run.stderr.contains("another lakepass run holds the lock"), "{}", run.stderr);
    assert!(w.role("secoda-glue-role").await.is_none());

    // The wizard, refused by the lock, leaves the config as the other run knows it.
    let config = std::fs::read(w.dir.path().join("lakepass.yaml")).unwrap();
    let answers = w.dir.path().join("answers.yaml");
    std::fs::write(&answers, format!("stack: secoda-glue\n{USER_VALUES}")).unwrap();
    for yes in [true, false] {
        let mut args = vec!["wizard", "--answers", answers.to_str().unwrap()];
        if yes {
            args.push("--yes");
        }
        let run = w.run(&args).fails();
        assert!(run.stderr.contains("another lakepass run holds the lock"), "{}", run.stderr);
        assert_eq!(std::fs::read(w.dir.path().join("lakepass.yaml")).unwrap(), config, "config untouched");
    }
    assert!(!w.user_exists("secoda-glue-user").await);
}

#[tokio::test]
async fn an_unwritable_secret_file_is_refused_before_any_key_exists() {
    let w = World::new().await;
    w.secoda(USER_VALUES);
    let run = w.run(&["provision", "--yes", "--secret-file", "/nonexistent-dir/secret"]).fails();
    assert!(run.stderr.contains("/nonexistent-dir/secret"), "{}", run.stderr);
    assert!(!w.user_exists("secoda-glue-user").await, "nothing created");
    assert!(!w.policy_exists("secoda-glue-policy").await);
}

#[tokio::test]
async fn a_database_dropped_from_glue_after_removing_it_from_values_is_no_obstacle() {
    let w = World::new().await;
    w.secoda(ROLE_VALUES);
    w.run(&["provision", "--yes"]).ok();
    w.aws.glue.delete_database().name("marketing").send().await.unwrap();
    // Still in the values: refused, with the database named.
    let run = w.run(&["provision", "--plan"]).fails();
    assert!(run.stderr.contains("database marketing not found"), "{}", run.stderr);
    // Removed from the values: its grants are revoked, nothing else is in the way.
    w.secoda(&ROLE_VALUES.replace("[sales, marketing]", "[sales]"));
    w.run(&["provision", "--yes"]).ok();
    let held: Vec<String> = w.grants_to(&role_arn("secoda-glue-role")).await.into_iter().map(|(r, _)| r).collect();
    assert_eq!(held, ["database/sales", "table/sales/*"]);
    w.run(&["teardown", "--yes"]).ok();
    assert!(w.grants().await.is_empty());
}

#[tokio::test]
async fn a_state_from_another_region_is_not_acted_on_elsewhere() {
    let w = World::new().await;
    w.secoda(ROLE_VALUES);
    w.run(&["provision", "--yes"]).ok();
    let before = std::fs::read(w.state_path()).unwrap();
    let run = w.run(&["provision", "--plan", "--region", "eu-west-1"]).fails();
    assert!(run.stderr.contains("region us-east-1") && run.stderr.contains("eu-west-1"), "{}", run.stderr);
    assert_eq!(std::fs::read(w.state_path()).unwrap(), before);
}

#[tokio::test]
async fn usage_errors_exit_1_not_the_changes_code() {
    let w = World::new().await;
    let run = w.run(&["provision", "--no-such-flag"]);
    assert_eq!(run.code, 1, "{run:?}");
    let help = w.run(&["--help"]).ok();
    assert!(help.stdout.contains("provision") && help.stdout.contains("teardown"));
}

#[tokio::test]
async fn a_new_keys_secret_is_handed_over_even_when_a_later_step_fails() {
    let w = World::new().await;
    w.secoda(USER_VALUES);
    w.proxy.fail_grants_with_invalid_principal(1000);
    let secret_path = w.dir.path().join("secret");
    let run = w.run(&["provision", "--yes", "--secret-file", secret_path.to_str().unwrap()]).fails();
    assert!(run.stderr.contains("still refuses the new principal"), "{}", run.stderr);
    let keys = w.access_keys("secoda-glue-user").await;
    assert_eq!(keys.len(), 1);
    assert!(run.stdout.contains(&keys[0]), "{}", run.stdout);
    assert!(std::fs::read_to_string(&secret_path).unwrap().trim().len() >= 20, "secret written despite the failure");
    // The next run finishes the grants and keeps the key.
    w.proxy.fail_grants_with_invalid_principal(0);
    w.run(&["provision", "--yes"]).ok();
    assert_eq!(w.access_keys("secoda-glue-user").await, keys);
}

/// A third of the calls throttled or failed by AWS: provision, re-plan and teardown all
/// finish with the default retry settings, and say on stderr that AWS made them wait.
#[tokio::test]
async fn thirty_percent_throttled_or_failing_calls_still_finish_with_default_retries() {
    let w = World::new().await;
    w.secoda(USER_VALUES);
    w.proxy.inject_faults(0.3, 7);
    let default_retries = |args: &[&str]| {
        let mut cmd = w.command(args);
        cmd.env_remove("AWS_MAX_ATTEMPTS");
        run(cmd, &w.emu)
    };
    let applied = default_retries(&["provision", "--yes"]).ok();
    assert!(w.proxy.refused() >= 5, "faults were injected: {}", w.proxy.refused());
    assert!(
        applied.stderr.contains("AWS is throttling") || applied.stderr.contains("AWS is failing"),
        "{}",
        applied.stderr
    );
    assert_eq!(w.access_keys("secoda-glue-user").await.len(), 1);
    assert_eq!(w.grants_to(&user_arn("secoda-glue-user")).await.len(), 4);
    let again = default_retries(&["provision", "--plan", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{again:?}");
    default_retries(&["teardown", "--yes"]).ok();
    w.proxy.inject_faults(0.0, 1);
    assert_eq!(w.snapshot().await, SEEDED);
}

#[tokio::test]
async fn an_endpoint_nobody_answers_is_one_line_and_a_hint() {
    let w = World::new().await;
    w.secoda(ROLE_VALUES);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut cmd = w.command(&["provision", "--plan"]);
    cmd.env("AWS_ENDPOINT_URL", format!("http://{closed}")).env_remove("AWS_MAX_ATTEMPTS");
    let started = std::time::Instant::now();
    let run = run(cmd, &w.emu).fails();
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some("error: AWS call sts:GetCallerIdentity could not connect to AWS (the connection was refused or dropped)"),
        "{}",
        run.stderr
    );
    assert!(lines.len() == 2 && lines[1].starts_with("  hint: check the network"), "{}", run.stderr);
    assert!(!run.stderr.contains("DispatchFailure") && !run.stderr.contains("Error {"), "{}", run.stderr);
    eprintln!("gave up after {:?}", started.elapsed());
}

/// `-v` logs to a pipe or a file as plain text: no colour codes outside a terminal.
#[tokio::test]
async fn verbose_logs_carry_no_colour_codes_into_a_pipe() {
    let w = World::new().await;
    w.secoda(ROLE_VALUES);
    let run = w.run(&["-v", "provision", "--plan"]).ok();
    assert!(run.stderr.contains("DEBUG"), "it logs: {}", run.stderr);
    assert!(!run.stderr.contains('\x1b'), "{:?}", run.stderr);
}
