//! The wizard in a real pseudo-terminal, against the emulator: what a person typing sees,
//! and what AWS and the project hold afterwards.

mod support;

use rexpect::session::{PtySession, spawn_command};
use std::time::Instant;
use support::*;

const DOWN: &str = "\x1b[B";
const UP: &str = "\x1b[A";
const ENTER: &str = "\r";

fn spawn(w: &World, args: &[&str]) -> PtySession {
    let mut cmd = w.command(args);
    cmd.env("TERM", "xterm");
    spawn_command(cmd, Some(20_000)).expect("spawn lakepass in a pty")
}

fn exp(s: &mut PtySession, text: &str) {
    if let Err(e) = s.exp_string(text) {
        panic!("waiting for {text:?}: {e}");
    }
}

fn send(s: &mut PtySession, keys: &str) {
    s.send(keys).unwrap();
    s.flush().unwrap();
}

/// How the process ended, as nix prints it: "Exited(Pid(..), 0)", "Signaled(.., SIGINT, ..)".
fn ending(s: &PtySession) -> String {
    format!("{:?}", s.process().wait().unwrap())
}

fn exit_code(s: &PtySession) -> i32 {
    let e = ending(s);
    let code = e
        .strip_prefix("Exited(")
        .and_then(|r| r.rsplit(", ").next())
        .and_then(|c| c.trim_end_matches(')').parse().ok());
    code.unwrap_or_else(|| panic!("lakepass did not exit normally: {e}"))
}

/// Picks a shipped stack in the wizard's list (they are listed by name).
fn pick(s: &mut PtySession, stack: &str) {
    exp(s, "Which integration?");
    let at = lakepass::stack::shipped_names().iter().position(|n| *n == stack).unwrap();
    send(s, &DOWN.repeat(at));
    send(s, ENTER);
}

/// Picks secoda-glue, confirms the identity, and stops at the access question.
fn answer_until_access(s: &mut PtySession) {
    pick(s, "secoda-glue");
    exp(s, "Set up access in this account and region?");
    send(s, ENTER);
    exp(s, "How should Secoda connect?");
}

/// The answers a role onboarding gives, up to the external ID.
fn answer_until_databases(s: &mut PtySession) {
    answer_until_access(s);
    send(s, ENTER);
    exp(s, "Secoda's AWS account ID");
    send(s, ENTER);
    exp(s, "External ID");
}

/// From the databases question to "apply": picks with `keys`, then gives the buckets and
/// the results bucket.
fn answer_from_databases_to_apply(s: &mut PtySession, keys: &str) {
    exp(s, "Glue databases Secoda may read");
    exp(s, "sales");
    send(s, keys);
    exp(s, "S3 buckets");
    send(s, &format!("acme-lake{ENTER}"));
    exp(s, "Athena writes query results");
    send(s, &format!("acme-athena-results{ENTER}"));
    exp(s, "Apply these changes now?");
}

#[tokio::test]
async fn a_role_onboarding_from_an_empty_account() {
    let w = World::new().await;
    let started = Instant::now();
    let mut s = spawn(&w, &["wizard"]);
    answer_until_databases(&mut s);
    // A wrong external id is refused with the reason and asked again.
    send(&mut s, &format!("x{ENTER}"));
    exp(&mut s, "is 1 character long");
    send(&mut s, &format!("sec-7f3a9c21e4b8{ENTER}"));
    exp(&mut s, "Glue databases Secoda may read");
    exp(&mut s, "sales");
    // finance, marketing, sales: pick marketing and sales.
    send(&mut s, &format!("{DOWN} {DOWN} {ENTER}"));
    exp(&mut s, "S3 buckets");
    send(&mut s, &format!("acme-lake{ENTER}"));
    exp(&mut s, "Athena writes query results");
    send(&mut s, &format!("acme-athena-results{ENTER}"));
    exp(&mut s, "Plan: 7 to create, 0 to update, 0 to delete.");
    exp(&mut s, "Apply these changes now?");
    send(&mut s, ENTER);
    exp(&mut s, "Paste into Secoda");
    exp(&mut s, "role ARN       arn:aws:iam::123456789012:role/secoda-glue-role");
    exp(&mut s, "lakepass teardown -d secoda");
    s.exp_eof().unwrap();
    assert_eq!(exit_code(&s), 0);
    eprintln!("role onboarding in the pty took {:?}", started.elapsed());

    let role = w.role("secoda-glue-role").await.expect("role created");
    let trust = decode(role.assume_role_policy_document().unwrap());
    assert!(trust.to_string().contains("sec-7f3a9c21e4b8"));
    let held: Vec<String> = w.grants_to(&role_arn("secoda-glue-role")).await.into_iter().map(|(r, _)| r).collect();
    assert_eq!(held, ["database/marketing", "database/sales", "table/marketing/*", "table/sales/*"]);
    // The deployment is in the config, and provision agrees nothing is left to do.
    let config = std::fs::read_to_string(w.dir.path().join("lakepass.yaml")).unwrap();
    assert!(config.contains("external_id: \"sec-7f3a9c21e4b8\""), "{config}");
    assert_eq!(w.run(&["provision", "--plan", "--detailed-exitcode"]).code, 0);
}

