//! Defects that could change the wrong account, expose data or destroy live access: each
//! test reproduces one from the outside and checks that lakepass now refuses or protects.

mod support;

use support::*;

/// Writes an AWS config file whose profile `other` holds credentials of another account
/// (123456789012 assumes a role in 111111111111: the emulator checks no trust).
async fn other_account_profile(w: &World) -> std::path::PathBuf {
    let out = w
        .aws
        .sts
        .assume_role()
        .role_arn("arn:aws:iam::111111111111:role/elsewhere")
        .role_session_name("test")
        .send()
        .await
        .unwrap();
    let c = out.credentials().unwrap();
    let path = w.dir.path().join("aws-config");
    std::fs::write(
        &path,
        format!(
            "[profile other]\naws_access_key_id = {}\naws_secret_access_key = {}\naws_session_token = {}\n",
            c.access_key_id(),
            c.secret_access_key(),
            c.session_token()
        ),
    )
    .unwrap();
    path
}

#[tokio::test]
async fn a_profile_wins_over_environment_credentials_and_a_pinned_account_stops_the_run() {
    let w = World::new().await;
    let config = other_account_profile(&w).await;
    w.config(&format!(
        "deployments:\n  secoda:\n    stack: secoda-glue\n    account: \"{ACCOUNT}\"\n    region: us-east-1\n    values:\n{}",
        indent(ROLE_VALUES)
    ));
    // The environment holds the pinned account's credentials; --profile names another.
    let mut cmd = w.command(&["provision", "--yes", "--profile", "other"]);
    cmd.env("AWS_CONFIG_FILE", &config);
    let run = run(cmd, &w.emu).fails();
    assert!(
        run.stderr.contains("pinned to account 123456789012, but the credentials are for account 111111111111"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hint: sign in to account 123456789012"), "{}", run.stderr);
    assert!(w.role("secoda-glue-role").await.is_none());
    assert!(!w.policy_exists("secoda-glue-policy").await);
    assert!(w.state().is_none());

    // Unpinned, the run reads the profile's account (whose catalog lacks the databases).
    w.secoda(ROLE_VALUES);
    let mut cmd = w.command(&["provision", "--plan", "--profile", "other"]);
    cmd.env("AWS_CONFIG_FILE", &config);
    let other = support::run(cmd, &w.emu).fails();
    assert!(other.stderr.contains("Glue Data Catalog of account 111111111111"), "{}", other.stderr);

    // Without --profile the environment's credentials are the pinned account's.
    w.run(&["provision", "--yes"]).ok();
    assert!(w.role("secoda-glue-role").await.is_some());
}

#[tokio::test]
async fn an_undefined_profile_is_named_with_the_files_searched() {
    let w = World::new().await;
    w.secoda(ROLE_VALUES);
    let config = other_account_profile(&w).await;
    let mut cmd = w.command(&["provision", "--plan", "--profile", "nosuch"]);
    cmd.env("AWS_CONFIG_FILE", &config);
    let run = run(cmd, &w.emu).fails();
    let first = run.stderr.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        format!("error: the AWS profile \"nosuch\" is not defined in {} and /dev/null", config.display()),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("aws configure list-profiles"), "{}", run.stderr);
}

#[tokio::test]
async fn another_deployments_state_file_is_refused_and_its_access_stays() {
    let w = World::new().await;
    let other = ROLE_VALUES.to_string() + "role_name: other-role\npolicy_name: other-policy\n";
    w.config(&format!(
        "deployments:\n  secoda:\n    stack: secoda-glue\n    values:\n{}  other:\n    stack: secoda-glue\n    values:\n{}",
        indent(ROLE_VALUES),
        indent(&other)
    ));
    w.run(&["provision", "--yes", "-d", "secoda"]).ok();
    w.run(&["provision", "--yes", "-d", "other"]).ok();
    let grants = w.grants().await;
    // A copy mix-up: the other deployment's state where this one's belongs.
    let dir = w.dir.path().join(".lakepass");
    std::fs::copy(dir.join("other.json"), dir.join("secoda.json")).unwrap();
    let before = std::fs::read(dir.join("secoda.json")).unwrap();
    for args in [&["provision", "--yes", "-d", "secoda"][..], &["teardown", "--yes", "-d", "secoda"][..]] {
        let run = w.run(args).fails();
        assert!(
            run.stderr
                .contains("records deployment other (stack secoda-glue), not deployment secoda (stack secoda-glue)"),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("hint: nothing was changed"), "{}", run.stderr);
    }
    assert_eq!(w.grants().await, grants);
    assert_eq!(w.role_policies("other-role").await, ["other-policy"]);
    assert_eq!(std::fs::read(dir.join("secoda.json")).unwrap(), before);
}

fn indent(values: &str) -> String {
    values.lines().filter(|l| !l.is_empty()).map(|l| format!("      {l}\n")).collect()
}

#[tokio::test]
async fn the_secret_file_is_created_new_never_through_a_link_and_replaced_only_when_asked() {
    let w = World::new().await;
    w.secoda(USER_VALUES);
    let elsewhere = w.dir.path().join("shared-notes.txt");
    std::fs::write(&elsewhere, "team notes\n").unwrap();
    let link = w.dir.path().join("secret-link");
    std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
    for replace in [false, true] {
        let mut args = vec!["provision", "--yes", "--secret-file", link.to_str().unwrap()];
        if replace {
            args.push("--replace-secret-file");
        }
        let run = w.run(&args).fails();
        assert!(run.stderr.contains("secret-link: is a symbolic link"), "{}", run.stderr);
        assert!(run.stderr.contains("hint: name a path that does not exist yet"), "{}", run.stderr);
    }
    assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "team notes\n");
    assert!(!w.user_exists("secoda-glue-user").await, "nothing before the file is safe");

    let existing = w.dir.path().join("secret");
    std::fs::write(&existing, "an older secret\n").unwrap();
    let run = w.run(&["provision", "--yes", "--secret-file", existing.to_str().unwrap()]).fails();
    assert!(run.stderr.contains("secret: already exists"), "{}", run.stderr);
    assert!(run.stderr.contains("--replace-secret-file"), "{}", run.stderr);
    assert!(!w.user_exists("secoda-glue-user").await);

    w.run(&["provision", "--yes", "--secret-file", existing.to_str().unwrap(), "--replace-secret-file"]).ok();
    let secret = std::fs::read_to_string(&existing).unwrap();
    assert!(secret.trim().len() >= 20 && secret != "an older secret\n");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&existing).unwrap().permissions().mode() & 0o777, 0o600);
}

