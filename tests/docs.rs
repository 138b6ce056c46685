//! Every command the docs show is run here, against the emulator, as a reader would type
//! it: each guide's files are written from its own blocks, and its commands run in the
//! order a reader meets them. A walk-through fails when a command of its document was not
//! run, so a new command in the docs needs a run here, or a stated reason it cannot run.

mod support;

use rexpect::session::spawn_command;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;
use support::*;

/// The documents that show commands, each walked through by a test below.
const WALKED: &[&str] = &[
    "README.md",
    "docs/secoda-glue.md",
    "docs/dbt-glue.md",
    "docs/wizard.md",
    "docs/stacks.md",
    "docs/cloudformation.md",
];

/// Programs whose lines in a fenced block count as commands.
const PROGRAMS: &[&str] = &["lakepass", "scripts/", "cargo ", "aws ", "dbt ", "AWS_PROFILE=", "python"];

struct Block {
    /// The line of the opening fence (1-based).
    line: usize,
    lang: String,
    /// (line, text) of each line inside the fences.
    lines: Vec<(usize, String)>,
}

struct Doc {
    path: &'static str,
    text: String,
    blocks: Vec<Block>,
    /// Command lines no step has run yet: line → command.
    pending: RefCell<BTreeMap<usize, String>>,
}

/// A command line of a block: what a reader would type, without `$ ` or a comment. In a
/// shell block every line that starts with a program is one; in a block of output only a
/// line after a `$ ` prompt.
fn command(lang: &str, line: &str) -> Option<String> {
    let l = line.trim();
    let l = match l.strip_prefix("$ ") {
        Some(typed) => typed,
        None if shell(lang) => l,
        None => return None,
    };
    let l = l.split(" #").next().unwrap().trim();
    PROGRAMS.iter().any(|p| l.starts_with(p)).then(|| l.to_string())
}

fn shell(lang: &str) -> bool {
    matches!(lang, "sh" | "bash" | "console" | "shell")
}

/// The commands of a block: (line, command).
fn commands(b: &Block) -> Vec<(usize, String)> {
    b.lines.iter().filter_map(|(n, l)| command(&b.lang, l).map(|c| (*n, c))).collect()
}

impl Doc {
    fn read(path: &'static str) -> Doc {
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap();
        let mut blocks = Vec::new();
        let mut open: Option<Block> = None;
        for (i, l) in text.lines().enumerate() {
            match (l.trim_start().strip_prefix("```"), open.take()) {
                (Some(lang), None) => open = Some(Block { line: i + 1, lang: lang.trim().into(), lines: vec![] }),
                (Some(_), Some(b)) => blocks.push(b),
                (None, Some(mut b)) => {
                    b.lines.push((i + 1, l.to_string()));
                    open = Some(b);
                }
                (None, None) => {}
            }
        }
        let pending = blocks.iter().flat_map(commands).collect();
        Doc { path, text, blocks, pending: RefCell::new(pending) }
    }

    /// The first block after the first line that contains `marker` that `fits`.
    fn block_after(&self, marker: &str, fits: impl Fn(&Block) -> bool) -> &Block {
        let at = self
            .text
            .lines()
            .position(|l| l.contains(marker))
            .unwrap_or_else(|| panic!("{}: no line contains {marker:?}", self.path));
        self.blocks
            .iter()
            .find(|b| b.line > at + 1 && fits(b))
            .unwrap_or_else(|| panic!("{}: no such block after {marker:?}", self.path))
    }

