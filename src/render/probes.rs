//! What `verify` asks of a stack: its probes rendered into concrete calls, and single
//! templates or list expressions rendered over the values.

use super::{Ctx, DataScope, data, environment};
use crate::error::Error;
use crate::model::Facts;
use crate::stack::{Stack, Values};
use minijinja::Value as JValue;
use serde_json::json;

/// A template rendered, or (with `list`) an expression evaluated to a list, over the
/// values and the account facts.
pub fn render_value(
    stack: &Stack,
    values: &Values,
    facts: &Facts,
    text: &str,
    list: bool,
) -> Result<Vec<String>, Error> {
    let mut vars = values.clone();
    vars.insert("account".into(), json!(facts.account));
    vars.insert("partition".into(), json!(facts.partition));
    vars.insert("region".into(), json!(facts.region));
    let ctx = Ctx { env: environment(), vars: JValue::from_serialize(&vars), stack: &stack.name };
    if list { ctx.strings(text) } else { Ok(vec![ctx.text(text)?]) }
}

/// One call `verify` asks about: an action on a concrete resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Call {
    /// The probe's `what`.
    pub what: String,
    pub action: String,
    pub resource: String,
    /// Context keys of the request, with their values.
    pub context: std::collections::BTreeMap<String, Vec<String>>,
}

/// The stack's verify probes rendered for these values: (needed, forbidden) calls.
/// `other_databases` are the catalog's databases that were not chosen; `data` where the
/// chosen tables' data may be read (see [`crate::render::data`]).
pub fn render_probes(
    stack: &Stack,
    values: &Values,
    facts: &Facts,
    other_databases: &[String],
    data: Option<&DataScope>,
) -> Result<(Vec<Call>, Vec<Call>), Error> {
    let mut vars = values.clone();
    vars.insert("account".into(), json!(facts.account));
    vars.insert("partition".into(), json!(facts.partition));
    vars.insert("region".into(), json!(facts.region));
    vars.insert("other_databases".into(), json!(other_databases));
    let (paths, hidden): (Vec<String>, Vec<String>) = match data {
        Some(DataScope::Buckets { buckets, .. }) => (buckets.iter().map(|b| format!("s3://{b}")).collect(), Vec::new()),
        Some(DataScope::Tables { paths, hidden }) => {
            let mut all: Vec<String> = paths.values().flatten().map(data::uri).collect();
            all.sort();
            all.dedup();
            (all, hidden.iter().map(data::uri).collect())
        }
        None => (Vec::new(), Vec::new()),
    };
    vars.insert("data_paths".into(), json!(paths));
    vars.insert("hidden_paths".into(), json!(hidden));
    let expand = |probes: &[crate::stack::Probe]| -> Result<Vec<Call>, Error> {
        let mut out = Vec::new();
        for p in probes {
            let base = Ctx { env: environment(), vars: JValue::from_serialize(&vars), stack: &stack.name };
            let items: Vec<Option<String>> = match &p.for_each {
                Some(expr) => base.strings(expr)?.into_iter().map(Some).collect(),
                None => vec![None],
            };
            for item in items {
                let mut v = vars.clone();
                if let Some(i) = &item {
                    v.insert("item".into(), json!(i));
                }
                let ctx = Ctx { env: environment(), vars: JValue::from_serialize(&v), stack: &stack.name };
                if let Some(cond) = &p.when
                    && !ctx.eval(cond)?.is_true()
                {
                    continue;
                }
                let mut context = std::collections::BTreeMap::new();
                // A key that renders empty is not in the request (a listing of the whole
                // bucket carries no prefix).
                for (key, template) in &p.context {
                    let value = ctx.text(template)?;
                    if !value.is_empty() {
                        context.insert(key.clone(), vec![value]);
                    }
                }
                for r in &p.resources {
                    let resource = ctx.text(r)?;
                    for a in &p.actions {
                        out.push(Call {
                            what: p.what.clone(),
                            action: a.clone(),
                            resource: resource.clone(),
                            context: context.clone(),
                        });
                    }
                }
            }
        }
        Ok(out)
    };
    Ok((expand(&stack.verify.needs)?, expand(&stack.verify.forbidden)?))
}

/// A `requires` entry rendered: (kind, name, field, provides).
pub type Required = (crate::stack::RequiredKind, String, String, Option<String>);

/// The AWS resources the stack's `requires` name for these values.
pub fn render_requirements(stack: &Stack, values: &Values, facts: &Facts) -> Result<Vec<Required>, Error> {
    let mut vars = values.clone();
    vars.insert("account".into(), json!(facts.account));
    vars.insert("partition".into(), json!(facts.partition));
    vars.insert("region".into(), json!(facts.region));
    let mut out = Vec::new();
    for r in &stack.requires {
        let base = Ctx { env: environment(), vars: JValue::from_serialize(&vars), stack: &stack.name };
        let items: Vec<Option<String>> = match &r.for_each {
            Some(expr) => base.strings(expr)?.into_iter().map(Some).collect(),
            None => vec![None],
        };
        for item in items {
            let mut v = vars.clone();
            if let Some(i) = &item {
                v.insert("item".into(), json!(i));
            }
            let ctx = Ctx { env: environment(), vars: JValue::from_serialize(&v), stack: &stack.name };
            out.push((r.kind, ctx.text(&r.name)?, r.field.clone(), r.provides.clone()));
        }
    }
    Ok(out)
}
