//! Record state (DESIGN §4): a record folded with the amendments that target it, in order.
//!
//! | action     | effect |
//! |------------|--------|
//! | `更正`     | the content is replaced by `corrected` (same kind); the original stays in the history |
//! | `撤销`/`撤回` | the record is void from the effective date |
//! | `信用修复` | publicity ends early on the effective date (government users still see the record); for a list entry the listing ends too |
//! | `移出名单` | the listing ends on the effective date (list entries only) |
//!
//! *Invariant:* an amendment applies only when its target is held (origin + natural key; an index, if given,
//! must match) and its author is the target's origin or the province ([`RecordState::admits`]). The ledger
//! refuses a refused amendment before signing it; one that arrives signed from elsewhere is kept in the history
//! with the reason it was ignored, and changes nothing.

use crate::date::Day;
use crate::record::{Amendment, AmendmentAction, ListEntry, Record};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The province's division code: the one node that may amend records of any origin.
pub const PROVINCE: &str = "430000";

/// An entry of some origin's log: `430102/17`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EntryId {
    pub origin: String,
    pub index: u64,
}

impl EntryId {
    pub fn new(origin: &str, index: u64) -> Self {
        Self { origin: origin.to_string(), index }
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.origin, self.index)
    }
}

impl FromStr for EntryId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("'{s}' 应为 地方编码/序号，如 430102/17 (expected ORIGIN/INDEX, e.g. 430102/17)");
        let (o, i) = s.trim().split_once('/').ok_or_else(bad)?;
        if o.len() != 6 || !o.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let index = i.parse::<u64>().map_err(|_| bad())?;
        Ok(EntryId::new(o, index))
    }
}

/// Why an amendment does not apply to its target. Each names the target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmendRefusal {
    #[error("目标记录不存在 target not held: {origin} / {natural_key}")]
    TargetUnknown { origin: String, natural_key: String },
    #[error("目标序号不符 target index mismatch: {target} 的自然键在序号 {held} (the natural key is held at index {held}, not {given})")]
    IndexMismatch { target: EntryId, given: u64, held: u64 },
    #[error("无权修改 not entitled: 节点 {amender} 不能修改 {target}（只有来源节点 {target_origin} 或省级节点 {PROVINCE} 可以） (only the record's origin or the province may amend it)")]
    NotEntitled { target: EntryId, amender: String, target_origin: String },
    #[error("{action} 不适用于 {target}（{kind}） (action does not apply to this kind of record)")]
    NotApplicable { target: EntryId, action: AmendmentAction, kind: &'static str },
    #[error("{target} 已于 {since} {action}，不能再修改 (the record is void)")]
    AlreadyVoid { target: EntryId, action: AmendmentAction, since: Day },
    #[error("{target} 的更正内容无效 the correction is not valid: {reason}")]
    BadCorrection { target: EntryId, reason: String },
}

/// One amendment in a record's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// The amendment entry.
    pub by: EntryId,
    pub action: AmendmentAction,
    pub doc_no: String,
    pub effective: Day,
    pub reason: String,
    pub authority: String,
    /// Why the step changed nothing (`None`: applied).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
}

/// A record as it stands after its amendments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordState {
    pub id: EntryId,
    /// The content in force (the original, or the latest correction).
    pub current: Record,
    /// `撤销`/`撤回` and its effective date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub void: Option<(AmendmentAction, Day)>,
    /// Publicity ended early by `信用修复` on this date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repaired: Option<Day>,
    /// Listing ended by `移出名单` on this date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed: Option<Day>,
    /// Every amendment seen, in the order applied, with the original content first implied.
    pub history: Vec<Step>,
    /// The content before the first correction (when corrected).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original: Option<Record>,
}

/// The order amendments of one target apply in: effective date, then the time the amending origin recorded
/// it, then (origin, index) so the order is total and the same on every node.
pub fn order_key<'a>(a: &'a Amendment, by: &'a EntryId, recorded_at: &'a str) -> (Day, &'a str, &'a EntryId) {
    (a.effective_date, recorded_at, by)
}

impl RecordState {
    pub fn new(id: EntryId, record: Record) -> Self {
        Self { id, current: record, void: None, repaired: None, removed: None, history: Vec::new(), original: None }
    }

