//! The federation registry (节点名册, DESIGN §3): a province-signed, versioned list of every node. It travels
//! as `registry` entries of the province log (payload = this document as JSON), so every node receives it by
//! down-sync and verifies it against the province key of its anchor.

use crate::crypto::PublicKey;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Record kind of registry entries in the province log.
pub const REGISTRY_KIND: &str = "registry";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeStatus {
    Active,
    Suspended,
    Revoked,
}

impl NodeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Active => "active",
            NodeStatus::Suspended => "suspended",
            NodeStatus::Revoked => "revoked",
        }
    }
}

/// One SM2 signing key of a node and when it is valid (RFC 3339 UTC; `valid_until` open-ended when absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEntry {
    pub spki_pem: String,
    pub valid_from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeEntry {
    pub code: String,
    pub name: String,
    /// `province`, `prefecture` or `county`.
    pub level: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    pub keys: Vec<KeyEntry>,
    /// SHA-256 fingerprints (lowercase hex of the DER) of the node's TLS certificates.
    pub tls_fingerprints: Vec<String>,
    pub status: NodeStatus,
    /// The operator certificates of this node (`gongxin registry operator add|revoke`): only these, when
    /// active, may use its remote admin API and its operator HTTPS view.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operators: Vec<OperatorEntry>,
}

/// One registered operator certificate of a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorEntry {
    /// SHA-256 fingerprint (lowercase hex of the DER) of the operator certificate.
    pub fingerprint: String,
    /// The person's name, from the certificate (for display; never used for decisions).
    pub name: String,
    /// May stage, apply and discard registry changes over the province's remote admin API.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub registry_operator: bool,
    /// `active` or `revoked` (a revoked certificate is refused before it expires).
    pub status: NodeStatus,
}

/// At most this many operator certificates per node (revoked ones included).
pub const MAX_OPERATORS_PER_NODE: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registry {
    /// Format version of the document (absent: 1).
    #[serde(default = "crate::format::v1", skip_serializing_if = "crate::format::is_v1")]
    pub format: u32,
    pub version: u64,
    /// RFC 3339 UTC time the province applied this version.
    pub issued_at: String,
    pub nodes: Vec<NodeEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("registry JSON: {0}")]
    Json(String),
    #[error("registry node {code}: {reason}")]
    Node { code: String, reason: String },
    #[error("registry: {0}")]
    Other(String),
}

fn node_err(code: &str, reason: impl Into<String>) -> RegistryError {
    RegistryError::Node { code: code.to_string(), reason: reason.into() }
}

impl Registry {
    /// An empty registry of version 0 (before the province applied the first one).
    pub fn empty() -> Self {
        Registry { format: crate::format::V1, version: 0, issued_at: String::new(), nodes: Vec::new() }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("registry serialises")
    }

    /// Parses and validates a registry document.
    pub fn from_json(bytes: &[u8]) -> Result<Self, RegistryError> {
        let r: Registry = serde_json::from_slice(bytes).map_err(|e| RegistryError::Json(e.to_string()))?;
        crate::format::check("registry", r.format).map_err(|e| RegistryError::Other(e.to_string()))?;
        r.validate()?;
        Ok(r)
    }

