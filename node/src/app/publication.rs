//! 7-working-day compliance (二(十四)): per authority and origin, the licences and penalties published late (the
//! decision date, not counted, to the origin's `recorded-at`, against the working-day calendar) and withdrawals
//! (撤销/撤回 of a penalty) recorded more than 3 working days after they took effect (行政处罚法 第四十八条), over
//! every log the node holds (a city and the province: their subtrees).

use super::ledger::Ledger;
use super::AppError;
use gongxin_core::calendar::WorkCalendar;
use gongxin_core::date::Day;
use gongxin_core::envelope::LeafHeader;
use gongxin_core::record::{AmendmentAction, Record};
use serde::Serialize;
use std::collections::BTreeMap;

/// Working days allowed from decision to publication.
pub const PUBLISH_WITHIN: u32 = 7;
/// Working days allowed from a decision's revocation to the withdrawal of its publication.
pub const WITHDRAW_WITHIN: u32 = 3;
/// Most late records listed one by one (all are counted).
pub const MAX_LISTED: usize = 10_000;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Late {
    pub origin: String,
    pub index: u64,
    pub kind: String,
    pub authority: String,
    pub doc_no: String,
    pub decided: Day,
    pub due: Day,
    /// The origin's `recorded-at` (UTC), and its date in China.
    pub published: String,
    pub published_on: Day,
}

#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct AuthorityRow {
    pub authority: String,
    pub authority_uscc: String,
    pub origin: String,
    pub published: u64,
    pub late: u64,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct PublicationReport {
    pub node: String,
    pub since: Option<Day>,
    pub checked: u64,
    pub late_total: u64,
    pub rows: Vec<AuthorityRow>,
    pub late: Vec<Late>,
    pub late_withdrawals: Vec<Late>,
    /// Records whose due date cannot be computed (no calendar data for their year), counted by year.
    pub no_calendar: BTreeMap<i32, u64>,
}

/// The date in China (UTC+8) of an RFC 3339 UTC time.
fn china_date(rfc3339: &str) -> Option<Day> {
    let t = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339).ok()?;
    let off = time::UtcOffset::from_hms(8, 0, 0).ok()?;
    Some(Day(t.to_offset(off).date()))
}

