//! The IAM names a new deployment would take from its stack's defaults, checked before the
//! plan: one another deployment uses (in AWS, or in lakepass.yaml), or that someone else
//! made, is offered an alternative suffixed with the deployment's name. An answers run
//! takes the alternative and says so.

use super::Asker;
use crate::aws::Aws;
use crate::config::Project;
use crate::error::Error;
use crate::model::{Facts, Resource};
use crate::observe::Names;
use crate::stack::{ParamType, Stack, Values, check_value, expand_all_databases, validate_values};
use serde_json::{Value, json};

/// Who has a name, if anyone but this deployment.
fn taken_by(
    name: &str,
    owner: Option<&Option<String>>,
    others: &[(String, Values)],
    param: &str,
    me: &str,
) -> Option<String> {
    match owner {
        Some(Some(d)) if d != me => return Some(format!("lakepass deployment {d} uses it")),
        Some(None) => return Some("it exists, and lakepass did not create it".into()),
        _ => {}
    }
    others
        .iter()
        .find(|(_, v)| v.get(param).and_then(Value::as_str) == Some(name))
        .map(|(d, _)| format!("deployment {d} in the config names it"))
}

/// Replaces, in `values`, each stack-default IAM name that is taken (see the module).
pub(super) async fn free_names(
    asker: &mut dyn Asker,
    stack: &Stack,
    values: &mut Values,
    deployment: &str,
    project: &Project,
    aws: &Aws,
    facts: &Facts,
) -> Result<(), Error> {
    let checked = validate_values(stack, values, "values")?;
    // Only names the user did not choose: defaults that apply.
    let defaulted: Vec<(&str, String)> = stack
        .parameters
        .iter()
        .filter(|p| p.kind == ParamType::IamName && !values.contains_key(&p.name))
        .filter_map(|p| Some((p.name.as_str(), checked.get(&p.name)?.as_str()?.to_string())))
        .collect();
    if defaulted.is_empty() {
        return Ok(());
    }
    let Ok(rendered) = crate::render::render(stack, &expand_all_databases(stack, &checked, None), facts, deployment)
    else {
        return Ok(()); // The plan names what is wrong.
    };
    let alternative = |name: &str| format!("{name}-{deployment}");
    // Each defaulted name, and its alternative, as the kind of IAM resource it names.
    let mut names = Names::default();
    let mut kinds = Vec::new();
    for (param, name) in &defaulted {
        for r in &rendered {
            let kind = match r {
                Resource::Policy { name: n, .. } if n == name => "policy",
                Resource::Role { name: n, .. } if n == name => "role",
                Resource::User { name: n } if n == name => "user",
                _ => continue,
            };
            for n in [name.clone(), alternative(name)] {
                match kind {
                    "policy" => names.policies.insert(n),
                    "role" => names.roles.insert(n),
                    _ => names.users.insert(n),
                };
            }
            kinds.push((*param, name.clone(), kind));
        }
    }
    let iam = crate::observe::read_iam(aws, facts, &names).await?;
    let owner = |kind: &str, n: &str| match kind {
        "policy" => iam.policies.get(n).map(|p| p.owner.clone()),
        "role" => iam.roles.get(n).map(|p| p.owner.clone()),
        _ => iam.users.get(n).map(|p| p.owner.clone()),
    };
    let others: Vec<(String, Values)> = project
        .config
        .deployments
        .iter()
        .filter(|(d, x)| d.as_str() != deployment && x.stack == stack.name)
        .filter_map(|(d, x)| Some((d.clone(), validate_values(stack, &x.values, "values").ok()?)))
        .collect();
    for (param, name, kind) in kinds {
        if values.contains_key(param) {
            continue; // Settled by an earlier resource of the same name.
        }
        let Some(why) = taken_by(&name, owner(kind, &name).as_ref(), &others, param, deployment) else { continue };
        let alt = alternative(&name);
        let p = stack.parameter(param).expect("a parameter of the stack");
        let alt_free = check_value(p, &json!(alt), param).is_ok()
            && taken_by(&alt, owner(kind, &alt).as_ref(), &others, param, deployment).is_none();
        let chosen = if asker.interactive() {
            let offer = format!("The {kind} name {name} is taken ({why}). Use {alt} for {param}?");
            if alt_free && asker.confirm(&offer, true)? {
                alt
            } else {
                let check = |s: &str| {
                    check_value(p, &json!(s), param).map(|_| ()).map_err(|e| e.to_string())?;
                    if s == name { Err(format!("{name} is taken ({why})")) } else { Ok(()) }
                };
                asker.text(param, &format!("A name for the {kind} ({param})"), None, &check)?
            }
        } else if alt_free {
            crate::output::say(&format!("note: the {kind} name {name} is taken ({why}); using {alt} for {param}"));
            alt
        } else {
            return Err(Error::Value {
                field: format!("answers.{param}"),
                problem: format!("is {name} by default, which is taken ({why}), and so is {alt}"),
                fix: format!("set {param} to a free name in the answers file"),
            });
        };
        values.insert(param.to_string(), json!(chosen));
    }
    Ok(())
}
