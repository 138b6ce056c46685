//! Planner tests over plain data. `simulate` plays a plan's steps onto an `Observed` the
//! way AWS would, so each scenario can check the property that matters most: after
//! applying a plan, planning again finds nothing to do.

use super::*;
use crate::model::LfTarget;
use crate::model::{PolicyObs, PrincipalObs};
use crate::observe::OWNER_TAG;
use crate::render::render;
use crate::stack::{Stack, validate_values};
use serde_json::json;

mod database;

pub(super) const DEP: &str = "secoda";

pub(super) fn facts() -> Facts {
    Facts { account: "123456789012".into(), partition: "aws".into(), region: "us-east-1".into() }
}

fn desired(extra: Value) -> Vec<Resource> {
    let stack = Stack::shipped("secoda-glue").unwrap();
    let mut raw = json!({
        "external_id": "sec-7f3a9c21e4b8",
        "glue_buckets": ["acme-lake"],
        "athena_output_bucket": "acme-athena-results",
        "databases": ["sales", "marketing"],
    });
    for (k, v) in extra.as_object().unwrap() {
        raw[k] = v.clone();
    }
    let values = validate_values(&stack, raw.as_object().unwrap(), "values").unwrap();
    render(&stack, &values, &facts(), DEP).unwrap()
}

fn plan_of(desired: &[Resource], observed: &Observed, state: &State, adopt: bool) -> Result<Plan, Error> {
    plan_forced(desired, observed, state, adopt, false)
}

/// [`plan_of`], deleting owned Glue databases that hold tables when `force` says so.
pub(super) fn plan_forced(
    desired: &[Resource],
    observed: &Observed,
    state: &State,
    adopt: bool,
    force: bool,
) -> Result<Plan, Error> {
    plan(&Input {
        deployment: DEP,
        facts: &facts(),
        desired,
        observed,
        state,
        adopt,
        policy_quota: DEFAULT_POLICY_QUOTA,
        detach_foreign: false,
        force,
    })
}

