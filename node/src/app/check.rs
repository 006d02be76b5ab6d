//! The joint-punishment check as a use case: fold what is held about a subject, evaluate it against the
//! catalogue in force, attach each hit's proof, sign the verdict; record feedback (反馈) as signed entries of the
//! own log; count feedback across the subtree.
//!
//! *Invariant:* a verdict never says `none` silently for a subject this node knows nothing about, nor hides that
//! its province view is stale: both are [`Verdict::notes`] and in [`Basis`] (`subject_known`, `stale_seconds`).

use super::credit::{Loaded, StateHit};
use super::ledger::Ledger;
use super::{now_rfc3339, AppError};
use crate::store::Store as _;
use crate::views::{self, KindClass};
use gongxin_core::catalogue::Catalogue;
use gongxin_core::check::{
    self as core_check, Basis, BatchProof, Feedback, FeedbackAction, HitProof, Verdict, FEEDBACK_KIND, MAX_BATCH,
};
use gongxin_core::checkpoint::SignedCheckpoint;
use gongxin_core::crypto::{Digest, SigningKey};
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

/// One answer waiting for the batch signature: its verdict's leaf hash and where to send its batch proof.
struct Waiting {
    leaf: Digest,
    reply: tokio::sync::oneshot::Sender<Result<BatchProof, AppError>>,
}

type Reply = tokio::sync::oneshot::Receiver<Result<BatchProof, AppError>>;

/// Under load (the last batch held more than one answer), how many times a new signer yields to the runtime
/// at most before it signs, letting answers being read on other tasks join its batch; it stops yielding as
/// soon as one yield brought nothing new. After an idle spell it signs at once: a lone caller never waits.
pub const GATHER_YIELDS: usize = 8;

/// Signs verdicts in batches, group-commit style, on the callers' own tasks: every answer is queued, and
/// whoever holds the signing lock signs what waits (up to [`MAX_BATCH`] a lot) until its own answer is in;
/// the others wait for their proof or for the lock, whichever comes first, without holding a thread. No
/// thread hand-off per answer (on this kind of machine a wake-up across threads costs more than the signature).
/// The queue holds at most [`MAX_WAITING`] answers; beyond that a check is refused as busy.
pub struct BatchSigner {
    node: String,
    key: SigningKey,
    waiting: Mutex<Vec<Waiting>>,
    /// Held while signing; the size of the batch signed last (above one: answers arrive faster than signatures).
    signing: tokio::sync::Mutex<usize>,
    /// Batches and verdicts signed so far (verdicts per signature = the second ÷ the first).
    batches: std::sync::atomic::AtomicU64,
    verdicts: std::sync::atomic::AtomicU64,
}

const SIGNER_GONE: AppError = AppError::Poisoned { what: "verdict signer" };

impl BatchSigner {
    pub fn new(node: &str, key: SigningKey) -> Self {
        Self {
            node: node.to_string(),
            key,
            waiting: Mutex::default(),
            signing: tokio::sync::Mutex::new(0),
            batches: Default::default(),
            verdicts: Default::default(),
        }
    }