    /// Whether `amender` may apply `a` to this record (the target reference was already resolved to it).
    pub fn admits(&self, amender: &str, a: &Amendment) -> Result<(), AmendRefusal> {
        let target = self.id.clone();
        if let Some(given) = a.target.index {
            if given != self.id.index {
                return Err(AmendRefusal::IndexMismatch { target, given, held: self.id.index });
            }
        }
        if amender != self.id.origin && amender != PROVINCE {
            return Err(AmendRefusal::NotEntitled {
                target,
                amender: amender.to_string(),
                target_origin: self.id.origin.clone(),
            });
        }
        if let Some((action, since)) = self.void {
            return Err(AmendRefusal::AlreadyVoid { target, action, since });
        }
        let kind = self.current.kind_str();
        match a.action {
            AmendmentAction::RemoveFromList if !matches!(self.current, Record::ListEntry(_)) => {
                return Err(AmendRefusal::NotApplicable { target, action: a.action, kind })
            }
            AmendmentAction::Correct => {
                let Some(c) = a.corrected.as_deref() else {
                    return Err(AmendRefusal::BadCorrection {
                        target,
                        reason: "更正须附更正后的完整记录 (corrected record missing)".into(),
                    });
                };
                if c.kind_str() != kind {
                    return Err(AmendRefusal::BadCorrection {
                        target,
                        reason: format!(
                            "更正后的记录类型为 {}，应为 {kind} (corrected record must be of the same kind)",
                            c.kind_str()
                        ),
                    });
                }
                if c.subject_keys().is_empty() {
                    return Err(AmendRefusal::BadCorrection {
                        target,
                        reason: "更正后的记录没有主体代码 (no subject code)".into(),
                    });
                }
            }
            _ => {}
        }
        if a.action != AmendmentAction::Correct && a.corrected.is_some() {
            return Err(AmendRefusal::BadCorrection {
                target,
                reason: format!("只有 更正 可以附带记录，{} 不可以 (only 更正 carries a corrected record)", a.action),
            });
        }
        Ok(())
    }

    /// Applies `a` (entry `by`) if [`admits`](Self::admits) allows it; otherwise keeps it in the history as
    /// ignored. Callers apply in [`order_key`] order.
    pub fn apply(&mut self, by: EntryId, a: &Amendment) {
        let ignored = self.admits(&by.origin, a).err().map(|e| e.to_string());
        if ignored.is_none() {
            match a.action {
                AmendmentAction::Correct => {
                    if let Some(c) = a.corrected.as_deref() {
                        let before = std::mem::replace(&mut self.current, c.clone());
                        self.original.get_or_insert(before);
                    }
                }
                AmendmentAction::Revoke | AmendmentAction::Withdraw => self.void = Some((a.action, a.effective_date)),
                AmendmentAction::Repair => self.repaired = Some(min_day(self.repaired, a.effective_date)),
                AmendmentAction::RemoveFromList => self.removed = Some(min_day(self.removed, a.effective_date)),
            }
        }
        self.history.push(Step {
            by,
            action: a.action,
            doc_no: a.doc_no.clone(),
            effective: a.effective_date,
            reason: a.reason.clone(),
            authority: a.authority.clone(),
            ignored,
        });
    }

    /// The list entry in force, if this is one.
    pub fn list_entry(&self) -> Option<&ListEntry> {
        match &self.current {
            Record::ListEntry(l) => Some(l),
            _ => None,
        }
    }

    /// The first day the record no longer counts (void, removed or repaired), if any.
    pub fn ended_on(&self) -> Option<Day> {
        [self.void.map(|v| v.1), self.removed, self.repaired].into_iter().flatten().min()
    }

    /// Whether a list entry lists its subject on `day`: `start ≤ day ≤ end`, and `day` before any
    /// void, removal or repair took effect. An entry past its end date expires without an amendment.
    pub fn listed_on(&self, day: Day) -> bool {
        let Some(l) = self.list_entry() else { return false };
        l.start <= day && day <= l.end && self.ended_on().is_none_or(|e| day < e)
    }

    /// A short Chinese word for the state on `day`.
    pub fn status_on(&self, day: Day) -> &'static str {
        if let Some((action, since)) = self.void {
            if day >= since {
                return if action == AmendmentAction::Revoke { "已撤销" } else { "已撤回" };
            }
        }
        if self.removed.is_some_and(|d| day >= d) {
            return "已移出";
        }
        if self.repaired.is_some_and(|d| day >= d) {
            return "已修复";
        }
        if let Some(l) = self.list_entry() {
            if day < l.start {
                return "未生效";
            }
            if day > l.end {
                return "已到期";
            }
            return "在列";
        }
        if self.original.is_some() {
            "已更正"
        } else {
            "有效"
        }
    }
}

