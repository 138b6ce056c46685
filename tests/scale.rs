//! Catalogs of real size: a thousand databases where Lake Formation governs, hundreds
//! where IAM does, `databases: "*"`, and crashes in the middle of a multi-policy apply.
//! The emulator adds no default grants: IAM_ALLOWED_PRINCIPALS is passed explicitly.

mod support;

use serde_json::Value;
use support::*;

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("sales_eu_orders_{i:04}")).collect()
}

fn deployment(w: &World, databases: &str) {
    w.config(&format!(
        "deployments:\n  secoda:\n    stack: secoda-glue\n    region: us-east-1\n    values:\n      access: role\n      external_id: sec-7f3a9c21e4b8\n      glue_buckets: [acme-lake]\n      athena_output_bucket: acme-athena-results\n      databases: {databases}\n"
    ));
}

fn list(dbs: &[String]) -> String {
    format!("[{}]", dbs.join(", "))
}

/// Every resource of every statement with `effect` in these documents.
fn resources(docs: &[(String, Value)], effect: &str) -> Vec<String> {
    docs.iter()
        .flat_map(|(_, d)| d["Statement"].as_array().unwrap().clone())
        .filter(|s| s["Effect"] == effect)
        .flat_map(|s| s["Resource"].as_array().unwrap().clone())
        .map(|r| r.as_str().unwrap().to_string())
        .collect()
}

fn glue(r: &str) -> String {
    format!("arn:aws:glue:us-east-1:{ACCOUNT}:{r}")
}

/// Whether an Allow reaches database `db` (by name or wildcard).
fn reaches(allowed: &[String], db: &str) -> bool {
    allowed.iter().any(|a| {
        *a == glue(&format!("database/{db}"))
            || a.starts_with(&glue(&format!("table/{db}/")))
            || *a == glue("database/*")
            || a.starts_with(&glue("table/*"))
    })
}

