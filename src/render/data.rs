//! The S3 scope of the chosen tables' data, and the `data:` statements rendered from it. Pure.
//!
//! A statement with `data:` in a stack reads the data of the chosen databases. Its
//! resources take one of two shapes:
//!
//! - **tables**: every chosen database lists its tables, and their locations are known.
//!   Objects are read under each listed table's location only (`bucket/prefix/*`), and
//!   `s3:ListBucket` is allowed on a bucket only for those prefixes (`s3:prefix`). The
//!   other tables of those databases stay unreadable in S3, as in the catalog.
//! - **buckets**: the buckets whole. A database chosen with all its tables may hold tables
//!   anywhere in them, including tables created later, so one such database makes every
//!   bucket whole; the plan says so where some tables were listed.
//!
//! A listed table stored outside the buckets is refused: the user said where the data is.

use super::scope::Stmt;
use super::{Ctx, environment};
use crate::error::Error;
use crate::model::{Facts, Tables, s3_location};
use crate::stack::{ResourceTemplate, Stack, Values};
use minijinja::Value as JValue;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// An S3 path: (bucket, prefix without slashes at either end; "" for the whole bucket).
pub type Path = (String, String);

/// Where the chosen tables' data may be read.
#[derive(Debug, Clone, PartialEq)]
pub enum DataScope {
    /// The buckets whole, with the plan's note when some tables were listed.
    Buckets { buckets: Vec<String>, note: Option<String> },
    /// Each listed table's location, by database; and the locations of the other tables
    /// of those databases, which must stay unreadable.
    Tables { paths: BTreeMap<String, BTreeSet<Path>>, hidden: BTreeSet<Path> },
}

/// Whether `outer` holds everything under `inner`.
fn covers(outer: &Path, inner: &Path) -> bool {
    outer.0 == inner.0 && (outer.1.is_empty() || inner.1 == outer.1 || inner.1.starts_with(&format!("{}/", outer.1)))
}

/// The scope of the data of `chosen` (each database with its listed tables, None: all),
/// stored in `buckets`, given the tables Glue lists (None: not read, so buckets whole).
/// `field` names the buckets' value, for the error when a listed table lies elsewhere.
pub fn data_scope(
    buckets: &[String],
    chosen: &[(String, Option<Vec<String>>)],
    tables: Option<&Tables>,
    field: &str,
) -> Result<DataScope, Error> {
    let whole: Vec<&str> = chosen.iter().filter(|(_, l)| l.is_none()).map(|(d, _)| d.as_str()).collect();
    let listed: Vec<&str> = chosen.iter().filter(|(_, l)| l.is_some()).map(|(d, _)| d.as_str()).collect();
    let buckets_whole = |note: Option<String>| Ok(DataScope::Buckets { buckets: buckets.to_vec(), note });
    let Some(tables) = tables.filter(|_| !listed.is_empty()) else { return buckets_whole(None) };
    if !whole.is_empty() {
        return buckets_whole(Some(format!(
            "S3 reads: the whole of {}, because {} {} chosen with all tables (which may be anywhere in those buckets); the tables listed for {} narrow the catalog and Lake Formation, not S3. List the tables of every database to narrow S3 to their locations.",
            buckets.join(", "),
            whole.join(", "),
            if whole.len() == 1 { "is" } else { "are" },
            listed.join(", ")
        )));
    }
    let mut paths: BTreeMap<String, BTreeSet<Path>> = BTreeMap::new();
    for (db, list) in chosen {
        let Some(list) = list else { continue };
        let known = tables.get(db);
        for t in list {
            let Some((bucket, prefix)) = known.and_then(|k| k.get(t)).cloned().flatten().and_then(|l| s3_location(&l))
            else {
                // Not in the catalog (its check names it), or stored nowhere in S3 (a view).
                continue;
            };
            if !buckets.contains(&bucket) {
                let location = known.and_then(|k| k.get(t)).cloned().flatten().unwrap_or_default();
                return Err(Error::Value {
                    field: field.to_string(),
                    problem: format!(
                        "does not include bucket {bucket}, where listed table {db}.{t} is stored ({location})"
                    ),
                    fix: format!("add {bucket} to {field}, or remove {t} from the tables listed for {db}"),
                });
            }
            paths.entry(db.clone()).or_default().insert((bucket, prefix));
        }
    }
    // A path under another of the same database adds nothing.
    for set in paths.values_mut() {
        let all: Vec<Path> = set.iter().cloned().collect();
        set.retain(|p| !all.iter().any(|q| q != p && covers(q, p)));
    }
    let granted: Vec<&Path> = paths.values().flatten().collect();
    let mut hidden = BTreeSet::new();
    for (db, list) in chosen {
        let (Some(list), Some(known)) = (list, tables.get(db)) else { continue };
        for location in known.iter().filter(|(t, _)| !list.contains(t)).map(|(_, l)| l) {
            let Some(path) = location.as_deref().and_then(s3_location) else { continue };
            // A location under a listed one is readable with it; one that holds a listed
            // one is readable there: neither can be kept out by location.
            if buckets.contains(&path.0) && !granted.iter().any(|g| covers(g, &path) || covers(&path, g)) {
                hidden.insert(path);
            }
        }
    }
    Ok(DataScope::Tables { paths, hidden })
}

