//! The IAM scope of a deployment's catalog access, and how its policies are cut. Pure.
//!
//! A statement with `catalog:` in a stack reads the Glue catalog of chosen databases.
//! Its resources take one of two shapes:
//!
//! - **per-resource**: the catalog, each chosen database and its tables (or listed
//!   tables). IAM and Lake Formation both scope to the chosen databases. Past one managed
//!   policy (6,144 characters, about 40 databases), the databases are spread over numbered
//!   policies (`<name>`, `<name>-2`, ...): each database stays in the policy it was in, and
//!   a new one goes to the first with room, so adding one changes one policy.
//! - **lake-formation**: the catalog, `database/*` and `table/*/*`; Lake Formation's grants
//!   do the scoping (AWS's recommended model for governed catalogs). Safe only where Lake
//!   Formation governs everything the wildcard reaches that is not chosen: no
//!   `IAM_ALLOWED_PRINCIPALS` on such a database, its tables or its defaults, none in the
//!   account's defaults for new databases and tables, and no location in hybrid access
//!   mode. A database IAM governs that is not chosen gets an explicit Deny.
//!
//! `auto` keeps per-resource while it fits in one policy, takes lake-formation when that
//! is safe, and otherwise spreads per-resource over as many policies as needed.

use crate::policy::{MANAGED_POLICY_LIMIT, compact_len, normalize};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// The IAM scope a deployment asks for (`iam_scope` in lakepass.yaml).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IamScope {
    #[default]
    Auto,
    PerResource,
    LakeFormation,
}

/// What the catalog says about who governs it (from [`crate::observe::Catalog`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Governance {
    /// Every database in the catalog.
    pub databases: BTreeSet<String>,
    /// Databases where IAM alone decides access (IAM_ALLOWED_PRINCIPALS on the database,
    /// a table, or its defaults for new tables).
    pub iam_governed: BTreeSet<String>,
    /// The account's defaults give new databases or tables to IAM_ALLOWED_PRINCIPALS.
    pub defaults_open: bool,
    /// Locations registered in hybrid access mode.
    pub hybrid_locations: Vec<String>,
}

/// The databases a deployment's catalog statements choose.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Chosen {
    /// Chosen with all their tables.
    pub whole: BTreeSet<String>,
    /// Chosen for some listed tables only.
    pub partly: BTreeSet<String>,
}

/// The databases the Allow statements name, from their Glue ARNs: whole where all
/// tables are allowed (`table/<db>/*`), partly where only the database or some tables are.
pub fn chosen(stmts: &[&Stmt]) -> Chosen {
    let mut c = Chosen::default();
    for s in stmts.iter().filter(|s| !s.deny) {
        let all = s.fixed.iter().chain(s.groups.iter().flat_map(|(_, rs)| rs));
        for arn in all.filter(|a| a.contains(":glue:")) {
            if let Some((_, db)) = arn.split_once(":database/") {
                c.partly.insert(db.to_string());
            } else if let Some((db, table)) = arn.split_once(":table/").and_then(|(_, t)| t.split_once('/')) {
                if table == "*" {
                    c.whole.insert(db.to_string());
                } else {
                    c.partly.insert(db.to_string());
                }
            }
        }
    }
    c.whole.remove("*");
    c.partly.remove("*");
    let whole = c.whole.clone();
    c.partly.retain(|d| !whole.contains(d));
    c
}

