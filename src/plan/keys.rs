//! Access keys: which key is live, which are an interrupted run's leftovers, and which
//! belong to someone else. Pure.
//!
//! A key's secret exists once, in the response that created it, so the record of a key
//! lives where every checkout sees it: a tag on the user (`lakepass:access-key`). Its value
//! is either `live:<id>`, the key whose secret was handed over, or, while a key is being
//! created, `creating had:<id> ...` listing the keys the user had before. A key that is
//! neither live nor among those is provably a leftover of a creation that never finished
//! handing its secret over: it is replaced. Any other key is left alone.
//!
//! A rotation (`lakepass rotate-key`) keeps the old key live while the new one is made
//! (`live:<old> creating had:<old>`), then marks both (`live:<new> retiring:<old>`) until
//! the user confirms the vendor switched and the old key is deleted.

use super::{Cause, Change, Plan, Planner, Step};
use crate::error::Error;
use crate::model::Resource;
use crate::state::Owned;
use std::collections::BTreeSet;

/// The value of the user's key tag.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyTag {
    /// The key whose secret was handed over.
    pub live: Option<String>,
    /// Set while a key is being created: the keys the user had before.
    pub creating: Option<BTreeSet<String>>,
    /// The previous key of a rotation, still working until the vendor has switched.
    pub retiring: Option<String>,
}

impl KeyTag {
    pub fn parse(value: &str) -> KeyTag {
        let mut tag = KeyTag::default();
        for token in value.split_whitespace() {
            if let Some(id) = token.strip_prefix("live:") {
                tag.live = Some(id.to_string());
            } else if token == "creating" {
                tag.creating.get_or_insert_with(BTreeSet::new);
            } else if let Some(id) = token.strip_prefix("retiring:") {
                tag.retiring = Some(id.to_string());
            } else if let Some(id) = token.strip_prefix("had:") {
                tag.creating.get_or_insert_with(BTreeSet::new).insert(id.to_string());
            }
        }
        tag
    }

    /// The value written before creating a key (IAM tag values allow letters, digits,
    /// spaces and `:`; two key ids fit well within 256 characters).
    /// `keep`: the key that stays live meanwhile (a rotation's old key).
    pub fn creating(had: &[String], keep: Option<&str>) -> String {
        let mut out = keep.map(|k| format!("live:{k} ")).unwrap_or_default();
        out.push_str("creating");
        for id in had {
            out.push_str(&format!(" had:{id}"));
        }
        out
    }

    pub fn live(id: &str) -> String {
        format!("live:{id}")
    }

    /// A rotation's new key is live; the old one works until the vendor has switched.
    pub fn live_retiring(id: &str, old: &str) -> String {
        format!("live:{id} retiring:{old}")
    }
}

