//! What Ripcord's own records (ReleaseCheck phases, a human's release) say about a Deployment's
//! pod templates: which failed, which Ripcord already rolled back or held, which a human
//! released. One place for that reading, shared by the rollback step ([`super::plan`]'s inputs)
//! and the reconciler's hold of a re-applied failed template.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::crd::{Phase, rfc3339_from_ms};

/// ReleaseCheck annotation saying who released the held template it checked
/// (`kubectl ripcord release`): Ripcord no longer holds that template.
pub const RELEASED_BY_ANNOTATION: &str = "ripcord.dev/released-by";

/// ReleaseCheck annotation saying when a human released its held template (RFC 3339).
pub const RELEASED_AT_ANNOTATION: &str = "ripcord.dev/released-at";

/// The `pod-template-hash`es of one Deployment's releases, by what Ripcord's records say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateRecords {
    /// Templates judged failed: never a rollback target.
    pub failed: BTreeSet<String>,
    /// Templates Ripcord rolled back or held and no human released: re-applied, they are held.
    pub rolled_back: BTreeSet<String>,
    /// Templates a human released from Ripcord's hold: not held again.
    pub released: BTreeSet<String>,
}

impl TemplateRecords {
    /// Adds what one ReleaseCheck says: its release's template `hash`, its `phase`, and whether
    /// a human released it ([`released`]).
    pub fn note(&mut self, hash: &str, phase: Option<Phase>, released: bool) {
        match phase {
            Some(Phase::RolledBack | Phase::Held) => {
                self.failed.insert(hash.to_string());
                if released {
                    self.released.insert(hash.to_string());
                } else {
                    self.rolled_back.insert(hash.to_string());
                }
            }
            Some(Phase::Failed | Phase::FlagOff | Phase::Acting | Phase::Observed) => {
                self.failed.insert(hash.to_string());
            }
            _ => {}
        }
        if released {
            self.rolled_back.remove(hash);
        }
    }

    /// Whether `hash`, running again, is to be held: Ripcord rolled it back or held it (its
    /// records, or the Deployment's `recorded` [`super::ROLLED_BACK_FROM_ANNOTATION`]) and no
    /// human released it.
    pub fn holds(&self, hash: &str, recorded: Option<&str>) -> bool {
        !self.released.contains(hash) && (self.rolled_back.contains(hash) || recorded == Some(hash))
    }
}

/// Whether a ReleaseCheck's annotations say a human released its held template.
pub fn released(annotations: Option<&BTreeMap<String, String>>) -> bool {
    annotations.is_some_and(|a| a.contains_key(RELEASED_BY_ANNOTATION))
}

/// The merge patch recording on a ReleaseCheck that `by` released its held template at
/// `now_ms`: two annotations, nothing else.
pub fn release_record(by: &str, now_ms: i64) -> Value {
    json!({"metadata": {"annotations": {
        RELEASED_BY_ANNOTATION: by,
        RELEASED_AT_ANNOTATION: rfc3339_from_ms(now_ms),
    }}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolled_back_and_held_templates_are_held_again_until_a_human_releases_them() {
        let mut records = TemplateRecords::default();
        records.note("a", Some(Phase::Passed), false);
        records.note("b", Some(Phase::RolledBack), false);
        records.note("c", Some(Phase::Held), false);
        records.note("d", Some(Phase::Failed), false);
        records.note("e", Some(Phase::Held), true);
        records.note("f", Some(Phase::FlagOff), false);
        assert_eq!(
            records.failed,
            ["b", "c", "d", "e", "f"].map(String::from).into(),
            "a release whose flag was turned off failed too: never a rollback target"
        );
        assert_eq!(records.rolled_back, ["b", "c"].map(String::from).into());
        assert!(records.holds("b", None) && records.holds("c", None));
        assert!(!records.holds("a", None) && !records.holds("d", None));
        assert!(
            !records.holds("f", None),
            "its flag is off; the template itself is not held"
        );
        assert!(records.holds("a", Some("a")), "the Deployment's own record");
        assert!(!records.holds("e", Some("e")), "released by a human");
    }

    #[test]
    fn a_release_recorded_on_any_check_of_the_template_wins_over_another_checks_phase() {
        let mut records = TemplateRecords::default();
        records.note("b", Some(Phase::Held), true);
        records.note("b", Some(Phase::RolledBack), false);
        assert!(!records.holds("b", None));
        let mut records = TemplateRecords::default();
        records.note("b", Some(Phase::RolledBack), false);
        records.note("b", Some(Phase::Held), true);
        assert!(!records.holds("b", None));
        assert!(
            records.failed.contains("b"),
            "still never a rollback target"
        );
    }

    #[test]
    fn the_release_record_is_two_annotations() {
        let patch = release_record("alice", 0);
        assert_eq!(
            patch,
            json!({"metadata": {"annotations": {
                "ripcord.dev/released-by": "alice",
                "ripcord.dev/released-at": "1970-01-01T00:00:00Z",
            }}})
        );
        let annotations: BTreeMap<String, String> =
            [(RELEASED_BY_ANNOTATION.to_string(), "alice".to_string())].into();
        assert!(released(Some(&annotations)));
        assert!(!released(None));
    }
}