/// Whether lake-formation scope is safe: the databases it must deny, or why it is not.
pub fn lake_formation_safety(g: Option<&Governance>, chosen: &Chosen) -> Result<Vec<String>, String> {
    let Some(g) = g else { return Err("the catalog's governance was not read".into()) };
    if g.defaults_open {
        return Err("the account's Lake Formation defaults give new databases or tables to IAM_ALLOWED_PRINCIPALS, so a database created later would be open to the vendor at once (Lake Formation console, Data Catalog settings)".into());
    }
    if !g.hybrid_locations.is_empty() {
        return Err(format!(
            "locations are registered in hybrid access mode ({}), where IAM permissions still apply",
            g.hybrid_locations.join(", ")
        ));
    }
    let partly: Vec<&String> = chosen.partly.intersection(&g.iam_governed).collect();
    if !partly.is_empty() {
        return Err(format!(
            "IAM alone governs {}, of which only some tables are chosen",
            partly.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(g.iam_governed.iter().filter(|d| !chosen.whole.contains(*d) && !chosen.partly.contains(*d)).cloned().collect())
}

/// A statement as rendered, before it is placed in a policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    pub sid: String,
    pub deny: bool,
    pub actions: Vec<String>,
    pub condition: Option<Value>,
    /// Resources that go in the first policy.
    pub fixed: Vec<String>,
    /// Resources per database, which may go to any policy, a database's together.
    pub groups: Vec<(String, Vec<String>)>,
}

impl Stmt {
    fn json(&self, resources: &[String]) -> Value {
        let effect = if self.deny { "Deny" } else { "Allow" };
        let mut s = json!({"Sid": self.sid, "Effect": effect, "Action": self.actions, "Resource": resources});
        if let Some(c) = &self.condition {
            s["Condition"] = c.clone();
        }
        s
    }

    /// Characters of the statement without resources (`"Resource":[]`).
    fn skeleton(&self) -> usize {
        compact_len(&self.json(&[]))
    }
}

fn document(statements: Vec<Value>) -> Value {
    normalize(&json!({"Version": "2012-10-17", "Statement": statements}))
}

/// The name of part `k` of policy `name`.
pub fn part_name(name: &str, k: usize) -> String {
    if k == 1 { name.to_string() } else { format!("{name}-{k}") }
}

/// One policy being filled: per statement, its resources, with their count and the
/// characters they add (each ARN quoted), so that its size is known without rendering it.
#[derive(Clone)]
struct Part {
    resources: Vec<Vec<String>>,
    count: Vec<usize>,
    chars: Vec<usize>,
    groups: Vec<String>,
}

/// The sizes that do not depend on the resources: each statement without resources, and
/// the document without statements.
struct Skeleton {
    statements: Vec<usize>,
    envelope: usize,
}

impl Part {
    fn new(n: usize) -> Part {
        Part { resources: vec![Vec::new(); n], count: vec![0; n], chars: vec![0; n], groups: Vec::new() }
    }

    /// Characters of the document (an upper bound: IAM's dedup only makes it smaller).
    fn size(&self, sk: &Skeleton) -> usize {
        let mut total = sk.envelope;
        let mut present = 0;
        for i in 0..self.count.len() {
            if self.count[i] > 0 {
                present += 1;
                total += sk.statements[i] + self.chars[i] + self.count[i] - 1;
            }
        }
        total + present.max(1) - 1
    }

    fn add(&mut self, group: &[(usize, Vec<String>)]) {
        for (i, rs) in group {
            self.count[*i] += rs.len();
            self.chars[*i] += rs.iter().map(|r| r.len() + 2).sum::<usize>();
            self.resources[*i].extend(rs.iter().cloned());
        }
    }

    /// Whether `group` fits, without changing the part.
    fn fits(&self, group: &[(usize, Vec<String>)], sk: &Skeleton) -> bool {
        let mut trial =
            Part { resources: Vec::new(), count: self.count.clone(), chars: self.chars.clone(), groups: Vec::new() };
        for (i, rs) in group {
            trial.count[*i] += rs.len();
            trial.chars[*i] += rs.iter().map(|r| r.len() + 2).sum::<usize>();
        }
        trial.size(sk) <= MANAGED_POLICY_LIMIT
    }

    fn document(&self, stmts: &[Stmt]) -> Value {
        document(stmts.iter().zip(&self.resources).filter(|(_, rs)| !rs.is_empty()).map(|(s, rs)| s.json(rs)).collect())
    }
}

/// Where each database's resources were, from the documents last applied: database →
/// part number. A resource names its database as `:database/<db>` or `:table/<db>/...`.
pub fn previous_parts(name: &str, previous: &BTreeMap<String, Value>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for (policy, doc) in previous {
        let k = if policy == name {
            1
        } else if let Some(n) = policy.strip_prefix(&format!("{name}-")).and_then(|n| n.parse::<usize>().ok()) {
            n
        } else {
            continue;
        };
        for s in doc["Statement"].as_array().into_iter().flatten() {
            for r in s["Resource"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                let db = r
                    .split_once(":database/")
                    .map(|(_, d)| d)
                    .or_else(|| r.split_once(":table/").and_then(|(_, t)| t.split('/').next()));
                if let Some(db) = db.filter(|d| *d != "*") {
                    out.entry(db.to_string()).or_insert(k);
                }
            }
        }
    }
    out
}

/// Cuts a policy's statements into as few documents as IAM's size allows: numbered
/// parts, each database's resources kept together and where they were before. Returns
/// (part number, document), or the size of the fixed part when even that does not fit.
pub fn place(stmts: &[Stmt], before: &BTreeMap<String, usize>) -> Result<Vec<(usize, Value)>, usize> {
    let n = stmts.len();
    let sk = Skeleton {
        statements: stmts.iter().map(Stmt::skeleton).collect(),
        envelope: compact_len(&document(Vec::new())),
    };
    let mut base = Part::new(n);
    let fixed: Vec<(usize, Vec<String>)> = stmts.iter().enumerate().map(|(i, s)| (i, s.fixed.clone())).collect();
    base.add(&fixed);
    if base.size(&sk) > MANAGED_POLICY_LIMIT {
        return Err(compact_len(&base.document(stmts)));
    }
    // Each database's resources across statements, in database order.
    let mut groups: BTreeMap<String, Vec<(usize, Vec<String>)>> = BTreeMap::new();
    for (i, s) in stmts.iter().enumerate() {
        for (db, rs) in &s.groups {
            groups.entry(db.clone()).or_default().push((i, rs.clone()));
        }
    }
    let mut parts: BTreeMap<usize, Part> = BTreeMap::new();
    parts.insert(1, base);
    // Databases where they were, while they fit there; the rest, first fit.
    let mut queue = Vec::new();
    for (db, group) in &groups {
        match before.get(db) {
            Some(k) => {
                let part = parts.entry(*k).or_insert_with(|| Part::new(n));
                if part.fits(group, &sk) {
                    part.add(group);
                    part.groups.push(db.clone());
                } else {
                    queue.push(db);
                }
            }
            None => queue.push(db),
        }
    }
    for db in queue {
        let group = &groups[db];
        let k = match parts.iter().find(|(_, p)| p.fits(group, &sk)).map(|(k, _)| *k) {
            Some(k) => k,
            None => {
                let fresh = Part::new(n);
                if !fresh.fits(group, &sk) {
                    let mut alone = fresh;
                    alone.add(group);
                    return Err(alone.size(&sk));
                }
                let k = (2..).find(|k| !parts.contains_key(k)).expect("a free number");
                parts.insert(k, fresh);
                k
            }
        };
        let part = parts.get_mut(&k).expect("chosen above");
        part.add(group);
        part.groups.push(db.clone());
    }
    let placed: Vec<(usize, Value)> = parts
        .into_iter()
        .filter(|(k, p)| *k == 1 || !p.groups.is_empty())
        .map(|(k, p)| (k, p.document(stmts)))
        .collect();
    // The estimate is an upper bound; the documents themselves are the proof.
    if let Some(size) = placed.iter().map(|(_, d)| compact_len(d)).find(|s| *s > MANAGED_POLICY_LIMIT) {
        return Err(size);
    }
    Ok(placed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog_stmt(dbs: &[String]) -> Stmt {
        let arn = |r: &str| format!("arn:aws:glue:us-east-1:123456789012:{r}");
        Stmt {
            sid: "GlueCatalogRead".into(),
            deny: false,
            actions: vec!["glue:GetDatabase".into(), "glue:GetTable".into(), "glue:GetTables".into()],
            condition: None,
            fixed: vec![arn("catalog")],
            groups: dbs
                .iter()
                .map(|d| (d.clone(), vec![arn(&format!("database/{d}")), arn(&format!("table/{d}/*"))]))
                .collect(),
        }
    }

    fn dbs(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("sales_eu_orders_{i:04}")).collect()
    }

    fn placed(dbs: &[String], before: &BTreeMap<String, usize>) -> Vec<(usize, Value)> {
        let other = Stmt {
            sid: "AthenaList".into(),
            deny: false,
            actions: vec!["athena:ListWorkGroups".into()],
            condition: None,
            fixed: vec!["*".into()],
            groups: vec![],
        };
        place(&[catalog_stmt(dbs), other], before).unwrap()
    }

    fn as_previous(parts: &[(usize, Value)]) -> BTreeMap<String, usize> {
        let docs: BTreeMap<String, Value> = parts.iter().map(|(k, d)| (part_name("p", *k), d.clone())).collect();
        previous_parts("p", &docs)
    }

    #[test]
    fn every_part_is_within_the_limit_and_holds_each_database_once() {
        let all = dbs(300);
        let parts = placed(&all, &BTreeMap::new());
        assert!(parts.len() >= 5, "{}", parts.len());
        for (k, doc) in &parts {
            assert!(compact_len(doc) <= MANAGED_POLICY_LIMIT, "part {k}: {}", compact_len(doc));
        }
        let seen = as_previous(&parts);
        assert_eq!(seen.len(), 300);
        // Only the first part holds the fixed statements.
        let athena = |d: &Value| d.to_string().contains("AthenaList");
        assert_eq!(parts.iter().filter(|(_, d)| athena(d)).count(), 1);
        assert!(athena(&parts[0].1));
    }

    #[test]
    fn the_size_estimate_matches_the_documents() {
        // Filled parts come within one database of the limit, never over it.
        for (_, doc) in &placed(&dbs(200), &BTreeMap::new())[..2] {
            let size = compact_len(doc);
            assert!(size <= MANAGED_POLICY_LIMIT && size > MANAGED_POLICY_LIMIT - 150, "{size}");
        }
    }

    #[test]
    fn adding_a_database_changes_one_part_and_removing_one_changes_one_part() {
        let all = dbs(200);
        let parts = placed(&all, &BTreeMap::new());
        let mut grown = all.clone();
        grown.insert(17, "zz_new_database".into());
        let after = placed(&grown, &as_previous(&parts));
        let changed = |a: &[(usize, Value)], b: &[(usize, Value)]| {
            let a: BTreeMap<_, _> = a.iter().cloned().collect();
            let b: BTreeMap<_, _> = b.iter().cloned().collect();
            a.keys().chain(b.keys()).collect::<BTreeSet<_>>().into_iter().filter(|k| a.get(k) != b.get(k)).count()
        };
        assert_eq!(changed(&parts, &after), 1);
        let mut shrunk = all.clone();
        shrunk.remove(100);
        assert_eq!(changed(&parts, &placed(&shrunk, &as_previous(&parts))), 1);
    }

    #[test]
    fn an_emptied_part_is_dropped_and_its_number_not_reused_by_others() {
        let all = dbs(120);
        let parts = placed(&all, &BTreeMap::new());
        assert_eq!(parts.iter().map(|(k, _)| *k).collect::<Vec<_>>(), [1, 2, 3]);
        let before = as_previous(&parts);
        let in_two: BTreeSet<&String> = before.iter().filter(|(_, k)| **k == 2).map(|(d, _)| d).collect();
        let kept: Vec<String> = all.iter().filter(|d| !in_two.contains(d)).cloned().collect();
        let after = placed(&kept, &before);
        assert_eq!(after.iter().map(|(k, _)| *k).collect::<Vec<_>>(), [1, 3]);
    }

    #[test]
    fn every_database_an_allow_names_counts_as_chosen() {
        let arn = |r: &str| format!("arn:aws:glue:us-east-1:123456789012:{r}");
        let explicit = Stmt {
            sid: "Output".into(),
            deny: false,
            actions: vec!["glue:CreateTable".into()],
            condition: None,
            fixed: vec![arn("catalog"), arn("database/out"), arn("table/out/*"), arn("database/default")],
            groups: vec![],
        };
        let listed = Stmt {
            fixed: vec![],
            groups: vec![("sales".into(), vec![arn("database/sales"), arn("table/sales/orders")])],
            ..explicit.clone()
        };
        let c = chosen(&[&explicit, &listed]);
        assert_eq!(c.whole, ["out".to_string()].into());
        assert_eq!(c.partly, ["default".to_string(), "sales".to_string()].into());
        // So an IAM-governed `default` makes lake-formation scope unsafe, never denied.
        let g = Governance { iam_governed: ["default".to_string()].into(), ..Governance::default() };
        assert!(lake_formation_safety(Some(&g), &c).unwrap_err().contains("IAM alone governs default"));
    }

    #[test]
    fn lake_formation_scope_is_refused_where_iam_governs_what_it_would_reach() {
        let g = Governance {
            databases: ["sales", "hr", "web"].map(String::from).into(),
            iam_governed: ["hr".to_string()].into(),
            ..Governance::default()
        };
        let chosen = Chosen { whole: ["sales".to_string()].into(), partly: BTreeSet::new() };
        assert_eq!(lake_formation_safety(Some(&g), &chosen), Ok(vec!["hr".to_string()]));
        let open = Governance { defaults_open: true, ..g.clone() };
        assert!(lake_formation_safety(Some(&open), &chosen).unwrap_err().contains("created later"));
        let partly = Chosen { whole: BTreeSet::new(), partly: ["hr".to_string()].into() };
        assert!(lake_formation_safety(Some(&g), &partly).unwrap_err().contains("only some tables"));
        let hybrid = Governance { hybrid_locations: vec!["arn:aws:s3:::lake".into()], ..g };
        assert!(lake_formation_safety(Some(&hybrid), &chosen).unwrap_err().contains("hybrid"));
        assert!(lake_formation_safety(None, &chosen).is_err());
    }
}