/// Characters a listed table adds at the least when narrowed, per resource: its catalog
/// ARN and its data's object ARN (each quoted), with the shortest names.
const LEAST_PER_TABLE: usize = 60;

/// Whether narrowing to `listed` tables cannot fit `quota` managed policies, so that
/// their locations need not even be read.
pub fn too_many(listed: usize, quota: usize) -> bool {
    listed * LEAST_PER_TABLE > quota * crate::policy::MANAGED_POLICY_LIMIT
}

/// `s3://bucket/prefix`, or `s3://bucket` for the whole bucket.
pub fn uri((bucket, prefix): &Path) -> String {
    if prefix.is_empty() { format!("s3://{bucket}") } else { format!("s3://{bucket}/{prefix}") }
}

/// The object ARN pattern of everything under a path.
pub fn objects_arn(partition: &str, (bucket, prefix): &Path) -> String {
    if prefix.is_empty() {
        format!("arn:{partition}:s3:::{bucket}/*")
    } else {
        format!("arn:{partition}:s3:::{bucket}/{prefix}/*")
    }
}

/// The `s3:prefix` pattern that lets ListBucket list under `prefix` and nowhere else
/// (`*` matches nothing too, so `prefix/` itself is in).
pub fn list_prefix(prefix: &str) -> String {
    format!("{prefix}/*")
}

/// A statement id made of `sid` and a name: letters and digits only, as IAM requires.
pub fn sid_with(sid: &str, name: &str) -> String {
    let mut out = sid.to_string();
    for word in name.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    out
}

/// What a `data:` statement is rendered with.
pub(super) struct Data<'a> {
    pub tables: Option<&'a Tables>,
    pub deployment: &'a str,
}

/// The data scope of a `data:` template.
pub(super) fn data_scope_of(
    ctx: &Ctx,
    d: &crate::stack::DataTemplate,
    tables: Option<&Tables>,
    deployment: &str,
) -> Result<DataScope, Error> {
    let buckets = ctx.strings(&d.buckets)?;
    let chosen = ctx.databases(&d.databases, d.tables.as_deref())?;
    data_scope(&buckets, &chosen, tables, &format!("deployments.{deployment}.values.{}", d.buckets.trim()))
}

/// The data scope of the first `data:` statement of the active policies, if any.
pub(super) fn data_of_active(
    ctx: &Ctx,
    active: &[&ResourceTemplate],
    tables: Option<&Tables>,
    deployment: &str,
) -> Result<Option<DataScope>, Error> {
    let first = active.iter().find_map(|t| match t {
        ResourceTemplate::Policy { statements, .. } => statements.iter().find_map(|s| s.data.as_ref()),
        _ => None,
    });
    first.map(|d| data_scope_of(ctx, d, tables, deployment)).transpose()
}