#[tokio::test]
async fn a_user_onboarding_shows_the_secret_once() {
    let w = World::new().await;
    let mut s = spawn(&w, &["wizard"]);
    answer_until_access(&mut s);
    send(&mut s, &format!("{DOWN}{ENTER}"));
    // No vendor account or external id for a user.
    answer_from_databases_to_apply(&mut s, &format!("{DOWN}{DOWN} {ENTER}"));
    send(&mut s, ENTER);
    exp(&mut s, "New access key of user secoda-glue-user");
    let (_, secret_line) = s.exp_regex(r"secret key: +[A-Za-z0-9/+=]{20,}").unwrap();
    exp(&mut s, "secret key     shown above, once");
    s.exp_eof().unwrap();
    assert_eq!(exit_code(&s), 0);

    let keys = w.access_keys("secoda-glue-user").await;
    assert_eq!(keys.len(), 1);
    let secret = secret_line.split_whitespace().last().unwrap();
    let state = std::fs::read_to_string(w.state_path()).unwrap();
    assert!(!state.contains(secret) && state.contains(&keys[0]));
    assert!(!std::fs::read_to_string(w.dir.path().join("lakepass.yaml")).unwrap().contains(secret));
    let replan = w.run(&["provision", "--yes"]).ok();
    assert!(!replan.stdout.contains(secret) && !replan.stderr.contains(secret), "shown once only");
    assert_eq!(w.grants_to(&user_arn("secoda-glue-user")).await.len(), 2);
}

#[tokio::test]
async fn ctrl_c_before_apply_leaves_nothing_behind() {
    let w = World::new().await;
    let mut s = spawn(&w, &["wizard"]);
    answer_until_databases(&mut s);
    send(&mut s, &format!("sec-7f3a9c21e4b8{ENTER}"));
    exp(&mut s, "Glue databases Secoda may read");
    exp(&mut s, "sales");
    s.send_control('c').unwrap();
    let rest = s.exp_eof().unwrap();
    assert_eq!(exit_code(&s), 130, "ended by Ctrl-C");
    // The picker hid the cursor; Ctrl-C shows it again.
    assert!(rest.ends_with("\x1b[?25h"), "cursor shown at the end: {rest:?}");
    assert!(!w.dir.path().join("lakepass.yaml").exists());
    assert!(!w.dir.path().join(".lakepass").exists());
    assert!(!w.policy_exists("secoda-glue-policy").await && w.role("secoda-glue-role").await.is_none());
}

#[tokio::test]
async fn a_rerun_offers_current_values_and_applies_only_the_change() {
    let w = World::new().await;
    let answers = w.dir.path().join("answers.yaml");
    std::fs::write(&answers, format!("stack: secoda-glue\n{ROLE_VALUES}")).unwrap();
    w.run(&["wizard", "--answers", answers.to_str().unwrap(), "--yes"]).ok();
    assert_eq!(w.grants_to(&role_arn("secoda-glue-role")).await.len(), 4);

    let mut s = spawn(&w, &["wizard"]);
    answer_until_access(&mut s);
    send(&mut s, ENTER);
    exp(&mut s, "Secoda's AWS account ID");
    send(&mut s, ENTER);
    exp(&mut s, "[sec-7f3a9c21e4b8]");
    send(&mut s, ENTER);
    exp(&mut s, "Glue databases Secoda may read");
    exp(&mut s, "sales");
    // marketing and sales are checked already; add finance (first).
    send(&mut s, &format!(" {ENTER}"));
    exp(&mut s, "[acme-lake]");
    send(&mut s, ENTER);
    exp(&mut s, "[acme-athena-results]");
    send(&mut s, ENTER);
    exp(&mut s, "Plan: 2 to create, 1 to update, 0 to delete.");
    exp(&mut s, "Apply these changes now?");
    send(&mut s, ENTER);
    exp(&mut s, "Paste into Secoda");
    s.exp_eof().unwrap();
    assert_eq!(exit_code(&s), 0);
    let held: Vec<String> = w.grants_to(&role_arn("secoda-glue-role")).await.into_iter().map(|(r, _)| r).collect();
    assert!(held.contains(&"database/finance".to_string()), "{held:?}");
    assert_eq!(held.len(), 6);
}