#[tokio::test]
async fn a_thousand_databases_under_lake_formation_provision_grow_shrink_and_tear_down() {
    let w = World::new().await;
    let mut dbs = names(1000);
    w.create_databases(&dbs, false).await;
    w.create_databases(&["hr".to_string()], true).await;
    deployment(&w, &list(&dbs));

    let applied = w.run(&["provision", "--yes"]).ok();
    assert!(
        applied.stdout.contains("note: IAM scope: lake-formation: catalog-wide, Lake Formation grants decide, with a Deny on 1 database(s) IAM governs: hr"),
        "{}",
        applied.stdout.lines().filter(|l| l.starts_with("note:")).collect::<Vec<_>>().join("\n")
    );
    let docs = w.attached_documents("secoda-glue-role").await;
    assert_eq!(docs.len(), 1, "one policy holds them all");
    // No Allow reaches hr unless a Deny removes it.
    let denied = resources(&docs, "Deny");
    assert!(reaches(&resources(&docs, "Allow"), "hr"));
    assert!(denied.contains(&glue("database/hr")) && denied.contains(&glue("table/hr/*")), "{denied:?}");
    let role = role_arn("secoda-glue-role");
    assert_eq!(w.grants_to(&role).await.len(), 2000);

    let again = w.run(&["provision", "--plan", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}", again.stdout.lines().take(20).collect::<Vec<_>>().join("\n"));

    // One more database: its two grants, and no policy changes.
    let extra = "sales_eu_orders_1000".to_string();
    w.create_databases(std::slice::from_ref(&extra), false).await;
    dbs.push(extra);
    deployment(&w, &list(&dbs));
    w.proxy.clear();
    let grown = w.run(&["provision", "--yes"]).ok();
    assert!(grown.stdout.contains("Plan: 2 to create, 0 to update, 0 to delete"), "{}", grown.stdout);
    let changed: Vec<String> = w.proxy.actions().into_iter().filter(|a| !proxy::is_read(a)).collect();
    assert_eq!(changed, ["lakeformation:BatchGrantPermissions"]);
    assert_eq!(w.policy_versions("secoda-glue-policy").await, 1);

    // Ten fewer: their grants go, nothing else.
    dbs.truncate(991);
    deployment(&w, &list(&dbs));
    let shrunk = w.run(&["provision", "--yes"]).ok();
    assert!(shrunk.stdout.contains("Plan: 0 to create, 0 to update, 20 to delete"), "{}", shrunk.stdout);
    assert_eq!(w.grants_to(&role).await.len(), 1982);

    w.run(&["teardown", "--yes"]).ok();
    assert!(w.role("secoda-glue-role").await.is_none());
    assert!(!w.policy_exists("secoda-glue-policy").await);
    assert!(w.grants_to(&role).await.is_empty(), "0 orphans");
    assert!(w.state().is_none());
}

#[tokio::test]
async fn where_iam_governs_the_scope_is_split_within_iams_limits_and_too_many_is_refused_before_any_change() {
    let w = World::new().await;
    w.data_lake_defaults(true).await;
    let all = names(1000);
    w.create_databases(&all, true).await;
    w.create_databases(&["hr".to_string()], true).await;
    let chosen = &all[..300];
    deployment(&w, &list(chosen));

    let applied = w.run(&["provision", "--yes"]).ok();
    let docs = w.attached_documents("secoda-glue-role").await;
    assert!(docs.len() > 1 && docs.len() <= 10, "{} policies", docs.len());
    for (name, doc) in &docs {
        let size = doc.to_string().chars().filter(|c| !c.is_whitespace()).count();
        assert!(size <= 6144, "{name}: {size}");
    }
    let note = applied.stdout.lines().find(|l| l.starts_with("note: IAM scope:")).unwrap_or_default().to_string();
    assert!(note.contains(&format!("per-resource, across {} policies for 300 databases", docs.len())), "{note}");
    assert!(note.contains("a database created later would be open"), "{note}");
    let allowed = resources(&docs, "Allow");
    assert!(!reaches(&allowed, "hr") && !reaches(&allowed, &all[300]), "no Allow reaches an unchosen database");
    assert!(chosen.iter().all(|db| allowed.contains(&glue(&format!("database/{db}")))));
    w.proxy.clear();
    let again = w.run(&["provision", "--plan", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}", again.stdout.lines().take(20).collect::<Vec<_>>().join("\n"));
    // A no-change re-plan reads each policy once, at its recorded version, and lists
    // neither versions nor databases one by one.
    let calls = w.proxy.actions();
    let count = |a: &str| calls.iter().filter(|c| *c == a).count();
    assert_eq!((count("iam:GetPolicy"), count("iam:GetPolicyVersion")), (docs.len(), docs.len()), "{calls:?}");
    assert_eq!(count("iam:ListPolicyVersions") + count("glue:GetDatabase") + count("glue:GetTables"), 0, "{calls:?}");
    assert!(calls.len() <= docs.len() * 2 + 10, "{} calls: {calls:?}", calls.len());

    // A thousand would need more policies than a role may carry: refused, nothing changed.
    let before = (w.role_policies("secoda-glue-role").await, w.grants().await.len());
    deployment(&w, &list(&all));
    for args in [&["provision", "--plan"][..], &["provision", "--yes"][..]] {
        let run = w.run(args).fails();
        assert!(run.stderr.contains("role secoda-glue-role would carry"), "{}", run.stderr);
        assert!(run.stderr.contains("but IAM allows 10 per role or user"), "{}", run.stderr);
        for way_out in ["managed_policy_quota", "Lake Formation", "fewer databases"] {
            assert!(run.stderr.contains(way_out), "names {way_out}: {}", run.stderr);
        }
    }
    assert_eq!((w.role_policies("secoda-glue-role").await, w.grants().await.len()), before);
}

#[tokio::test]
async fn every_database_means_the_catalog_at_plan_time() {
    let w = World::new().await;
    deployment(&w, "\"*\"");
    w.run(&["provision", "--yes"]).ok();
    let role = role_arn("secoda-glue-role");
    assert_eq!(w.grants_to(&role).await.len(), 2 * DATABASES.len());

    w.create_databases(&["web_events".to_string()], false).await;
    let status = w.run(&["status"]).ok();
    assert!(
        status.stdout.lines().any(|l| l.trim_start().starts_with("to create")
            && l.ends_with("lake formation DESCRIBE on database web_events to role secoda-glue-role")),
        "{}",
        status.stdout
    );
    let plan = w.run(&["provision", "--plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{plan:?}");
    assert!(plan.stdout.contains("all tables in web_events"), "{}", plan.stdout);
    w.run(&["provision", "--yes"]).ok();
    assert_eq!(w.grants_to(&role).await.len(), 2 * (DATABASES.len() + 1));
    assert!(w.policy_document("secoda-glue-policy").await.to_string().contains("database/web_events"));
}

/// Dies after each change of a two-policy apply in turn; the next run converges, or
/// teardown leaves nothing.
#[tokio::test]
async fn interrupted_at_any_change_of_a_multi_policy_apply_the_next_run_converges() {
    let w = World::new().await;
    let dbs = names(60);
    let setup = || async {
        w.reset().await;
        w.data_lake_defaults(true).await;
        w.create_databases(&dbs, true).await;
        deployment(&w, &list(&dbs));
    };
    setup().await;
    w.proxy.clear();
    w.run(&["provision", "--yes"]).ok();
    let changes = w.proxy.actions().iter().filter(|a| !proxy::is_read(a)).count();
    assert!(w.role_policies("secoda-glue-role").await.len() >= 2);
    let role = role_arn("secoda-glue-role");
    for crash_after in 1..=changes {
        setup().await;
        let mut cmd = w.command(&["provision", "--yes"]);
        cmd.env("LAKEPASS_FAULT_CRASH_AFTER_ACTIONS", crash_after.to_string());
        assert_eq!(run(cmd, &w.emu).code, 101);
        if crash_after % 2 == 0 {
            w.run(&["teardown", "--yes"]).ok();
            assert!(w.role("secoda-glue-role").await.is_none(), "crash after {crash_after}");
            assert!(w.grants_to(&role).await.is_empty(), "crash after {crash_after}");
            let local =
                w.aws.iam.list_policies().scope(aws_sdk_iam::types::PolicyScopeType::Local).send().await.unwrap();
            assert!(local.policies().is_empty(), "crash after {crash_after}: {:?}", local.policies());
            continue;
        }
        w.run(&["provision", "--yes"]).ok();
        let again = w.run(&["provision", "--plan", "--detailed-exitcode"]);
        assert_eq!(again.code, 0, "crash after {crash_after}: {}", again.stdout);
        assert_eq!(w.grants_to(&role).await.len(), 120, "crash after {crash_after}");
        for p in w.role_policies("secoda-glue-role").await {
            assert_eq!(w.policy_versions(&p).await, 1, "crash after {crash_after}: {p}");
        }
    }
}

#[tokio::test]
async fn every_database_with_a_table_list_grants_just_the_listed_tables_there() {
    let w = World::new().await;
    deployment(&w, "\"*\"\n      tables: {sales: [orders]}");
    w.run(&["provision", "--yes"]).ok();
    let held: Vec<String> = w.grants_to(&role_arn("secoda-glue-role")).await.into_iter().map(|(r, _)| r).collect();
    assert!(held.contains(&"table/sales/orders".to_string()), "{held:?}");
    assert!(!held.contains(&"table/sales/*".to_string()), "{held:?}");
    assert!(held.contains(&"table/finance/*".to_string()), "{held:?}");
}

/// Creates `n` tables in a new database `db`, each stored under its own prefix of the data
/// bucket.
async fn tables_with_locations(w: &World, db: &str, n: usize) -> Vec<String> {
    use aws_sdk_glue::types::{DatabaseInput, StorageDescriptor, TableInput};
    use futures_util::{StreamExt, TryStreamExt};
    w.aws
        .glue
        .create_database()
        .database_input(DatabaseInput::builder().name(db).build().unwrap())
        .send()
        .await
        .unwrap();
    let names: Vec<String> = (0..n).map(|i| format!("events_{i:04}")).collect();
    let creates = names.iter().map(|t| {
        let sd = StorageDescriptor::builder().location(format!("s3://acme-lake/{db}/{t}/")).build();
        let input = TableInput::builder().name(t).storage_descriptor(sd).build().unwrap();
        let glue = w.aws.glue.clone();
        async move { glue.create_table().database_name(db).table_input(input).send().await.map(|_| ()) }
    });
    futures_util::stream::iter(creates).buffer_unordered(16).try_collect::<Vec<()>>().await.unwrap();
    names
}

#[tokio::test]
async fn listed_tables_narrow_s3_while_it_fits_and_past_the_quota_are_not_even_read() {
    let w = World::new().await;
    let tables = tables_with_locations(&w, "web", 60).await;
    // 60 listed tables: each gets its own prefix in S3, spread over policies with its database.
    deployment(&w, &format!("[web]\n      tables: {{web: [{}]}}", tables.join(", ")));
    w.run(&["provision", "--yes"]).ok();
    let docs = w.attached_documents("secoda-glue-role").await;
    let allowed = resources(&docs, "Allow");
    for t in &tables {
        assert!(allowed.contains(&format!("arn:aws:s3:::acme-lake/web/{t}/*")), "{t}");
    }
    assert!(!allowed.contains(&"arn:aws:s3:::acme-lake/*".to_string()));
    assert_eq!(w.run(&["verify"]).code, 0);

    // With room for one policy only, 120 listed tables could never be narrowed: the plan
    // says so, and a run that changes nothing does not read the tables' locations.
    let more = tables_with_locations(&w, "app", 120).await;
    w.config(&format!(
        "deployments:\n  secoda:\n    stack: secoda-glue\n    region: us-east-1\n    managed_policy_quota: 1\n    values:\n      access: role\n      external_id: sec-7f3a9c21e4b8\n      glue_buckets: [acme-lake]\n      athena_output_bucket: acme-athena-results\n      databases: [app]\n      tables: {{app: [{}]}}\n",
        more.join(", ")
    ));
    let run = w.run(&["provision", "--yes"]).ok();
    assert!(
        run.stdout.contains("S3 reads: the whole data buckets, because narrowing them to the locations of 120 listed tables cannot fit the 1 managed policies IAM allows"),
        "{}",
        run.stdout
    );
    w.proxy.clear();
    let again = w.run(&["provision", "--plan"]).ok();
    assert!(again.stdout.starts_with("No changes."), "{}", again.stdout);
    assert!(!w.proxy.actions().iter().any(|a| a == "glue:GetTables"), "{:?}", w.proxy.actions());
}