/// Where a deployment's vendor may read the chosen tables' data, from its
/// stack's first `data:` statement; None when the stack has none.
pub fn data_access(
    stack: &Stack,
    values: &Values,
    facts: &Facts,
    deployment: &str,
    tables: &Tables,
) -> Result<Option<DataScope>, Error> {
    let mut vars = values.clone();
    vars.insert("account".into(), json!(facts.account));
    vars.insert("partition".into(), json!(facts.partition));
    vars.insert("region".into(), json!(facts.region));
    vars.insert("deployment".into(), json!(deployment));
    let ctx = Ctx { env: environment(), vars: JValue::from_serialize(&vars), stack: &stack.name };
    let mut active = Vec::new();
    for t in &stack.resources {
        if let Some(cond) = t.when()
            && !ctx.eval(cond)?.is_true()
        {
            continue;
        }
        active.push(t);
    }
    data_of_active(&ctx, &active, Some(tables), deployment)
}

/// The databases whose tables a `data:` statement lists (whose locations render needs),
/// and how many tables are listed: known from the values alone, so they can be read with
/// the first round of calls.
pub fn data_databases(stack: &Stack, values: &Values) -> (BTreeSet<String>, usize) {
    let ctx = Ctx { env: environment(), vars: JValue::from_serialize(values), stack: &stack.name };
    let mut out = BTreeSet::new();
    let mut listed = BTreeSet::new();
    for t in &stack.resources {
        let ResourceTemplate::Policy { statements, .. } = t else { continue };
        for d in statements.iter().filter_map(|s| s.data.as_ref()) {
            let Ok(chosen) = ctx.databases(&d.databases, d.tables.as_deref()) else { continue };
            for (db, tables) in chosen {
                if let Some(tables) = tables {
                    listed.extend(tables.into_iter().map(|t| (db.clone(), t)));
                    out.insert(db);
                }
            }
        }
    }
    (out, listed.len())
}

