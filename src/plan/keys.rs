//! Access keys: which key is live, which are an interrupted run's leftovers, and which
//! belong to someone else. Pure.
//!
//! A key's secret exists once, in the response that created it, so the record of a key
//! lives where every checkout sees it: a tag on the user (`lakepass:access-key`). Its value
//! is either `live:<id>`, the key whose secret was handed over, or, while a key is being
//! created, `creating had:<id> ...` listing the keys the user had before. A key that is
//! neither live nor among those is provably a leftover of a creation that never finished
//! handing its secret over: it is replaced. Any other key is left alone.

use super::{Change, Planner, Step};
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
}

impl KeyTag {
    pub fn parse(value: &str) -> KeyTag {
        let mut tag = KeyTag::default();
        for token in value.split_whitespace() {
            if let Some(id) = token.strip_prefix("live:") {
                tag.live = Some(id.to_string());
            } else if token == "creating" {
                tag.creating.get_or_insert_with(BTreeSet::new);
            } else if let Some(id) = token.strip_prefix("had:") {
                tag.creating.get_or_insert_with(BTreeSet::new).insert(id.to_string());
            }
        }
        tag
    }

    /// The value written before creating a key (IAM tag values allow letters, digits,
    /// spaces and `:`; two key ids fit well within 256 characters).
    pub fn creating(had: &[String]) -> String {
        let mut out = "creating".to_string();
        for id in had {
            out.push_str(&format!(" had:{id}"));
        }
        out
    }

    pub fn live(id: &str) -> String {
        format!("live:{id}")
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
        let others: Vec<String> =
            keys.iter().filter(|k| Some(*k) != live.as_ref() && !leftovers.contains(k)).cloned().collect();
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
                self.action(Change::Update, r, reason, steps);
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
                let reason = match (&recorded, leftovers.is_empty()) {
                    (_, false) => format!("replacing {}", replacing(leftovers.len())),
                    (Some(_), true) => "the recorded key was deleted outside lakepass; creating a new one".to_string(),
                    (None, true) => "does not exist yet".to_string(),
                };
                let steps =
                    vec![Step::CreateAccessKey { user: user.to_string(), delete_first: leftovers, had: others }];
                self.action(Change::Create, r, reason, steps);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_tag_round_trips() {
        let had = vec!["AKIAONE".to_string(), "AKIATWO".to_string()];
        let t = KeyTag::parse(&KeyTag::creating(&had));
        assert_eq!(t.live, None);
        assert_eq!(t.creating, Some(had.into_iter().collect()));
        assert_eq!(KeyTag::parse(&KeyTag::creating(&[])).creating, Some(BTreeSet::new()));
        assert_eq!(KeyTag::parse(&KeyTag::live("AKIAX")), KeyTag { live: Some("AKIAX".into()), creating: None });
        assert_eq!(KeyTag::parse(""), KeyTag::default());
    }
}
