//! Credit state over everything the node holds (its own log, its mirrors, fed list entries): resolving an
//! amendment's target, folding a record with its amendments (`gongxin_core::state`), the measure catalogues the
//! province published, and writing amendments and catalogues to the own log.
//!
//! *Invariant:* the node signs an amendment only if it applies: the target is held (origin + natural key, index
//! if given), and this node is the target's origin or the province ([`Ledger::check_amendment`], called by
//! `publish` and `amend` before signing).

use super::feed::FeedItem;
use super::ledger::{ImportOutcome, Ledger};
use super::AppError;
use crate::store::log::{origin_code, origin_index_key};
use crate::store::{Store, Table};
use crate::views::{self, KindClass};
use gongxin_core::catalogue::{Catalogue, CATALOGUE_KIND};
use gongxin_core::checkpoint::SignedCheckpoint;
use gongxin_core::crypto::{self, Digest};
use gongxin_core::date::Day;
use gongxin_core::envelope::LeafHeader;
use gongxin_core::record::{Amendment, AmendmentAction, Record, RecordRef};
use gongxin_core::state::{self, AmendRefusal, EntryId, RecordState, PROVINCE};

/// Most amendments folded into one record's state (more are ignored and said so).
pub const MAX_AMENDMENTS: usize = 256;
/// Most records about one subject a query or check folds.
pub const MAX_RECORDS_PER_SUBJECT: usize = 4096;

/// One entry as held: from a log (own or mirror) or fed with its own proof.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub id: EntryId,
    pub header: LeafHeader,
    pub leaf: Vec<u8>,
    pub signature: Vec<u8>,
    pub payload: Option<Vec<u8>>,
    /// Set for fed items: the proof they came with.
    pub fed: Option<(SignedCheckpoint, Vec<Digest>)>,
}

/// What an operator asks `gongxin amend` to do.
#[derive(Debug, Clone)]
pub struct AmendSpec {
    pub target: EntryId,
    pub action: AmendmentAction,
    pub doc_no: String,
    pub reason: String,
    pub effective: Day,
    /// Defaults to the target record's authority.
    pub authority: Option<(String, String)>,
    pub corrected: Option<Record>,
}

/// A record with its state, for queries and checks (with the entry it was loaded from, for proofs).
#[derive(Debug, Clone)]
pub struct StateHit {
    pub state: RecordState,
    pub kind: String,
    pub entry: Loaded,
}

impl Ledger {
    /// The entry at (origin, index), from a log or the feed.
    pub fn load(&self, origin: &str, index: u64) -> Result<Option<Loaded>, AppError> {
        let id = EntryId::new(origin, index);
        if let Some(e) = self.log().entry(origin, index)? {
            let header =
                LeafHeader::decode_at(&e.leaf, origin, index).map_err(|err| AppError::corrupt("stored leaf", err))?;
            return Ok(Some(Loaded {
                id,
                header,
                leaf: e.leaf,
                signature: e.signature,
                payload: e.payload.map(|p| p.0),
                fed: None,
            }));
        }
        let key = origin_index_key(origin_code(origin)?, index);
        let Some(v) = self.log().store().get(Table::FeedItem, &key)? else { return Ok(None) };
        let item = FeedItem::decode(&v).map_err(|e| AppError::corrupt("fed item", e))?;
        let header =
            LeafHeader::decode_at(&item.leaf, origin, index).map_err(|err| AppError::corrupt("fed leaf", err))?;
        Ok(Some(Loaded {
            id,
            header,
            leaf: item.leaf,
            signature: item.signature,
            payload: Some(item.payload),
            fed: Some((item.checkpoint, item.inclusion)),
        }))
    }

    fn load_record(&self, origin: &str, index: u64) -> Result<Option<(Loaded, Record)>, AppError> {
        let Some(l) = self.load(origin, index)? else { return Ok(None) };
        let Some(p) = l.payload.as_deref() else { return Ok(None) };
        match Record::from_payload_json(p) {
            Ok(r) => Ok(Some((l, r))),
            Err(_) => Ok(None),
        }
    }