#[tokio::test]
async fn answers_with_a_missing_key_are_refused_by_name() {
    let w = World::new().await;
    let answers = w.dir.path().join("answers.yaml");
    std::fs::write(&answers, ROLE_VALUES.replace("athena_output_bucket: acme-athena-results", "")).unwrap();
    // Without a stack, the answers must say which.
    let run = w.run(&["wizard", "--answers", answers.to_str().unwrap(), "--yes"]).fails();
    assert!(run.stderr.contains("--stack NAME"), "{}", run.stderr);
    let run = w.run(&["wizard", "--stack", "secoda-glue", "--answers", answers.to_str().unwrap(), "--yes"]).fails();
    assert!(run.stderr.contains("athena_output_bucket is missing"), "{}", run.stderr);
    assert!(run.stderr.contains("answers file"), "{}", run.stderr);
    assert!(!w.dir.path().join("lakepass.yaml").exists());
    assert!(!w.policy_exists("secoda-glue-policy").await);
}

#[tokio::test]
async fn answers_without_yes_save_and_plan_but_change_nothing() {
    let w = World::new().await;
    let answers = w.dir.path().join("answers.yaml");
    std::fs::write(&answers, format!("stack: secoda-glue\n{USER_VALUES}")).unwrap();
    let run = w.run(&["wizard", "--answers", answers.to_str().unwrap()]);
    assert_eq!(run.code, 2, "changes left to apply: {run:?}");
    assert!(run.stdout.contains("+ iam user secoda-glue-user"), "{}", run.stdout);
    assert!(w.dir.path().join("lakepass.yaml").exists());
    assert!(!w.user_exists("secoda-glue-user").await);
    assert!(!w.policy_exists("secoda-glue-policy").await);
    assert!(!w.dir.path().join(".lakepass").exists(), "no lock or state left");
    // The saved deployment is what provision then applies.
    w.run(&["provision", "--yes"]).ok();
    assert!(w.user_exists("secoda-glue-user").await);
}

#[tokio::test]
async fn without_a_terminal_the_wizard_names_answers_instead_of_hanging() {
    let w = World::new().await;
    let run = w.run(&["wizard"]).fails();
    assert!(run.stderr.contains("--answers FILE"), "{}", run.stderr);
}

#[tokio::test]
async fn suggestions_come_from_the_account() {
    let w = World::new().await;
    {
        use aws_sdk_glue::types::{StorageDescriptor, TableInput};
        let sd = StorageDescriptor::builder().location("s3://acme-lake/marketing/campaigns/").build();
        let t = TableInput::builder().name("campaigns").storage_descriptor(sd).build().unwrap();
        w.aws.glue.create_table().database_name("marketing").table_input(t).send().await.unwrap();
    }
    // A workgroup with a result location, named by the deployment being set up.
    let athena = support::clients_athena(&w.emu.url).await;
    let results =
        aws_sdk_athena::types::ResultConfiguration::builder().output_location("s3://acme-query-results/x/").build();
    let config = aws_sdk_athena::types::WorkGroupConfiguration::builder().result_configuration(results).build();
    athena.create_work_group().name("analytics").configuration(config).send().await.unwrap();
    let existing = "deployments:\n  secoda:\n    stack: secoda-glue\n    values:\n      athena_workgroup: analytics\n";
    w.config(existing);

    let mut s = spawn(&w, &["wizard"]);
    answer_until_databases(&mut s);
    send(&mut s, &format!("sec-7f3a9c21e4b8{ENTER}"));
    exp(&mut s, "Glue databases Secoda may read");
    exp(&mut s, "sales");
    send(&mut s, &format!("{DOWN} {ENTER}"));
    // The bucket of marketing's table location, and the workgroup's result bucket.
    exp(&mut s, "[acme-lake]");
    send(&mut s, ENTER);
    exp(&mut s, "[acme-query-results]");
    send(&mut s, ENTER);
    // Confirmations take Enter: "n⏎" answers this one, and its Enter does not answer the
    // next (it once did, and saved).
    exp(&mut s, "Apply these changes now?");
    send(&mut s, &format!("n{ENTER}"));
    exp(&mut s, "to apply later?");
    send(&mut s, &format!("n{ENTER}"));
    exp(&mut s, "Nothing was written and nothing was created.");
    s.exp_eof().unwrap();
    assert_eq!(exit_code(&s), 0);
    assert_eq!(std::fs::read_to_string(w.dir.path().join("lakepass.yaml")).unwrap(), existing);
    assert!(!w.dir.path().join(".lakepass").exists());
}