/// `s3:ListBucket` on the listed tables' buckets, only under their locations: one
/// statement per database (and bucket, where its tables span several), each kept with its
/// database's other resources when policies are split.
pub(super) fn list_statements(
    s: &crate::stack::StatementTemplate,
    paths: &BTreeMap<String, BTreeSet<Path>>,
    condition: Option<&Value>,
    partition: &str,
) -> Vec<Stmt> {
    let mut out = Vec::new();
    for (db, ps) in paths {
        let mut by_bucket: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (bucket, prefix) in ps {
            by_bucket.entry(bucket).or_default().push(prefix);
        }
        let several = by_bucket.len() > 1;
        for (bucket, prefixes) in by_bucket {
            let mut sid = sid_with(&s.sid, db);
            if several {
                sid = sid_with(&format!("{sid}In"), bucket);
            }
            let mut condition = condition.cloned();
            if !prefixes.iter().any(|p| p.is_empty()) {
                let mut c = condition.unwrap_or_else(|| json!({}));
                let values: Vec<String> = prefixes.iter().map(|p| list_prefix(p)).collect();
                c["StringLike"]["s3:prefix"] = json!(values);
                condition = Some(c);
            }
            out.push(Stmt {
                sid,
                deny: false,
                actions: s.actions.clone(),
                condition,
                fixed: Vec::new(),
                groups: vec![(db.clone(), vec![format!("arn:{partition}:s3:::{bucket}")])],
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog(entries: &[(&str, &str, Option<&str>)]) -> Tables {
        let mut t = Tables::new();
        for (db, table, location) in entries {
            t.entry(db.to_string()).or_default().insert(table.to_string(), location.map(str::to_string));
        }
        t
    }

    fn lake() -> Vec<String> {
        vec!["lake".into()]
    }

    fn list(db: &str, tables: &[&str]) -> (String, Option<Vec<String>>) {
        (db.into(), Some(tables.iter().map(|t| t.to_string()).collect()))
    }

    const SALES: &[(&str, &str, Option<&str>)] = &[
        ("sales", "orders", Some("s3://lake/sales/orders/")),
        ("sales", "customers", Some("s3://lake/sales/customers")),
        ("sales", "orders_daily", Some("s3a://lake/sales/orders/daily/")),
        ("sales", "orders_view", None),
    ];

    #[test]
    fn listed_tables_are_read_at_their_locations_and_the_others_stay_hidden() {
        let tables = catalog(SALES);
        let scope = data_scope(&lake(), &[list("sales", &["orders", "orders_view"])], Some(&tables), "f").unwrap();
        let DataScope::Tables { paths, hidden } = scope else { panic!("{scope:?}") };
        assert_eq!(paths["sales"], [("lake".to_string(), "sales/orders".to_string())].into());
        // orders_daily lies under orders, so it is readable with it: not claimed hidden.
        assert_eq!(hidden, [("lake".to_string(), "sales/customers".to_string())].into());
        assert_eq!(objects_arn("aws", &("lake".into(), "sales/orders".into())), "arn:aws:s3:::lake/sales/orders/*");
        assert_eq!(objects_arn("aws", &("lake".into(), String::new())), "arn:aws:s3:::lake/*");
        assert_eq!(list_prefix("sales/orders"), "sales/orders/*");
    }

    #[test]
    fn a_location_under_another_listed_one_adds_nothing() {
        let tables = catalog(SALES);
        let scope = data_scope(&lake(), &[list("sales", &["orders", "orders_daily"])], Some(&tables), "f").unwrap();
        let DataScope::Tables { paths, .. } = scope else { panic!() };
        assert_eq!(paths["sales"].len(), 1);
        // A table at the bucket's root makes the bucket whole for its database.
        let root = catalog(&[("raw", "everything", Some("s3://lake")), ("raw", "one", Some("s3://lake/one/"))]);
        let scope = data_scope(&lake(), &[list("raw", &["everything", "one"])], Some(&root), "f").unwrap();
        let DataScope::Tables { paths, hidden } = scope else { panic!() };
        assert_eq!(paths["raw"], [("lake".to_string(), String::new())].into());
        assert!(hidden.is_empty());
    }

    #[test]
    fn one_database_chosen_whole_keeps_the_buckets_whole_and_says_why() {
        let tables = catalog(SALES);
        let chosen = [list("sales", &["orders"]), ("marketing".to_string(), None)];
        let scope = data_scope(&lake(), &chosen, Some(&tables), "f").unwrap();
        let DataScope::Buckets { buckets, note: Some(note) } = scope else { panic!("{scope:?}") };
        assert_eq!(buckets, lake());
        assert!(note.contains("because marketing is chosen with all tables"), "{note}");
        assert!(note.contains("listed for sales"), "{note}");
        // Without lists, or before the tables are read, the buckets are whole, silently.
        let whole = [("marketing".to_string(), None)];
        assert_eq!(
            data_scope(&lake(), &whole, Some(&tables), "f").unwrap(),
            DataScope::Buckets { buckets: lake(), note: None }
        );
        assert_eq!(
            data_scope(&lake(), &[list("sales", &["orders"])], None, "f").unwrap(),
            DataScope::Buckets { buckets: lake(), note: None }
        );
    }

    #[test]
    fn a_listed_table_stored_outside_the_buckets_is_refused_with_the_fix() {
        let tables = catalog(&[("sales", "orders", Some("s3://elsewhere/orders/"))]);
        let err = data_scope(&lake(), &[list("sales", &["orders"])], Some(&tables), "values.glue_buckets").unwrap_err();
        let Error::Value { field, problem, fix } = err else { panic!() };
        assert_eq!(field, "values.glue_buckets");
        assert_eq!(
            problem,
            "does not include bucket elsewhere, where listed table sales.orders is stored (s3://elsewhere/orders/)"
        );
        assert_eq!(fix, "add elsewhere to values.glue_buckets, or remove orders from the tables listed for sales");
    }

    #[test]
    fn past_what_ten_policies_could_hold_the_locations_are_not_read() {
        assert!(!too_many(1_000, 10));
        assert!(too_many(5_000, 10));
        assert!(!too_many(5_000, 50));
    }

    #[test]
    fn statement_ids_stay_letters_and_digits() {
        assert_eq!(sid_with("DataList", "sales_eu-2024"), "DataListSalesEu2024");
        assert!(covers(&("b".into(), "a".into()), &("b".into(), "a/b".into())));
        assert!(!covers(&("b".into(), "a".into()), &("b".into(), "ab".into())));
        assert!(!covers(&("b".into(), "a".into()), &("c".into(), "a/b".into())));
    }
}