    /// The held entry an amendment's target names: origin + natural key (the first held entry with that key at
    /// that origin).
    pub fn resolve_target(&self, target: &RecordRef) -> Result<Option<EntryId>, AppError> {
        if origin_code(&target.origin).is_err() {
            return Ok(None);
        }
        let nk = crypto::sm3(target.natural_key.as_bytes());
        for index in views::natural_key_in(self.log().store(), &nk, &target.origin)? {
            if let Some((l, r)) = self.load_record(&target.origin, index)? {
                if !matches!(r, Record::Amendment(_)) && l.header.natural_key == nk {
                    return Ok(Some(EntryId::new(&target.origin, index)));
                }
            }
        }
        Ok(None)
    }

    /// The state of the (non-amendment) record at `id`, folded with every held amendment that targets it.
    pub fn state_of(&self, id: &EntryId) -> Result<Option<RecordState>, AppError> {
        Ok(self.hit_at(id)?.map(|h| h.state))
    }

    /// The state of the record at `id`; for an amendment, the state of its target.
    pub fn state_hit(&self, id: &EntryId) -> Result<Option<StateHit>, AppError> {
        match self.load_record(&id.origin, id.index)? {
            Some((_, Record::Amendment(a))) => match self.resolve_target(&a.target)? {
                Some(t) => self.hit_at(&t),
                None => Ok(None),
            },
            Some((loaded, r)) => Ok(Some(self.fold(loaded, r)?)),
            None => Ok(None),
        }
    }

    fn hit_at(&self, id: &EntryId) -> Result<Option<StateHit>, AppError> {
        let Some((loaded, record)) = self.load_record(&id.origin, id.index)? else { return Ok(None) };
        if matches!(record, Record::Amendment(_)) {
            return Ok(None);
        }
        Ok(Some(self.fold(loaded, record)?))
    }

    /// Folds a loaded record with its amendments.
    fn fold(&self, loaded: Loaded, record: Record) -> Result<StateHit, AppError> {
        let id = loaded.id.clone();
        let mut st = RecordState::new(id.clone(), record);
        let rows =
            views::amendments_of(self.log().store(), &loaded.header.natural_key, &id.origin, MAX_AMENDMENTS + 1)?;
        let mut amendments = Vec::new();
        for (o, i) in rows.into_iter().take(MAX_AMENDMENTS) {
            if let Some((l, Record::Amendment(a))) = self.load_record(&o, i)? {
                amendments.push((l.id, l.header.recorded_at, a));
            }
        }
        amendments.sort_by(|x, y| state::order_key(&x.2, &x.0, &x.1).cmp(&state::order_key(&y.2, &y.0, &y.1)));
        for (by, _, a) in amendments {
            st.apply(by, &a);
        }
        Ok(StateHit { kind: st.current.kind_str().to_string(), state: st, entry: loaded })
    }

    /// Every record held about `subject` (any code), folded with its amendments, whose current content is still
    /// about that subject. A correction found under the subject leads to its target.
    pub fn states_about(&self, subject: &str) -> Result<Vec<StateHit>, AppError> {
        let subject = subject.trim();
        if subject.is_empty() {
            return Err(AppError::Invalid {
                field: "subject", reason: "主体代码为空 (empty subject code)".into()
            });
        }
        let mut seen: std::collections::HashSet<EntryId> = std::collections::HashSet::new();
        let mut out = Vec::new();
        for (origin, index) in views::by_subject(self.log().store(), subject.as_bytes(), MAX_RECORDS_PER_SUBJECT)? {
            let Some((loaded, r)) = self.load_record(&origin, index)? else { continue };
            let hit = match &r {
                Record::Amendment(a) => match self.resolve_target(&a.target)? {
                    Some(t) if seen.insert(t.clone()) => self.hit_at(&t)?,
                    _ => None,
                },
                _ if !seen.insert(loaded.id.clone()) => None,
                _ => Some(self.fold(loaded, r)?),
            };
            if let Some(h) = hit {
                if h.state.current.subject_keys().iter().any(|k| k == subject) {
                    out.push(h);
                }
            }
        }
        out.sort_by(|a, b| a.state.id.cmp(&b.state.id));
        Ok(out)
    }

    /// Whether this node may sign `a`: its target is held and admits it from this node.
    pub fn check_amendment(&self, a: &Amendment) -> Result<RecordState, AppError> {
        let Some(id) = self.resolve_target(&a.target)? else {
            return Err(AmendRefusal::TargetUnknown {
                origin: a.target.origin.clone(),
                natural_key: a.target.natural_key.clone(),
            }
            .into());
        };
        let st =
            self.state_of(&id)?.ok_or_else(|| AppError::corrupt("amendment target", "resolved but not loadable"))?;
        st.admits(self.code(), a)?;
        Ok(st)
    }