impl Ledger {
    pub fn publication_report(&self, since: Option<Day>, cal: &WorkCalendar) -> Result<PublicationReport, AppError> {
        const PAGE: u64 = 2000;
        let log = self.log();
        let mut out = PublicationReport { node: self.code().to_string(), since, ..Default::default() };
        let mut rows: BTreeMap<(String, String), AuthorityRow> = BTreeMap::new();
        for (origin, head) in log.origins()? {
            let mut at = 0;
            while at < head.size {
                let upto = (at + PAGE).min(head.size);
                for e in log.entries(&origin, at..upto)? {
                    let Ok(h) = LeafHeader::decode_at(&e.leaf, &origin, e.index) else { continue };
                    if !matches!(h.kind.as_str(), "license" | "penalty" | "amendment") {
                        continue;
                    }
                    let Some(record) = e.payload.as_ref().and_then(|p| Record::from_payload_json(&p.0).ok()) else {
                        continue;
                    };
                    let Some(published_on) = china_date(&h.recorded_at) else { continue };
                    let (decided, authority, authority_uscc, doc_no, within, withdrawal) = match &record {
                        Record::License(l) => (
                            l.decision_date,
                            &l.authority,
                            &l.authority_uscc,
                            &l.decision_doc_no,
                            PUBLISH_WITHIN,
                            false,
                        ),
                        Record::Penalty(p) => (
                            p.decision_date,
                            &p.authority,
                            &p.authority_uscc,
                            &p.decision_doc_no,
                            PUBLISH_WITHIN,
                            false,
                        ),
                        Record::Amendment(a)
                            if matches!(a.action, AmendmentAction::Revoke | AmendmentAction::Withdraw)
                                && a.target.natural_key.starts_with("penalty|") =>
                        {
                            (a.effective_date, &a.authority, &a.authority_uscc, &a.doc_no, WITHDRAW_WITHIN, true)
                        }
                        _ => continue,
                    };
                    if since.is_some_and(|s| decided < s) {
                        continue;
                    }
                    out.checked += 1;
                    let due = match cal.add_workdays(decided, within) {
                        Ok(d) => d,
                        Err(_) => {
                            *out.no_calendar.entry(decided.year()).or_default() += 1;
                            continue;
                        }
                    };
                    let row = rows.entry((authority_uscc.clone(), origin.clone())).or_insert_with(|| AuthorityRow {
                        authority: authority.clone(),
                        authority_uscc: authority_uscc.clone(),
                        origin: origin.clone(),
                        ..Default::default()
                    });
                    row.published += 1;
                    if published_on <= due {
                        continue;
                    }
                    row.late += 1;
                    out.late_total += 1;
                    let late = Late {
                        origin: origin.clone(),
                        index: e.index,
                        kind: h.kind.clone(),
                        authority: authority.clone(),
                        doc_no: doc_no.clone(),
                        decided,
                        due,
                        published: h.recorded_at.clone(),
                        published_on,
                    };
                    let list = if withdrawal { &mut out.late_withdrawals } else { &mut out.late };
                    if list.len() < MAX_LISTED {
                        list.push(late);
                    }
                }
                at = upto;
            }
        }
        out.rows = rows.into_values().filter(|r| r.published > 0).collect();
        out.rows.sort_by(|a, b| b.late.cmp(&a.late).then(a.origin.cmp(&b.origin)));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use gongxin_core::crypto::SigningKey;
    use gongxin_core::template::{f, Kind};
    use std::sync::Arc;

    #[test]
    fn late_records_are_listed_per_authority_with_their_due_dates() {
        let l = Ledger::new("430102", "芙蓉区", "county", SigningKey::generate(), Arc::new(MemoryStore::new()));
        let mut rows = gongxin_core::testdata::rows(Kind::Penalty, 9, "430102", 6);
        let today = super::super::check::today_in_china();
        // Two decided yesterday (on time), the rest long ago (late).
        let yesterday = Day(today.date().previous_day().unwrap());
        for r in rows.iter_mut().take(2) {
            r.insert(f::P_DATE.into(), yesterday.to_string());
            r.insert(f::P_VALID_UNTIL.into(), "2099-12-31".into());
            r.remove(f::P_PUBLICITY_UNTIL);
        }
        let numbered = rows.iter().cloned().enumerate().map(|(i, r)| (i as u64 + 1, r)).collect();
        let imported = l.import(Kind::Penalty, "t", numbered, None).unwrap();
        assert!(imported.errors.is_empty(), "{:?}", imported.errors);
        let r = l.publication_report(None, WorkCalendar::embedded()).unwrap();
        if WorkCalendar::embedded().add_workdays(yesterday, PUBLISH_WITHIN).is_err() {
            // Past the calendar's last year: the two recent ones cannot be judged, and say so.
            assert_eq!(r.no_calendar.values().sum::<u64>(), 2);
            return;
        }
        assert_eq!(r.checked, 6);
        assert_eq!(r.late_total, 4, "{:?}", r.late);
        assert_eq!(r.late.len(), 4);
        for late in &r.late {
            assert!(late.published_on > late.due && late.decided < late.due, "{late:?}");
            assert_eq!(late.origin, "430102");
            assert!(!late.doc_no.is_empty());
        }
        assert_eq!(r.rows.iter().map(|x| x.published).sum::<u64>(), 6);
        assert_eq!(r.rows.iter().map(|x| x.late).sum::<u64>(), 4);
        // Since yesterday: only the two on-time ones are checked.
        let r = l.publication_report(Some(yesterday), WorkCalendar::embedded()).unwrap();
        assert_eq!((r.checked, r.late_total), (2, 0));
    }
}

/// One record held under two or more origins (the same natural key: kind, authority, document number, subject).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Duplicate {
    pub natural_key: String,
    /// `origin/index` of every copy.
    pub entries: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct DuplicateReport {
    pub node: String,
    pub groups: u64,
    pub listed: Vec<Duplicate>,
}

impl Ledger {
    /// Records that arrived under more than one origin (issue 12 item 5: a county imported another county's file,
    /// and both reached the province). One pass over the natural-key index.
    pub fn duplicate_origins(&self) -> Result<DuplicateReport, AppError> {
        use crate::store::Table;
        const PAGE: usize = 4096;
        let store = self.log().store();
        let mut out = DuplicateReport { node: self.code().to_string(), ..Default::default() };
        let mut group: (Vec<u8>, Vec<(String, u64)>) = (Vec::new(), Vec::new());
        let flush = |g: &mut (Vec<u8>, Vec<(String, u64)>), out: &mut DuplicateReport| -> Result<(), AppError> {
            let mut origins: Vec<&str> = g.1.iter().map(|(o, _)| o.as_str()).collect();
            origins.sort();
            origins.dedup();
            if origins.len() > 1 {
                out.groups += 1;
                if out.listed.len() < MAX_LISTED {
                    let (o, i) = &g.1[0];
                    let nk = self
                        .log()
                        .entry(o, *i)?
                        .and_then(|e| e.payload)
                        .and_then(|(p, _)| Record::from_payload_json(&p).ok())
                        .map(|r| r.natural_key())
                        .unwrap_or_else(|| hex::encode(&g.0));
                    out.listed.push(Duplicate {
                        natural_key: nk,
                        entries: g.1.iter().map(|(o, i)| format!("{o}/{i}")).collect(),
                    });
                }
            }
            g.1.clear();
            Ok(())
        };
        crate::store::scan_pages(store, Table::NaturalKey, &[], None, PAGE, |rows| {
            for (k, _) in &rows {
                if k.len() < 44 {
                    continue;
                }
                let digest = k[..32].to_vec();
                let (origin, index) = crate::store::log::origin_index_suffix(Table::NaturalKey, k)?;
                if digest != group.0 {
                    flush(&mut group, &mut out)?;
                    group.0 = digest;
                }
                group.1.push((origin, index));
            }
            Ok::<_, AppError>(true)
        })?;
        flush(&mut group, &mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod duplicate_tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use gongxin_core::crypto::SigningKey;
    use gongxin_core::template::Kind;
    use std::sync::Arc;

    #[test]
    fn the_same_record_under_two_origins_is_reported() {
        // The province's store holds 岳麓区's log and, as a mirror ingest would write it, 芙蓉区's log carrying
        // the same five licences (芙蓉区 imported 岳麓区's file).
        let province_store: crate::app::ledger::SharedStore = Arc::new(MemoryStore::new());
        let province = Ledger::new("430000", "湖南省", "province", SigningKey::generate(), province_store.clone());
        let yuelu = Ledger::new("430104", "岳麓区", "county", SigningKey::generate(), province_store);
        let rows: Vec<_> = gongxin_core::testdata::rows(Kind::License, 4, "430104", 5)
            .into_iter()
            .enumerate()
            .map(|(i, r)| (i as u64 + 1, r))
            .collect();
        yuelu.import(Kind::License, "t", rows.clone(), None).unwrap();
        assert_eq!(province.duplicate_origins().unwrap().groups, 0);
        let furong = Ledger::new("430102", "芙蓉区", "county", SigningKey::generate(), Arc::new(MemoryStore::new()));
        let opts = crate::app::ledger::ImportOptions { foreign: Some("测试".into()), ..Default::default() };
        let rows2 = rows
            .into_iter()
            .map(|(n, f)| crate::app::ledger::ImportRow { row: n, fields: f, notes: Default::default() })
            .collect();
        furong.import_with(Kind::License, "t", rows2, &opts).unwrap();
        let held = furong.entries(0, furong.status().unwrap().size).unwrap();
        let log = province.log();
        let derived: Vec<_> = held
            .iter()
            .map(|e| {
                let h = LeafHeader::decode(&e.leaf).unwrap();
                crate::views::derive(&h, e.payload.as_ref().map(|p| p.0.as_slice()), None)
            })
            .collect();
        let entries = held
            .into_iter()
            .map(|e| crate::store::log::NewEntry { leaf: e.leaf, signature: e.signature, payload: e.payload })
            .collect();
        let mut prepared = log.prepare_append("430102", entries).unwrap();
        crate::views::index_batch(&mut prepared, &derived).unwrap();
        log.commit(prepared, furong.checkpoints().unwrap().pop()).unwrap();

        let r = province.duplicate_origins().unwrap();
        assert_eq!(r.groups, 5, "{r:?}");
        assert!(r.listed[0].entries.iter().any(|e| e.starts_with("430102/")));
        assert!(r.listed[0].entries.iter().any(|e| e.starts_with("430104/")));
        assert!(r.listed[0].natural_key.starts_with("license|"), "{:?}", r.listed[0]);
    }
}