#[tokio::test]
async fn provision_in_a_terminal_asks_before_changing_anything() {
    let w = World::new().await;
    w.secoda(ROLE_VALUES);
    let mut s = spawn(&w, &["provision"]);
    exp(&mut s, "Plan: 7 to create");
    exp(&mut s, "Apply these changes to account 123456789012?");
    send(&mut s, &format!("n{ENTER}"));
    s.exp_eof().unwrap();
    assert_eq!(exit_code(&s), 1);
    assert!(w.role("secoda-glue-role").await.is_none() && !w.policy_exists("secoda-glue-policy").await);

    let mut s = spawn(&w, &["provision"]);
    exp(&mut s, "Apply these changes to account 123456789012?");
    send(&mut s, &format!("y{ENTER}"));
    exp(&mut s, "role ARN");
    s.exp_eof().unwrap();
    assert_eq!(exit_code(&s), 0);
    assert!(w.role("secoda-glue-role").await.is_some());
}

#[tokio::test]
async fn without_credentials_the_wizard_says_how_to_get_them() {
    let w = World::new().await;
    let mut cmd = w.command(&["wizard"]);
    cmd.env("TERM", "xterm").env_remove("AWS_ACCESS_KEY_ID").env_remove("AWS_SECRET_ACCESS_KEY");
    let mut s = spawn_command(cmd, Some(20_000)).unwrap();
    // Said before the first question: one line and its hint, no SDK debug text.
    let seen = s.exp_eof().unwrap();
    assert_eq!(exit_code(&s), 1);
    assert!(!seen.contains("Which integration?"), "{seen}");
    let lines: Vec<&str> = seen.lines().map(str::trim_end).filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 2, "{seen}");
    assert!(lines[0].starts_with("error: no AWS credentials were found"), "{seen}");
    assert!(lines[1].starts_with("  hint: sign in first: `aws sso login --profile NAME`"), "{seen}");
    assert!(!seen.contains("ServiceError") && !seen.contains("{"), "{seen}");
    assert!(!w.dir.path().join("lakepass.yaml").exists());
}

#[tokio::test]
async fn ctrl_c_at_the_apply_question_leaves_nothing_behind() {
    let w = World::new().await;
    let mut s = spawn(&w, &["wizard"]);
    answer_until_databases(&mut s);
    send(&mut s, &format!("sec-7f3a9c21e4b8{ENTER}"));
    answer_from_databases_to_apply(&mut s, &format!("{DOWN}{DOWN} {ENTER}"));
    s.send_control('c').unwrap();
    s.exp_eof().unwrap();
    assert_eq!(exit_code(&s), 130, "ended by Ctrl-C");
    assert!(!w.dir.path().join("lakepass.yaml").exists());
    assert!(!w.dir.path().join(".lakepass").exists(), "planning took no lock");
    assert!(!w.policy_exists("secoda-glue-policy").await);
}

