//! Asking: in a terminal (dialoguer, prompts on stderr), or from an answers file for runs
//! without one. Both go through the same questions and the same checks.

use crate::error::Error;
use dialoguer::theme::{ColorfulTheme, SimpleTheme, Theme};
use dialoguer::{Confirm, Input, MultiSelect, Select};
use serde_json::Value;

/// A check of one typed answer: Ok, or the reason it is refused.
pub type Check<'a> = &'a dyn Fn(&str) -> Result<(), String>;

pub trait Asker {
    /// One of `options` (value, label); `default` is an index.
    fn select(
        &mut self,
        param: &str,
        prompt: &str,
        options: &[(String, String)],
        default: usize,
    ) -> Result<String, Error>;
    /// Some of `options` (at least one unless `allow_empty`); `checked` pre-selects.
    fn multi(
        &mut self,
        param: &str,
        prompt: &str,
        options: &[String],
        checked: &[bool],
        allow_empty: bool,
    ) -> Result<Vec<String>, Error>;
    /// A line of text, re-asked until `check` accepts it.
    fn text(&mut self, param: &str, prompt: &str, default: Option<&str>, check: Check) -> Result<String, Error>;
    /// A comma-separated list, re-asked until every item passes `check` (and, unless
    /// `allow_empty`, until it has one).
    fn list(
        &mut self,
        param: &str,
        prompt: &str,
        default: &[String],
        check: Check,
        allow_empty: bool,
    ) -> Result<Vec<String>, Error>;
    fn confirm(&mut self, prompt: &str, default: bool) -> Result<bool, Error>;
    /// Whether a person is answering (so there is someone to show things to).
    fn interactive(&self) -> bool;
    /// Answers given for parameters no question asks (only an answers file has any).
    fn unasked(&self, _asked: &[&str]) -> serde_json::Map<String, Value> {
        serde_json::Map::new()
    }
    /// Takes an answer that is not a parameter (the answers file's `stack`).
    fn take(&mut self, _key: &str) -> Option<String> {
        None
    }
}

fn cancelled() -> Error {
    Error::Cancelled
}

fn io(e: dialoguer::Error) -> Error {
    // Ctrl-C interrupts the read; the handler (see `Terminal::new`) ends the run, and this
    // ends it the same way should the read return first.
    let dialoguer::Error::IO(inner) = &e;
    if inner.kind() == std::io::ErrorKind::Interrupted {
        interrupted();
    }
    Error::Other(format!("could not read the answer: {e}"))
}

/// Ctrl-C: the cursor a prompt hid is shown again, and the run ends as interrupted.
fn interrupted() -> ! {
    let _ = dialoguer::console::Term::stderr().show_cursor();
    std::process::exit(130);
}

/// A person at a terminal.
pub struct Terminal {
    /// Colourful where colour shows; otherwise plain, whose lists mark the cursor with `>`
    /// (the colourful one marks it by colour alone).
    theme: Box<dyn Theme>,
}

impl Terminal {
    pub fn new() -> Terminal {
        // Ctrl-C ends the run at once (nothing is written before the last question), but
        // must not leave the cursor a prompt hid: show it, then end as interrupted.
        let _ = ctrlc::set_handler(|| interrupted());
        let theme: Box<dyn Theme> = if dialoguer::console::colors_enabled_stderr() {
            Box::new(ColorfulTheme::default())
        } else {
            Box::new(SimpleTheme)
        };
        Terminal { theme }
    }
}

impl Default for Terminal {
    fn default() -> Self {
        Terminal::new()
    }
}

impl Asker for Terminal {
    fn select(&mut self, _: &str, prompt: &str, options: &[(String, String)], default: usize) -> Result<String, Error> {
        let labels: Vec<&str> = options.iter().map(|(_, l)| l.as_str()).collect();
        let i = Select::with_theme(self.theme.as_ref())
            .with_prompt(prompt)
            .items(&labels)
            .default(default)
            .interact_opt()
            .map_err(io)?
            .ok_or_else(cancelled)?;
        Ok(options[i].0.clone())
    }

    fn multi(
        &mut self,
        _: &str,
        prompt: &str,
        options: &[String],
        checked: &[bool],
        allow_empty: bool,
    ) -> Result<Vec<String>, Error> {
        // A long list was narrowed before it got here (all of it, or a pattern).
        let items: Vec<&str> = options.iter().map(String::as_str).collect();
        loop {
            let picked = MultiSelect::with_theme(self.theme.as_ref())
                .with_prompt(prompt)
                .items(&items)
                .defaults(checked)
                .interact_opt()
                .map_err(io)?
                .ok_or_else(cancelled)?;
            if picked.is_empty() && !allow_empty {
                crate::output::say("  choose at least one (space selects, enter confirms)");
                continue;
            }
            return Ok(picked.into_iter().map(|i| options[i].clone()).collect());
        }
    }

    fn text(&mut self, _: &str, prompt: &str, default: Option<&str>, check: Check) -> Result<String, Error> {
        let mut input = Input::<String>::with_theme(self.theme.as_ref())
            .with_prompt(prompt)
            .validate_with(|s: &String| check(s.trim()));
        if let Some(d) = default {
            input = input.default(d.to_string());
        }
        Ok(input.interact_text().map_err(io)?.trim().to_string())
    }

