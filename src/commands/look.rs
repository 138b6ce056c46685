//! Looking at AWS for a deployment: who is calling, the catalog, the desired resources
//! and what IAM has of them, in as few round trips as the data allows.
//!
//! Round one sends everything known before the caller is: STS, the catalog reads, and
//! the IAM resources the state (or a first render) names, in the account the state
//! records or the deployment pins. Round two reads only what the final render names that
//! round one did not (new policies; all IAM on a first run in an unpinned account).

use super::Loaded;
use crate::aws::Aws;
use crate::error::Error;
use crate::model::{Facts, LfTarget, Observed, Principal, Resource};
use crate::observe::{self, Catalog, Iam};
use crate::render::{Governance, ScopeInput, render, render_scoped};
use crate::stack::{Values, expand_all_databases, validate_values};
use crate::state::State;
use std::collections::BTreeSet;
use std::path::Path;

/// What a run saw.
pub(crate) struct Looked {
    pub facts: Facts,
    pub caller: String,
    pub catalog: Catalog,
    /// The desired resources (none for a teardown, whose candidates are separate).
    pub desired: Vec<Resource>,
    /// What a run made and may have left unrecorded: the rendered resources.
    pub candidates: Vec<Resource>,
    pub observed: Observed,
    /// Which IAM scope the catalog access has, and why (for the plan).
    pub scope: Option<String>,
    /// Why data access stays whole buckets although tables are listed (for the plan).
    pub data_note: Option<String>,
}

