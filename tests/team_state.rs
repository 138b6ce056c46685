//! Team state in S3 (`state: s3://BUCKET/PREFIX`): every checkout shares one state and
//! one lock, through S3's conditional writes on the emulator.

mod support;

use std::path::Path;
use std::time::Duration;
use support::*;

const STATE: &str = "s3://team-state/lakepass";

async fn team(w: &World) -> aws_sdk_s3::Client {
    let s3 = clients_s3(&w.emu.url).await;
    s3.create_bucket().bucket("team-state").send().await.unwrap();
    s3
}

/// Writes the team's lakepass.yaml into `dir`.
fn team_config(dir: &Path, values: &str) {
    let mut yaml = format!(
        "state: {STATE}\ndeployments:\n  secoda:\n    stack: secoda-glue\n    region: us-east-1\n    values:\n"
    );
    for line in values.lines().filter(|l| !l.trim().is_empty()) {
        yaml.push_str(&format!("      {}\n", line.trim_start()));
    }
    std::fs::write(dir.join("lakepass.yaml"), yaml).unwrap();
}

async fn object(s3: &aws_sdk_s3::Client, key: &str) -> Option<String> {
    let out = s3.get_object().bucket("team-state").key(key).send().await.ok()?;
    Some(String::from_utf8(out.body.collect().await.unwrap().into_bytes().to_vec()).unwrap())
}

/// A run in another checkout of the same project.
fn elsewhere(w: &World, dir: &Path, args: &[&str]) -> Run {
    let mut cmd = w.command(args);
    cmd.current_dir(dir);
    run(cmd, &w.emu)
}

