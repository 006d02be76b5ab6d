//! The joint-punishment check as a use case: fold what is held about a subject, evaluate it against the
//! catalogue in force, attach each hit's proof, sign the verdict; record feedback (反馈) as signed entries of the
//! own log; count feedback across the subtree.
//!
//! *Invariant:* a verdict never says `none` silently for a subject this node knows nothing about, nor hides that
//! its province view is stale: both are [`Verdict::notes`] and in [`Basis`] (`subject_known`, `stale_seconds`).

use super::credit::{Loaded, StateHit};
use super::ledger::Ledger;
use super::{now_rfc3339, AppError};
use crate::views::{self, KindClass};
use gongxin_core::catalogue::Catalogue;
use gongxin_core::check::{self as core_check, Basis, Feedback, FeedbackAction, HitProof, Verdict, FEEDBACK_KIND};
use gongxin_core::date::Day;
use gongxin_core::state::PROVINCE;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// A province view older than this is called stale in the verdict's notes.
pub const STALE_AFTER_SECS: i64 = 600;
/// Verdicts remembered for feedback by identifier alone (older ones need the verdict bytes).
pub const RECENT_VERDICTS: usize = 65_536;
/// Most feedback entries one report reads.
pub const MAX_REPORT_ENTRIES: usize = 1_000_000;

/// Who is asking about what.
#[derive(Debug, Clone)]
pub struct CheckQuery {
    /// USCC or ID number (normalised: trimmed, `x` upper-cased).
    pub subject: String,
    pub measure: String,
    /// The day asked about (default: today in China).
    pub day: Option<Day>,
}

/// A signed verdict as it leaves the node.
#[derive(Debug, Clone)]
pub struct SignedVerdict {
    pub verdict: Verdict,
    pub bytes: Vec<u8>,
    pub signature: Vec<u8>,
    pub id: String,
    pub signer: String,
}

/// One row of the feedback report.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ReportRow {
    pub measure: String,
    /// The origin of the list entries hit.
    pub origin: String,
    pub verdicts: u64,
    pub hits: u64,
    pub restricted: u64,
    pub not_restricted: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    pub node: String,
    pub since: Option<Day>,
    pub feedback: u64,
    pub rows: Vec<ReportRow>,
}

/// Parsed catalogues and the entries they were parsed from.
type CatalogueCache = Option<(Vec<(String, u64)>, Arc<Vec<Catalogue>>)>;

pub struct Checker {
    ledger: Arc<Ledger>,
    recent: Mutex<(HashMap<String, Arc<Verdict>>, VecDeque<String>)>,
    catalogues: Mutex<CatalogueCache>,
}

/// Today in China (UTC+8), the default day a check asks about.
pub fn today_in_china() -> Day {
    let t =
        time::OffsetDateTime::now_utc().to_offset(time::UtcOffset::from_hms(8, 0, 0).unwrap_or(time::UtcOffset::UTC));
    Day(t.date())
}

/// The metrics label of a verdict's decision.
fn decision_label(v: &SignedVerdict) -> &'static str {
    match v.verdict.decision {
        core_check::Decision::Restrict => "restrict",
        core_check::Decision::None => "none",
        core_check::Decision::Incentive => "incentive",
    }
}

/// Normalises a subject code: trimmed, ID-number check character `x` upper-cased.
pub fn normalise_subject(s: &str) -> String {
    s.trim().to_uppercase()
}

impl Checker {
    pub fn new(ledger: Arc<Ledger>) -> Self {
        Self { ledger, recent: Mutex::new((HashMap::new(), VecDeque::new())), catalogues: Mutex::new(None) }
    }

    /// The catalogues held, parsed once per set of catalogue entries.
    fn catalogues(&self) -> Result<Arc<Vec<Catalogue>>, AppError> {
        let ids = self.ledger.catalogue_ids()?;
        let mut g = self.catalogues.lock().map_err(|_| AppError::Poisoned { what: "catalogue cache" })?;
        if let Some((held, parsed)) = g.as_ref() {
            if *held == ids {
                return Ok(parsed.clone());
            }
        }
        let parsed = Arc::new(self.ledger.catalogues()?);
        *g = Some((ids, parsed.clone()));
        Ok(parsed)
    }

    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    /// The newest province checkpoint held: (size, time, age in seconds).
    fn province_basis(&self) -> Result<(u64, Option<String>, Option<i64>), AppError> {
        let Some(cp) = self.ledger.log().latest_checkpoint(PROVINCE)? else { return Ok((0, None, None)) };
        let parsed = cp.parse().map_err(|e| AppError::corrupt("province checkpoint", e))?;
        let ts = parsed.timestamp().map(str::to_string);
        let age = ts.as_deref().and_then(|t| {
            let at = time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()?;
            Some((time::OffsetDateTime::now_utc() - at).whole_seconds().max(0))
        });
        Ok((parsed.size, ts, age))
    }