/// Looks at AWS for `loaded` with `values` (None: values no longer valid; teardown then
/// goes by state alone). With `teardown`, nothing is desired.
pub(crate) async fn look(
    loaded: &Loaded,
    aws: &Aws,
    values: Option<&Values>,
    state: &State,
    state_path: &Path,
    teardown: bool,
) -> Result<Looked, Error> {
    let guess = loaded.deployment.account.clone().or_else(|| state.account.clone()).map(|account| Facts {
        partition: partition_of(&aws.region).to_string(),
        account,
        region: aws.region.clone(),
    });
    // A first render, before STS has answered, says which tables to list and which IAM
    // names to read. It may fail where the account matters (the final render then says
    // why) or differ from the final one (round two reads the difference).
    let early_facts = guess.clone().unwrap_or_else(|| placeholder_facts(&aws.region));
    let first = values
        .map(|v| expand_all_databases(&loaded.stack, v, None))
        .and_then(|v| render(&loaded.stack, &v, &early_facts, &loaded.name).ok())
        .unwrap_or_default();
    // Round one reads what the state records (a policy whose document is still the one
    // last applied needs no version list); only a first run reads what the first render
    // names (its policy names may change with the final render's scope).
    let applied: Vec<Resource> = state.resources.values().map(|o| o.resource.clone()).collect();
    let early_items = if applied.is_empty() { first.clone() } else { applied.clone() };
    let early_names = observe::names(&early_items, state, &applied);
    let early = async {
        match &guess {
            Some(f) => observe::read_iam(aws, f, &early_names).await.map(Some),
            None => Ok(None),
        }
    };
    // The tables whose locations scope the data access, as far as the values name them;
    // none for a teardown, or where more are listed than the policies could ever hold.
    let quota = loaded.deployment.managed_policy_quota.unwrap_or(crate::plan::DEFAULT_POLICY_QUOTA);
    let data_tables = |v: &Values| {
        let (databases, listed) = crate::render::data_databases(&loaded.stack, v);
        let skip = teardown || crate::render::data::too_many(listed, quota);
        (if skip { BTreeSet::new() } else { databases }, listed, skip)
    };
    let early_data = values.map(|v| data_tables(v).0).unwrap_or_default();
    // The first failure ends the round (an unreachable endpoint must not wait for every
    // read's retries); a read refused before STS answered names the caller once it has.
    let round = tokio::try_join!(
        async { aws.whoami().await.map_err(|e| (e, true)) },
        async {
            let (mut catalog, tables) =
                tokio::try_join!(observe::read_catalog(aws), observe::table_list(aws, &early_data))
                    .map_err(|e| (e, false))?;
            catalog.tables.extend(tables);
            Ok(catalog)
        },
        async { early.await.map_err(|e| (e, false)) },
    );
    let ((facts, caller), mut catalog, early) = match round {
        Ok(r) => r,
        Err((e, true)) => return Err(e),
        Err((e, false)) => {
            let caller = aws.whoami().await.map(|(_, c)| c).unwrap_or_default();
            return Err(e.for_caller(&caller));
        }
    };
    super::check_account(&loaded.name, &loaded.deployment, &facts, &caller)?;
    super::check_state(state, &loaded.name, &loaded.stack.name, &facts, state_path)?;
    super::check_engine(loaded, state)?;

    let scope = ScopeInput {
        requested: loaded.deployment.iam_scope,
        governance: Some(Governance {
            databases: catalog.databases.keys().cloned().collect(),
            iam_governed: catalog.iam_governed(),
            defaults_open: catalog.defaults_open,
            hybrid_locations: catalog.hybrid_locations.clone(),
        }),
        previous: state
            .resources
            .values()
            .filter_map(|o| match &o.resource {
                Resource::Policy { name, document, .. } => Some((name.clone(), document.clone())),
                _ => None,
            })
            .collect(),
        field: format!("deployments.{}.iam_scope", loaded.name),
        tables: None,
        policy_quota: Some(quota),
    };
    let all: BTreeSet<String> = catalog.databases.keys().cloned().collect();
    let (candidates, scope_note, data_note) = match values {
        Some(v) => {
            // The stack's checks hold for the databases "*" stands for, too.
            let v = expand_all_databases(&loaded.stack, v, Some(&all));
            let mut v = validate_values(&loaded.stack, &v, &format!("deployments.{}.values", loaded.name))?;
            if !teardown {
                let provided = look_up_required(&loaded.stack, &v, &facts, aws, &loaded.name).await;
                v.extend(provided.map_err(|e| e.for_caller(&caller))?);
            }
            // Tables "*" brought in, not read in round one.
            let (databases, listed, skip) = data_tables(&v);
            let unread: BTreeSet<String> = databases
                .into_iter()
                .filter(|db| catalog.databases.contains_key(db) && !catalog.tables.contains_key(db))
                .collect();
            observe::read_tables(aws, &mut catalog, &unread).await.map_err(|e| e.for_caller(&caller))?;
            let tables = (!skip).then(|| catalog.tables.clone());
            let scope = ScopeInput { tables, ..scope };
            let r = render_scoped(&loaded.stack, &v, &facts, &loaded.name, &scope)?;
            let data_note = r.data_note.or_else(|| {
                (skip && !teardown && listed > 0).then(|| format!(
                    "S3 reads: the whole data buckets, because narrowing them to the locations of {listed} listed tables cannot fit the {quota} managed policies IAM allows per role or user; the listed tables narrow the catalog and Lake Formation, not S3. Keep the listed tables under fewer shared prefixes, or list fewer."
                ))
            });
            (r.resources, r.scope, data_note)
        }
        None => (Vec::new(), None, None),
    };
    let desired = if teardown { Vec::new() } else { candidates.clone() };
    let items = super::observe_items(&candidates, state);
    let names = observe::names(&items, state, &desired);
    let mut iam = match early {
        Some(iam) if guess.as_ref() == Some(&facts) => iam,
        _ => Iam::default(),
    };
    let missing = names.minus(&iam.read);
    // A policy read as unchanged that the final render changes needs its version list
    // after all (to prune before an update, or clear before a delete).
    let changing: BTreeSet<String> = iam
        .policies
        .iter()
        .filter(|(name, p)| p.versions.len() == 1 && names.wanted.get(*name) != Some(&p.document))
        .map(|(name, _)| name.clone())
        .collect();
    // The Glue databases the deployment creates, or created, that exist; with the tables
    // of those it would delete.
    let database_names = |rs: &[Resource]| -> BTreeSet<String> {
        rs.iter()
            .filter_map(|r| match r {
                Resource::Database { name, .. } if catalog.databases.contains_key(name) => Some(name.clone()),
                _ => None,
            })
            .collect()
    };
    let databases = database_names(&items);
    let deleting: BTreeSet<String> = databases.difference(&database_names(&desired)).cloned().collect();
    let (_, more, databases) = tokio::try_join!(
        observe::complete_versions(aws, &mut iam, &changing),
        async {
            match missing.is_empty() {
                true => Ok(None),
                false => observe::read_iam(aws, &facts, &missing).await.map(Some),
            }
        },
        observe::read_databases(aws, &facts, &databases, &deleting),
    )
    .map_err(|e| e.for_caller(&caller))?;
    if let Some(more) = more {
        iam.merge(more);
    }
    check_principals_exist(&desired, &iam, &facts, values, &loaded.name)?;
    // The grants still to make, and the tables of their databases: only there does the
    // catalog have to prove that a table exists (the emulator grants on anything).
    let to_make: Vec<Resource> = desired
        .iter()
        .filter(|r| match r {
            Resource::Grant { principal, target, permissions } => {
                !permissions.is_subset(&catalog.held(&principal.arn(&facts), target).0)
            }
            _ => false,
        })
        .cloned()
        .collect();
    let tables_needed: BTreeSet<String> = to_make
        .iter()
        .filter_map(|r| match r {
            Resource::Grant { target: LfTarget::Table { database, .. }, .. } => Some(database.clone()),
            _ => None,
        })
        .filter(|db| catalog.databases.contains_key(db) && !catalog.tables.contains_key(db))
        .collect();
    observe::read_tables(aws, &mut catalog, &tables_needed).await.map_err(|e| e.for_caller(&caller))?;
    let mut observed = observe::assemble(&catalog, iam, &facts, &items, &desired, &to_make);
    observed.databases = databases;
    Ok(Looked { facts, caller, catalog, desired, candidates, observed, scope: scope_note, data_note })
}

