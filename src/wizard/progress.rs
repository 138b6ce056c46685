//! The wizard's output: a progress bar per phase while applying, and the hand-off box.

use crate::apply::{Lines, Progress};
use crate::commands::Handoff;
use crate::model::Resource;
use crate::plan::Action;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::cell::RefCell;

/// One bar per phase (IAM, keys and attachments, Lake Formation), on stderr; plain lines
/// when nobody watches.
pub struct Bars {
    on: bool,
    current: RefCell<Option<(&'static str, ProgressBar)>>,
    /// Actions per phase, counted when apply begins.
    counts: RefCell<Vec<(&'static str, u64)>>,
}

fn phase(r: &Resource) -> &'static str {
    match r {
        Resource::Policy { .. } | Resource::Role { .. } | Resource::User { .. } => "IAM policy and principal",
        Resource::Database { .. } => "Glue database",
        Resource::AccessKey { .. } | Resource::Attachment { .. } => "keys and attachments",
        Resource::Grant { .. } => "Lake Formation grants",
    }
}

impl Bars {
    pub fn new(on: bool) -> Bars {
        Bars { on, current: RefCell::new(None), counts: RefCell::new(Vec::new()) }
    }

    fn bar(&self, name: &'static str) -> ProgressBar {
        let len = self.counts.borrow().iter().find(|(n, _)| *n == name).map(|(_, c)| *c).unwrap_or(1);
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("  {prefix:<26} [{bar:30}] {pos}/{len} {msg}")
            .expect("valid template")
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(name);
        bar
    }
}

impl Progress for Bars {
    fn begin(&self, actions: &[Action]) {
        let mut counts = self.counts.borrow_mut();
        for a in actions {
            let name = phase(&a.resource);
            match counts.iter_mut().find(|(n, _)| *n == name) {
                Some((_, c)) => *c += 1,
                None => counts.push((name, 1)),
            }
        }
    }

    fn done(&self, action: &Action) {
        if !self.on {
            return Lines.done(action);
        }
        let name = phase(&action.resource);
        let mut current = self.current.borrow_mut();
        let same = current.as_ref().is_some_and(|(n, _)| *n == name);
        if !same {
            if let Some((_, old)) = current.take() {
                old.finish();
            }
            *current = Some((name, self.bar(name)));
        }
        let (_, bar) = current.as_ref().expect("set above");
        bar.inc(1);
        bar.set_message(action.resource.describe());
    }

    fn waiting(&self, message: &str) {
        match &*self.current.borrow() {
            Some((_, bar)) if self.on => bar.set_message(message.to_string()),
            _ => Lines.waiting(message),
        }
    }

    fn finish(&self) {
        if let Some((_, bar)) = self.current.borrow_mut().take() {
            bar.finish_and_clear();
        }
    }

    fn suspend(&self, f: &mut dyn FnMut()) {
        match &*self.current.borrow() {
            Some((_, bar)) if self.on => bar.suspend(f),
            _ => f(),
        }
    }
}

/// The hand-off: what to paste into the vendor's form, and how to re-plan or tear down.
pub fn boxed(title: &str, h: &Handoff, deployment: &str) -> String {
    let mut lines: Vec<String> = h.rows.iter().map(|(label, value)| format!("{label:<14} {value}")).collect();
    lines.push(String::new());
    lines.push(format!("Re-plan:    lakepass provision --plan -d {deployment}"));
    lines.push(format!("Tear down:  lakepass teardown -d {deployment}"));
    let width = lines.iter().map(|l| l.chars().count()).chain([title.chars().count() + 2]).max().unwrap_or(0);
    let mut out = format!("\n╭─ {title} {}╮\n", "─".repeat(width - title.chars().count() - 1));
    for l in &lines {
        out.push_str(&format!("│ {l}{} │\n", " ".repeat(width - l.chars().count())));
    }
    out.push_str(&format!("╰{}╯\n", "─".repeat(width + 2)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_box_is_closed_on_every_line() {
        let h = Handoff {
            stack: "secoda-glue".into(),
            deployment: "secoda".into(),
            rows: vec![("role ARN".into(), "arn:aws:iam::123456789012:role/secoda-glue-role".into())],
        };
        let text = boxed("Paste into Secoda", &h, "secoda");
        let widths: Vec<usize> = text.lines().skip(1).map(|l| l.chars().count()).collect();
        assert!(widths.windows(2).all(|w| w[0] == w[1]), "{text}");
        assert!(text.contains("role ARN       arn:aws:iam::123456789012:role/secoda-glue-role"));
        assert!(text.contains("lakepass teardown -d secoda"));
    }
}