fn min_day(a: Option<Day>, b: Day) -> Day {
    a.map_or(b, |a| a.min(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ListType, RecordRef, Subject, SubjectCategory};

    fn day(s: &str) -> Day {
        crate::date::parse(s).unwrap()
    }

    fn entry() -> Record {
        Record::ListEntry(ListEntry {
            subject: Subject {
                name: "某某建设有限公司".into(),
                category: SubjectCategory::Organization,
                uscc: Some("91430102MA4L0XXXXX".into()),
                reg_no: None,
                org_code: None,
                tax_no: None,
                institution_no: None,
                social_org_no: None,
                legal_rep: None,
                legal_rep_id_type: None,
                legal_rep_id_no: None,
                id_type: None,
                id_no: None,
            },
            list_type: ListType::SeriousDishonesty,
            reason: "r".into(),
            basis: "b".into(),
            decision_doc_no: "湘发改信用〔2026〕1号".into(),
            start: day("2026-01-10"),
            end: day("2027-01-09"),
            authority: "a".into(),
            authority_uscc: "11430000006000000X".into(),
            measures: vec![],
            catalogue_version: None,
        })
    }

    fn amend(action: AmendmentAction, effective: &str, index: Option<u64>) -> Amendment {
        Amendment {
            target: RecordRef { origin: "430102".into(), index, natural_key: entry().natural_key() },
            action,
            reason: "r".into(),
            doc_no: "d".into(),
            effective_date: day(effective),
            authority: "a".into(),
            authority_uscc: "x".into(),
            corrected: None,
        }
    }

    #[test]
    fn lifecycle_of_a_list_entry() {
        let mut s = RecordState::new(EntryId::new("430102", 3), entry());
        assert!(!s.listed_on(day("2026-01-09")), "not before its start");
        assert!(s.listed_on(day("2026-01-10")));
        assert!(s.listed_on(day("2027-01-09")), "the end date is the last day listed");
        assert!(!s.listed_on(day("2027-01-10")), "expires without an amendment");
        assert_eq!(s.status_on(day("2027-02-01")), "已到期");
        s.apply(EntryId::new("430102", 9), &amend(AmendmentAction::RemoveFromList, "2026-06-01", Some(3)));
        assert!(s.listed_on(day("2026-05-31")));
        assert!(!s.listed_on(day("2026-06-01")), "removal ends the listing on its effective date");
        assert_eq!(s.status_on(day("2026-06-01")), "已移出");
        assert_eq!(s.history.len(), 1);
        assert!(s.history[0].ignored.is_none());
    }

    #[test]
    fn refusals_name_the_target_and_change_nothing() {
        let mut s = RecordState::new(EntryId::new("430102", 3), entry());
        // A county of another city may not amend it.
        s.apply(EntryId::new("430302", 1), &amend(AmendmentAction::RemoveFromList, "2026-02-01", None));
        // A wrong index is refused.
        s.apply(EntryId::new("430102", 4), &amend(AmendmentAction::Revoke, "2026-02-01", Some(2)));
        assert!(s.listed_on(day("2026-03-01")));
        assert_eq!(s.history.len(), 2);
        let why0 = s.history[0].ignored.clone().unwrap();
        assert!(why0.contains("430102/3") && why0.contains("430302"), "{why0}");
        assert!(s.history[1].ignored.clone().unwrap().contains("序号"));
        // The province may.
        s.apply(EntryId::new(PROVINCE, 7), &amend(AmendmentAction::Revoke, "2026-02-01", None));
        assert!(!s.listed_on(day("2026-03-01")));
        assert_eq!(s.status_on(day("2026-03-01")), "已撤销");
        // A void record takes no further amendment.
        let refused = s.admits("430102", &amend(AmendmentAction::Repair, "2026-04-01", None)).unwrap_err();
        assert!(matches!(refused, AmendRefusal::AlreadyVoid { .. }));
    }

    #[test]
    fn correction_replaces_content_and_keeps_the_original() {
        let mut s = RecordState::new(EntryId::new("430102", 3), entry());
        let mut corrected = entry();
        if let Record::ListEntry(l) = &mut corrected {
            l.end = day("2026-03-31");
        }
        let mut a = amend(AmendmentAction::Correct, "2026-02-01", None);
        a.corrected = Some(Box::new(corrected.clone()));
        s.apply(EntryId::new("430102", 5), &a);
        assert_eq!(s.current, corrected);
        assert_eq!(s.original, Some(entry()));
        assert!(!s.listed_on(day("2026-04-01")), "the corrected end date applies");
        // A correction of another kind is refused.
        let mut wrong = amend(AmendmentAction::Correct, "2026-02-02", None);
        wrong.corrected = Some(Box::new(Record::Amendment(amend(AmendmentAction::Revoke, "2026-02-02", None))));
        assert!(matches!(s.admits("430102", &wrong), Err(AmendRefusal::BadCorrection { .. })));
    }

    #[test]
    fn repair_and_entry_ids() {
        let mut s = RecordState::new(EntryId::new("430102", 3), entry());
        s.apply(EntryId::new("430102", 6), &amend(AmendmentAction::Repair, "2026-05-01", None));
        assert!(!s.listed_on(day("2026-05-01")));
        assert_eq!(s.status_on(day("2026-05-02")), "已修复");
        assert_eq!("430102/17".parse::<EntryId>(), Ok(EntryId::new("430102", 17)));
        assert!("4301/17".parse::<EntryId>().is_err());
        assert!("430102-17".parse::<EntryId>().is_err());
    }
}
