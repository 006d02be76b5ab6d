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
use gongxin_core::check::{
    self as core_check, Basis, BatchProof, Feedback, FeedbackAction, HitProof, SignedBatch, Verdict, FEEDBACK_KIND,
    MAX_BATCH,
};
use gongxin_core::crypto::{Digest, SigningKey};
use gongxin_core::date::Day;
use gongxin_core::state::PROVINCE;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex};

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

/// Most answers waiting for a batch signature at once; beyond it a check is refused as busy (the blocking pool
/// already bounds the waiting threads; this bounds the queue whatever calls the checker).
pub const MAX_WAITING: usize = 4 * MAX_BATCH;

/// A signed verdict as it leaves the node: the verdict bytes and their place under a batch signature.
#[derive(Debug, Clone)]
pub struct SignedVerdict {
    pub verdict: Verdict,
    pub bytes: Vec<u8>,
    /// The signed batch statement, its signature, this verdict's position and inclusion proof.
    pub batch: BatchProof,
    pub id: String,
    pub signer: String,
}

#[derive(Default)]
struct Group {
    next_ticket: u64,
    /// Answers waiting for the next batch: (ticket, leaf hash), in arrival order.
    waiting: Vec<(u64, Digest)>,
    /// Whether some caller is signing a batch now (it signs the next one too before it leaves).
    signing: bool,
    /// Signed answers not yet collected by their callers: ticket → (batch, position).
    done: HashMap<u64, (Arc<SignedBatch>, usize)>,
    /// Size of the batch signed last: above one, answers are arriving faster than signatures.
    last_size: usize,
}

/// Under load (the last batch held more than one answer), how long a new leader lets answers gather before it
/// signs, bought once per batch so that each signature covers more answers. A lone caller never waits for it.
pub const LINGER: std::time::Duration = std::time::Duration::from_micros(200);

/// Signs verdicts in batches, group-commit style: the first caller to find no batch being signed signs
/// everything waiting (up to [`MAX_BATCH`] a lot) until its own answer is signed, then hands over to a waiter;
/// the others sleep until their answer is in. A lone caller waits for nothing but its own signature.
pub struct BatchSigner {
    node: String,
    key: SigningKey,
    group: Mutex<Group>,
    signed: Condvar,
    /// Batches and verdicts signed so far (verdicts per signature = the second ÷ the first).
    batches: std::sync::atomic::AtomicU64,
    verdicts: std::sync::atomic::AtomicU64,
}

/// Clears the signing flag even if signing unwinds, so no waiter sleeps forever.
struct SigningGuard<'a>(&'a BatchSigner);

impl Drop for SigningGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut g) = self.0.group.lock() {
            g.signing = false;
        }
        self.0.signed.notify_all();
    }
}

impl BatchSigner {
    pub fn new(node: &str, key: SigningKey) -> Self {
        Self {
            node: node.to_string(),
            key,
            group: Mutex::new(Group::default()),
            signed: Condvar::new(),
            batches: Default::default(),
            verdicts: Default::default(),
        }
    }

