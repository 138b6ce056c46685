//! Everything a user reads goes out through here: results on stdout ([`print`]), the
//! narrative of a run, warnings and errors on stderr ([`say`], [`warn`], [`error`]), and
//! plans formatted for people (text) and machines (JSON). Planning never prints. Colour
//! only on a terminal and never with `NO_COLOR`.

use crate::model::Facts;
use crate::plan::{Change, Plan};
use serde_json::json;
use std::io::IsTerminal;

/// A result, on stdout (the plan, the hand-off, a report): what a pipe takes.
pub fn print(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// A line of the run's narrative, on stderr (progress, questions' asides, what to do next).
pub fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// A warning, on stderr: the run goes on.
pub fn warn(line: &str) {
    say(&format!("warning: {line}"));
}

/// The error that ends a run, with the fix where there is one.
pub fn error(problem: &str, hint: Option<&str>) {
    say(&format!("error: {problem}"));
    if let Some(hint) = hint {
        say(&format!("  hint: {hint}"));
    }
}

/// ANSI styling, off unless stdout is a terminal and `NO_COLOR` is unset.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    on: bool,
}

impl Style {
    pub fn detect() -> Style {
        Style { on: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) }
    }

    pub fn plain() -> Style {
        Style { on: false }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.on { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() }
    }

    pub fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }

    fn for_change(self, change: Change, text: &str) -> String {
        match change {
            Change::Create => self.paint("32", text),
            Change::Update | Change::Adopt => self.paint("33", text),
            Change::Delete => self.paint("31", text),
        }
    }
}

/// Where a plan applies, for its heading.
pub struct Heading<'a> {
    pub deployment: &'a str,
    pub stack: &'a str,
    pub facts: &'a Facts,
}

pub fn plan_text(plan: &Plan, h: &Heading, style: Style) -> String {
    let mut out = String::new();
    if !plan.has_changes() {
        out.push_str(&format!(
            "No changes. Deployment {} (stack {}) in account {}, {} matches its config.\n",
            h.deployment, h.stack, h.facts.account, h.facts.region
        ));
    } else {
        out.push_str(&format!(
            "Deployment {} (stack {}) in account {}, {}:\n\n",
            style.bold(h.deployment),
            h.stack,
            h.facts.account,
            h.facts.region
        ));
        for a in &plan.actions {
            let verb = match a.change {
                Change::Adopt => "adopt ",
                _ => "",
            };
            let line = format!("{} {verb}{}", a.change.symbol(), a.resource.describe());
            out.push_str(&format!("  {}\n", style.for_change(a.change, &line)));
            out.push_str(&format!("      {}\n", a.reason));
            for d in &a.diff {
                let painted = match d.chars().next() {
                    Some('+') => style.for_change(Change::Create, d),
                    Some('-') => style.for_change(Change::Delete, d),
                    _ => d.clone(),
                };
                out.push_str(&format!("        {painted}\n"));
            }
        }
        out.push('\n');
    }
    for n in &plan.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    if plan.has_changes() {
        out.push_str(&format!("{}\n", summary(plan)));
    }
    out
}

pub fn summary(plan: &Plan) -> String {
    let mut s = format!(
        "Plan: {} to create, {} to update, {} to delete",
        plan.count(Change::Create),
        plan.count(Change::Update),
        plan.count(Change::Delete)
    );
    let adopt = plan.count(Change::Adopt);
    if adopt > 0 {
        s.push_str(&format!(", {adopt} to adopt"));
    }
    s.push('.');
    s
}

/// The closing line of an apply.
pub fn applied(plan: &Plan) -> String {
    format!(
        "Applied: {} created, {} updated, {} deleted, {} adopted.",
        plan.count(Change::Create),
        plan.count(Change::Update),
        plan.count(Change::Delete),
        plan.count(Change::Adopt)
    )
}

pub fn plan_json(plan: &Plan, h: &Heading) -> serde_json::Value {
    let changes: Vec<_> = plan
        .actions
        .iter()
        .map(|a| {
            json!({
                "action": a.change,
                "cause": a.cause,
                "address": a.address,
                "description": a.resource.describe(),
                "reason": a.reason,
                "diff": a.diff,
                "resource": a.resource,
                "steps": a.steps,
            })
        })
        .collect();
    json!({
        "format_version": 1,
        "deployment": h.deployment,
        "stack": h.stack,
        "account": h.facts.account,
        "region": h.facts.region,
        "changes": changes,
        "notes": plan.notes,
        "summary": {
            "create": plan.count(Change::Create),
            "update": plan.count(Change::Update),
            "delete": plan.count(Change::Delete),
            "adopt": plan.count(Change::Adopt),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Resource;
    use crate::plan::{Action, Step};

    fn facts() -> Facts {
        Facts { account: "123456789012".into(), partition: "aws".into(), region: "us-east-1".into() }
    }

    #[test]
    fn text_plan_reads_like_a_diff() {
        let plan = Plan {
            actions: vec![
                Action {
                    change: Change::Create,
                    cause: crate::plan::Cause::New,
                    address: "user/u".into(),
                    resource: Resource::User { name: "u".into() },
                    reason: "does not exist yet".into(),
                    diff: vec![],
                    steps: vec![Step::CreateUser { name: "u".into() }],
                },
                Action {
                    change: Change::Delete,
                    cause: crate::plan::Cause::Unwanted,
                    address: "role/r".into(),
                    resource: Resource::User { name: "old".into() },
                    reason: "no longer part of the deployment".into(),
                    diff: vec!["- a".into(), "+ b".into()],
                    steps: vec![],
                },
            ],
            ..Plan::default()
        };
        let f = facts();
        let h = Heading { deployment: "d", stack: "s", facts: &f };
        let text = plan_text(&plan, &h, Style::plain());
        assert_eq!(
            text,
            "Deployment d (stack s) in account 123456789012, us-east-1:\n\n  + iam user u\n      does not exist yet\n  - iam user old\n      no longer part of the deployment\n        - a\n        + b\n\nPlan: 1 to create, 0 to update, 1 to delete.\n"
        );
        let j = plan_json(&plan, &h);
        assert_eq!(j["format_version"], 1);
        assert_eq!(j["summary"]["create"], 1);
        assert_eq!(j["changes"][1]["action"], "delete");
    }

    #[test]
    fn an_empty_plan_says_no_changes() {
        let f = facts();
        let h = Heading { deployment: "d", stack: "s", facts: &f };
        assert!(plan_text(&Plan::default(), &h, Style::plain()).starts_with("No changes."));
    }
}
