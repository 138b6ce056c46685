//! Flows: the interview for a stack, as data (`wizard/NAME.yaml`), embedded like stacks.

use crate::error::Error;
use crate::stack::Stack;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Every `wizard/*.yaml` (see build.rs): (file name, contents), by name.
const SHIPPED: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/wizard.rs"));

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flow {
    pub stack: String,
    /// The deployment name written unless the user passes one.
    pub deployment: String,
    pub vendor: String,
    pub intro: String,
    pub questions: Vec<Question>,
    pub handoff: HandoffText,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// The stack parameter this question fills.
    pub param: String,
    pub prompt: String,
    /// For a choice: a label per choice value.
    #[serde(default)]
    pub choices: BTreeMap<String, String>,
    /// For an external id: offer to generate a strong one.
    #[serde(default)]
    pub generate: bool,
    /// Where suggestions come from.
    pub source: Option<Source>,
    /// The parameter a lookup reads: for `table_locations` the one naming the databases,
    /// for `athena_output` the one naming the workgroup.
    pub from: Option<String>,
    /// For one database checked against the catalog: the boolean parameter that has
    /// lakepass create it. A name the catalog lacks is then offered creation (or, from an
    /// answers file, accepted when the parameter is true) instead of refused.
    pub create_with: Option<String>,
}

/// Lookups in the account that suggest answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The catalog's databases, to pick from (a list), or that the answer must name (one
    /// database, checked right after it is given).
    GlueDatabases,
    /// Buckets of the chosen databases' table locations, pre-selected.
    TableLocations,
    /// The bucket of the Athena workgroup's configured output location.
    AthenaOutput,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffText {
    pub title: String,
}

impl Flow {
    /// The flow of a stack: the project's own (`wizard/NAME.yaml` in `project_dir`), the
    /// shipped one, or for a stack with neither one that asks every value without a
    /// default, in the stack's order, with its help as the prompt.
    pub fn find(stack: &Stack, project_dir: &std::path::Path) -> Result<Flow, Error> {
        let own = project_dir.join("wizard").join(format!("{}.yaml", stack.name));
        let origin = own.display().to_string();
        if let Ok(text) = std::fs::read_to_string(&own) {
            let flow: Flow = serde_saphyr::from_str(&text).map_err(|e| Error::StackFile {
                origin: origin.clone(),
                problem: crate::error::yaml_problem(&e, &origin),
            })?;
            flow.check(stack)?;
            return Ok(flow);
        }
        if SHIPPED.iter().any(|(n, _)| *n == stack.name) {
            return Flow::shipped(stack);
        }
        use crate::stack::ParamType;
        let questions = stack
            .parameters
            .iter()
            .filter(|p| p.default.is_none() && !p.optional)
            .map(|p| Question {
                param: p.name.clone(),
                prompt: p.help.clone().unwrap_or_else(|| p.name.clone()),
                choices: BTreeMap::new(),
                generate: false,
                source: matches!(p.kind, ParamType::Database | ParamType::DatabaseList)
                    .then_some(Source::GlueDatabases),
                from: None,
                create_with: None,
            })
            .collect();
        Ok(Flow {
            stack: stack.name.clone(),
            deployment: stack.name.clone(),
            vendor: stack.name.clone(),
            intro: stack.description.clone(),
            questions,
            handoff: HandoffText { title: format!("Hand over to {}", stack.name) },
        })
    }

    /// The shipped flow of a stack, checked against it.
    pub fn shipped(stack: &Stack) -> Result<Flow, Error> {
        let (_, text) = SHIPPED.iter().find(|(n, _)| *n == stack.name).ok_or_else(|| Error::StackFile {
            origin: stack.name.clone(),
            problem: "lakepass ships no wizard flow for this stack".into(),
        })?;
        let flow: Flow = serde_saphyr::from_str(text).map_err(|e| Error::StackFile {
            origin: format!("wizard/{}.yaml", stack.name),
            problem: crate::error::yaml_problem(&e, &format!("wizard/{}.yaml", stack.name)),
        })?;
        flow.check(stack)?;
        Ok(flow)
    }

    fn check(&self, stack: &Stack) -> Result<(), Error> {
        let fail = |problem: String| Error::StackFile { origin: format!("wizard/{}.yaml", stack.name), problem };
        if self.stack != stack.name {
            return Err(fail(format!("the flow is for stack {}, not {}", self.stack, stack.name)));
        }
        // Every value that has no default and must be given is asked.
        for p in &stack.parameters {
            let required = p.default.is_none() && !p.optional;
            if required && !self.questions.iter().any(|q| q.param == p.name) {
                return Err(fail(format!("no question asks for {}, which has no default", p.name)));
            }
        }
        for q in &self.questions {
            let Some(p) = stack.parameter(&q.param) else {
                return Err(fail(format!("question for {}, which the stack does not have", q.param)));
            };
            if let Some(flag) = &q.create_with {
                if !stack.parameter(flag).is_some_and(|f| f.kind == crate::stack::ParamType::Boolean) {
                    return Err(fail(format!("{}: create_with names {flag}, which is no boolean parameter", q.param)));
                }
                if p.kind != crate::stack::ParamType::Database || q.source != Some(Source::GlueDatabases) {
                    return Err(fail(format!(
                        "{}: create_with applies only to a database question with source: glue_databases",
                        q.param
                    )));
                }
            }
            let reads = matches!(q.source, Some(Source::TableLocations | Source::AthenaOutput));
            match &q.from {
                None if reads => {
                    return Err(fail(format!("{}: its source needs `from`, the parameter it reads", q.param)));
                }
                Some(f) if stack.parameter(f).is_none() => {
                    return Err(fail(format!("{}: from names {f}, which the stack does not have", q.param)));
                }
                _ => {}
            }
            for c in q.choices.keys() {
                if !p.choices.contains(c) {
                    return Err(fail(format!("{}: label for {c}, which is not a choice", q.param)));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_stack_has_a_flow_that_fits_it() {
        for stack in Stack::all_shipped().unwrap() {
            let flow = Flow::shipped(&stack).unwrap();
            assert_eq!(flow.stack, stack.name);
            assert!(!flow.questions.is_empty());
        }
    }
}