/// Plays a plan onto AWS (as observed) and the state, as apply would.
pub(super) fn simulate(observed: &mut Observed, state: &mut State, plan: &Plan) {
    let f = facts();
    for (address, owned) in &plan.record {
        state.resources.insert(address.clone(), owned.clone());
    }
    for address in &plan.forget {
        state.resources.remove(address);
    }
    state.pending = plan
        .actions
        .iter()
        .filter(|a| {
            matches!(
                a.steps.first(),
                Some(
                    Step::CreatePolicy { .. }
                        | Step::CreateRole { .. }
                        | Step::CreateUser { .. }
                        | Step::CreateDatabase { .. }
                )
            )
        })
        .map(|a| a.address.clone())
        .collect();
    let mut key_serial = 0;
    for a in &plan.actions {
        let mut key = None;
        let mut version = None;
        for s in &a.steps {
            match s {
                Step::CreatePolicy { name, document, .. } => {
                    let obs = PolicyObs {
                        arn: f.policy_arn(name),
                        document: document.clone(),
                        default_version: "v1".into(),
                        versions: vec![("v1".into(), true)],
                        owner: Some(DEP.into()),
                    };
                    observed.policies.insert(name.clone(), obs);
                    version = Some("v1".to_string());
                }
                Step::NewPolicyVersion { arn, document, prune } => {
                    let p = observed.policies.values_mut().find(|p| &p.arn == arn).unwrap();
                    if let Some(id) = prune {
                        p.versions.retain(|(v, _)| v != id);
                    }
                    assert!(p.versions.len() < 5, "IAM refuses a sixth version");
                    for v in &mut p.versions {
                        v.1 = false;
                    }
                    let id = format!("v{}", p.versions.len() + 10);
                    p.versions.push((id.clone(), true));
                    p.default_version = id.clone();
                    p.document = document.clone();
                    version = Some(id);
                }
                Step::DeletePolicy { arn, .. } => {
                    let attached =
                        observed.roles.values().chain(observed.users.values()).any(|p| p.attached.contains(arn));
                    assert!(!attached, "IAM refuses to delete an attached policy");
                    observed.policies.retain(|_, p| &p.arn != arn);
                }
                Step::CreateRole { name, trust, .. } => {
                    let obs = PrincipalObs {
                        arn: Principal::Role(name.clone()).arn(&f),
                        trust: Some(trust.clone()),
                        owner: Some(DEP.into()),
                        ..Default::default()
                    };
                    observed.roles.insert(name.clone(), obs);
                }
                Step::UpdateTrust { name, trust } => observed.roles.get_mut(name).unwrap().trust = Some(trust.clone()),
                Step::DeleteRole { name } => {
                    assert!(observed.roles[name].attached.is_empty(), "IAM refuses to delete a role with attachments");
                    assert!(
                        observed.roles[name].inline.is_empty(),
                        "IAM refuses to delete a role with inline policies"
                    );
                    observed.roles.remove(name);
                }
                Step::CreateUser { name } => {
                    let obs = PrincipalObs {
                        arn: Principal::User(name.clone()).arn(&f),
                        owner: Some(DEP.into()),
                        ..Default::default()
                    };
                    observed.users.insert(name.clone(), obs);
                }
                Step::DeleteUser { name, keys } => {
                    let u = &observed.users[name];
                    assert!(u.attached.is_empty(), "IAM refuses to delete a user with attachments");
                    assert_eq!(&u.keys, keys, "IAM refuses to delete a user with access keys");
                    observed.users.remove(name);
                }
                Step::Attach { policy_arn, principal } => {
                    assert!(observed.policies.values().any(|p| &p.arn == policy_arn), "attach before create");
                    principal_mut(observed, principal).attached.insert(policy_arn.clone());
                }
                Step::Detach { policy_arn, principal } => {
                    principal_mut(observed, principal).attached.remove(policy_arn);
                }
                Step::CreateAccessKey { user, delete_first, .. } => {
                    let u = observed.users.get_mut(user).unwrap();
                    u.keys.retain(|k| !delete_first.contains(k));
                    assert!(u.keys.len() < 2, "IAM allows two keys");
                    key_serial += 1;
                    let id = format!("AKIANEW{key_serial}");
                    u.keys.push(id.clone());
                    u.key_tag = Some(KeyTag::live(&id));
                    key = Some(id);
                }
                Step::MarkLiveKey { user, id } => {
                    observed.users.get_mut(user).unwrap().key_tag = Some(KeyTag::live(id));
                }
                Step::DeleteAccessKey { user, id } => observed.users.get_mut(user).unwrap().keys.retain(|k| k != id),
                Step::DeleteInlinePolicy { principal, name } => {
                    principal_mut(observed, principal).inline.retain(|n| n != name)
                }
                Step::Grant { principal, target, permissions, .. } => {
                    assert!(observed.principal(principal).is_some(), "grant to a principal that does not exist");
                    observed
                        .grants
                        .entry((principal.clone(), target.clone()))
                        .or_default()
                        .extend(permissions.iter().cloned());
                }
                Step::Revoke { principal, target, permissions, .. } => {
                    let held = observed.grants.entry((principal.clone(), target.clone())).or_default();
                    held.retain(|p| !permissions.contains(p));
                    if held.is_empty() {
                        observed.grants.remove(&(principal.clone(), target.clone()));
                    }
                }
                Step::CreateDatabase { name, location, .. } => {
                    let obs = crate::model::DatabaseObs {
                        arn: f.database_arn(name),
                        owner: Some(DEP.into()),
                        location: location.clone(),
                        tables: Some(vec![]),
                    };
                    observed.databases.insert(name.clone(), obs);
                }
                Step::SetDatabaseLocation { name, location } => {
                    observed.databases.get_mut(name).unwrap().location = location.clone();
                }
                Step::DeleteDatabase { name, .. } => {
                    observed.databases.remove(name);
                }
                Step::Tag { resource, .. } if resource.starts_with("glue-database/") => {
                    let name = resource.split_once('/').unwrap().1;
                    observed.databases.get_mut(name).unwrap().owner = Some(DEP.into());
                }
                Step::Tag { resource, .. } => {
                    let name = resource.split_once('/').unwrap().1.to_string();
                    if let Some(p) = observed.policies.get_mut(&name) {
                        p.owner = Some(DEP.into());
                    } else if let Some(r) = observed.roles.get_mut(&name) {
                        r.owner = Some(DEP.into());
                    } else {
                        observed.users.get_mut(&name).unwrap().owner = Some(DEP.into());
                    }
                }
            }
        }
        a.record_into(state, &f, Made { access_key_id: key, version });
    }
}

fn principal_mut<'a>(o: &'a mut Observed, p: &Principal) -> &'a mut PrincipalObs {
    match p {
        Principal::Role(n) => o.roles.get_mut(n).unwrap(),
        Principal::User(n) => o.users.get_mut(n).unwrap(),
    }
}

/// Applies `desired` from the given start and returns the converged world.
fn converge(desired: &[Resource], observed: &mut Observed, state: &mut State) -> Plan {
    let first = plan_of(desired, observed, state, false).unwrap();
    simulate(observed, state, &first);
    let again = plan_of(desired, observed, state, false).unwrap();
    assert!(!again.has_changes(), "second plan not empty: {:#?}", again.actions);
    assert!(again.record.is_empty() && again.forget.is_empty(), "{again:#?}");
    first
}

fn symbols(plan: &Plan) -> Vec<String> {
    plan.actions.iter().map(|a| format!("{} {}", a.change.symbol(), a.address)).collect()
}

