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
    for command in ["wizard", "provision", "teardown", "rotate-key", "status", "verify", "stacks", "profile"] {
        insta::assert_snapshot!(command, help(&[command]));
    }
    insta::assert_snapshot!("stacks_show", help(&["stacks", "show"]));
}