    /// The proof of a held entry: the fed proof, or an inclusion proof to the newest checkpoint of its origin.
    fn proof_of(&self, l: &Loaded) -> Result<HitProof, AppError> {
        let (origin, index) = (l.id.origin.as_str(), l.id.index);
        let payload = l.payload.clone().unwrap_or_default();
        if let Some((cp, inclusion)) = &l.fed {
            return Ok(HitProof::new(&l.leaf, &l.signature, &payload, cp, inclusion));
        }
        let log = self.ledger.log();
        let cp = log
            .latest_checkpoint(origin)?
            .ok_or_else(|| AppError::corrupt("check hit", format!("no checkpoint of {origin}")))?;
        let size = cp.parse().map_err(|e| AppError::corrupt("checkpoint", e))?.size;
        if size <= index {
            return Err(AppError::corrupt(
                "check hit",
                format!("newest checkpoint of {origin} does not cover {index}"),
            ));
        }
        let inclusion = log.inclusion_proof(origin, index, size)?;
        Ok(HitProof::new(&l.leaf, &l.signature, &payload, &cp, &inclusion))
    }

    /// Answers one check and signs the verdict (counted and timed in the node's metrics).
    pub fn check(&self, q: CheckQuery) -> Result<SignedVerdict, AppError> {
        self.ledger.metrics().timed_check(decision_label, || self.answer(q))
    }

    fn answer(&self, q: CheckQuery) -> Result<SignedVerdict, AppError> {
        let subject = normalise_subject(&q.subject);
        let day = q.day.unwrap_or_else(today_in_china);
        let catalogues = self.catalogues()?;
        let Some(catalogue) = Catalogue::in_force(&catalogues, day) else {
            return Err(core_check::CheckError::NoCatalogue(day).into());
        };
        let states = self.ledger.states_about(&subject)?;
        let subject_known = !states.is_empty();
        let (lists, entries): (Vec<_>, Vec<_>) = states
            .into_iter()
            .filter(|h: &StateHit| h.state.list_entry().is_some())
            .map(|h| (h.state, h.entry))
            .unzip();
        let (decision, found) = core_check::evaluate(&lists, &q.measure, day, catalogue)?;
        let mut hits = Vec::with_capacity(found.len());
        for (st, basis) in found {
            let Some(loaded) = entries.iter().find(|e| e.id == st.id) else { continue };
            let proof = self.proof_of(loaded)?;
            if let Some(h) = core_check::hit(st, &q.measure, basis, proof) {
                hits.push(h);
            }
        }
        let (province_size, province_time, stale) = self.province_basis()?;
        let mut notes = Vec::new();
        match stale {
            None => notes.push("本节点尚未收到省级数据，名单可能不全 (no province data held: lists may be incomplete)".to_string()),
            Some(s) if s > STALE_AFTER_SECS => notes.push(format!(
                "本节点的省级数据截至 {}，已 {} 秒未更新，名单可能不全 (province view is {} s old: lists may be incomplete)",
                province_time.as_deref().unwrap_or("?"),
                s,
                s
            )),
            _ => {}
        }
        if !subject_known {
            notes.push(format!(
                "本节点未掌握主体 {subject} 的任何记录；\"none\" 仅表示本节点所知范围内无限制 (no record about this subject is held here)"
            ));
        }
        let verdict = Verdict {
            format: gongxin_core::format::V1,
            node: self.ledger.code().to_string(),
            issued_at: now_rfc3339(),
            subject,
            measure: q.measure,
            date: day,
            decision,
            hits,
            basis: Basis {
                province_size,
                province_time,
                stale_seconds: stale,
                catalogue_version: Some(catalogue.version),
                subject_known,
            },
            notes,
        };
        let (bytes, signature) = verdict.sign(self.ledger.signing_key());
        let id = Verdict::id_of(&bytes);
        self.remember(&id, &verdict);
        Ok(SignedVerdict { verdict, bytes, signature, id, signer: self.ledger.code().to_string() })
    }

    fn remember(&self, id: &str, v: &Verdict) {
        if let Ok(mut g) = self.recent.lock() {
            let (map, order) = &mut *g;
            if map.insert(id.to_string(), Arc::new(v.clone())).is_none() {
                order.push_back(id.to_string());
            }
            while order.len() > RECENT_VERDICTS {
                if let Some(old) = order.pop_front() {
                    map.remove(&old);
                }
            }
        }
    }