/// A catalog too long to scroll: all of it (now and later), or a pattern whose matches
/// come pre-selected.
#[tokio::test]
async fn a_long_database_list_is_narrowed_to_all_or_a_pattern() {
    let w = World::new().await;
    let many: Vec<String> = (0..40).map(|i| format!("sales_eu_orders_{i:04}")).collect();
    w.create_databases(&many, false).await;

    let mut s = spawn(&w, &["wizard"]);
    answer_until_databases(&mut s);
    send(&mut s, &format!("sec-7f3a9c21e4b8{ENTER}"));
    exp(&mut s, "all 43 databases, and any created later");
    exp(&mut s, "those whose names match a pattern");
    // With nothing chosen yet, the pattern is where the choice starts.
    send(&mut s, ENTER);
    exp(&mut s, "Pattern (* matches any characters)");
    send(&mut s, &format!("nothing_*{ENTER}"));
    exp(&mut s, "no database matches \"nothing_*\"");
    send(&mut s, &format!("sales_eu_orders_000*{ENTER}"));
    exp(&mut s, "sales_eu_orders_0009");
    send(&mut s, ENTER);
    exp(&mut s, "S3 buckets");
    send(&mut s, &format!("acme-lake{ENTER}"));
    exp(&mut s, "Athena writes query results");
    send(&mut s, &format!("acme-athena-results{ENTER}"));
    exp(&mut s, "Plan: 23 to create");
    exp(&mut s, "Apply these changes now?");
    send(&mut s, ENTER);
    s.exp_eof().unwrap();
    assert_eq!(exit_code(&s), 0);
    let config = std::fs::read_to_string(w.dir.path().join("lakepass.yaml")).unwrap();
    let picked: Vec<String> = (0..10).map(|i| format!("\"sales_eu_orders_{i:04}\"")).collect();
    assert!(config.contains(&format!("databases: [{}]", picked.join(","))), "{config}");

    // Again, taking everything: the config says "*", and every database gets its grants.
    let mut s = spawn(&w, &["wizard"]);
    pick(&mut s, "secoda-glue");
    exp(&mut s, "Set up access in this account and region?");
    send(&mut s, ENTER);
    exp(&mut s, "How should Secoda connect?");
    send(&mut s, ENTER);
    exp(&mut s, "Secoda's AWS account ID");
    send(&mut s, ENTER);
    exp(&mut s, "External ID");
    send(&mut s, ENTER);
    exp(&mut s, "all 43 databases, and any created later");
    // The re-run starts at "pick" (a list was chosen before); up twice is "all".
    send(&mut s, &format!("{UP}{UP}{ENTER}"));
    exp(&mut s, "S3 buckets");
    send(&mut s, ENTER);
    exp(&mut s, "Athena writes query results");
    send(&mut s, ENTER);
    exp(&mut s, "Apply these changes now?");
    send(&mut s, ENTER);
    s.exp_eof().unwrap();
    assert_eq!(exit_code(&s), 0);
    let config = std::fs::read_to_string(w.dir.path().join("lakepass.yaml")).unwrap();
    assert!(config.contains("databases: \"*\""), "{config}");
    assert_eq!(w.grants_to(&role_arn("secoda-glue-role")).await.len(), 2 * 43);
}

#[tokio::test]
async fn dbt_s_output_database_is_checked_as_soon_as_it_is_typed() {
    let w = World::new().await;
    let mut s = spawn(&w, &["wizard", "--stack", "dbt-glue"]);
    exp(&mut s, "Set up access in this account and region?");
    send(&mut s, ENTER);
    exp(&mut s, "The Glue database dbt writes");
    // A database the catalog lacks is offered creation on the spot; declined, the
    // question is asked again with the ones there are.
    send(&mut s, &format!("dbt_dmeo{ENTER}"));
    exp(&mut s, "There is no Glue database dbt_dmeo here. Create it?");
    send(&mut s, &format!("n{ENTER}"));
    exp(&mut s, "Name one of: finance, marketing, sales");
    exp(&mut s, "The Glue database dbt writes");
    // Accepted, the wizard goes on to the next question (creating it is part of the plan).
    send(&mut s, &format!("dbt_new{ENTER}"));
    exp(&mut s, "There is no Glue database dbt_new here. Create it?");
    send(&mut s, &format!("y{ENTER}"));
    exp(&mut s, "Glue databases dbt reads");
    send(&mut s, "\x03");
    let _ = ending(&s);
    assert!(!w.dir.path().join("lakepass.yaml").exists());
}