    /// Structural checks: unique six-digit codes, exactly one root (the province), parents present, no cycles,
    /// keys that parse, at least one key per node.
    pub fn validate(&self) -> Result<(), RegistryError> {
        let mut seen = BTreeSet::new();
        for n in &self.nodes {
            if n.code.len() != 6 || !n.code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(node_err(&n.code, "code is not six digits"));
            }
            if !seen.insert(n.code.as_str()) {
                return Err(node_err(&n.code, "listed twice"));
            }
            if n.keys.is_empty() {
                return Err(node_err(&n.code, "has no SM2 key"));
            }
            if n.keys.len() > MAX_KEYS_PER_NODE {
                return Err(node_err(&n.code, format!("has more than {MAX_KEYS_PER_NODE} SM2 keys")));
            }
            if n.operators.len() > MAX_OPERATORS_PER_NODE {
                return Err(node_err(&n.code, format!("has more than {MAX_OPERATORS_PER_NODE} operator certificates")));
            }
            let mut fps = BTreeSet::new();
            for o in &n.operators {
                if o.fingerprint.len() != 64
                    || !o.fingerprint.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                {
                    return Err(node_err(
                        &n.code,
                        format!("operator fingerprint {:?} is not 64 lowercase hex digits", o.fingerprint),
                    ));
                }
                if !fps.insert(o.fingerprint.as_str()) {
                    return Err(node_err(&n.code, format!("operator {} listed twice", o.fingerprint)));
                }
                if o.registry_operator && n.parent.is_some() {
                    return Err(node_err(
                        &n.code,
                        "名册操作员只能是省级节点的运维人员 / only operators of the province may be registry operators",
                    ));
                }
                if o.status == NodeStatus::Suspended {
                    return Err(node_err(&n.code, "an operator certificate is active or revoked, not suspended"));
                }
            }
            for k in &n.keys {
                PublicKey::from_spki_pem(&k.spki_pem).map_err(|e| node_err(&n.code, e.to_string()))?;
            }
        }
        let roots: Vec<_> = self.nodes.iter().filter(|n| n.parent.is_none()).collect();
        if !self.nodes.is_empty() && roots.is_empty() {
            return Err(RegistryError::Other(
                "没有根节点：请先登记省级节点，再按 省、市、县 的顺序登记 / no root node: register the province first, \
                 then its cities, then their counties"
                    .into(),
            ));
        }
        if !self.nodes.is_empty() && roots.len() != 1 {
            return Err(RegistryError::Other(format!("expected exactly one root node, found {}", roots.len())));
        }
        for n in &self.nodes {
            if let Some(p) = &n.parent {
                if !seen.contains(p.as_str()) {
                    return Err(node_err(
                        &n.code,
                        format!(
                        "上级 {p} 尚未登记，请按 省、市、县 的顺序登记 / parent {p} is not in the registry: register \
                         the province first, then its cities, then their counties (or stage them in that order)"
                    ),
                    ));
                }
            }
            // Walking up must reach the root within the number of nodes.
            let mut at = n;
            for _ in 0..=self.nodes.len() {
                match at.parent.as_deref().and_then(|p| self.node(p)) {
                    None => break,
                    Some(parent) => at = parent,
                }
            }
            if at.parent.is_some() {
                return Err(node_err(&n.code, "parent chain has a cycle"));
            }
        }
        Ok(())
    }

    pub fn node(&self, code: &str) -> Option<&NodeEntry> {
        self.nodes.iter().find(|n| n.code == code)
    }

    /// The entry of `code`, to change (a staged change names a registered node).
    fn node_mut(&mut self, code: &str) -> Result<&mut NodeEntry, RegistryError> {
        self.nodes
            .iter_mut()
            .find(|n| n.code == code)
            .ok_or_else(|| node_err(code, "未登记 not in the registry: register it with `registry add` first"))
    }

    /// The registered operator certificate `fingerprint` of node `code`, if any (whatever its status).
    pub fn operator(&self, code: &str, fingerprint: &str) -> Option<&OperatorEntry> {
        self.node(code)?.operators.iter().find(|o| o.fingerprint.eq_ignore_ascii_case(fingerprint))
    }

    pub fn is_active(&self, code: &str) -> bool {
        self.node(code).is_some_and(|n| n.status == NodeStatus::Active)
    }

    /// True when `code` is `ancestor` or below it.
    pub fn in_subtree(&self, ancestor: &str, code: &str) -> bool {
        let mut at = self.node(code);
        for _ in 0..=self.nodes.len() {
            match at {
                None => return false,
                Some(n) if n.code == ancestor => return true,
                Some(n) => at = n.parent.as_deref().and_then(|p| self.node(p)),
            }
        }
        false
    }

    pub fn children<'a>(&'a self, code: &'a str) -> impl Iterator<Item = &'a NodeEntry> + 'a {
        self.nodes.iter().filter(move |n| n.parent.as_deref() == Some(code))
    }

    /// The node's SM2 keys, newest last.
    pub fn keys(&self, code: &str) -> Vec<PublicKey> {
        self.node(code)
            .map(|n| n.keys.iter().filter_map(|k| PublicKey::from_spki_pem(&k.spki_pem).ok()).collect())
            .unwrap_or_default()
    }

    /// Every key of every node that is not revoked (what a verifier should keep tables for).
    pub fn live_keys(&self) -> Vec<PublicKey> {
        self.nodes.iter().filter(|n| n.status != NodeStatus::Revoked).flat_map(|n| self.keys(&n.code)).collect()
    }

    /// Applies one staged change, returning the next version.
    pub fn apply(&self, change: &Change, issued_at: &str) -> Result<Registry, RegistryError> {
        let mut next = self.clone();
        next.version += 1;
        next.issued_at = issued_at.to_string();
        match change {
            Change::Upsert(entry) => {
                let mut entry = entry.clone();
                // Re-adding a node (a reactivation, a new certificate) keeps its registered operators.
                if entry.operators.is_empty() {
                    if let Some(old) = next.node(&entry.code) {
                        entry.operators = old.operators.clone();
                    }
                }
                next.nodes.retain(|n| n.code != entry.code);
                next.nodes.push(entry);
                next.nodes.sort_by(|a, b| a.code.cmp(&b.code));
            }
            Change::Rekey { code, key, tls_fingerprint } => {
                let n = next.node_mut(code)?;
                // The same key in another PEM layout is the same key.
                let new = PublicKey::from_spki_pem(&key.spki_pem).map_err(|e| node_err(code, e.to_string()))?;
                if n.keys.iter().any(|k| PublicKey::from_spki_pem(&k.spki_pem).is_ok_and(|old| old == new)) {
                    return Err(node_err(code, "新密钥已在名册中 the new key is already registered for this node"));
                }
                if n.keys.len() >= MAX_KEYS_PER_NODE {
                    return Err(node_err(code, format!("holds {MAX_KEYS_PER_NODE} keys already (the bound)")));
                }
                // The old keys stay (every entry they signed must still verify, in the mirrors, the audit and
                // bundles) and are closed; the old TLS certificates are dropped (the lost machine's).
                for k in n.keys.iter_mut().filter(|k| k.valid_until.is_none()) {
                    k.valid_until = Some(issued_at.to_string());
                }
                n.keys.push(KeyEntry { valid_from: issued_at.to_string(), ..key.clone() });
                n.tls_fingerprints = vec![tls_fingerprint.clone()];
            }
            Change::Operator { code, operator } => {
                let n = next.node_mut(code)?;
                match n.operators.iter_mut().find(|o| o.fingerprint == operator.fingerprint) {
                    Some(o) if o.status == NodeStatus::Revoked && operator.status != NodeStatus::Revoked => {
                        return Err(node_err(
                            code,
                            format!("运维证书 {} 已吊销，不能恢复，请签发新证书 / operator certificate {} is revoked for good: issue a new one", operator.fingerprint, operator.fingerprint),
                        ));
                    }
                    Some(o) => *o = operator.clone(),
                    None if operator.status == NodeStatus::Revoked => {
                        return Err(node_err(
                            code,
                            format!("operator certificate {} is not registered", operator.fingerprint),
                        ));
                    }
                    None => n.operators.push(operator.clone()),
                }
            }
            Change::SetStatus { code, status } => {
                let n = next.node_mut(code)?;
                n.status = *status;
            }
        }
        next.validate()?;
        Ok(next)
    }

    /// Counts by status, for display.
    pub fn summary(&self) -> BTreeMap<&'static str, usize> {
        let mut m = BTreeMap::new();
        for n in &self.nodes {
            *m.entry(n.status.as_str()).or_insert(0) += 1;
        }
        m
    }
}