#[test]
fn from_nothing_everything_is_created_in_dependency_order() {
    let d = desired(json!({}));
    let (mut o, mut s) = (Observed::default(), State::new(DEP, "secoda-glue"));
    let plan = converge(&d, &mut o, &mut s);
    assert_eq!(
        symbols(&plan),
        [
            "+ policy/secoda-glue-policy",
            "+ role/secoda-glue-role",
            "+ attachment/role/secoda-glue-role/secoda-glue-policy",
            "+ grant/role/secoda-glue-role/database/sales",
            "+ grant/role/secoda-glue-role/table/sales/*",
            "+ grant/role/secoda-glue-role/database/marketing",
            "+ grant/role/secoda-glue-role/table/marketing/*",
        ]
    );
    assert_eq!(s.resources.len(), 7);
}

#[test]
fn user_access_converges_with_one_recorded_key() {
    let d = desired(json!({"access": "user"}));
    let (mut o, mut s) = (Observed::default(), State::new(DEP, "secoda-glue"));
    converge(&d, &mut o, &mut s);
    let key = s.resources["access-key/secoda-glue-user"].access_key_id.clone();
    assert_eq!(o.users["secoda-glue-user"].keys, vec![key.unwrap()]);
}

#[test]
fn adding_a_database_only_adds_its_grants_and_a_policy_version() {
    let (mut o, mut s) = (Observed::default(), State::new(DEP, "secoda-glue"));
    converge(&desired(json!({})), &mut o, &mut s);
    let plan = converge(&desired(json!({"databases": ["sales", "marketing", "finance"]})), &mut o, &mut s);
    assert_eq!(
        symbols(&plan),
        [
            "~ policy/secoda-glue-policy",
            "+ grant/role/secoda-glue-role/database/finance",
            "+ grant/role/secoda-glue-role/table/finance/*",
        ]
    );
    assert_eq!(plan.actions[0].reason, "the deployment's values changed");
    assert!(plan.actions[0].diff.iter().any(|l| l.starts_with("+ ") && l.contains("database/finance")));
}

#[test]
fn removing_a_database_revokes_only_its_grants() {
    let (mut o, mut s) = (Observed::default(), State::new(DEP, "secoda-glue"));
    converge(&desired(json!({})), &mut o, &mut s);
    let plan = converge(&desired(json!({"databases": ["sales"]})), &mut o, &mut s);
    assert_eq!(
        symbols(&plan),
        [
            "~ policy/secoda-glue-policy",
            "- grant/role/secoda-glue-role/table/marketing/*",
            "- grant/role/secoda-glue-role/database/marketing",
        ]
    );
    assert!(o.grants.keys().all(|(_, t)| t.database() == "sales"));
}

#[test]
fn changing_a_bucket_is_a_new_policy_version_pruned_before_the_limit() {
    let (mut o, mut s) = (Observed::default(), State::new(DEP, "secoda-glue"));
    converge(&desired(json!({})), &mut o, &mut s);
    for i in 0..7 {
        let plan = converge(&desired(json!({"glue_buckets": [format!("bucket-{i}")]})), &mut o, &mut s);
        assert_eq!(symbols(&plan), ["~ policy/secoda-glue-policy"]);
        let Step::NewPolicyVersion { prune, .. } = &plan.actions[0].steps[0] else { panic!() };
        assert_eq!(prune.is_some(), i >= 4, "prune only at five versions (round {i})");
    }
    assert_eq!(o.policies["secoda-glue-policy"].versions.len(), 5);
}

#[test]
fn drift_is_detected_and_restored() {
    let d = desired(json!({}));
    let (mut o, mut s) = (Observed::default(), State::new(DEP, "secoda-glue"));
    converge(&d, &mut o, &mut s);
    // Someone detaches the policy and edits it.
    o.roles.get_mut("secoda-glue-role").unwrap().attached.clear();
    o.policies.get_mut("secoda-glue-policy").unwrap().document = json!({"Version": "2012-10-17", "Statement": []});
    let plan = converge(&d, &mut o, &mut s);
    assert_eq!(
        symbols(&plan),
        ["~ policy/secoda-glue-policy", "+ attachment/role/secoda-glue-role/secoda-glue-policy"]
    );
    assert_eq!(plan.actions[0].reason, "the document was changed outside lakepass");
    assert!(plan.actions[1].reason.contains("detached outside lakepass"));
}

#[test]
fn a_deleted_role_is_recreated_with_its_attachment_and_grants() {
    let d = desired(json!({}));
    let (mut o, mut s) = (Observed::default(), State::new(DEP, "secoda-glue"));
    converge(&d, &mut o, &mut s);
    o.roles.clear();
    o.grants.clear();
    let plan = converge(&d, &mut o, &mut s);
    assert_eq!(plan.actions[0].address, "role/secoda-glue-role");
    assert!(plan.actions[0].reason.contains("deleted outside lakepass"));
    assert_eq!(plan.count(Change::Create), 6);
}

