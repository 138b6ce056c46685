//! `lakepass export`: a deployment as a CloudFormation template of exactly what `provision`
//! would build (see [`crate::cfn`]).

use super::*;
use crate::output::say;
use crate::stack::ParamType;

#[derive(Debug, Clone, Default)]
pub struct ExportOpts {
    /// Write the template here rather than to stdout.
    pub output: Option<PathBuf>,
}

/// `lakepass export`: observes the account as a plan does (databases `"*"` stand for, the
/// policies as split), changes nothing, and prints or writes the template.
pub async fn export(g: &Global, o: &ExportOpts) -> Result<i32, Error> {
    let loaded = Loaded::new(g, g.deployment.as_deref())?;
    let p = prepare(g, loaded, Consent::default(), false).await?;
    let stack = &p.loaded.stack;
    // What the vendor hands out becomes a parameter of the template, defaulting to the
    // deployment's value.
    let parameters = stack
        .parameters
        .iter()
        .filter(|x| x.kind == ParamType::ExternalId)
        .filter_map(|x| {
            let value = p.values.get(&x.name)?.as_str()?.to_string();
            Some((crate::cfn::logical_name(&x.name), value, x.help.clone().unwrap_or_else(|| x.name.clone())))
        })
        .collect();
    let template = crate::cfn::template(&crate::cfn::Input {
        deployment: &p.loaded.name,
        stack: &stack.name,
        description: &stack.description,
        facts: &p.facts,
        desired: &p.desired,
        parameters,
        outputs: Handoff::stack_rows(&p.loaded, &p.facts, &p.values),
    })?;
    let text = format!("{}\n", serde_json::to_string_pretty(&template).expect("a template is JSON"));
    for note in &p.plan.notes {
        say(&format!("note: {note}"));
    }
    if stack.profile_file.is_some() {
        say("note: the template does not write the profiles-file target; `lakepass profile` prints it");
    }
    match &o.output {
        Some(path) => {
            crate::files::replace(path, &text)
                .map_err(|source| Error::Io { what: format!("write {}", path.display()), source })?;
            say(&format!(
                "Wrote {} ({} resources).",
                path.display(),
                template["Resources"].as_object().map_or(0, |r| r.len())
            ));
        }
        None => print(&text),
    }
    Ok(0)
}
