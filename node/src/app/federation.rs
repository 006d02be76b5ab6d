//! The node's place in the federation: its registry view (verified from the anchor), the verifier's key set,
//! who may call, and what it knows of its links. The use cases that write live beside it: `registry`
//! (publishing), `mirror` (ingest), `evidence`, `audit`.

use super::ledger::Ledger;
use super::{now_rfc3339, AppError};
use gongxin_core::crypto::{PublicKey, Verifier};
use gongxin_core::registry::Registry;
use gongxin_core::sync::{self, Refusal, SyncError};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

/// The province's code: root of the hierarchy, origin of the registry.
pub const PROVINCE: &str = "430000";
/// Origin-metadata name holding the index of the newest registry entry in the province log.
pub(crate) const REGISTRY_INDEX_META: &str = "registry.index";

/// Seconds between a child's sync rounds unless configured (`federation.sync_interval_seconds`).
const DEFAULT_CONTACT_SECS: u64 = 5;

/// What a node knows about one child link or its uplink, for `gongxin peer list`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LinkState {
    pub last_contact: Option<String>,
    pub last_error: Option<String>,
    pub state: String,
}

/// Link state of this node: children seen as a parent, and its own uplink with the parent's cursor per origin
/// as last reported. Bounded by the registry (children) and the origins relayed (cursors).
#[derive(Debug, Default)]
struct Links {
    children: BTreeMap<String, LinkState>,
    uplink: LinkState,
    parent_cursors: BTreeMap<String, u64>,
}

pub struct Federation {
    pub(super) me: String,
    pub(super) ledger: Arc<Ledger>,
    pub(super) verifier: Verifier,
    pub(super) province_key: PublicKey,
    registry: RwLock<Registry>,
    /// The one writer of every mirrored log.
    pub(super) mirror_lock: Mutex<()>,
    /// Signalled after every mirror commit: a pipelined batch waiting for the one ahead of it (`mirror::ORDER_WAIT`).
    pub(super) mirror_advanced: std::sync::Condvar,
    /// The one writer of the evidence table.
    pub(super) evidence_lock: Mutex<()>,
    /// The one writer of the staged registry changes.
    pub(super) staging_lock: Mutex<()>,
    links: Mutex<Links>,
    /// A link in state `ok` whose last contact is older than this is shown as `late` (two sync intervals).
    late_after_secs: std::sync::atomic::AtomicU64,
}

impl Federation {
    pub fn new(me: &str, ledger: Arc<Ledger>, province_key: PublicKey) -> Result<Self, AppError> {
        let fed = Federation {
            me: me.to_string(),
            ledger,
            verifier: Verifier::new(),
            province_key,
            registry: RwLock::new(Registry::empty()),
            mirror_lock: Mutex::new(()),
            mirror_advanced: std::sync::Condvar::new(),
            evidence_lock: Mutex::new(()),
            staging_lock: Mutex::new(()),
            links: Mutex::new(Links {
                uplink: LinkState { state: "starting".into(), ..Default::default() },
                ..Default::default()
            }),
            late_after_secs: std::sync::atomic::AtomicU64::new(2 * DEFAULT_CONTACT_SECS),
        };
        fed.reload_registry()?;
        Ok(fed)
    }