/// Another deployment's role (a second Secoda deployment with the default names, say) is
/// never adopted: its vendor would lose its access as both deployments rewrote it.
#[test]
fn another_deployment_s_role_is_refused_even_with_adopt() {
    let d = desired(json!({}));
    let mut o = Observed::default();
    let theirs = PrincipalObs {
        arn: "arn:aws:iam::123456789012:role/secoda-glue-role".into(),
        owner: Some("secoda-prod".into()),
        ..Default::default()
    };
    o.roles.insert("secoda-glue-role".into(), theirs);
    let s = State::new(DEP, "secoda-glue");
    for adopt in [false, true] {
        let err = plan_of(&d, &o, &s, adopt).unwrap_err();
        assert!(err.to_string().contains("belongs to lakepass deployment secoda-prod"), "{err}");
        let hint = err.hint().unwrap();
        assert!(hint.starts_with("choose other names in this deployment's values"), "{hint}");
        assert!(hint.contains("--adopt never takes over what lakepass deployment secoda-prod uses"), "{hint}");
    }
}

#[test]
fn someone_elses_role_stops_the_plan_and_adopt_takes_it_over() {
    let d = desired(json!({}));
    let mut o = Observed::default();
    o.roles.insert(
        "secoda-glue-role".into(),
        PrincipalObs { arn: "arn:aws:iam::123456789012:role/secoda-glue-role".into(), ..Default::default() },
    );
    let s = State::new(DEP, "secoda-glue");
    let err = plan_of(&d, &o, &s, false).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("iam role secoda-glue-role") && text.contains("lakepass did not create it"), "{text}");
    assert!(err.hint().unwrap().contains("--adopt"));

    let plan = plan_of(&d, &o, &s, true).unwrap();
    let adopt: Vec<&Action> = plan.actions.iter().filter(|a| a.change == Change::Adopt).collect();
    assert_eq!(adopt.len(), 1);
    assert_eq!(adopt[0].address, "role/secoda-glue-role");
    let (mut o, mut s) = (o, s);
    simulate(&mut o, &mut s, &plan);
    assert!(s.resources["role/secoda-glue-role"].adopted);
    assert!(!plan_of(&d, &o, &s, false).unwrap().has_changes());
}

#[test]
fn another_deployments_policy_is_not_ours() {
    let d = desired(json!({}));
    let mut o = Observed::default();
    o.policies.insert(
        "secoda-glue-policy".into(),
        PolicyObs {
            arn: facts().policy_arn("secoda-glue-policy"),
            document: json!({}),
            default_version: "v1".into(),
            versions: vec![("v1".into(), true)],
            owner: Some("other".into()),
        },
    );
    let text = plan_of(&d, &o, &State::new(DEP, "secoda-glue"), false).unwrap_err().to_string();
    assert!(text.contains("lakepass deployment other"), "{text}");
    assert_eq!(OWNER_TAG, "lakepass:deployment");
}

#[test]
fn teardown_deletes_in_reverse_dependency_order() {
    let d = desired(json!({"access": "user"}));
    let (mut o, mut s) = (Observed::default(), State::new(DEP, "secoda-glue"));
    converge(&d, &mut o, &mut s);
    let plan = converge(&[], &mut o, &mut s);
    let kinds: Vec<&str> = plan.actions.iter().map(|a| a.address.split('/').next().unwrap()).collect();
    assert_eq!(kinds, ["grant", "grant", "grant", "grant", "attachment", "access-key", "user", "policy"]);
    assert!(plan.actions.iter().all(|a| a.change == Change::Delete));
    assert!(s.resources.is_empty());
    assert!(o.users.is_empty() && o.policies.is_empty() && o.grants.is_empty());
}

#[test]
fn teardown_leaves_a_resource_that_lost_its_ownership_tag() {
    let d = desired(json!({}));
    let (mut o, mut s) = (Observed::default(), State::new(DEP, "secoda-glue"));
    converge(&d, &mut o, &mut s);
    o.roles.get_mut("secoda-glue-role").unwrap().owner = None;
    let plan = plan_of(&[], &o, &s, false).unwrap();
    assert!(!plan.actions.iter().any(|a| a.address == "role/secoda-glue-role"));
    assert!(plan.forget.contains(&"role/secoda-glue-role".to_string()));
    assert!(plan.notes.iter().any(|n| n.contains("ownership tag")));
}

#[test]
fn an_interrupted_run_converges_without_duplicates() {
    let d = desired(json!({"access": "user"}));
    let (mut o, mut s) = (Observed::default(), State::new(DEP, "secoda-glue"));
    let full = plan_of(&d, &o, &s, false).unwrap();
    // Every prefix of the plan, applied to AWS with the last state write lost.
    for cut in 1..=full.actions.len() {
        let (mut o2, mut s2) = (o.clone(), s.clone());
        let partial = Plan { actions: full.actions[..cut].to_vec(), ..Plan::default() };
        simulate(&mut o2, &mut s2, &partial);
        // The crash came after the AWS call, before the state recorded it: the address
        // is still pending, as apply wrote it before creating anything.
        let lost = full.actions[cut - 1].address.clone();
        s2.resources.remove(&lost);
        if full.actions[cut - 1].resource.is_taggable() {
            s2.pending.insert(lost);
        }
        converge(&d, &mut o2, &mut s2);
        assert_eq!(o2.users["secoda-glue-user"].keys.len(), 1, "cut {cut}");
        assert_eq!(o2.policies["secoda-glue-policy"].versions.len(), 1, "cut {cut}");
    }
    converge(&d, &mut o, &mut s);
}