#[tokio::test]
async fn two_checkouts_share_one_state_and_either_can_tear_down() {
    let w = World::new().await;
    let s3 = team(&w).await;
    team_config(w.dir.path(), ROLE_VALUES);
    w.run(&["provision", "--yes"]).ok();
    assert!(!w.dir.path().join(".lakepass/secoda.json").exists(), "no local state");
    let state = object(&s3, "lakepass/secoda.json").await.expect("state in S3");
    assert!(state.contains("role/secoda-glue-role"), "{state}");
    assert_eq!(object(&s3, "lakepass/secoda.lock").await, None, "the lock is gone after the run");

    // A teammate's checkout: same config, no local state, nothing to do.
    let other = tempfile::tempdir().unwrap();
    team_config(other.path(), ROLE_VALUES);
    let plan = elsewhere(&w, other.path(), &["provision", "--plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    let status = elsewhere(&w, other.path(), &["status"]).ok();
    assert!(status.stdout.contains("ok         iam role secoda-glue-role"), "{}", status.stdout);

    elsewhere(&w, other.path(), &["teardown", "--yes"]).ok();
    assert!(w.role("secoda-glue-role").await.is_none());
    assert_eq!(object(&s3, "lakepass/secoda.json").await, None);
    let again = w.run(&["teardown", "--yes"]).ok();
    assert!(again.stdout.starts_with("Nothing to tear down"), "{}", again.stdout);
}

#[tokio::test]
async fn of_two_concurrent_runs_one_holds_the_lock_and_the_other_is_refused() {
    let w = World::new().await;
    let s3 = team(&w).await;
    team_config(w.dir.path(), ROLE_VALUES);
    let other = tempfile::tempdir().unwrap();
    team_config(other.path(), ROLE_VALUES);
    // The first run takes the lock, then reads slowly.
    w.proxy.delay("glue:GetDatabases", Duration::from_millis(2500));
    let first = w
        .command(&["provision", "--yes"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut waited = 0;
    while object(&s3, "lakepass/secoda.lock").await.is_none() {
        assert!(waited < 100, "the first run never took the lock");
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    let refused = elsewhere(&w, other.path(), &["provision", "--yes"]).fails();
    let lines: Vec<&str> = refused.stderr.lines().collect();
    assert!(
        lines[0].starts_with(
            "error: another lakepass run holds the lock s3://team-state/lakepass/secoda.lock: lakepass provision ("
        ),
        "{}",
        refused.stderr
    );
    assert!(lines[0].ends_with(", 0 min ago)"), "{}", refused.stderr);
    assert!(lines[1].contains("`aws s3 rm s3://team-state/lakepass/secoda.lock`"), "{}", refused.stderr);
    let out = first.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(object(&s3, "lakepass/secoda.lock").await, None);
    let plan = elsewhere(&w, other.path(), &["provision", "--plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "the refused checkout sees the first one's work: {plan:?}");
}

#[tokio::test]
async fn a_local_state_moves_to_s3_on_first_use_and_is_never_guessed_over() {
    let w = World::new().await;
    let s3 = team(&w).await;
    w.secoda(ROLE_VALUES);
    w.run(&["provision", "--yes"]).ok();
    let local = w.dir.path().join(".lakepass/secoda.json");
    assert!(local.exists());

    team_config(w.dir.path(), ROLE_VALUES);
    // Planning reads the local state until it moves: nothing to do.
    let plan = w.run(&["provision", "--plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    assert!(local.exists() && object(&s3, "lakepass/secoda.json").await.is_none(), "a plan moves nothing");
    let moved = w.run(&["provision", "--yes"]).ok();
    assert!(
        moved.stderr.contains("note: moved the state of secoda to s3://team-state/lakepass/secoda.json (the team's state from now on); the local copy is kept as"),
        "{}",
        moved.stderr
    );
    assert!(!local.exists() && w.dir.path().join(".lakepass/secoda.json.migrated").exists());
    assert!(object(&s3, "lakepass/secoda.json").await.unwrap().contains("role/secoda-glue-role"));
    let other = tempfile::tempdir().unwrap();
    team_config(other.path(), ROLE_VALUES);
    assert_eq!(elsewhere(&w, other.path(), &["provision", "--plan", "--detailed-exitcode"]).code, 0);

    // A local state beside the team's is refused, not merged.
    std::fs::copy(w.dir.path().join(".lakepass/secoda.json.migrated"), &local).unwrap();
    let both = w.run(&["provision", "--yes"]).fails();
    assert!(
        both.stderr.contains("exists beside the team's state s3://team-state/lakepass/secoda.json"),
        "{}",
        both.stderr
    );
    assert_eq!(object(&s3, "lakepass/secoda.lock").await, None, "the refused run let go of the lock");
}

#[tokio::test]
async fn a_lock_left_by_a_dead_run_is_named_or_taken_over_on_the_same_machine() {
    let w = World::new().await;
    let s3 = team(&w).await;
    team_config(w.dir.path(), ROLE_VALUES);
    let put = |holder: serde_json::Value| {
        let s3 = s3.clone();
        async move {
            s3.put_object()
                .bucket("team-state")
                .key("lakepass/secoda.lock")
                .body(holder.to_string().into_bytes().into())
                .send()
                .await
                .unwrap();
        }
    };
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 600;
    put(serde_json::json!({"who": "alice", "host": "alices-laptop", "pid": 42, "command": "lakepass provision", "since": since})).await;
    let before = w.snapshot().await;
    let refused = w.run(&["provision", "--yes"]).fails();
    assert_eq!(
        refused.stderr.lines().next().unwrap(),
        "error: another lakepass run holds the lock s3://team-state/lakepass/secoda.lock: lakepass provision (alice@alices-laptop, process 42, 10 min ago)"
    );
    assert_eq!(w.snapshot().await, before);
    assert!(object(&s3, "lakepass/secoda.lock").await.unwrap().contains("alices-laptop"), "someone else's lock stays");

    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
    put(serde_json::json!({"who": "me", "host": host, "pid": 4_100_000, "command": "lakepass provision", "since": since})).await;
    let taken = w.run(&["provision", "--yes"]).ok();
    assert!(
        taken.stderr.contains(
            "note: taking over the lock s3://team-state/lakepass/secoda.lock left by lakepass provision (me@"
        ),
        "{}",
        taken.stderr
    );
    assert!(w.role("secoda-glue-role").await.is_some());
    assert_eq!(object(&s3, "lakepass/secoda.lock").await, None);
}
