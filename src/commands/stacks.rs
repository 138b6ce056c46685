//! `lakepass stacks`: the stacks a project can use, and `stacks show NAME`, the page a
//! security reviewer reads: what a stack asks, builds and attaches for example values, and
//! what it deliberately does not grant.

use super::{Global, print};
use crate::error::Error;
use crate::model::{Facts, Resource};
use crate::stack::{ParamType, Parameter, Stack};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// The folder of the project config: its `stacks/` and `wizard/` hold the project's own.
pub fn project_dir(config: &Path) -> PathBuf {
    match config.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `lakepass stacks [show NAME]`.
pub fn stacks(g: &Global, show: Option<&str>) -> Result<i32, Error> {
    let here = project_dir(&g.config);
    let Some(name) = show else {
        for s in Stack::all(&here)? {
            let whose = if crate::stack::own_names(&here).contains(&s.name) { " (stacks/)" } else { "" };
            print(&format!("{:<18} {}{whose}\n", s.name, s.description));
        }
        return Ok(0);
    };
    let stack = match &g.stack_file {
        Some(path) => Stack::from_file(path)?,
        None => Stack::find(name, &here)?,
    };
    if stack.name != name {
        return Err(Error::Value {
            field: "--stack-file".into(),
            problem: format!("holds stack {}, not {name}", stack.name),
            fix: format!("run `lakepass stacks show {} --stack-file ...`, or give the file of {name}", stack.name),
        });
    }
    print(&page(&stack)?);
    Ok(0)
}

/// The account the example is rendered in.
fn example_facts() -> Facts {
    Facts { account: "123456789012".into(), partition: "aws".into(), region: "us-east-1".into() }
}

/// The whole page of `stacks show`.
pub fn page(stack: &Stack) -> Result<String, Error> {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "{}: {}\n", stack.name, stack.description);
    let _ = writeln!(w, "Parameters");
    for p in &stack.parameters {
        parameter(w, p, "  ");
    }
    let Some(example) = &stack.example else {
        let _ = writeln!(w, "\n(the stack gives no example values: add `example:` to render what it builds)");
        omissions(w, stack);
        return Ok(out);
    };
    let facts = example_facts();
    let values = crate::stack::validate_values(stack, example, "example")?;
    let resources = crate::render::render(stack, &values, &facts, "example")?;
    let _ = writeln!(w, "\nFor the example values, in account {} and {}", facts.account, facts.region);
    for (k, v) in example {
        let _ = writeln!(w, "  {k}: {v}");
    }
    let _ = writeln!(w, "\nIt builds");
    for r in &resources {
        let _ = writeln!(w, "  + {}", r.describe());
    }
    for r in &resources {
        match r {
            Resource::Policy { name, document, .. } => {
                let _ = writeln!(w, "\nPolicy {name}");
                json(w, document);
            }
            Resource::Role { name, trust, .. } => {
                let _ = writeln!(w, "\nTrust policy of role {name}");
                json(w, trust);
            }
            _ => {}
        }
    }
    omissions(w, stack);
    Ok(out)
}

fn parameter(w: &mut String, p: &Parameter, indent: &str) {
    let kind = match p.kind {
        ParamType::Choice => format!("choice of {}", p.choices.join(", ")),
        other => format!("{other:?}").chars().fold(String::new(), |mut s, c| {
            if c.is_uppercase() && !s.is_empty() {
                s.push('_');
            }
            s.push(c.to_ascii_lowercase());
            s
        }),
    };
    let mut facts = vec![kind];
    match (&p.default, p.optional) {
        (Some(d), _) => facts.push(format!("default {d}")),
        (None, true) => facts.push("optional".into()),
        (None, false) => facts.push("required".into()),
    }
    if let Some(when) = &p.when {
        facts.push(format!("when {when}"));
    }
    let _ = writeln!(w, "{indent}{}: {}", p.name, facts.join("; "));
    if let Some(help) = &p.help {
        let _ = writeln!(w, "{indent}    {}", help.trim());
    }
    for f in &p.fields {
        parameter(w, f, &format!("{indent}    "));
    }
    for (key, why) in &p.unsupported {
        let _ = writeln!(w, "{indent}    {key}: refused ({why})");
    }
}

fn json(w: &mut String, v: &serde_json::Value) {
    let text = serde_json::to_string_pretty(v).unwrap_or_default();
    for line in text.lines() {
        let _ = writeln!(w, "  {line}");
    }
}

fn omissions(w: &mut String, stack: &Stack) {
    if stack.omits.is_empty() {
        return;
    }
    let _ = writeln!(w, "\nIt does not grant");
    for o in &stack.omits {
        let _ = writeln!(w, "  - {}: {}", o.what, o.why);
    }
}