#[test]
fn after_a_lost_state_tagged_resources_are_taken_only_with_adopt() {
    let d = desired(json!({}));
    let (mut o, mut s) = (Observed::default(), State::new(DEP, "secoda-glue"));
    converge(&d, &mut o, &mut s);
    let empty = State::new(DEP, "secoda-glue");
    // A tag alone is not ownership: provision stops, teardown leaves them and says so.
    let e = plan_of(&d, &o, &empty, false).unwrap_err();
    assert!(e.to_string().contains("carries this deployment's tag, but no state records it"), "{e}");
    let (found, unrecorded) = discover(&d, &o, &empty, DEP, false);
    assert!(found.resources.is_empty(), "{:?}", found.resources.keys());
    assert_eq!(unrecorded, ["iam policy secoda-glue-policy", "iam role secoda-glue-role"]);
    // --adopt takes them, and teardown then removes all.
    let (mut found, _) = discover(&d, &o, &empty, DEP, true);
    assert_eq!(found.resources.len(), 7);
    converge(&[], &mut o, &mut found);
    assert!(o.roles.is_empty() && o.policies.is_empty() && o.grants.is_empty());
}

#[test]
fn a_tagged_role_no_state_records_is_not_rewritten_to_trust_the_vendor_while_it_carries_other_policies() {
    let d = desired(json!({}));
    let mut o = Observed::default();
    let role = PrincipalObs {
        arn: "arn:aws:iam::123456789012:role/secoda-glue-role".into(),
        owner: Some(DEP.into()),
        trust: Some(json!({"Version": "2012-10-17", "Statement": []})),
        attached: ["arn:aws:iam::aws:policy/AmazonEC2FullAccess".to_string()].into_iter().collect(),
        ..Default::default()
    };
    o.roles.insert("secoda-glue-role".into(), role);
    let s = State::new(DEP, "secoda-glue");
    let e = plan_of(&d, &o, &s, false).unwrap_err();
    assert!(e.to_string().contains("no state records it"), "{e}");
    let e = plan_of(&d, &o, &s, true).unwrap_err();
    assert_eq!(
        e.to_string(),
        "iam role secoda-glue-role carries policies lakepass did not attach (arn:aws:iam::aws:policy/AmazonEC2FullAccess); lakepass will not rewrite its trust policy to let the vendor assume it"
    );
    assert!(e.hint().unwrap().contains("detach those policies"));
}

#[test]
fn a_policy_added_to_our_role_is_reported() {
    let d = desired(json!({}));
    let (mut o, mut s) = (Observed::default(), State::new(DEP, "secoda-glue"));
    converge(&d, &mut o, &mut s);
    o.roles.get_mut("secoda-glue-role").unwrap().inline.push("extra".into());
    let plan = plan_of(&d, &o, &s, false).unwrap();
    assert!(!plan.has_changes());
    assert!(plan.notes.iter().any(|n| n.contains("role secoda-glue-role carries policies lakepass did not attach (inline policy extra)")), "{:?}", plan.notes);
}

#[test]
fn other_principals_grants_are_left_alone() {
    let d = desired(json!({}));
    let (mut o, mut s) = (Observed::default(), State::new(DEP, "secoda-glue"));
    let analyst = Principal::Role("analyst".into());
    let target = LfTarget::Database { database: "sales".into() };
    o.grants.insert((analyst.clone(), target.clone()), ["DESCRIBE".to_string()].into_iter().collect());
    converge(&d, &mut o, &mut s);
    converge(&[], &mut o, &mut s);
    assert!(o.grants.contains_key(&(analyst, target)));
}

#[test]
fn missing_catalog_entries_stop_the_plan() {
    let d = desired(json!({}));
    let o = Observed { missing_in_catalog: vec!["database marketing".into()], ..Default::default() };
    let e = plan_of(&d, &o, &State::new(DEP, "secoda-glue"), false).unwrap_err();
    assert!(e.to_string().contains("database marketing"), "{e}");
}

#[test]
fn changing_the_external_id_warns_that_the_vendor_connection_breaks() {
    let (mut o, mut s) = (Observed::default(), State::new(DEP, "secoda-glue"));
    converge(&desired(json!({})), &mut o, &mut s);
    let plan = converge(&desired(json!({"external_id": "sec-new-id-000"})), &mut o, &mut s);
    assert_eq!(symbols(&plan), ["~ role/secoda-glue-role"]);
    assert!(plan.notes.iter().any(|n| n.contains("external id")), "{:?}", plan.notes);
}

