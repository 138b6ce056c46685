//! Rules over the code itself, checked as tests: vendor knowledge lives in stacks/ and
//! wizard/, and everything a user reads goes out through [`crate::output`].

use crate::stack::{Parameter, Stack};
use std::path::{Path, PathBuf};

/// Each source file under src/ with the code outside its tests (test files, `tests/`
/// folders and everything after a file's `#[cfg(test)]` are left out), lowercased.
fn code() -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            if path.is_dir() {
                if name != "tests" {
                    dirs.push(path);
                }
            } else if name != "tests.rs" && name != "code_rules.rs" {
                let text = std::fs::read_to_string(&path).unwrap().to_lowercase();
                let code = text.split("#[cfg(test)]").next().unwrap_or_default().to_string();
                out.push((path, code));
            }
        }
    }
    out
}

/// The code names no shipped stack, no vendor, and no value key of a stack as a string
/// (only words any stack may use for anything are let through).
#[test]
fn the_code_names_no_stack_vendor_or_value_key() {
    const GENERIC: &[&str] = &["name", "path", "target", "profile", "tables", "databases", "access"];
    fn keys(ps: &[Parameter], out: &mut Vec<String>) {
        for p in ps {
            if !GENERIC.contains(&p.name.as_str()) {
                out.push(format!("\"{}\"", p.name));
            }
            keys(&p.fields, out);
        }
    }
    let mut words: Vec<String> = Vec::new();
    for stack in Stack::all_shipped().unwrap() {
        words.push(stack.name.clone());
        words.push(crate::wizard::Flow::shipped(&stack).unwrap().vendor.to_lowercase());
        keys(&stack.parameters, &mut words);
    }
    let found: Vec<String> = code()
        .iter()
        .flat_map(|(path, code)| {
            words.iter().filter(|w| code.contains(&w.to_lowercase())).map(move |w| format!("{}: {w}", path.display()))
        })
        .collect();
    assert!(found.is_empty(), "vendor knowledge in the code: {found:#?}");
}

/// One home each for ARN parsing ([`crate::arn`]) and file writes ([`crate::files`]).
#[test]
fn arns_are_parsed_and_files_written_in_one_place() {
    let rules: [(&str, &[&str]); 2] = [
        ("src/arn.rs", &["splitn(6, ':')", "split(':')", "split_once(\":role/\")"]),
        ("src/files.rs", &["fs::write(", "file::create(", "openoptions", "fs::rename("]),
    ];
    let mut found = Vec::new();
    for (home, marks) in rules {
        for (path, code) in code().iter().filter(|(p, _)| !p.ends_with(home)) {
            found.extend(
                marks
                    .iter()
                    .filter(|m| code.contains(*m))
                    .map(|m| format!("{}: {m} (belongs in {home})", path.display())),
            );
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}

/// One printer: no `println!` or `eprintln!` outside [`crate::output`].
#[test]
fn only_output_prints() {
    let found: Vec<String> = code()
        .iter()
        .filter(|(path, _)| !path.ends_with("src/output.rs"))
        .filter(|(_, code)| ["println!", "print!(", "eprint!("].iter().any(|m| code.contains(m)))
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert!(found.is_empty(), "printing outside output.rs: {found:#?}");
}