impl Planner<'_> {
    /// Plans the one access key a user lakepass manages should have.
    pub(super) fn access_key(&mut self, r: &Resource, user: &str) {
        let address = r.address();
        let seen = self.input.observed.users.get(user);
        let keys: Vec<String> = seen.map(|u| u.keys.clone()).unwrap_or_default();
        let tag = seen.and_then(|u| u.key_tag.as_deref()).map(KeyTag::parse).unwrap_or_default();
        let recorded = self.owned(&address).and_then(|o| o.access_key_id.clone());
        let present = |id: &Option<String>| id.clone().filter(|k| keys.contains(k));
        let live = present(&tag.live).or_else(|| present(&recorded));
        let leftovers: Vec<String> = match &tag.creating {
            Some(had) => keys.iter().filter(|k| !had.contains(*k) && Some(*k) != live.as_ref()).cloned().collect(),
            None => Vec::new(),
        };
        let retiring = tag.retiring.clone().filter(|k| keys.contains(k) && Some(k) != live.as_ref());
        if let Some(old) = &retiring {
            self.plan.notes.push(format!(
                "user {user} keeps its previous key {old} until the vendor has switched to the new one: `lakepass rotate-key --finish -d {}` deletes it",
                self.input.deployment
            ));
        }
        let others: Vec<String> = keys
            .iter()
            .filter(|k| Some(*k) != live.as_ref() && !leftovers.contains(k) && Some(*k) != retiring.as_ref())
            .cloned()
            .collect();
        if !others.is_empty() {
            self.plan.notes.push(format!(
                "user {user} has {} other access key(s) lakepass did not create ({}); left alone",
                others.len(),
                others.join(", ")
            ));
        }
        let replacing = |n: usize| {
            format!("{n} key(s) an interrupted run created and never marked live (a new key and secret replace them)")
        };
        match live {
            Some(id) => {
                let mut steps: Vec<Step> =
                    leftovers.iter().map(|k| Step::DeleteAccessKey { user: user.to_string(), id: k.clone() }).collect();
                if tag.live.as_ref() != Some(&id) || tag.creating.is_some() {
                    steps.push(Step::MarkLiveKey { user: user.to_string(), id: id.clone() });
                }
                if steps.is_empty() {
                    if recorded.as_ref() != Some(&id) {
                        self.plan.record.push((
                            address,
                            Owned {
                                resource: r.clone(),
                                arn: None,
                                access_key_id: Some(id),
                                adopted: false,
                                version: None,
                            },
                        ));
                    }
                    return;
                }
                let reason = if leftovers.is_empty() {
                    "recording the live key on the user, where every checkout sees it".to_string()
                } else {
                    format!("removing {}", replacing(leftovers.len()))
                };
                self.action((Change::Update, Cause::Upkeep), r, reason, steps);
            }
            None => {
                if others.len() >= 2 {
                    self.refusals.push(Error::Value {
                        field: format!("access key of user {user}"),
                        problem: format!(
                            "cannot be created: the user already has two keys lakepass did not create ({}), and IAM allows two",
                            others.join(", ")
                        ),
                        fix: format!(
                            "delete one of them (`aws iam delete-access-key --user-name {user} --access-key-id ID`), or choose another user_name"
                        ),
                    });
                    return;
                }
                let (cause, reason) = match (&recorded, leftovers.is_empty()) {
                    (_, false) => (Cause::Upkeep, format!("replacing {}", replacing(leftovers.len()))),
                    (Some(_), true) => {
                        (Cause::Gone, "the recorded key was deleted outside lakepass; creating a new one".to_string())
                    }
                    (None, true) => (Cause::New, "does not exist yet".to_string()),
                };
                let steps = vec![Step::CreateAccessKey {
                    user: user.to_string(),
                    delete_first: leftovers,
                    had: others,
                    retire: None,
                }];
                self.action((Change::Create, cause), r, reason, steps);
            }
        }
    }
}

/// Where the rotation of a user's key stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// One live key: a new one is made beside it (IAM allows two).
    Start { old: String },
    /// The new key is live; the old one works until the vendor has switched.
    Finishing { old: String, new: String },
}

/// Decides the next step of rotating `user`'s key, from its keys and tag and the key the
/// state records. A key that is not settled (an interrupted run's, or none live) is
/// provision's to settle first; a second key lakepass did not make leaves no room.
pub fn rotation(user: &str, keys: &[String], tag: &KeyTag, recorded: Option<&str>) -> Result<Rotation, Error> {
    let unsettled = |problem: &str| Error::Value {
        field: format!("access key of user {user}"),
        problem: problem.to_string(),
        fix: "run `lakepass provision` first: it settles the key (and hands a new one over if needed), then rotate"
            .into(),
    };
    if tag.creating.is_some() {
        return Err(unsettled("is being created by a run that did not finish"));
    }
    let present = |id: Option<&str>| id.filter(|k| keys.iter().any(|x| x == k)).map(str::to_string);
    let Some(live) = present(tag.live.as_deref()).or_else(|| present(recorded)) else {
        return Err(unsettled("has no live key lakepass handed over"));
    };
    if let Some(old) = present(tag.retiring.as_deref()).filter(|o| *o != live) {
        return Ok(Rotation::Finishing { old, new: live });
    }
    let others: Vec<&String> = keys.iter().filter(|k| **k != live).collect();
    if let Some(other) = others.first() {
        return Err(Error::Value {
            field: format!("access key of user {user}"),
            problem: format!(
                "cannot be rotated: the user also has key {other}, which lakepass did not create, and IAM allows two keys"
            ),
            fix: format!(
                "if nobody uses it, delete it (`aws iam delete-access-key --user-name {user} --access-key-id {other}`), then rotate"
            ),
        });
    }
    Ok(Rotation::Start { old: live })
}