#[test]
fn switching_from_role_to_user_replaces_the_principal() {
    let (mut o, mut s) = (Observed::default(), State::new(DEP, "secoda-glue"));
    converge(&desired(json!({})), &mut o, &mut s);
    let plan = converge(&desired(json!({"access": "user"})), &mut o, &mut s);
    assert!(plan.actions.iter().any(|a| a.change == Change::Delete && a.address == "role/secoda-glue-role"));
    assert!(plan.actions.iter().any(|a| a.change == Change::Create && a.address == "user/secoda-glue-user"));
    assert!(o.roles.is_empty());
}

#[test]
fn adopting_a_user_keeps_its_keys_and_a_lost_key_is_replaced_alone() {
    let d = desired(json!({"access": "user"}));
    let mut o = Observed::default();
    o.users.insert(
        "secoda-glue-user".into(),
        PrincipalObs {
            arn: "arn:aws:iam::123456789012:user/secoda-glue-user".into(),
            keys: vec!["AKIATHEIRS".into()],
            ..Default::default()
        },
    );
    let mut s = State::new(DEP, "secoda-glue");
    let plan = plan_of(&d, &o, &s, true).unwrap();
    let create = plan.actions.iter().find(|a| a.address == "access-key/secoda-glue-user").unwrap();
    assert_eq!(
        create.steps,
        [Step::CreateAccessKey {
            user: "secoda-glue-user".into(),
            delete_first: vec![],
            had: vec!["AKIATHEIRS".into()],
            retire: None
        }]
    );
    simulate(&mut o, &mut s, &plan);
    assert!(o.users["secoda-glue-user"].keys.contains(&"AKIATHEIRS".to_string()));

    // The recorded key is deleted outside lakepass: a new one, and the other key stays.
    let ours = s.resources["access-key/secoda-glue-user"].access_key_id.clone().unwrap();
    o.users.get_mut("secoda-glue-user").unwrap().keys.retain(|k| *k != ours);
    let plan = plan_of(&d, &o, &s, false).unwrap();
    let create = plan.actions.iter().find(|a| a.address == "access-key/secoda-glue-user").unwrap();
    assert_eq!(
        create.steps,
        [Step::CreateAccessKey {
            user: "secoda-glue-user".into(),
            delete_first: vec![],
            had: vec!["AKIATHEIRS".into()],
            retire: None
        }]
    );
    assert!(create.reason.contains("deleted outside lakepass"));
}

#[test]
fn a_lost_state_still_detaches_the_client_policy_from_a_principal_lakepass_does_not_own() {
    let stack = Stack::shipped("dbt-glue").unwrap();
    let raw = json!({
        "output_database": "dbt_demo", "location": "s3://dbt-bucket/p", "profile": {},
        "client_principal": "arn:aws:iam::123456789012:user/alice",
    });
    let values = validate_values(&stack, raw.as_object().unwrap(), "values").unwrap();
    let d = render(&stack, &values, &facts(), DEP).unwrap();
    let mut o = Observed::default();
    let alice = PrincipalObs { arn: "arn:aws:iam::123456789012:user/alice".into(), ..Default::default() };
    o.users.insert("alice".into(), alice);
    let mut s = State::new(DEP, "dbt-glue");
    converge(&d, &mut o, &mut s);
    assert!(!o.users["alice"].attached.is_empty());
    let (mut found, _) = discover(&d, &o, &State::new(DEP, "dbt-glue"), DEP, true);
    converge(&[], &mut o, &mut found);
    assert!(o.users.contains_key("alice"), "the principal stays");
    assert!(o.users["alice"].attached.is_empty() && o.policies.is_empty());
}

#[test]
fn a_state_naming_another_deployments_grants_and_attachments_takes_nothing_from_it() {
    // Deployment "other" built its role, policy and grants; a state file of ours claims them.
    let (mut o, mut theirs) = (Observed::default(), State::new(DEP, "secoda-glue"));
    converge(&desired(json!({})), &mut o, &mut theirs);
    for p in o.policies.values_mut() {
        p.owner = Some("other".into());
    }
    for r in o.roles.values_mut() {
        r.owner = Some("other".into());
    }
    let before = o.clone();
    let plan = plan_of(&[], &o, &theirs, false).unwrap();
    assert!(!plan.has_changes(), "{:#?}", plan.actions);
    assert_eq!(plan.forget.len(), theirs.resources.len());
    assert!(plan.notes.iter().any(|n| n.contains("the principal no longer carries")), "{:?}", plan.notes);
    simulate(&mut o, &mut theirs, &plan);
    assert_eq!(o, before);
}

#[test]
fn a_recorded_key_on_a_user_that_is_not_ours_is_not_deleted() {
    let d = desired(json!({"access": "user"}));
    let (mut o, mut s) = (Observed::default(), State::new(DEP, "secoda-glue"));
    converge(&d, &mut o, &mut s);
    o.users.get_mut("secoda-glue-user").unwrap().owner = Some("other".into());
    let plan = plan_of(&[], &o, &s, false).unwrap();
    assert!(!plan.actions.iter().any(|a| a.address.starts_with("access-key/")), "{:#?}", plan.actions);
}

