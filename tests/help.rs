//! Every `--help` a user reads, pinned whole: a wording change shows up in review.

use std::process::Command;

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_lakepass")).args(args).arg("--help").env_clear().output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_command_s_help_is_pinned() {
    insta::assert_snapshot!("lakepass", help(&[]));
    for command in [
        "wizard",
        "provision",
        "teardown",
        "rotate-key",
        "status",
        "verify",
        "stacks",
        "export",
        "profile",
        "completions",
    ] {
        insta::assert_snapshot!(command, help(&[command]));
    }
    insta::assert_snapshot!("stacks_show", help(&["stacks", "show"]));
}

/// `lakepass completions SHELL` prints a script naming every subcommand; bash's parses.
#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out =
            Command::new(env!("CARGO_BIN_EXE_lakepass")).args(["completions", shell]).env_clear().output().unwrap();
        assert!(out.status.success(), "{shell}: {out:?}");
        let script = String::from_utf8(out.stdout).unwrap();
        for command in ["wizard", "provision", "teardown", "verify", "stacks"] {
            assert!(script.contains(command), "{shell} completes {command}");
        }
        if shell == "bash" {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("lakepass.bash");
            std::fs::write(&path, &script).unwrap();
            let check = Command::new("bash").arg("-n").arg(&path).output().unwrap();
            assert!(check.status.success(), "bash -n: {check:?}");
        }
    }
}

/// Every example a help page shows is a command lakepass accepts.
#[test]
fn every_example_in_the_help_parses() {
    use clap::Parser;
    let mut seen = 0;
    for command in ["wizard", "provision", "teardown", "rotate-key", "status", "verify", "stacks", "profile"] {
        let text = help(&[command]);
        let examples = text.split("Examples:\n").nth(1).unwrap_or_else(|| panic!("{command} shows no example"));
        for line in examples.lines().filter(|l| l.starts_with("  lakepass ")) {
            let example = line.trim().split("  ").next().unwrap();
            let args: Vec<&str> = example.split_whitespace().collect();
            if let Err(e) = lakepass::cli::Cli::try_parse_from(&args) {
                panic!("{example}: {e}");
            }
            seen += 1;
        }
    }
    assert!(seen >= 20, "{seen} examples");
}