    /// `gongxin amend`: builds the amendment of the record at `spec.target`, checks it applies, signs and appends it.
    pub fn amend(&self, spec: AmendSpec) -> Result<ImportOutcome, AppError> {
        let Some((_, target)) = self.load_record(&spec.target.origin, spec.target.index)? else {
            return Err(AppError::Invalid {
                field: "target",
                reason: format!("本节点没有记录 {} (no such record held here)", spec.target),
            });
        };
        if matches!(target, Record::Amendment(_)) {
            return Err(AppError::Invalid {
                field: "target",
                reason: format!(
                    "{} 本身是一条修改记录，请指向原记录 (the target is an amendment; name the original record)",
                    spec.target
                ),
            });
        }
        let (authority, authority_uscc) = match spec.authority {
            Some(a) => a,
            None => authority_of(&target),
        };
        let a = Amendment {
            target: RecordRef {
                origin: spec.target.origin.clone(),
                index: Some(spec.target.index),
                natural_key: target.natural_key(),
            },
            action: spec.action,
            reason: spec.reason,
            doc_no: spec.doc_no,
            effective_date: spec.effective,
            authority,
            authority_uscc,
            corrected: spec.corrected.map(Box::new),
        };
        let json = serde_json::to_vec(&Record::Amendment(a)).map_err(|e| AppError::corrupt("amendment", e))?;
        self.publish(&json, None)
    }

    /// Where the catalogue entries held here are (cheap: one index scan), to tell whether a cache is current.
    pub fn catalogue_ids(&self) -> Result<Vec<(String, u64)>, AppError> {
        Ok(views::by_class(self.log().store(), KindClass::Catalogue, None, 1024)?)
    }

    /// Every measure catalogue the province published that this node holds, by version.
    pub fn catalogues(&self) -> Result<Vec<Catalogue>, AppError> {
        let mut out: Vec<Catalogue> = Vec::new();
        for (origin, index) in self.catalogue_ids()? {
            let Some(l) = self.load(&origin, index)? else { continue };
            if origin != PROVINCE || l.header.kind != CATALOGUE_KIND {
                continue;
            }
            if let Some(c) = l.payload.as_deref().and_then(|p| Catalogue::parse(p).ok()) {
                out.retain(|x| x.version != c.version);
                out.push(c);
            }
        }
        out.sort_by_key(|c| c.version);
        Ok(out)
    }

    /// Publishes a measure catalogue (province only): checked, signed, appended to the province log, from where
    /// it reaches every node. Its version must be above every published one.
    pub fn publish_catalogue(&self, json: &[u8]) -> Result<(u64, u32), AppError> {
        if self.code() != PROVINCE {
            return Err(AppError::NotProvince { action: "publish a measure catalogue", me: self.code().to_string() });
        }
        let c = Catalogue::parse(json).map_err(|e| AppError::Invalid { field: "catalogue", reason: e.to_string() })?;
        if let Some(newest) = self.catalogues()?.last() {
            if c.version <= newest.version {
                return Err(AppError::Invalid {
                    field: "catalogue.version",
                    reason: format!(
                        "第 {} 版已发布，新版本号须大于它 (version {} is already published; use a higher one)",
                        newest.version, newest.version
                    ),
                });
            }
        }
        let index =
            self.append_system(CATALOGUE_KIND, &format!("catalogue|{}", c.version), c.to_json(), |_| Vec::new())?;
        Ok((index, c.version))
    }
}

/// The authority that decided a record (the default author of its amendment).
fn authority_of(r: &Record) -> (String, String) {
    match r {
        Record::License(x) => (x.authority.clone(), x.authority_uscc.clone()),
        Record::Penalty(x) => (x.authority.clone(), x.authority_uscc.clone()),
        Record::ListEntry(x) => (x.authority.clone(), x.authority_uscc.clone()),
        Record::Commitment(x) => (x.authority.clone(), x.authority_uscc.clone()),
        Record::Amendment(x) => (x.authority.clone(), x.authority_uscc.clone()),
    }
}