/// The user as an interrupted or finished run left it: `keys`, and its key tag; the
/// state records the user.
fn user_with_keys(keys: &[&str], tag: Option<&str>) -> (Observed, State) {
    let mut o = Observed::default();
    let user = PrincipalObs {
        arn: "arn:aws:iam::123456789012:user/secoda-glue-user".into(),
        owner: Some(DEP.into()),
        keys: keys.iter().map(|k| k.to_string()).collect(),
        key_tag: tag.map(str::to_string),
        ..Default::default()
    };
    o.users.insert("secoda-glue-user".into(), user);
    let mut s = State::new(DEP, "secoda-glue");
    let r = Resource::User { name: "secoda-glue-user".into() };
    s.resources
        .insert(r.address(), Owned { resource: r, arn: None, access_key_id: None, adopted: false, version: None });
    (o, s)
}

fn key_action(plan: &Plan) -> Option<&Action> {
    plan.actions.iter().find(|a| a.address == "access-key/secoda-glue-user")
}

#[test]
fn a_checkout_without_state_keeps_the_live_key_the_tag_names() {
    let d = desired(json!({"access": "user"}));
    let (o, _) = user_with_keys(&["AKIALIVE"], Some("live:AKIALIVE"));
    let plan = plan_of(&d, &o, &State::new(DEP, "secoda-glue"), true).unwrap();
    assert!(key_action(&plan).is_none(), "{:#?}", plan.actions);
    let recorded = plan.record.iter().find(|(a, _)| a == "access-key/secoda-glue-user").unwrap();
    assert_eq!(recorded.1.access_key_id.as_deref(), Some("AKIALIVE"));
}

#[test]
fn a_key_created_by_a_run_that_died_before_handing_it_over_is_replaced() {
    let d = desired(json!({"access": "user"}));
    // Before creating, the run marked "creating" with the key the user already had.
    let (o, s) = user_with_keys(&["AKIAHUMAN", "AKIALOST"], Some("creating had:AKIAHUMAN"));
    let plan = plan_of(&d, &o, &s, false).unwrap();
    let a = key_action(&plan).unwrap();
    assert_eq!(
        a.steps,
        [Step::CreateAccessKey {
            user: "secoda-glue-user".into(),
            delete_first: vec!["AKIALOST".into()],
            had: vec!["AKIAHUMAN".into()],
            retire: None,
        }]
    );
    assert!(a.reason.contains("replacing 1 key(s) an interrupted run created and never marked live"), "{}", a.reason);
    assert!(plan.notes.iter().any(|n| n.contains("AKIAHUMAN") && n.contains("left alone")), "{:?}", plan.notes);
}

#[test]
fn a_key_nobody_recorded_is_never_taken_for_a_leftover() {
    let d = desired(json!({"access": "user"}));
    let (o, s) = user_with_keys(&["AKIAUNKNOWN"], None);
    let plan = plan_of(&d, &o, &s, false).unwrap();
    let Step::CreateAccessKey { delete_first, had, .. } = &key_action(&plan).unwrap().steps[0] else { panic!() };
    assert!(delete_first.is_empty());
    assert_eq!(had, &["AKIAUNKNOWN"]);
}

#[test]
fn a_key_recorded_only_in_state_is_marked_live_on_the_user() {
    let d = desired(json!({"access": "user"}));
    let (mut o, mut s) = (Observed::default(), State::new(DEP, "secoda-glue"));
    converge(&d, &mut o, &mut s);
    let live = s.resources["access-key/secoda-glue-user"].access_key_id.clone().unwrap();
    o.users.get_mut("secoda-glue-user").unwrap().key_tag = None;
    let plan = converge(&d, &mut o, &mut s);
    assert_eq!(key_action(&plan).unwrap().steps, [Step::MarkLiveKey { user: "secoda-glue-user".into(), id: live }]);
}

#[test]
fn two_keys_lakepass_did_not_create_stop_the_plan_before_any_change() {
    let d = desired(json!({"access": "user"}));
    let (o, s) = user_with_keys(&["AKIAONE", "AKIATWO"], None);
    let e = plan_of(&d, &o, &s, false).unwrap_err();
    assert!(e.to_string().contains("already has two keys lakepass did not create (AKIAONE, AKIATWO)"), "{e}");
    assert!(e.hint().unwrap().contains("aws iam delete-access-key"));
}