/// A staged registry change (`gongxin registry add|suspend|revoke`), applied with `gongxin registry apply`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Upsert(NodeEntry),
    SetStatus {
        code: String,
        status: NodeStatus,
    },
    /// A node's keys re-issued (`gongxin registry rekey`: its disk or key was lost): the new SM2 key is added,
    /// the old ones are kept with `valid_until` set (what they signed still verifies), and the TLS certificate
    /// is replaced.
    Rekey {
        code: String,
        key: KeyEntry,
        tls_fingerprint: String,
    },
    /// Registers (or updates, or revokes) one operator certificate of a node; a revoked one stays revoked.
    Operator {
        code: String,
        operator: OperatorEntry,
    },
}

/// At most this many SM2 keys per node (its key history), so no registry document grows without bound.
pub const MAX_KEYS_PER_NODE: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SigningKey;

    fn entry(code: &str, parent: Option<&str>) -> NodeEntry {
        NodeEntry {
            code: code.into(),
            name: code.into(),
            level: "county".into(),
            parent: parent.map(Into::into),
            keys: vec![KeyEntry {
                spki_pem: SigningKey::generate().public_key().to_spki_pem(),
                valid_from: "2026-01-01T00:00:00Z".into(),
                valid_until: None,
            }],
            tls_fingerprints: vec![],
            status: NodeStatus::Active,
            operators: vec![],
        }
    }

    #[test]
    fn subtree_and_status() {
        let mut r = Registry::empty();
        for (c, p) in
            [("430000", None), ("430100", Some("430000")), ("430102", Some("430100")), ("430300", Some("430000"))]
        {
            r = r.apply(&Change::Upsert(entry(c, p)), "t").unwrap();
        }
        assert_eq!(r.version, 4);
        assert!(r.in_subtree("430100", "430102"));
        assert!(r.in_subtree("430000", "430102"));
        assert!(r.in_subtree("430102", "430102"));
        assert!(!r.in_subtree("430300", "430102"));
        assert!(!r.in_subtree("430100", "439999"));
        let r = r.apply(&Change::SetStatus { code: "430102".into(), status: NodeStatus::Revoked }, "t").unwrap();
        assert!(!r.is_active("430102"));
        assert_eq!(Registry::from_json(&r.to_json()).unwrap(), r);
        assert_eq!(r.live_keys().len(), 3);
    }

    #[test]
    fn invalid_registries_are_refused() {
        let r = Registry::empty();
        assert!(r.apply(&Change::Upsert(entry("430102", Some("430100"))), "t").is_err(), "missing parent");
        let r = r.apply(&Change::Upsert(entry("430000", None)), "t").unwrap();
        assert!(r.apply(&Change::Upsert(entry("430300", None)), "t").is_err(), "two roots");
        assert!(r.apply(&Change::SetStatus { code: "430999".into(), status: NodeStatus::Revoked }, "t").is_err());
        let mut bad = entry("430100", Some("430000"));
        bad.keys[0].spki_pem = "not a key".into();
        assert!(r.apply(&Change::Upsert(bad), "t").is_err());
        assert!(Registry::from_json(b"{").is_err());
    }

    #[test]
    fn a_rekey_keeps_the_old_keys_closed_and_replaces_the_certificate() {
        let mut r = Registry::empty();
        for (c, p) in [("430000", None), ("430100", Some("430000")), ("430102", Some("430100"))] {
            r = r.apply(&Change::Upsert(entry(c, p)), "t0").unwrap();
        }
        let old = r.keys("430102");
        let new = SigningKey::generate().public_key();
        let key = KeyEntry { spki_pem: new.to_spki_pem(), valid_from: String::new(), valid_until: None };
        let rekey = Change::Rekey { code: "430102".into(), key: key.clone(), tls_fingerprint: "ab".into() };
        let r2 = r.apply(&rekey, "2026-12-02T00:00:00Z").unwrap();
        let n = r2.node("430102").unwrap();
        assert_eq!(r2.keys("430102"), [old.clone(), vec![new]].concat(), "old keys kept, new one last");
        assert_eq!(n.keys[0].valid_until.as_deref(), Some("2026-12-02T00:00:00Z"));
        assert_eq!(n.keys[1].valid_from, "2026-12-02T00:00:00Z");
        assert_eq!(n.keys[1].valid_until, None);
        assert_eq!(n.tls_fingerprints, ["ab"]);
        // The same key twice, an unknown node, and a history past the bound are refused.
        assert!(r2.apply(&rekey, "t").unwrap_err().to_string().contains("already registered"));
        let unknown = Change::Rekey { code: "430999".into(), key, tls_fingerprint: "ab".into() };
        assert!(r2.apply(&unknown, "t").is_err());
        let mut full = r2;
        for _ in 2..MAX_KEYS_PER_NODE {
            let pem = SigningKey::generate().public_key().to_spki_pem();
            let k = KeyEntry { spki_pem: pem, valid_from: String::new(), valid_until: None };
            full = full
                .apply(&Change::Rekey { code: "430102".into(), key: k, tls_fingerprint: "cd".into() }, "t")
                .unwrap();
        }
        let pem = SigningKey::generate().public_key().to_spki_pem();
        let k = KeyEntry { spki_pem: pem, valid_from: String::new(), valid_until: None };
        let e = full.apply(&Change::Rekey { code: "430102".into(), key: k, tls_fingerprint: "ef".into() }, "t");
        assert!(e.unwrap_err().to_string().contains("the bound"));
    }

    #[test]
    fn operators_are_registered_revoked_for_good_and_kept_across_a_re_add() {
        let mut r = Registry::empty();
        for (c, p) in [("430000", None), ("430100", Some("430000"))] {
            r = r.apply(&Change::Upsert(entry(c, p)), "t").unwrap();
        }
        let op = |fp: char, reg: bool, status| OperatorEntry {
            fingerprint: fp.to_string().repeat(64),
            name: "王运维".into(),
            registry_operator: reg,
            status,
        };
        let add = |code: &str, o: OperatorEntry| Change::Operator { code: code.into(), operator: o };
        let r = r.apply(&add("430000", op('a', true, NodeStatus::Active)), "t").unwrap();
        let r = r.apply(&add("430100", op('b', false, NodeStatus::Active)), "t").unwrap();
        assert!(r.operator("430000", &"A".repeat(64)).is_some_and(|o| o.registry_operator));
        assert!(r.operator("430100", &"a".repeat(64)).is_none(), "per node");
        // Only the province's operators may be registry operators; fingerprints are checked.
        let e = r.apply(&add("430100", op('c', true, NodeStatus::Active)), "t").unwrap_err().to_string();
        assert!(e.contains("registry operators"), "{e}");
        let mut bad = op('d', false, NodeStatus::Active);
        bad.fingerprint = "xyz".into();
        assert!(r.apply(&add("430100", bad), "t").is_err());
        // Revoked for good; revoking an unknown one is refused.
        let r = r.apply(&add("430100", op('b', false, NodeStatus::Revoked)), "t").unwrap();
        assert_eq!(r.operator("430100", &"b".repeat(64)).unwrap().status, NodeStatus::Revoked);
        assert!(r
            .apply(&add("430100", op('b', false, NodeStatus::Active)), "t")
            .unwrap_err()
            .to_string()
            .contains("revoked"));
        assert!(r.apply(&add("430100", op('e', false, NodeStatus::Revoked)), "t").is_err());
        // Re-adding the node (new certificate, reactivation) keeps its operators.
        let r = r.apply(&Change::Upsert(entry("430100", Some("430000"))), "t").unwrap();
        assert_eq!(r.node("430100").unwrap().operators.len(), 1);
        // Old documents without operators still parse.
        let old = Registry::from_json(&r.to_json()).unwrap();
        assert_eq!(old, r);
    }
}