/// The AWS resources the values name (a Glue connection, say) must exist: AWS would
/// accept the policy and grants, and the vendor's first session would fail. Returns what
/// the lookups provide to the templates (`requires: … provides:`).
async fn look_up_required(
    stack: &crate::stack::Stack,
    values: &Values,
    facts: &Facts,
    aws: &Aws,
    deployment: &str,
) -> Result<Values, Error> {
    use crate::stack::RequiredKind;
    let required = crate::render::render_requirements(stack, values, facts)?;
    let missing = |kind: &str, name: &str, field: &str| Error::Value {
        field: format!("deployments.{deployment}.values.{field}"),
        problem: format!(
            "names the {kind} {name}, which does not exist in {} of account {}",
            facts.region, facts.account
        ),
        fix: "create it in Glue first, or correct the name; nothing was changed".into(),
    };
    let mut provided = Values::new();
    let connections: Vec<String> =
        required.iter().filter(|r| r.0 == RequiredKind::GlueConnection).map(|r| r.1.clone()).collect();
    if !connections.is_empty() {
        let absent = observe::missing_connections(aws, &connections).await?;
        if let Some((_, name, field, _)) = required.iter().find(|r| absent.contains(&r.1)) {
            return Err(missing("Glue connection", name, field));
        }
    }
    for (kind, name, field, provides) in required.iter().filter(|r| r.0 == RequiredKind::GlueSecurityConfiguration) {
        let Some((keys, encrypts_logs)) = observe::security_configuration(aws, name).await? else {
            return Err(missing("Glue security configuration", name, field));
        };
        if let Some(var) = provides {
            let found = provided.entry(var.clone()).or_insert_with(|| kind.nothing_found());
            let mut all: Vec<String> = serde_json::from_value(found["keys"].clone()).unwrap_or_default();
            all.extend(keys);
            all.sort();
            all.dedup();
            found["keys"] = serde_json::json!(all);
            found["encrypts_logs"] = serde_json::json!(found["encrypts_logs"].as_bool() == Some(true) || encrypts_logs);
        }
    }
    Ok(provided)
}

/// A principal the deployment names but does not create (who runs the vendor's tool, say) must exist:
/// AWS would refuse its attachment or grant only after the changes before it were made.
fn check_principals_exist(
    desired: &[Resource],
    iam: &Iam,
    facts: &Facts,
    values: Option<&Values>,
    deployment: &str,
) -> Result<(), Error> {
    let created: BTreeSet<Principal> = desired
        .iter()
        .filter_map(|r| match r {
            Resource::Role { name, .. } => Some(Principal::Role(name.clone())),
            Resource::User { name } => Some(Principal::User(name.clone())),
            _ => None,
        })
        .collect();
    let named = desired.iter().filter_map(|r| match r {
        Resource::Attachment { principal, .. } | Resource::Grant { principal, .. } => Some(principal),
        _ => None,
    });
    for p in named {
        let missing = match p {
            Principal::Role(n) => iam.read.roles.contains(n) && !iam.roles.contains_key(n),
            Principal::User(n) => iam.read.users.contains(n) && !iam.users.contains_key(n),
        };
        if !missing || created.contains(p) {
            continue;
        }
        let arn = p.arn(facts);
        // Name the value that holds it, where one does.
        let key = values.and_then(|v| v.iter().find(|(_, x)| x.as_str() == Some(arn.as_str())).map(|(k, _)| k.clone()));
        return Err(Error::Value {
            field: match key {
                Some(k) => format!("deployments.{deployment}.values.{k}"),
                None => format!("deployments.{deployment}"),
            },
            problem: format!("names {arn}, which does not exist in account {}", facts.account),
            fix: format!("create the {} first, or correct the name; nothing was changed", p.kind()),
        });
    }
    Ok(())
}

/// Facts good enough to render names and targets before STS has answered.
fn placeholder_facts(region: &str) -> Facts {
    Facts { account: "000000000000".into(), partition: partition_of(region).into(), region: region.into() }
}

/// The partition a region belongs to.
fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}