#[test]
fn teardown_stops_on_policies_others_put_on_our_role_unless_told_to_detach_them() {
    let d = desired(json!({}));
    let (mut o, mut s) = (Observed::default(), State::new(DEP, "secoda-glue"));
    converge(&d, &mut o, &mut s);
    let role = o.roles.get_mut("secoda-glue-role").unwrap();
    role.attached.insert("arn:aws:iam::aws:policy/AmazonEC2FullAccess".into());
    role.inline.push("extra".into());
    let e = plan_of(&[], &o, &s, false).unwrap_err();
    assert_eq!(
        e.to_string(),
        "role secoda-glue-role carries policies lakepass did not attach (arn:aws:iam::aws:policy/AmazonEC2FullAccess, inline policy extra); IAM deletes no role that carries any"
    );
    assert!(e.hint().unwrap().contains("--detach-foreign"));
    let input = Input {
        deployment: DEP,
        facts: &facts(),
        desired: &[],
        observed: &o,
        state: &s,
        adopt: false,
        policy_quota: DEFAULT_POLICY_QUOTA,
        detach_foreign: true,
        force: false,
    };
    let p = plan(&input).unwrap();
    simulate(&mut o, &mut s, &p);
    assert!(o.roles.is_empty() && o.policies.is_empty(), "{:?}", o.roles.keys());
}

#[test]
fn the_rights_a_first_run_needs_are_named_by_resource() {
    let d = desired(json!({}));
    let plan = plan_of(&d, &Observed::default(), &State::new(DEP, "secoda-glue"), false).unwrap();
    let needed: Vec<(String, Vec<&str>)> =
        iam_needed(&plan, &facts()).into_iter().map(|(r, a)| (r, a.into_iter().collect())).collect();
    assert_eq!(
        needed,
        [
            ("*".to_string(), vec!["lakeformation:BatchGrantPermissions"]),
            (
                "arn:aws:iam::123456789012:policy/secoda-glue-policy".to_string(),
                vec!["iam:CreatePolicy", "iam:TagPolicy"]
            ),
            (
                "arn:aws:iam::123456789012:role/secoda-glue-role".to_string(),
                vec!["iam:AttachRolePolicy", "iam:CreateRole", "iam:TagRole"]
            ),
        ]
    );
    // Tearing the same down needs the deletes.
    let mut o = Observed::default();
    let mut s = State::new(DEP, "secoda-glue");
    converge(&d, &mut o, &mut s);
    let down = plan_of(&[], &o, &s, false).unwrap();
    let needed = iam_needed(&down, &facts());
    assert!(needed["arn:aws:iam::123456789012:role/secoda-glue-role"].contains("iam:DeleteRole"));
    assert!(needed["arn:aws:iam::123456789012:role/secoda-glue-role"].contains("iam:DetachRolePolicy"));
    assert!(needed["*"].contains("lakeformation:BatchRevokePermissions"));
}

#[test]
fn grants_to_a_principal_nobody_s_lakepass_owns_record_and_revoke_only_what_lakepass_granted() {
    // The analyst who runs dbt: an existing role, untagged, already holding DESCRIBE on
    // sales from somebody else.
    let analyst = Principal::Role("analyst".into());
    let mut observed = Observed::default();
    observed
        .roles
        .insert("analyst".into(), PrincipalObs { arn: analyst.arn(&facts()), owner: None, ..Default::default() });
    let sales = LfTarget::Database { database: "sales".into() };
    let out = LfTarget::Database { database: "out".into() };
    observed.grants.insert((analyst.clone(), sales.clone()), ["DESCRIBE".to_string()].into());
    let describe: BTreeSet<String> = ["DESCRIBE".to_string()].into();
    let desired = vec![
        Resource::Grant { principal: analyst.clone(), target: sales.clone(), permissions: describe.clone() },
        Resource::Grant { principal: analyst.clone(), target: out.clone(), permissions: describe.clone() },
    ];
    let mut state = State::new(DEP, "secoda-glue");
    let first = plan_of(&desired, &observed, &state, false).unwrap();
    // Only the grant it lacks is made and recorded; the one it held is not claimed.
    assert_eq!(first.actions.len(), 1, "{:?}", first.actions);
    assert_eq!(first.actions[0].address, desired[1].address());
    simulate(&mut observed, &mut state, &first);
    assert!(state.resources.contains_key(&desired[1].address()));
    assert!(!state.resources.contains_key(&desired[0].address()), "DESCRIBE on sales was not lakepass's");
    assert!(plan_of(&desired, &observed, &state, false).unwrap().actions.is_empty(), "converged");

    // Teardown revokes what lakepass granted, and leaves what the analyst had.
    let down = plan_of(&[], &observed, &state, false).unwrap();
    simulate(&mut observed, &mut state, &down);
    assert!(!observed.grants.contains_key(&(analyst.clone(), out)));
    assert_eq!(observed.grants[&(analyst.clone(), sales)], describe);

    // Another deployment's principal keeps even what this one recorded.
    observed.roles.get_mut("analyst").unwrap().owner = Some("other".into());
    let mut state = State::new(DEP, "secoda-glue");
    let made = plan_of(&desired[1..], &observed, &state, false).unwrap();
    simulate(&mut observed, &mut state, &made);
    let down = plan_of(&[], &observed, &state, false).unwrap();
    assert!(down.actions.iter().all(|a| !matches!(a.steps.first(), Some(Step::Revoke { .. }))), "{:?}", down.actions);
}