    /// Writes the first YAML block after `marker` into the project as `name`.
    fn write(&self, w: &World, marker: &str, name: &str) {
        let b = self.block_after(marker, |b| b.lang == "yaml");
        let text: String = b.lines.iter().map(|(_, l)| format!("{l}\n")).collect();
        let path = w.dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// Runs, in order, the commands of the first block after `marker` that shows any.
    fn run(&self, w: &World, marker: &str) {
        let b = self.block_after(marker, |b| !commands(b).is_empty());
        for (n, c) in commands(b) {
            // A command done by hand (see `by_hand`) is not run again.
            if self.pending.borrow().contains_key(&n) {
                self.run_one(w, n, &c);
            }
        }
    }

    fn run_one(&self, w: &World, line: usize, cmd: &str) {
        let at = format!("{}:{line}: `{cmd}`", self.path);
        let args: Vec<&str> = match cmd.strip_prefix("cargo run --locked -- ") {
            Some(rest) => rest.split_whitespace().collect(),
            None => cmd
                .strip_prefix("lakepass ")
                .unwrap_or_else(|| panic!("{at}: not a lakepass command"))
                .split_whitespace()
                .collect(),
        };
        if args[0] == "wizard" && !args.contains(&"--answers") {
            interactive(w, &args, &at);
        } else {
            let mut args = args.clone();
            // Without a terminal, provision and teardown ask for --yes (the docs say so).
            if matches!(args[0], "provision" | "teardown") && !args.contains(&"--plan") && !args.contains(&"--yes") {
                args.push("--yes");
            }
            // An answers run without --yes saves the deployment, shows the plan, exits 2.
            let expected = if args[0] == "wizard" && !args.contains(&"--yes") { 2 } else { 0 };
            let run = w.run(&args);
            assert_eq!(run.code, expected, "{at}\n{}\n{}", run.stdout, run.stderr);
        }
        self.pending.borrow_mut().remove(&line);
    }

    /// Lines starting with `prefix` are done by the test itself, or cannot run here: `why`.
    fn by_hand(&self, prefix: &str, why: &str) {
        assert!(!why.is_empty());
        let mut pending = self.pending.borrow_mut();
        let before = pending.len();
        pending.retain(|_, c| !c.starts_with(prefix));
        assert!(pending.len() < before, "{}: no pending command starts with {prefix:?}", self.path);
    }

    /// Every command of the document was run (or done by hand, with a reason).
    fn done(&self) {
        let left: Vec<String> = self.pending.borrow().iter().map(|(n, c)| format!("{}:{n}: {c}", self.path)).collect();
        assert!(left.is_empty(), "commands the docs show that no step ran:\n{}", left.join("\n"));
    }
}

/// A wizard in a terminal: it starts, asks its first question, and Ctrl-C ends it cleanly.
fn interactive(w: &World, args: &[&str], at: &str) {
    let mut cmd = w.command(args);
    cmd.env("TERM", "xterm");
    let mut s = spawn_command(cmd, Some(20_000)).expect("spawn lakepass in a pty");
    if let Err(e) = s.exp_regex("Which integration\\?|Set up access in this account and region\\?") {
        panic!("{at}: no first question: {e}");
    }
    s.send("\x03").unwrap();
    s.flush().unwrap();
    let ended = format!("{:?}", s.process().wait().unwrap());
    assert!(ended.ends_with(", 130)"), "{at}: ended {ended}");
}

async fn table(w: &World, db: &str, name: &str) {
    let t = aws_sdk_glue::types::TableInput::builder().name(name).build().unwrap();
    w.aws.glue.create_table().database_name(db).table_input(t).send().await.unwrap();
}

#[tokio::test]
async fn the_readme_runs_as_written() {
    let doc = Doc::read("README.md");
    let w = World::new().await;
    doc.write(&w, "## Configure", "lakepass.yaml");
    doc.run(&w, "with one config file and a few commands");
    assert_eq!(w.snapshot().await, SEEDED, "the README's commands end where they began");
    doc.by_hand("scripts/test", "the command that runs these tests (.ci/run runs it)");
    doc.run(&w, "## Get going: two commands");
    doc.by_hand("scripts/demo", "tests/demo.rs runs scripts/demo, which passes its arguments to the wizard");
    doc.done();
}

#[tokio::test]
async fn the_secoda_guide_runs_as_written() {
    let doc = Doc::read("docs/secoda-glue.md");
    let w = World::new().await;
    table(&w, "sales", "customers").await;
    doc.write(&w, "## Or write lakepass.yaml and provision", "lakepass.yaml");
    doc.run(&w, "[config.md](config.md#parameters-of-the-secoda-glue-stack). Then:");
    assert!(w.role("secoda-glue-role").await.is_some());
    let tables: Vec<String> = w.grants_to(&role_arn("secoda-glue-role")).await.into_iter().map(|(t, _)| t).collect();
    assert!(tables.iter().any(|t| t.contains("customers")), "{tables:?}");
    doc.done();
}

#[tokio::test]
async fn the_dbt_guide_runs_as_written() {
    let doc = Doc::read("docs/dbt-glue.md");
    let w = World::new().await;
    w.aws.iam.create_user().user_name("alice").send().await.unwrap();
    // `aws glue create-database ... Name=dbt_demo`, through the SDK (no AWS CLI here).
    let input = aws_sdk_glue::types::DatabaseInput::builder().name("dbt_demo").build().unwrap();
    w.aws.glue.create_database().database_input(input).send().await.unwrap();
    doc.by_hand("aws glue create-database", "done above through the SDK");
    doc.write(&w, "**By hand**, write `lakepass.yaml`", "lakepass.yaml");
    doc.run(&w, "**By hand**, write `lakepass.yaml`");
    let profiles = w.dir.path().join(".dbt/profiles.yml");
    assert!(std::fs::read_to_string(&profiles).unwrap().contains("dbt-glue-interactive-session"));
    doc.by_hand("AWS_PROFILE=alice dbt", "dbt is not installed where the tests run");
    doc.by_hand("dbt ", "dbt is not installed where the tests run");
    doc.run(&w, "### 9. Tear down");
    assert!(w.role("dbt-glue-interactive-session").await.is_none());
    // The reference part repeats the commands, section by section.
    doc.run(&w, "### lakepass profile");
    doc.run(&w, "## Commands, in order");
    doc.run(&w, "### 2. Apply");
    doc.run(&w, "### 5. Tear down");
    doc.run(&w, "## With the wizard");
    doc.write(&w, "Without a terminal, give the answers in a file:", "answers.yaml");
    doc.run(&w, "Without a terminal, give the answers in a file:");
    assert!(w.role("dbt-glue-interactive-session").await.is_some());
    doc.done();
}

#[tokio::test]
async fn the_wizard_guide_runs_as_written() {
    let doc = Doc::read("docs/wizard.md");
    let w = World::new().await;
    doc.run(&w, "# The wizard");
    doc.write(&w, "## Without a terminal", "answers.yaml");
    doc.run(&w, "## Without a terminal");
    assert!(w.role("secoda-glue-role").await.is_some());
    doc.done();
}

#[tokio::test]
async fn writing_your_own_stack_runs_as_written() {
    let doc = Doc::read("docs/stacks.md");
    let w = World::new().await;
    doc.write(&w, "### 1. The file", "stacks/quill-glue.yaml");
    doc.run(&w, "`lakepass stacks` now lists it first");
    doc.run(&w, "`lakepass stacks show quill-glue` checks the file");
    doc.write(&w, "### 3. Set it up", "answers.yaml");
    doc.run(&w, "### 3. Set it up");
    assert!(w.role("quill-glue-role").await.is_some());
    // The deployment written by hand is the other way to the same role: take the first away.
    assert_eq!(w.run(&["teardown", "--yes"]).code, 0);
    doc.write(&w, "Or write the deployment in `lakepass.yaml` yourself", "lakepass.yaml");
    doc.run(&w, "Or write the deployment in `lakepass.yaml` yourself");
    assert!(w.role("quill-glue-role").await.is_some());
    doc.done();
}

#[tokio::test]
async fn the_cloudformation_guide_runs_as_written() {
    let doc = Doc::read("docs/cloudformation.md");
    let w = World::new().await;
    w.secoda(ROLE_VALUES);
    doc.run(&w, "## Export");
    let template = std::fs::read_to_string(w.dir.path().join("secoda.json")).unwrap();
    assert!(template.contains("AWS::LakeFormation::PrincipalPermissions"));
    clients_s3(&w.emu.url).await.create_bucket().bucket("acme-platform").send().await.unwrap();
    doc.run(&w, "## Launch it from the console");
    let s3 = clients_s3(&w.emu.url).await;
    let uploaded = s3.get_object().bucket("acme-platform").key("cloudformation/lakepass-secoda.json").send().await;
    assert!(uploaded.is_ok(), "the template is in S3");
    doc.write(&w, "## Deploy through CloudFormation", "lakepass.yaml");
    doc.run(&w, "## Deploy through CloudFormation");
    assert!(w.role("secoda-glue-role").await.is_none(), "torn down at the end");
    assert!(w.state_of("secoda").is_none());
    doc.done();
}

/// No document outside [`WALKED`] shows a command, so none escapes the walk-throughs.
#[test]
fn every_document_that_shows_a_command_is_walked_through() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut docs: Vec<String> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| format!("docs/{}", e.unwrap().file_name().to_string_lossy()))
        .filter(|p| p.ends_with(".md"))
        .collect();
    docs.push("README.md".into());
    for path in docs {
        let path: &'static str = Box::leak(path.into_boxed_str());
        let doc = Doc::read(path);
        for b in doc.blocks.iter().filter(|b| !shell(&b.lang)) {
            for (n, l) in &b.lines {
                let typed = ["lakepass ", "scripts/", "cargo "].iter().any(|p| l.trim_start().starts_with(p));
                assert!(!typed || !b.lang.is_empty(), "{path}:{n}: a command in a block not marked `sh`: {l}");
            }
        }
        let shows = !doc.pending.borrow().is_empty();
        assert!(!shows || WALKED.contains(&path), "{path} shows commands but no test walks through it");
        assert!(shows || !WALKED.contains(&path), "{path} shows no command any more: take it out of WALKED");
    }
}