/// A second Secoda deployment: the stack's default names are the first one's, so the
/// wizard offers names suffixed with the new deployment's, at a terminal and from an
/// answers file, and the first deployment is left as it was.
#[tokio::test]
async fn a_second_deployment_gets_free_names_and_leaves_the_first_alone() {
    let w = World::new().await;
    w.secoda(ROLE_VALUES);
    w.run(&["provision", "--yes"]).ok();
    let first = w.attached_documents("secoda-glue-role").await;

    // From an answers file: the alternatives are taken, and said.
    let answers = w.dir.path().join("answers.yaml");
    std::fs::write(
        &answers,
        "stack: secoda-glue\nexternal_id: sec-2b7e91c4f05d\ndatabases: [finance]\nglue_buckets: [acme-lake]\nathena_output_bucket: acme-athena-results\n",
    )
    .unwrap();
    let run = w.run(&["wizard", "-d", "secoda2", "--answers", answers.to_str().unwrap(), "--yes"]).ok();
    assert!(
        run.stderr.contains("note: the role name secoda-glue-role is taken (lakepass deployment secoda uses it); using secoda-glue-role-secoda2 for role_name"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("using secoda-glue-policy-secoda2 for policy_name"), "{}", run.stderr);
    assert_eq!(w.role_policies("secoda-glue-role-secoda2").await, ["secoda-glue-policy-secoda2"]);
    assert_eq!(w.attached_documents("secoda-glue-role").await, first, "the first deployment is untouched");
    assert_eq!(w.run(&["provision", "-d", "secoda", "--plan", "--detailed-exitcode"]).code, 0);
    assert_eq!(w.run(&["provision", "-d", "secoda2", "--plan", "--detailed-exitcode"]).code, 0);

    // At a terminal: offered, and taken with Enter.
    let mut s = spawn(&w, &["wizard", "-d", "secoda3"]);
    answer_until_databases(&mut s);
    send(&mut s, &format!("sec-5d2b7e91c4f0{ENTER}"));
    answer_from_databases_to_apply_after_names(&mut s);
    s.exp_eof().unwrap();
    assert_eq!(exit_code(&s), 0);
    assert_eq!(w.role_policies("secoda-glue-role-secoda3").await, ["secoda-glue-policy-secoda3"]);
    assert_eq!(w.attached_documents("secoda-glue-role").await, first);
}

/// Picks finance, gives the buckets, takes both offered names and applies.
fn answer_from_databases_to_apply_after_names(s: &mut PtySession) {
    exp(s, "Glue databases Secoda may read");
    exp(s, "sales");
    send(s, &format!(" {ENTER}"));
    exp(s, "S3 buckets");
    send(s, &format!("acme-lake{ENTER}"));
    exp(s, "Athena writes query results");
    send(s, &format!("acme-athena-results{ENTER}"));
    exp(
        s,
        "The role name secoda-glue-role is taken (lakepass deployment secoda uses it). Use secoda-glue-role-secoda3 for role_name?",
    );
    send(s, ENTER);
    exp(s, "Use secoda-glue-policy-secoda3 for policy_name?");
    send(s, ENTER);
    exp(s, "Apply these changes now?");
    send(s, ENTER);
    exp(s, "role ARN       arn:aws:iam::123456789012:role/secoda-glue-role-secoda3");
}

/// A bucket pasted as its S3 location is taken as its name, with a note.
#[tokio::test]
async fn a_bucket_given_as_its_s3_location_is_taken_as_its_name() {
    let w = World::new().await;
    let answers = w.dir.path().join("answers.yaml");
    std::fs::write(
        &answers,
        "stack: secoda-glue\nexternal_id: sec-7f3a9c21e4b8\ndatabases: [sales]\nglue_buckets: [\"s3://acme-lake/raw/\"]\nathena_output_bucket: s3://acme-athena-results/\n",
    )
    .unwrap();
    w.proxy.clear();
    let run = w.run(&["wizard", "--answers", answers.to_str().unwrap()]);
    assert_eq!(run.code, 2, "saved, with changes to apply: {run:?}");
    // The identity checked before the first question serves the wizard; the plan asks again.
    let asked = w.proxy.actions().iter().filter(|a| a.ends_with("GetCallerIdentity")).count();
    assert_eq!(asked, 2, "once before the questions, once by the plan: {:?}", w.proxy.actions());
    assert!(run.stderr.contains("note: s3://acme-lake/raw/ is in bucket acme-lake"), "{}", run.stderr);
    let config = std::fs::read_to_string(w.dir.path().join("lakepass.yaml")).unwrap();
    assert!(config.contains("glue_buckets: [\"acme-lake\"]"), "{config}");
    assert!(config.contains("athena_output_bucket: \"acme-athena-results\""), "{config}");
}

/// Without colour the picker still shows where the cursor is.
#[tokio::test]
async fn without_colour_the_picker_marks_the_cursor() {
    let w = World::new().await;
    let mut cmd = w.command(&["wizard"]);
    cmd.env("TERM", "xterm").env("NO_COLOR", "1");
    let mut s = spawn_command(cmd, Some(20_000)).unwrap();
    answer_until_databases(&mut s);
    send(&mut s, &format!("sec-7f3a9c21e4b8{ENTER}"));
    exp(&mut s, "Glue databases Secoda may read");
    exp(&mut s, "> [ ] finance");
    send(&mut s, DOWN);
    exp(&mut s, "> [ ] marketing");
    s.send_control('c').unwrap();
    s.exp_eof().unwrap();
}