    /// Records what a business system did with a verdict of this node. The verdict is found by identifier among
    /// recent ones, or given as its signed bytes and signature (checked against this node's key).
    pub fn feedback(
        &self,
        verdict_id: &str,
        given: Option<(&[u8], &[u8])>,
        action: FeedbackAction,
        note: &str,
        reporter: &str,
    ) -> Result<u64, AppError> {
        if note.chars().count() > 1000 {
            return Err(AppError::Invalid { field: "note", reason: "说明最长 1000 字 (note too long)".into() });
        }
        let verdict: Arc<Verdict> = match given {
            Some((bytes, sig)) => {
                self.ledger.signing_key().public_key().verify(bytes, sig).map_err(|_| AppError::Invalid {
                    field: "verdict",
                    reason: "签名不是本节点的 (not signed by this node)".into(),
                })?;
                let id = Verdict::id_of(bytes);
                if !verdict_id.is_empty() && id != verdict_id {
                    return Err(AppError::Invalid {
                        field: "verdict_id",
                        reason: "与所附结论不符 (does not match the verdict given)".into(),
                    });
                }
                Arc::new(Verdict::parse(bytes).map_err(|e| AppError::Invalid { field: "verdict", reason: e })?)
            }
            None => {
                let g = self.recent.lock().map_err(|_| AppError::Poisoned { what: "recent verdicts" })?;
                g.0.get(verdict_id).cloned().ok_or_else(|| AppError::Invalid {
                    field: "verdict_id",
                    reason: format!(
                        "本节点近期未签发结论 {verdict_id}；请附上结论原文 (unknown or old verdict: send the verdict bytes and signature)"
                    ),
                })?
            }
        };
        let id = if verdict_id.is_empty() { Verdict::id_of(&verdict.signed_bytes()) } else { verdict_id.to_string() };
        let fb = Feedback {
            format: gongxin_core::format::V1,
            verdict: id.clone(),
            action,
            note: note.to_string(),
            reporter: reporter.to_string(),
            measure: verdict.measure.clone(),
            decision: verdict.decision,
            hits: verdict.hits.iter().map(|h| format!("{}/{}", h.origin, h.index)).collect(),
            reported_at: now_rfc3339(),
        };
        let payload = serde_json::to_vec(&fb).map_err(|e| AppError::corrupt("feedback", e))?;
        let nk = format!("feedback|{id}|{}|{}", action.as_str(), fb.reported_at);
        self.ledger.append_system(FEEDBACK_KIND, &nk, payload, |_| Vec::new())
    }

    /// Counts, per measure and origin of the entries hit, the verdicts with feedback held here (this node's and,
    /// at a city or the province, its subtree's), and what was done.
    pub fn report(&self, since: Option<Day>) -> Result<CheckReport, AppError> {
        let mut rows: BTreeMap<(String, String), ReportRow> = BTreeMap::new();
        let mut feedback = 0;
        self.ledger.for_each_feedback(MAX_REPORT_ENTRIES, |fb| {
            if let Some(d) = since {
                if fb.reported_at.get(..10).is_none_or(|t| t < d.to_string().as_str()) {
                    return;
                }
            }
            feedback += 1;
            let mut origins: Vec<&str> = fb.hits.iter().filter_map(|h| h.split('/').next()).collect();
            origins.dedup();
            if origins.is_empty() {
                origins.push("-");
            }
            for origin in origins {
                let r = rows.entry((fb.measure.clone(), origin.to_string())).or_insert_with(|| ReportRow {
                    measure: fb.measure.clone(),
                    origin: origin.to_string(),
                    ..Default::default()
                });
                r.verdicts += 1;
                r.hits += fb.hits.iter().filter(|h| h.starts_with(origin)).count() as u64;
                match fb.action {
                    FeedbackAction::Restricted => r.restricted += 1,
                    FeedbackAction::NotRestricted => r.not_restricted += 1,
                }
            }
        })?;
        Ok(CheckReport { node: self.ledger.code().to_string(), since, feedback, rows: rows.into_values().collect() })
    }
}

impl Ledger {
    /// Calls `f` with every feedback entry held (own log and mirrors), in (origin, index) order, reading at most
    /// `max` index rows.
    pub fn for_each_feedback(&self, max: usize, mut f: impl FnMut(Feedback)) -> Result<(), AppError> {
        let mut from: Option<(String, u64)> = None;
        let mut read = 0usize;
        while read < max {
            let page = views::by_class(
                self.log().store(),
                KindClass::Feedback,
                from.as_ref().map(|(o, i)| (o.as_str(), *i)),
                1000.min(max - read),
            )?;
            let Some(last) = page.last().cloned() else { break };
            from = Some((last.0, last.1 + 1));
            read += page.len();
            for (o, i) in page {
                let Some(l) = self.load(&o, i)? else { continue };
                if let Some(fb) = l.payload.as_deref().and_then(|p| serde_json::from_slice::<Feedback>(p).ok()) {
                    f(fb);
                }
            }
        }
        Ok(())
    }
}