/// The one action of a rotation step on the key resource `r` (an access key).
pub fn rotation_plan(r: &Resource, user: &str, step: &Rotation) -> Plan {
    let (reason, steps) = match step {
        Rotation::Start { old } => (
            format!("a new key beside {old}, which keeps working until the vendor has switched"),
            vec![Step::CreateAccessKey {
                user: user.to_string(),
                delete_first: Vec::new(),
                had: vec![old.clone()],
                retire: Some(old.clone()),
            }],
        ),
        Rotation::Finishing { old, new } => (
            format!("deleting the previous key {old}; {new} stays"),
            vec![
                Step::DeleteAccessKey { user: user.to_string(), id: old.clone() },
                Step::MarkLiveKey { user: user.to_string(), id: new.clone() },
            ],
        ),
    };
    let action = super::Action {
        change: Change::Update,
        cause: Cause::Wanted,
        address: r.address(),
        resource: r.clone(),
        reason,
        diff: Vec::new(),
        steps,
    };
    Plan { actions: vec![action], ..Plan::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_rotation_starts_beside_the_live_key_and_finishes_by_deleting_the_old() {
        let live = KeyTag::parse(&KeyTag::live("AKIAOLD"));
        assert_eq!(rotation("u", &ids(&["AKIAOLD"]), &live, None).unwrap(), Rotation::Start { old: "AKIAOLD".into() });
        let after = KeyTag::parse(&KeyTag::live_retiring("AKIANEW", "AKIAOLD"));
        assert_eq!(
            rotation("u", &ids(&["AKIAOLD", "AKIANEW"]), &after, Some("AKIANEW")).unwrap(),
            Rotation::Finishing { old: "AKIAOLD".into(), new: "AKIANEW".into() }
        );
        // The old key deleted by hand: a new rotation may start.
        assert_eq!(
            rotation("u", &ids(&["AKIANEW"]), &after, Some("AKIANEW")).unwrap(),
            Rotation::Start { old: "AKIANEW".into() }
        );
    }

    #[test]
    fn an_unsettled_key_or_a_foreign_second_key_stops_a_rotation() {
        let during = KeyTag::parse(&KeyTag::creating(&ids(&["AKIAOLD"]), Some("AKIAOLD")));
        assert_eq!(during.live.as_deref(), Some("AKIAOLD"), "the old key stays live meanwhile");
        let e = rotation("u", &ids(&["AKIAOLD", "AKIANEW"]), &during, None).unwrap_err();
        assert!(e.hint().unwrap().contains("lakepass provision"), "{e}");
        let e = rotation("u", &ids(&["AKIAOLD", "AKIAHUMAN"]), &KeyTag::parse("live:AKIAOLD"), None).unwrap_err();
        assert!(e.to_string().contains("also has key AKIAHUMAN"), "{e}");
        let e = rotation("u", &ids(&[]), &KeyTag::default(), Some("AKIAGONE")).unwrap_err();
        assert!(e.to_string().contains("has no live key"), "{e}");
    }

    #[test]
    fn the_key_tag_round_trips() {
        let had = vec!["AKIAONE".to_string(), "AKIATWO".to_string()];
        let t = KeyTag::parse(&KeyTag::creating(&had, None));
        assert_eq!(t.live, None);
        assert_eq!(t.creating, Some(had.into_iter().collect()));
        assert_eq!(KeyTag::parse(&KeyTag::creating(&[], None)).creating, Some(BTreeSet::new()));
        assert_eq!(
            KeyTag::parse(&KeyTag::live("AKIAX")),
            KeyTag { live: Some("AKIAX".into()), creating: None, retiring: None }
        );
        assert_eq!(KeyTag::parse(""), KeyTag::default());
    }
}