#[tokio::test]
async fn a_second_checkout_without_the_state_never_deletes_the_live_key() {
    let w = World::new().await;
    w.secoda(USER_VALUES);
    let first = w.run(&["provision", "--yes"]).ok();
    let keys = w.access_keys("secoda-glue-user").await;
    assert_eq!(keys.len(), 1);
    assert!(first.stdout.contains(&keys[0]));

    // A teammate's checkout: the same lakepass.yaml, no .lakepass/.
    let mine = w.dir.path().join(".lakepass");
    let aside = w.dir.path().join("first-checkout-state");
    std::fs::rename(&mine, &aside).unwrap();
    // A tag alone is not ownership: the teammate must take the resources over explicitly.
    let refused = w.run(&["provision", "--plan"]).fails();
    assert!(refused.stderr.contains("carries this deployment's tag, but no state records it"), "{}", refused.stderr);
    let plan = w.run(&["provision", "--plan", "--adopt"]).ok();
    assert!(!plan.stdout.contains("access key"), "{}", plan.stdout);
    w.run(&["provision", "--yes", "--adopt"]).ok();
    assert_eq!(w.access_keys("secoda-glue-user").await, keys, "the vendor's key lives on");

    // The first checkout still finds its key, and wants no other.
    std::fs::remove_dir_all(&mine).unwrap();
    std::fs::rename(&aside, &mine).unwrap();
    let again = w.run(&["provision", "--plan", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(w.access_keys("secoda-glue-user").await, keys);
}

#[tokio::test]
async fn a_role_carrying_our_tag_and_other_policies_is_never_made_to_trust_the_vendor() {
    let w = World::new().await;
    w.secoda(ROLE_VALUES);
    // Someone made the role by hand, tagged it as lakepass's, and gave it EC2 rights.
    let tag = |k: &str, v: &str| aws_sdk_iam::types::Tag::builder().key(k).value(v).build().unwrap();
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    w.aws
        .iam
        .create_role()
        .role_name("secoda-glue-role")
        .assume_role_policy_document(trust)
        .tags(tag("lakepass:deployment", "secoda"))
        .send()
        .await
        .unwrap();
    let ec2 = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*"}]}"#;
    let p = w.aws.iam.create_policy().policy_name("ec2-admin").policy_document(ec2).send().await.unwrap();
    let ec2_arn = p.policy().unwrap().arn().unwrap().to_string();
    w.aws.iam.attach_role_policy().role_name("secoda-glue-role").policy_arn(&ec2_arn).send().await.unwrap();

    let run = w.run(&["provision", "--yes"]).fails();
    assert!(run.stderr.contains("no state records it"), "{}", run.stderr);
    let run = w.run(&["provision", "--yes", "--adopt"]).fails();
    assert!(
        run.stderr.contains(&format!("iam role secoda-glue-role carries policies lakepass did not attach ({ec2_arn})")),
        "{}",
        run.stderr
    );
    let role = w.role("secoda-glue-role").await.unwrap();
    assert_eq!(
        decode(role.assume_role_policy_document().unwrap()),
        serde_json::from_str::<serde_json::Value>(trust).unwrap()
    );
    assert!(!w.policy_exists("secoda-glue-policy").await, "nothing created before the refusal");
}

#[tokio::test]
async fn teardown_names_policies_others_put_on_our_role_and_detaches_them_only_when_told() {
    let w = World::new().await;
    w.secoda(ROLE_VALUES);
    w.run(&["provision", "--yes"]).ok();
    let ec2 = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*"}]}"#;
    let p = w.aws.iam.create_policy().policy_name("ec2-admin").policy_document(ec2).send().await.unwrap();
    let ec2_arn = p.policy().unwrap().arn().unwrap().to_string();
    w.aws.iam.attach_role_policy().role_name("secoda-glue-role").policy_arn(&ec2_arn).send().await.unwrap();
    let iam = &w.aws.iam;
    iam.put_role_policy().role_name("secoda-glue-role").policy_name("extra").policy_document(ec2).send().await.unwrap();

    // The plan and status show them.
    let warning =
        format!("role secoda-glue-role carries policies lakepass did not attach ({ec2_arn}, inline policy extra)");
    let plan = w.run(&["provision", "--plan"]).ok();
    assert!(plan.stdout.contains(&warning), "{}", plan.stdout);
    let status = w.run(&["status"]).ok();
    assert!(status.stdout.contains(&format!("  note: {warning}")), "{}", status.stdout);

    let refused = w.run(&["teardown", "--yes"]).fails();
    assert!(
        refused.stderr.contains(&format!("carries policies lakepass did not attach ({ec2_arn}, inline policy extra)")),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("--detach-foreign"), "{}", refused.stderr);
    assert!(w.role("secoda-glue-role").await.is_some());
    assert_eq!(w.grants_to(&role_arn("secoda-glue-role")).await.len(), 4, "nothing changed");

    w.run(&["teardown", "--yes", "--detach-foreign"]).ok();
    assert!(w.role("secoda-glue-role").await.is_none());
    assert!(w.policy_exists("ec2-admin").await, "detached, never deleted");
    assert!(!w.policy_exists("secoda-glue-policy").await);
}

/// AWS made the change but the answer was lost (a 500 after the fact): the SDK's retry of
/// a create then met "already exists", and a retried CreateAccessKey made a second key
/// whose secret nobody saw. Now each create settles by looking.
#[tokio::test]
async fn a_create_whose_answer_is_lost_is_taken_as_made_and_leaves_no_second_key() {
    let w = World::new().await;
    w.secoda(USER_VALUES);
    w.proxy.lose_answers(&["iam:CreateUser", "iam:CreatePolicy", "iam:CreateAccessKey"]);
    let secret_path = w.dir.path().join("secret");
    let run = w.run(&["provision", "--yes", "--secret-file", secret_path.to_str().unwrap()]).ok();
    assert!(run.stderr.contains("AWS did not confirm the new access key of secoda-glue-user"), "{}", run.stderr);
    let keys = w.access_keys("secoda-glue-user").await;
    assert_eq!(keys.len(), 1, "one key, the one handed over: {keys:?}");
    assert!(run.stdout.contains(&format!("access key ID:  {}", keys[0])), "{}", run.stdout);
    assert!(std::fs::read_to_string(&secret_path).unwrap().trim().len() >= 20);
    let again = w.run(&["provision", "--plan", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "converged: {again:?}");

    // The same for a role.
    w.run(&["teardown", "--yes"]).ok();
    w.secoda(ROLE_VALUES);
    w.proxy.lose_answers(&["iam:CreateRole", "iam:CreatePolicy"]);
    w.run(&["provision", "--yes"]).ok();
    assert!(w.role("secoda-glue-role").await.is_some());
    let again = w.run(&["provision", "--plan", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "converged: {again:?}");
    w.run(&["teardown", "--yes"]).ok();
    assert_eq!(w.snapshot().await, SEEDED);
}

/// A caller without iam:CreateRole used to get the policy created first. IAM's policy
/// simulator (answered by the proxy: the emulator lacks it) now stops the run before any
/// change, and the plan says so.
#[tokio::test]
async fn rights_iam_would_refuse_stop_the_run_before_the_first_change() {
    let w = World::new().await;
    w.secoda(ROLE_VALUES);
    w.proxy.simulate_denying(&["iam:CreateRole"]);
    let before = w.snapshot().await;
    let plan = w.run(&["provision", "--plan"]).ok();
    assert!(
        plan.stdout.contains("applying will fail: IAM would refuse arn:aws:iam::123456789012:user/moto iam:CreateRole on arn:aws:iam::123456789012:role/secoda-glue-role (not allowed)"),
        "{}",
        plan.stdout
    );
    w.proxy.clear();
    let run = w.run(&["provision", "--yes"]).fails();
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        lines,
        [
            "error: IAM would refuse arn:aws:iam::123456789012:user/moto what this run needs: iam:CreateRole on arn:aws:iam::123456789012:role/secoda-glue-role (not allowed)",
            "  hint: nothing was changed. Ask an administrator to allow these actions to arn:aws:iam::123456789012:user/moto (IAM's policy simulator decided, including permissions boundaries and SCPs), or run with credentials that have them (--profile)",
        ],
        "{}",
        run.stderr
    );
    assert!(w.proxy.actions().iter().all(|a| support::proxy::is_read(a)));
    assert_eq!(w.snapshot().await, before);
    assert!(w.state().is_none_or(|s| s["resources"].as_object().is_none_or(|r| r.is_empty())));
}

/// An SCP refusal can only come mid-way (the simulator said yes, or could not say). The
/// error says what was done and how to finish; teardown removes it.
#[tokio::test]
async fn a_refusal_mid_way_says_what_was_done_and_how_to_finish() {
    let w = World::new().await;
    w.secoda(ROLE_VALUES);
    w.proxy.deny(&["lakeformation:BatchGrantPermissions"]);
    let run = w.run(&["provision", "--yes"]).fails();
    let lines: Vec<&str> = run.stderr.lines().filter(|l| !l.starts_with("  + ") && !l.starts_with("  ~ ")).collect();
    assert!(lines[0].starts_with("error: AWS refused lakeformation:BatchGrantPermissions"), "{}", run.stderr);
    assert!(
        lines[1].contains("3 change(s) were made before this and are recorded in the state: fix the cause and run `lakepass provision` again to finish, or `lakepass teardown` to remove them"),
        "{}",
        run.stderr
    );
    assert!(w.role("secoda-glue-role").await.is_some());
    w.proxy.deny(&[]);
    w.run(&["teardown", "--yes"]).ok();
    assert!(w.role("secoda-glue-role").await.is_none());
    assert!(!w.policy_exists("secoda-glue-policy").await);
}

/// `rotate-key`: a new key handed over beside the old one, which keeps working until
/// `--finish`; a crash anywhere in between is settled by the next provision.
#[tokio::test]
async fn rotate_key_hands_over_a_new_key_and_deletes_the_old_only_on_finish() {
    let w = World::new().await;
    w.secoda(USER_VALUES);
    w.run(&["provision", "--yes", "--secret-file", w.dir.path().join("s1").to_str().unwrap()]).ok();
    let first = w.access_keys("secoda-glue-user").await;
    assert_eq!(first.len(), 1);

    let s2 = w.dir.path().join("s2");
    let run = w.run(&["rotate-key", "--yes", "--secret-file", s2.to_str().unwrap()]).ok();
    let keys = w.access_keys("secoda-glue-user").await;
    assert_eq!(keys.len(), 2, "old and new: {keys:?}");
    let new = keys.iter().find(|k| **k != first[0]).unwrap().clone();
    assert!(run.stdout.contains(&format!("access key ID:  {new}")), "{}", run.stdout);
    assert!(std::fs::read_to_string(&s2).unwrap().trim().len() >= 20);
    assert!(
        run.stderr.contains(&format!("The previous key {} keeps working. Once the vendor uses {new}, run `lakepass rotate-key --finish -d secoda`", first[0])),
        "{}",
        run.stderr
    );
    // Meanwhile provision changes nothing and says why there are two keys.
    let plan = w.run(&["provision", "--plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    assert!(plan.stdout.contains(&format!("keeps its previous key {}", first[0])), "{}", plan.stdout);

    let done = w.run(&["rotate-key", "--finish", "--yes"]).ok();
    assert!(done.stdout.contains(&format!("Deleted the previous key {}", first[0])), "{}", done.stdout);
    assert_eq!(w.access_keys("secoda-glue-user").await, vec![new.clone()]);
    assert_eq!(w.state().unwrap()["resources"]["access-key/secoda-glue-user"]["access_key_id"], new.as_str());
    let again = w.run(&["rotate-key", "--finish", "--yes"]).fails();
    assert!(again.stderr.contains("--finish has no rotation to finish"), "{}", again.stderr);

    // A rotation that dies after each of its changes: provision settles it on one
    // handed-over key, and the next rotation works.
    for crash in 1..=3 {
        let mut cmd = w.command(&["rotate-key", "--yes"]);
        cmd.env("LAKEPASS_FAULT_CRASH_AFTER_ACTIONS", crash.to_string());
        let died = support::run(cmd, &w.emu);
        assert_eq!(died.code, 101, "crash {crash}: {died:?}");
        let refused = w.run(&["rotate-key", "--yes"]);
        if refused.code != 0 {
            assert!(refused.stderr.contains("run `lakepass provision` first"), "crash {crash}: {refused:?}");
        }
        w.run(&["provision", "--yes"]).ok();
        let keys = w.access_keys("secoda-glue-user").await;
        let live = w.state().unwrap()["resources"]["access-key/secoda-glue-user"]["access_key_id"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(keys.contains(&live), "crash {crash}: the recorded key exists: {keys:?}");
        if keys.len() == 2 {
            w.run(&["rotate-key", "--finish", "--yes"]).ok();
        }
        assert_eq!(w.access_keys("secoda-glue-user").await.len(), 1, "crash {crash}");
    }
    w.run(&["teardown", "--yes"]).ok();
    assert_eq!(w.snapshot().await, SEEDED);

    // A role has no key to rotate.
    w.secoda(ROLE_VALUES);
    w.run(&["provision", "--yes"]).ok();
    let role = w.run(&["rotate-key", "--yes"]).fails();
    assert!(role.stderr.contains("has no access key lakepass manages"), "{}", role.stderr);
}

/// A second deployment of the same stack with the default names finds the first one's
/// resources: it stops before any change, and --adopt does not take them over (the first
/// vendor would lose its access); the hint says to choose other names.
#[tokio::test]
async fn a_second_deployment_never_takes_over_the_first_one_s_resources() {
    let w = World::new().await;
    let values =
        ROLE_VALUES.lines().filter(|l| !l.trim().is_empty()).map(|l| format!("      {l}\n")).collect::<String>();
    w.config(&format!(
        "deployments:\n  secoda:\n    stack: secoda-glue\n    region: us-east-1\n    values:\n{values}  secoda2:\n    stack: secoda-glue\n    region: us-east-1\n    values:\n{}",
        values.replace("[sales, marketing]", "[finance]")
    ));
    w.run(&["provision", "-d", "secoda", "--yes"]).ok();
    let before = w.snapshot().await;
    for adopt in [false, true] {
        let mut args = vec!["provision", "-d", "secoda2", "--yes"];
        if adopt {
            args.push("--adopt");
        }
        let run = w.run(&args).fails();
        assert!(
            run.stderr.contains("iam role secoda-glue-role (it exists and belongs to lakepass deployment secoda)"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("hint: choose other names in this deployment's values (the names are the stack's defaults unless set); --adopt never takes over what lakepass deployment secoda uses"),
            "{}",
            run.stderr
        );
        assert_eq!(w.snapshot().await, before, "adopt {adopt}");
    }
}