    fn list(
        &mut self,
        _: &str,
        prompt: &str,
        default: &[String],
        check: Check,
        allow_empty: bool,
    ) -> Result<Vec<String>, Error> {
        let mut input = Input::<String>::with_theme(self.theme.as_ref())
            .with_prompt(prompt)
            .allow_empty(allow_empty)
            .validate_with(|s: &String| {
                let items = split_list(s);
                if items.is_empty() && !allow_empty {
                    return Err("list at least one".to_string());
                }
                items.iter().try_for_each(|i| check(i).map_err(|e| format!("{i}: {e}")))
            });
        if !default.is_empty() {
            input = input.default(default.join(", "));
        }
        Ok(split_list(&input.interact_text().map_err(io)?))
    }

    fn confirm(&mut self, prompt: &str, default: bool) -> Result<bool, Error> {
        Confirm::with_theme(self.theme.as_ref())
            .with_prompt(prompt)
            .default(default)
            .wait_for_newline(true)
            .interact_opt()
            .map_err(io)?
            .ok_or_else(cancelled)
    }

    fn interactive(&self) -> bool {
        true
    }
}

fn split_list(s: &str) -> Vec<String> {
    s.split([',', ' ']).map(str::trim).filter(|x| !x.is_empty()).map(str::to_string).collect()
}

/// Answers from a YAML file with the deployment's value keys.
pub struct Answers {
    /// Where they came from, for errors.
    pub origin: String,
    pub values: serde_json::Map<String, Value>,
    /// Confirmations answer this (`--yes`).
    pub yes: bool,
}

impl Answers {
    pub fn load(path: &std::path::Path, yes: bool) -> Result<Answers, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Io { what: format!("read the answers file {}", path.display()), source: e })?;
        let values: serde_json::Map<String, Value> = serde_saphyr::from_str(&text).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            problem: crate::error::yaml_problem(&e, &path.display().to_string()),
        })?;
        Ok(Answers { origin: path.display().to_string(), values, yes })
    }

    /// An answer by key; "profile.name" looks inside the `profile` map.
    fn get(&self, param: &str) -> Option<&Value> {
        let mut parts = param.split('.');
        let mut v = self.values.get(parts.next()?)?;
        for p in parts {
            v = v.get(p)?;
        }
        Some(v)
    }

    fn missing(&self, param: &str, prompt: &str) -> Error {
        Error::Value {
            field: format!("{}: {param}", self.origin),
            problem: "is missing".into(),
            fix: format!("add `{param}: ...` to the answers file ({prompt})"),
        }
    }

    fn bad(&self, param: &str, problem: String) -> Error {
        Error::Value {
            field: format!("{}: {param}", self.origin),
            problem,
            fix: "correct the answer in the answers file".into(),
        }
    }

    fn strings(&self, param: &str) -> Option<Vec<String>> {
        match self.get(param)? {
            Value::Array(a) => {
                Some(a.iter().map(|v| v.as_str().map(str::to_string).unwrap_or(v.to_string())).collect())
            }
            Value::String(s) => Some(split_list(s)),
            _ => None,
        }
    }
}

fn scalar(v: &Value) -> String {
    v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())
}

impl Asker for Answers {
    fn select(
        &mut self,
        param: &str,
        prompt: &str,
        options: &[(String, String)],
        default: usize,
    ) -> Result<String, Error> {
        let Some(v) = self.get(param) else { return Ok(options[default].0.clone()) };
        let v = scalar(v);
        if options.iter().any(|(o, _)| *o == v) {
            Ok(v)
        } else {
            let known: Vec<&str> = options.iter().map(|(o, _)| o.as_str()).collect();
            Err(self.bad(param, format!("{v:?} is not one of {} ({prompt})", known.join(", "))))
        }
    }

    fn multi(
        &mut self,
        param: &str,
        prompt: &str,
        options: &[String],
        checked: &[bool],
        allow_empty: bool,
    ) -> Result<Vec<String>, Error> {
        let picked = match self.strings(param) {
            Some(p) => p,
            None if checked.iter().any(|c| *c) => {
                return Ok(options.iter().zip(checked).filter(|(_, c)| **c).map(|(o, _)| o.clone()).collect());
            }
            None if allow_empty => return Ok(Vec::new()),
            None => return Err(self.missing(param, prompt)),
        };
        if picked.is_empty() && !allow_empty {
            return Err(self.bad(param, "is empty; list at least one".into()));
        }
        Ok(picked)
    }

    fn text(&mut self, param: &str, prompt: &str, default: Option<&str>, check: Check) -> Result<String, Error> {
        let v = match (self.get(param), default) {
            (Some(v), _) => scalar(v),
            (None, Some(d)) => d.to_string(),
            (None, None) => return Err(self.missing(param, prompt)),
        };
        check(&v).map_err(|e| self.bad(param, e))?;
        Ok(v)
    }

    fn list(
        &mut self,
        param: &str,
        prompt: &str,
        default: &[String],
        check: Check,
        allow_empty: bool,
    ) -> Result<Vec<String>, Error> {
        let items = match self.strings(param) {
            Some(items) => items,
            None if !default.is_empty() || allow_empty => default.to_vec(),
            None => return Err(self.missing(param, prompt)),
        };
        for i in &items {
            check(i).map_err(|e| self.bad(param, format!("{i}: {e}")))?;
        }
        Ok(items)
    }

    fn confirm(&mut self, _: &str, _: bool) -> Result<bool, Error> {
        Ok(self.yes)
    }

    fn interactive(&self) -> bool {
        false
    }

    fn take(&mut self, key: &str) -> Option<String> {
        self.values.remove(key).map(|v| scalar(&v))
    }

    fn unasked(&self, asked: &[&str]) -> serde_json::Map<String, Value> {
        self.values.iter().filter(|(k, _)| !asked.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}