    /// (batches signed, verdicts signed) since this signer was made.
    pub fn counts(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.batches.load(Relaxed), self.verdicts.load(Relaxed))
    }

    /// Signs one verdict (given its leaf hash) within a batch; returns its batch proof.
    pub fn sign(&self, leaf: Digest) -> Result<BatchProof, AppError> {
        const WHAT: &str = "verdict signer";
        let mut g = self.group.lock().map_err(|_| AppError::Poisoned { what: WHAT })?;
        if g.waiting.len() >= MAX_WAITING {
            return Err(AppError::Busy { what: "核查签名队列已满 (too many checks waiting for a signature)" });
        }
        let ticket = g.next_ticket;
        g.next_ticket += 1;
        g.waiting.push((ticket, leaf));
        loop {
            if let Some((batch, at)) = g.done.remove(&ticket) {
                return batch.proof(at).ok_or_else(|| AppError::corrupt("verdict batch", "no proof at its position"));
            }
            if !g.signing && !g.waiting.is_empty() {
                g.signing = true;
                let guard = SigningGuard(self);
                if g.last_size > 1 && g.waiting.len() < MAX_BATCH {
                    drop(g);
                    std::thread::sleep(LINGER);
                    g = self.group.lock().map_err(|_| AppError::Poisoned { what: WHAT })?;
                }
                // Sign lots until this caller's own answer is in; then leadership passes to a waiter, so no
                // caller signs for others indefinitely under sustained load.
                while !g.done.contains_key(&ticket) && !g.waiting.is_empty() {
                    let n = g.waiting.len().min(MAX_BATCH);
                    let lot: Vec<(u64, Digest)> = g.waiting.drain(..n).collect();
                    drop(g);
                    let leaves: Vec<Digest> = lot.iter().map(|(_, l)| *l).collect();
                    let batch = Arc::new(core_check::sign_batch(&self.node, &now_rfc3339(), &leaves, &self.key));
                    self.batches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    self.verdicts.fetch_add(lot.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    g = self.group.lock().map_err(|_| AppError::Poisoned { what: WHAT })?;
                    g.last_size = lot.len();
                    for (at, (t, _)) in lot.iter().enumerate() {
                        g.done.insert(*t, (batch.clone(), at));
                    }
                    self.signed.notify_all();
                }
                drop(g);
                drop(guard);
                g = self.group.lock().map_err(|_| AppError::Poisoned { what: WHAT })?;
                continue;
            }
            g = self.signed.wait(g).map_err(|_| AppError::Poisoned { what: WHAT })?;
        }
    }
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
    signer: BatchSigner,
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
        let signer = BatchSigner::new(ledger.code(), ledger.signing_key().clone());
        Self { ledger, signer, recent: Mutex::new((HashMap::new(), VecDeque::new())), catalogues: Mutex::new(None) }
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

    /// (batches signed, verdicts signed) by this checker.
    pub fn signing_counts(&self) -> (u64, u64) {
        self.signer.counts()
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
        let bytes = verdict.signed_bytes();
        let leaf = Verdict::leaf_of(&bytes);
        let id = hex::encode(leaf);
        let batch = self.signer.sign(leaf)?;
        self.remember(&id, &verdict);
        Ok(SignedVerdict { verdict, bytes, batch, id, signer: self.ledger.code().to_string() })
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
    /// recent ones, or given as its bytes with their batch proof (checked against this node's key).
    pub fn feedback(
        &self,
        verdict_id: &str,
        given: Option<(&[u8], &BatchProof)>,
        action: FeedbackAction,
        note: &str,
        reporter: &str,
    ) -> Result<u64, AppError> {
        if note.chars().count() > 1000 {
            return Err(AppError::Invalid { field: "note", reason: "说明最长 1000 字 (note too long)".into() });
        }
        let verdict: Arc<Verdict> = match given {
            Some((bytes, proof)) => {
                let key = self.ledger.signing_key().public_key();
                let v = core_check::verify_verdict(bytes, proof, &key).map_err(|e| AppError::Invalid {
                    field: "verdict",
                    reason: format!("不是本节点签发的结论 (not a verdict signed by this node): {e}"),
                })?;
                if v.node != self.ledger.code() {
                    return Err(AppError::Invalid {
                        field: "verdict",
                        reason: format!("结论由 {} 签发，不是本节点 (the verdict is of another node)", v.node),
                    });
                }
                let id = Verdict::id_of(bytes);
                if !verdict_id.is_empty() && id != verdict_id {
                    return Err(AppError::Invalid {
                        field: "verdict_id",
                        reason: "与所附结论不符 (does not match the verdict given)".into(),
                    });
                }
                Arc::new(v)
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

#[cfg(test)]
mod tests {
    use super::*;
    use gongxin_core::check::BatchStatement;

    /// Answers that arrive while a batch is being signed are signed together by one signature, and each one's
    /// proof places exactly its own leaf under the signed root.
    #[test]
    fn answers_waiting_behind_a_signature_share_the_next_one() {
        let key = SigningKey::generate();
        let signer = Arc::new(BatchSigner::new("430102", key.clone()));
        signer.group.lock().unwrap().signing = true; // as if a batch were being signed now
        let leaves: Vec<Digest> = (0..10u8).map(|i| gongxin_core::merkle::leaf_hash(&[i])).collect();
        let threads: Vec<_> = leaves
            .iter()
            .map(|l| {
                let (s, l) = (signer.clone(), *l);
                std::thread::spawn(move || s.sign(l).unwrap())
            })
            .collect();
        while signer.group.lock().unwrap().waiting.len() < leaves.len() {
            std::thread::yield_now();
        }
        drop(SigningGuard(&signer)); // that batch is done: one waiter leads the next
        let proofs: Vec<BatchProof> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(signer.counts(), (1, 10));
        let statement = BatchStatement::parse(&proofs[0].statement).unwrap();
        assert_eq!(statement.size, 10);
        for (leaf, p) in leaves.iter().zip(&proofs) {
            assert_eq!(p.statement, proofs[0].statement);
            key.public_key().verify(&p.statement, &p.signature).unwrap();
            gongxin_core::merkle::verify_inclusion(leaf, p.index, statement.size, &p.inclusion, &statement.root)
                .unwrap();
        }
        let mut indices: Vec<u64> = proofs.iter().map(|p| p.index).collect();
        indices.sort();
        assert_eq!(indices, (0..10).collect::<Vec<_>>());
    }

    /// Past [`MAX_WAITING`] queued answers a check is refused as busy instead of queueing without bound.
    #[test]
    fn a_full_queue_is_refused_as_busy() {
        let signer = BatchSigner::new("430102", SigningKey::generate());
        {
            let mut g = signer.group.lock().unwrap();
            g.signing = true;
            g.waiting = (0..MAX_WAITING as u64).map(|t| (t, [0u8; 32])).collect();
        }
        assert!(matches!(signer.sign([1u8; 32]), Err(AppError::Busy { .. })));
    }
}