    pub fn me(&self) -> &str {
        &self.me
    }

    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    pub(super) fn lock_mirrors(&self) -> Result<MutexGuard<'_, ()>, AppError> {
        self.mirror_lock.lock().map_err(|_| AppError::Poisoned { what: "mirror writer" })
    }

    pub fn registry(&self) -> Registry {
        self.registry.read().map(|r| r.clone()).unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Reloads the newest registry from the province log held here (own log on the province, mirror elsewhere)
    /// and refreshes the verifier's per-signer tables (revoked keys dropped).
    pub fn reload_registry(&self) -> Result<(), AppError> {
        let log = self.ledger.log();
        let Some(idx) = log.origin_meta(PROVINCE, REGISTRY_INDEX_META)? else {
            return Ok(());
        };
        let idx = u64::from_be_bytes(
            idx.as_slice().try_into().map_err(|_| AppError::corrupt("registry index", "not 8 bytes"))?,
        );
        let entry = log.entry(PROVINCE, idx)?.ok_or_else(|| AppError::corrupt("registry entry", "missing"))?;
        let (payload, _) = entry.payload.ok_or_else(|| AppError::corrupt("registry entry", "has no payload"))?;
        let reg = Registry::from_json(&payload)?;
        let mut keys = reg.live_keys();
        keys.push(self.province_key.clone());
        self.verifier.set_keys(keys.iter());
        tracing::info!(version = reg.version, nodes = reg.nodes.len(), "registry loaded");
        *self.registry.write().unwrap_or_else(|p| p.into_inner()) = reg;
        Ok(())
    }

    /// Signing keys of `origin`, oldest first: the anchor's province key, or the registry's.
    pub fn keys_for(&self, origin: &str) -> Vec<PublicKey> {
        let mut keys = self.registry().keys(origin);
        if origin == PROVINCE && !keys.contains(&self.province_key) {
            keys.push(self.province_key.clone());
        }
        keys
    }

    /// Checks that an authenticated TLS peer is a registered, active node whose certificate is the registered
    /// one. Returns its code.
    pub fn authorize_node(&self, code: &str, role_is_node: bool, fingerprint: &str) -> Result<String, SyncError> {
        if !role_is_node {
            return Err(SyncError::Forbidden(Refusal::NotANodeCertificate { node: code.into() }));
        }
        let reg = self.registry();
        sync::cert_matches(&reg, code, fingerprint)?;
        if !reg.is_active(code) {
            let status = reg.node(code).map(|n| n.status.as_str()).unwrap_or("unknown");
            return Err(SyncError::Forbidden(Refusal::NotActive { node: code.into(), status }));
        }
        Ok(code.to_string())
    }

    /// A certificate on the remote admin API or the operator HTTPS view: an operator certificate of this node,
    /// registered for it and active; registry changes also need the registry-operator role.
    pub fn authorize_operator(&self, cert: &sync::OperatorCert<'_>, registry_change: bool) -> Result<(), SyncError> {
        sync::operator_may(&self.registry(), &self.me, cert, registry_change)
    }

    fn links(&self) -> MutexGuard<'_, Links> {
        self.links.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes contact from a child (for `peer list`). Only registered nodes reach this (after `authorize_node`).
    pub fn touch_child(&self, code: &str, error: Option<String>) {
        let mut l = self.links();
        let s = l.children.entry(code.to_string()).or_default();
        s.last_contact = Some(now_rfc3339());
        s.state = if error.is_some() { "refused".into() } else { "ok".into() };
        if error.is_some() {
            s.last_error = error;
        }
    }

    /// Child side: the uplink's state (`ok` also counts as contact), and the error that caused it, if any.
    pub fn note_uplink(&self, state: &str, error: Option<String>) {
        let mut l = self.links();
        l.uplink.state = state.to_string();
        if state == "ok" {
            l.uplink.last_contact = Some(now_rfc3339());
        }
        if error.is_some() {
            l.uplink.last_error = error;
        }
    }

    /// Child side: the parent's cursor for `origin` as it last reported it.
    pub fn note_parent_cursor(&self, origin: &str, cursor: u64) {
        self.links().parent_cursors.insert(origin.to_string(), cursor);
    }

    /// The sync interval of the federation's links: a child (or the parent) not heard from within two intervals is
    /// shown as `late` instead of `ok`.
    pub fn expect_contact_every(&self, every: std::time::Duration) {
        let secs = every.as_secs().max(1).saturating_mul(2);
        self.late_after_secs.store(secs, std::sync::atomic::Ordering::Relaxed);
    }

    /// How long an `ok` link may stay silent before it is shown as `late`.
    pub fn late_after(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.late_after_secs.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// A copy of the link state: children, uplink, parent cursors.
    pub fn link_snapshot(&self) -> (BTreeMap<String, LinkState>, LinkState, BTreeMap<String, u64>) {
        let l = self.links();
        (l.children.clone(), l.uplink.clone(), l.parent_cursors.clone())
    }
}