    /// (batches signed, verdicts signed) since this signer was made.
    pub fn counts(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.batches.load(Relaxed), self.verdicts.load(Relaxed))
    }

    fn enqueue(&self, leaf: Digest) -> Result<Reply, AppError> {
        let mut w = self.waiting.lock().map_err(|_| SIGNER_GONE)?;
        if w.len() >= MAX_WAITING {
            return Err(AppError::Busy { what: "核查签名队列已满 (too many checks waiting for a signature)" });
        }
        let (reply, rx) = tokio::sync::oneshot::channel();
        w.push(Waiting { leaf, reply });
        Ok(rx)
    }

    fn waiting_len(&self) -> usize {
        self.waiting.lock().map_or(0, |w| w.len())
    }

    /// Signs one verdict (given its leaf hash) within a batch; returns its batch proof.
    pub async fn sign(&self, leaf: Digest) -> Result<BatchProof, AppError> {
        let mut rx = self.enqueue(leaf)?;
        tokio::select! {
            biased;
            r = &mut rx => r.map_err(|_| SIGNER_GONE)?,
            mut last = self.signing.lock() => {
                if *last > 1 {
                    let mut seen = self.waiting_len();
                    for _ in 0..GATHER_YIELDS {
                        tokio::task::yield_now().await;
                        let n = self.waiting_len();
                        if n == seen || n >= MAX_BATCH {
                            break;
                        }
                        seen = n;
                    }
                }
                self.sign_until_answered(&mut last, &mut rx)
            }
        }
    }

    /// [`BatchSigner::sign`] for a caller outside the async runtime (it blocks the calling thread; it panics
    /// on a runtime worker, so it is never called from one).
    pub fn sign_blocking(&self, leaf: Digest) -> Result<BatchProof, AppError> {
        let mut rx = self.enqueue(leaf)?;
        let mut last = self.signing.blocking_lock();
        self.sign_until_answered(&mut last, &mut rx)
    }

    /// With the signing lock held: signs lots of what waits, first come first, until `rx` has its answer.
    fn sign_until_answered(&self, last: &mut usize, rx: &mut Reply) -> Result<BatchProof, AppError> {
        use std::sync::atomic::Ordering::Relaxed;
        loop {
            match rx.try_recv() {
                Ok(r) => return r,
                Err(tokio::sync::oneshot::error::TryRecvError::Closed) => return Err(SIGNER_GONE),
                Err(tokio::sync::oneshot::error::TryRecvError::Empty) => {}
            }
            let lot: Vec<Waiting> = {
                let mut w = self.waiting.lock().map_err(|_| SIGNER_GONE)?;
                let n = w.len().min(MAX_BATCH);
                w.drain(..n).collect()
            };
            if lot.is_empty() {
                // Our answer was queued before the lock was taken and lots leave in order: it cannot be missing.
                return Err(AppError::corrupt("verdict signer", "an answer left the queue unsigned"));
            }
            let leaves: Vec<Digest> = lot.iter().map(|w| w.leaf).collect();
            let batch = core_check::sign_batch(&self.node, &now_rfc3339(), &leaves, &self.key);
            self.batches.fetch_add(1, Relaxed);
            self.verdicts.fetch_add(lot.len() as u64, Relaxed);
            *last = lot.len();
            for (at, w) in lot.into_iter().enumerate() {
                let proof =
                    batch.proof(at).ok_or_else(|| AppError::corrupt("verdict batch", "no proof at its position"));
                // A caller that gave up (its request was cancelled) no longer listens; nothing to do for it.
                let _ = w.reply.send(proof);
            }
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

/// The newest checkpoint of an origin, with what a check reads of it.
struct NewestCheckpoint {
    checkpoint: SignedCheckpoint,
    size: u64,
    /// Its timestamp extension as written, and parsed.
    time: Option<String>,
    at: Option<time::OffsetDateTime>,
}

type Newest = Option<Arc<NewestCheckpoint>>;

/// Most origins whose newest checkpoint [`ReadCache`] keeps (a registry has a few hundred nodes).
const CACHED_ORIGINS: usize = 4096;

/// What every check reads and what changes only when the store is written: the parsed catalogues and the newest
/// checkpoint of each origin hit (the province's is the verdict's basis). Valid while the store's [`Store::writes`] count is the one
/// read before any of it was filled; a store that does not count is never cached over.
///
/// [`Store::writes`]: crate::store::Store::writes
#[derive(Default)]
struct ReadCache {
    writes: Option<u64>,
    catalogues: Option<Arc<Vec<Catalogue>>>,
    newest: HashMap<String, Newest>,
}

/// A verdict read and evaluated, not yet signed.
struct Answer {
    verdict: Verdict,
    bytes: Vec<u8>,
    leaf: Digest,
}

/// What feedback needs of a recent verdict (not its hits' proofs: a verdict with proofs is kilobytes, and
/// [`RECENT_VERDICTS`] of them would be a large part of the node's memory).
#[derive(Debug)]
struct Recalled {
    measure: String,
    decision: core_check::Decision,
    /// `origin/index` of each hit.
    hits: Vec<String>,
}

impl Recalled {
    fn of(v: &Verdict) -> Self {
        Self {
            measure: v.measure.clone(),
            decision: v.decision,
            hits: v.hits.iter().map(|h| format!("{}/{}", h.origin, h.index)).collect(),
        }
    }
}

pub struct Checker {
    ledger: Arc<Ledger>,
    signer: BatchSigner,
    /// The answering key as SPKI PEM, sent with every reply (encoded once).
    signer_pem: String,
    recent: Mutex<(HashMap<String, Arc<Recalled>>, VecDeque<String>)>,
    cache: Mutex<ReadCache>,
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
        let signer_pem = ledger.signing_key().public_key().to_spki_pem();
        Self {
            ledger,
            signer,
            signer_pem,
            recent: Mutex::new((HashMap::new(), VecDeque::new())),
            cache: Mutex::default(),
        }
    }

    /// The read cache, emptied first if the store was written since it was filled. `None`: nothing may be cached
    /// (the store does not count its writes).
    fn read_cache(&self) -> Result<Option<std::sync::MutexGuard<'_, ReadCache>>, AppError> {
        let mut g = self.cache.lock().map_err(|_| AppError::Poisoned { what: "check read cache" })?;
        let Some(now) = self.ledger.log().store().writes() else { return Ok(None) };
        if g.writes != Some(now) {
            *g = ReadCache { writes: Some(now), ..Default::default() };
        }
        Ok(Some(g))
    }

    /// The catalogues held, parsed once while the store is unchanged.
    fn catalogues(&self) -> Result<Arc<Vec<Catalogue>>, AppError> {
        let Some(mut g) = self.read_cache()? else { return Ok(Arc::new(self.ledger.catalogues()?)) };
        if let Some(c) = &g.catalogues {
            return Ok(c.clone());
        }
        let parsed = Arc::new(self.ledger.catalogues()?);
        g.catalogues = Some(parsed.clone());
        Ok(parsed)
    }

    /// The newest checkpoint of `origin`, read and parsed once while the store is unchanged.
    fn newest(&self, origin: &str) -> Result<Newest, AppError> {
        let read = || -> Result<Newest, AppError> {
            let Some(checkpoint) = self.ledger.log().latest_checkpoint(origin)? else { return Ok(None) };
            let parsed = checkpoint.parse().map_err(|e| AppError::corrupt("checkpoint", e))?;
            let stamp = parsed.timestamp().map(str::to_string);
            let at = stamp
                .as_deref()
                .and_then(|t| time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok());
            Ok(Some(Arc::new(NewestCheckpoint { checkpoint, size: parsed.size, time: stamp, at })))
        };
        let Some(mut g) = self.read_cache()? else { return read() };
        if let Some(n) = g.newest.get(origin) {
            return Ok(n.clone());
        }
        let n = read()?;
        if g.newest.len() >= CACHED_ORIGINS {
            g.newest.clear();
        }
        g.newest.insert(origin.to_string(), n.clone());
        Ok(n)
    }

    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    /// The key verdicts are signed with, as SPKI PEM.
    pub fn signer_pem(&self) -> &str {
        &self.signer_pem
    }

    /// (batches signed, verdicts signed) by this checker.
    pub fn signing_counts(&self) -> (u64, u64) {
        self.signer.counts()
    }

    /// The newest province checkpoint held: (size, time, age in seconds).
    fn province_basis(&self) -> Result<(u64, Option<String>, Option<i64>), AppError> {
        let Some(n) = self.newest(PROVINCE)? else { return Ok((0, None, None)) };
        let age = n.at.map(|at| (time::OffsetDateTime::now_utc() - at).whole_seconds().max(0));
        Ok((n.size, n.time.clone(), age))
    }

    /// The proof of a held entry: the fed proof, or an inclusion proof to the newest checkpoint of its origin.
    fn proof_of(&self, l: &Loaded) -> Result<HitProof, AppError> {
        let (origin, index) = (l.id.origin.as_str(), l.id.index);
        let payload = l.payload.clone().unwrap_or_default();
        if let Some((cp, inclusion)) = &l.fed {
            return Ok(HitProof::new(&l.leaf, &l.signature, &payload, cp, inclusion));
        }
        let newest =
            self.newest(origin)?.ok_or_else(|| AppError::corrupt("check hit", format!("no checkpoint of {origin}")))?;
        let (cp, size) = (&newest.checkpoint, newest.size);
        if size <= index {
            return Err(AppError::corrupt(
                "check hit",
                format!("newest checkpoint of {origin} does not cover {index}"),
            ));
        }
        let inclusion = self.ledger.log().inclusion_proof(origin, index, size)?;
        Ok(HitProof::new(&l.leaf, &l.signature, &payload, cp, &inclusion))
    }

    /// Answers one check and signs the verdict (counted and timed in the node's metrics), blocking the calling
    /// thread until the verdict's batch is signed. Not for the async runtime: see [`Checker::check_async`].
    pub fn check(&self, q: CheckQuery) -> Result<SignedVerdict, AppError> {
        let t = std::time::Instant::now();
        let r = (|| {
            let a = self.answer(q)?;
            let batch = self.signer.sign_blocking(a.leaf)?;
            Ok(self.seal(a, batch))
        })();
        self.ledger.metrics().checked(t, r.as_ref().map(decision_label).ok());
        r
    }

    /// [`Checker::check`] on the async runtime: the answer is read on the calling task (bounded store reads:
    /// at most `MAX_RECORDS_PER_SUBJECT` records and their proofs), then the task waits for the batch signature
    /// without holding a thread.
    pub async fn check_async(&self, q: CheckQuery) -> Result<SignedVerdict, AppError> {
        let t = std::time::Instant::now();
        let r = async {
            let a = self.answer(q)?;
            let batch = self.signer.sign(a.leaf).await?;
            Ok(self.seal(a, batch))
        }
        .await;
        self.ledger.metrics().checked(t, r.as_ref().map(decision_label).ok());
        r
    }

    /// Puts a verdict under its batch signature and remembers it for feedback by identifier.
    fn seal(&self, a: Answer, batch: BatchProof) -> SignedVerdict {
        let id = hex::encode(a.leaf);
        self.remember(&id, &a.verdict);
        SignedVerdict { verdict: a.verdict, bytes: a.bytes, batch, id, signer: self.ledger.code().to_string() }
    }

    /// Folds what is held about the subject and evaluates it: the verdict, its bytes and leaf hash, unsigned.
    fn answer(&self, q: CheckQuery) -> Result<Answer, AppError> {
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
        Ok(Answer { verdict, bytes, leaf })
    }

    fn remember(&self, id: &str, v: &Verdict) {
        if let Ok(mut g) = self.recent.lock() {
            let (map, order) = &mut *g;
            if map.insert(id.to_string(), Arc::new(Recalled::of(v))).is_none() {
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
        let (id, verdict): (String, Arc<Recalled>) = match given {
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
                (id, Arc::new(Recalled::of(&v)))
            }
            None => {
                let g = self.recent.lock().map_err(|_| AppError::Poisoned { what: "recent verdicts" })?;
                let r = g.0.get(verdict_id).cloned().ok_or_else(|| AppError::Invalid {
                    field: "verdict_id",
                    reason: format!(
                        "本节点近期未签发结论 {verdict_id}；请附上结论原文 (unknown or old verdict: send the verdict bytes and signature)"
                    ),
                })?;
                (verdict_id.to_string(), r)
            }
        };
        let fb = Feedback {
            format: gongxin_core::format::V1,
            verdict: id.clone(),
            action,
            note: note.to_string(),
            reporter: reporter.to_string(),
            measure: verdict.measure.clone(),
            decision: verdict.decision,
            hits: verdict.hits.clone(),
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

    /// Answers waiting when a caller takes the signing lock are signed together by one signature, and each
    /// one's proof places exactly its own leaf under the signed root.
    #[test]
    fn answers_waiting_for_the_signer_share_one_signature() {
        let key = SigningKey::generate();
        let signer = BatchSigner::new("430102", key.clone());
        let leaves: Vec<Digest> = (0..10u8).map(|i| gongxin_core::merkle::leaf_hash(&[i])).collect();
        let replies: Vec<Reply> = leaves[..9].iter().map(|l| signer.enqueue(*l).unwrap()).collect();
        let last = signer.sign_blocking(leaves[9]).unwrap();
        assert_eq!(signer.counts(), (1, 10));
        let mut proofs: Vec<BatchProof> = replies.into_iter().map(|r| r.blocking_recv().unwrap().unwrap()).collect();
        proofs.push(last);
        let statement = BatchStatement::parse(&proofs[0].statement).unwrap();
        assert_eq!(statement.size, 10);
        for (i, (leaf, p)) in leaves.iter().zip(&proofs).enumerate() {
            assert_eq!(p.statement, proofs[0].statement);
            assert_eq!(p.index, i as u64);
            key.public_key().verify(&p.statement, &p.signature).unwrap();
            gongxin_core::merkle::verify_inclusion(leaf, p.index, statement.size, &p.inclusion, &statement.root)
                .unwrap();
        }
    }

    /// Many async callers at once: every one gets a proof of its own leaf, at a position of a signed batch that
    /// no other caller got.
    #[test]
    fn concurrent_async_callers_each_get_their_own_proof() {
        let key = SigningKey::generate();
        let signer = Arc::new(BatchSigner::new("430102", key.clone()));
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
        let proofs = rt.block_on(async {
            let tasks: Vec<_> = (0..200u32)
                .map(|i| {
                    let s = signer.clone();
                    tokio::spawn(async move {
                        let leaf = gongxin_core::merkle::leaf_hash(&i.to_be_bytes());
                        (leaf, s.sign(leaf).await.unwrap())
                    })
                })
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        });
        let mut positions = std::collections::HashSet::new();
        for (leaf, p) in &proofs {
            key.public_key().verify(&p.statement, &p.signature).unwrap();
            let st = BatchStatement::parse(&p.statement).unwrap();
            gongxin_core::merkle::verify_inclusion(leaf, p.index, st.size, &p.inclusion, &st.root).unwrap();
            assert!(positions.insert((p.statement.clone(), p.index)), "two callers got one batch position");
        }
        assert_eq!(signer.counts().1, 200);
        assert_eq!(signer.waiting_len(), 0);
    }

    /// Past [`MAX_WAITING`] queued answers a check is refused as busy instead of queueing without bound.
    #[test]
    fn a_full_queue_is_refused_as_busy() {
        let signer = BatchSigner::new("430102", SigningKey::generate());
        let mut held = Vec::new();
        for _ in 0..MAX_WAITING {
            held.push(signer.enqueue([0u8; 32]).unwrap());
        }
        assert!(matches!(signer.enqueue([1u8; 32]), Err(AppError::Busy { .. })));
    }
}
