//! The Glue databases a deployment creates: created where missing, used as they are where
//! someone else made them, deleted only while empty or with `force`.

use super::super::*;
use super::{DEP, facts, plan_forced as plan_with, simulate};
use crate::model::DatabaseObs;

fn database(location: &str) -> Resource {
    Resource::Database {
        name: "dbt_new".into(),
        description: "dbt models (managed by lakepass)".into(),
        location: Some(location.into()),
    }
}

fn seen(owner: Option<&str>, location: &str, tables: Option<&[&str]>) -> Observed {
    let obs = DatabaseObs {
        arn: facts().database_arn("dbt_new"),
        owner: owner.map(str::to_string),
        location: Some(location.into()),
        tables: tables.map(|t| t.iter().map(|s| s.to_string()).collect()),
    };
    Observed { databases: [("dbt_new".to_string(), obs)].into(), ..Observed::default() }
}

fn owning(r: &Resource) -> State {
    let mut state = State::new(DEP, "dbt-glue");
    let owned = Owned { resource: r.clone(), arn: None, access_key_id: None, adopted: false, version: None };
    state.resources.insert(r.address(), owned);
    state
}

const AT: &str = "s3://bucket/out/dbt_new/";

#[test]
fn a_missing_database_is_created_with_its_location_then_left_alone() {
    let d = [database(AT)];
    let (mut o, mut s) = (Observed::default(), State::new(DEP, "dbt-glue"));
    let p = plan_with(&d, &o, &s, false, false).unwrap();
    assert_eq!(p.actions.len(), 1);
    assert_eq!(p.actions[0].change, Change::Create);
    assert_eq!(
        p.actions[0].steps,
        [Step::CreateDatabase {
            name: "dbt_new".into(),
            description: "dbt models (managed by lakepass)".into(),
            location: Some(AT.into())
        }]
    );
    simulate(&mut o, &mut s, &p);
    let again = plan_with(&d, &o, &s, false, false).unwrap();
    assert!(!again.has_changes() && again.notes.is_empty(), "{again:?}");
    // Once the deployment no longer wants it, the empty database goes.
    let gone = plan_with(&[], &o, &s, false, false).unwrap();
    assert_eq!(gone.actions[0].steps, [Step::DeleteDatabase { name: "dbt_new".into(), tables: vec![] }]);
    simulate(&mut o, &mut s, &gone);
    assert!(o.databases.is_empty() && s.resources.is_empty());
}

#[test]
fn an_owned_database_is_unchanged_or_moved() {
    let d = [database(AT)];
    let state = owning(&d[0]);
    let p = plan_with(&d, &seen(Some(DEP), AT, None), &state, false, false).unwrap();
    assert!(!p.has_changes());
    let p = plan_with(&d, &seen(Some(DEP), "s3://bucket/old/", None), &state, false, false).unwrap();
    assert_eq!(p.actions[0].change, Change::Update);
    assert_eq!(p.actions[0].reason, format!("its location is s3://bucket/old/, not {AT}"));
    assert_eq!(p.actions[0].steps, [Step::SetDatabaseLocation { name: "dbt_new".into(), location: Some(AT.into()) }]);
}

#[test]
fn someone_else_s_database_is_used_as_it_is_unless_adopted() {
    let d = [database(AT)];
    // Unrecorded, whoever's tag it carries: no change, no record, a note.
    for owner in [None, Some("other"), Some(DEP)] {
        let p =
            plan_with(&d, &seen(owner, "s3://elsewhere/", None), &State::new(DEP, "dbt-glue"), false, false).unwrap();
        assert!(!p.has_changes(), "{owner:?}");
        assert!(p.record.is_empty(), "{owner:?}");
        assert!(p.notes[0].starts_with("glue database dbt_new exists and lakepass did not create it"), "{:?}", p.notes);
    }
    // Recorded, but the tag now names another deployment: not ours either.
    let p = plan_with(&d, &seen(Some("other"), AT, None), &owning(&d[0]), false, false).unwrap();
    assert!(!p.has_changes());
    // Adopted: tagged (and its location set) in one action.
    let p = plan_with(&d, &seen(None, "s3://elsewhere/", None), &State::new(DEP, "dbt-glue"), true, false).unwrap();
    assert_eq!(p.actions.len(), 1);
    assert_eq!(p.actions[0].change, Change::Adopt);
    assert!(matches!(&p.actions[0].steps[..], [Step::Tag { .. }, Step::SetDatabaseLocation { .. }]));
}

#[test]
fn an_owned_database_is_deleted_only_while_empty_or_with_force() {
    let r = database(AT);
    let state = owning(&r);
    let p = plan_with(&[], &seen(Some(DEP), AT, Some(&[])), &state, false, false).unwrap();
    assert_eq!(p.actions[0].change, Change::Delete);
    assert_eq!(p.actions[0].steps, [Step::DeleteDatabase { name: "dbt_new".into(), tables: vec![] }]);

    let full = seen(Some(DEP), AT, Some(&["a", "b", "c", "d", "e", "f", "g"]));
    let e = plan_with(&[], &full, &state, false, false).unwrap_err().to_string();
    assert!(e.contains("glue database dbt_new holds 7 tables (a, b, c, d, e and 2 more)"), "{e}");
    let p = plan_with(&[], &full, &state, false, true).unwrap();
    assert!(p.actions[0].reason.contains("--force: its 7 tables go with it"), "{}", p.actions[0].reason);

    // Gone already, or no longer ours: forgotten, never deleted.
    let p = plan_with(&[], &Observed::default(), &state, false, false).unwrap();
    assert_eq!((p.actions.len(), p.forget.len()), (0, 1));
    let p = plan_with(&[], &seen(Some("other"), AT, Some(&[])), &state, false, false).unwrap();
    assert_eq!((p.actions.len(), p.forget.len()), (0, 1));
}
