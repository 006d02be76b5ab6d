//! The federation checks of a bundle (VERIFYING.md §4): registry, key histories, signed reports, audited
//! checkpoints and their consistency proofs, and the audit re-run offline through [`audit_subtree`].

use super::origin::{read_leaves, verify_origin, Walked};
use super::{
    berr, exists, list, load_key, parse_index, read_signed, signed_by_any, BundleError, BundleReport, BundleSource,
    FederationCheck, ReportCheck,
};
use crate::audit::{audit_subtree, AuditLeaf, AuditSource, Finding, Mark, Report, Sla, Status, REPORT_KIND};
use crate::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::crypto::{self, Digest, PublicKey, Verifier};
use crate::merkle;
use crate::registry::{Registry, REGISTRY_KIND};
use crate::sync::Anchor;
use base64::Engine as _;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

fn unix(ts: &str) -> Option<i64> {
    time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).ok().map(|t| t.unix_timestamp())
}

pub(super) fn verify_federation<S: BundleSource + ?Sized>(
    src: &S,
    codes: &BTreeSet<String>,
    history: &BTreeSet<String>,
    verifier: &Verifier,
    anchor: Option<&PublicKey>,
) -> Result<BundleReport, BundleError> {
    // The registry, and every key against it.
    let reg_bytes = src.read("registry.json")?;
    let reg = Registry::from_json(&reg_bytes).map_err(|e| berr("registry.json", e.to_string()))?;
    let Some(province) = reg.nodes.iter().find(|n| n.parent.is_none()).map(|n| n.code.clone()) else {
        return Err(berr("registry.json", "the registry lists no node"));
    };
    for n in &reg.nodes {
        if !codes.contains(&n.code) {
            return Err(berr(format!("keys/{}.pem", n.code), format!("missing: node {} is in registry.json", n.code)));
        }
    }
    let mut keys: BTreeMap<String, Vec<PublicKey>> = BTreeMap::new();
    for code in codes {
        let cur_path = format!("keys/{code}.pem");
        let Some(node) = reg.node(code) else {
            return Err(berr(cur_path, format!("origin {code} is not in registry.json: a bundle mixing federations?")));
        };
        let registered: Vec<PublicKey> = node
            .keys
            .iter()
            .map(|k| PublicKey::from_spki_pem(&k.spki_pem))
            .collect::<Result<_, _>>()
            .map_err(|e| berr("registry.json", format!("node {code}: {e}")))?;
        if !history.contains(code) {
            return Err(berr(format!("keys/{code}/0.pem"), format!("missing: the key history of {code}")));
        }
        let files = list(src, &format!("keys/{code}"))?;
        for (n, l) in files.iter().enumerate() {
            let i = parse_index(&l.stem, &l.path)?;
            if l.ext != "pem" || i != n as u64 {
                return Err(berr(&l.path, "unexpected file (expected <n>.pem numbered from 0 without gaps)"));
            }
            let k = load_key(src, &l.path)?;
            if registered.get(n) != Some(&k) {
                return Err(berr(
                    &l.path,
                    format!("is not key {n} of {code} in registry.json: a bundle mixing federations?"),
                ));
            }
        }
        if files.len() != registered.len() {
            return Err(berr(
                format!("keys/{code}/{}.pem", files.len()),
                format!("missing: registry.json lists {} keys for {code}", registered.len()),
            ));
        }
        let current = load_key(src, &cur_path)?;
        if registered.last() != Some(&current) {
            return Err(berr(
                cur_path,
                format!("is not the newest key of {code} in registry.json: a bundle mixing federations?"),
            ));
        }
        verifier.register(&current);
        keys.insert(code.clone(), registered);
    }
    let province_keys = keys.get(&province).cloned().unwrap_or_default();
    let province_key_sm3 = province_keys.last().map(|k| hex::encode(k.key_id())).unwrap_or_default();
    if let Some(a) = anchor {
        if !province_keys.contains(a) {
            return Err(berr(
                format!("keys/{province}.pem"),
                format!(
                    "the province key (SM3 {province_key_sm3}) is not the anchor you gave (SM3 {}): a bundle of another federation?",
                    hex::encode(a.key_id())
                ),
            ));
        }
    }

    // Reports: signature by the province over `Report::signed_bytes`. The file itself is compared byte for byte
    // with the payload digest of its signed leaf below, so a re-encoded or reordered report is refused there.
    let mut reports: BTreeMap<u64, (Report, Vec<u8>)> = BTreeMap::new();
    for l in list(src, "reports")? {
        let i = parse_index(&l.stem, &l.path)?;
        let (json_path, sig_path) = (format!("reports/{}.json", l.stem), format!("reports/{}.sig", l.stem));
        match l.ext.as_str() {
            "json" => {
                let bytes = src.read(&l.path)?;
                let report: Report = serde_json::from_slice(&bytes)
                    .map_err(|e| berr(&l.path, format!("truncated or not a signed audit report: {e}")))?;
                crate::format::check("audit report", report.format).map_err(|e| berr(&l.path, e.to_string()))?;
                let sig = match base64::engine::general_purpose::STANDARD.decode(&report.signature) {
                    Ok(s) if !s.is_empty() => s,
                    _ => {
                        return Err(berr(
                            &l.path,
                            "not a signed audit report: its \"signature\" field is empty or not base64",
                        ))
                    }
                };
                if !exists(src, &sig_path) {
                    return Err(berr(sig_path, "missing signature of the report"));
                }
                if src.read(&sig_path)? != sig {
                    return Err(berr(sig_path, "differs from the signature field of the report"));
                }
                if report.auditor != province {
                    return Err(berr(
                        &l.path,
                        format!("auditor {} is not the province {province} of registry.json", report.auditor),
                    ));
                }
                if !signed_by_any(verifier, &province_keys, &report.signed_bytes(), &sig) {
                    return Err(berr(
                        &l.path,
                        format!("signature does not verify with the province key keys/{province}.pem (SM3 {province_key_sm3}): altered, or a report of another federation"),
                    ));
                }
                reports.insert(i, (report, bytes));
            }
            "sig" => {
                if !exists(src, &json_path) {
                    return Err(berr(json_path, "missing report (its signature is present)"));
                }
            }
            _ => return Err(berr(l.path, "unexpected file (expected <index>.json / <index>.sig)")),
        }
    }

    // Audited checkpoints (origin-signed), checked again by the walk against the re-derived root.
    let mut marks: BTreeMap<String, (Checkpoint, SignedCheckpoint)> = BTreeMap::new();
    for l in list(src, "audit")? {
        let Some(ks) = keys.get(&l.stem) else {
            return Err(berr(
                l.path,
                "unexpected file in audit/ (expected <code>.note / <code>.sig of a known origin)",
            ));
        };
        let (note_path, sig_path) = (format!("audit/{}.note", l.stem), format!("audit/{}.sig", l.stem));
        match l.ext.as_str() {
            "note" => {
                let signed = read_signed(src, &l.path, &sig_path, "audited checkpoint")?;
                if !signed_by_any(verifier, ks, &signed.note, &signed.signature) {
                    return Err(berr(sig_path, format!("audited checkpoint is not signed by {}", l.stem)));
                }
                let cp = signed.parse().map_err(|e| berr(&l.path, e.to_string()))?;
                if cp.origin_code() != Some(l.stem.as_str()) {
                    return Err(berr(&l.path, format!("origin line {:?} does not name {}", cp.origin, l.stem)));
                }
                marks.insert(l.stem, (cp, signed));
            }
            "sig" => {
                if !exists(src, &note_path) {
                    return Err(berr(note_path, "missing audited checkpoint (its signature is present)"));
                }
            }
            _ => return Err(berr(l.path, "unexpected file (expected <code>.note / <code>.sig)")),
        }
    }

    // Every origin, the province first.
    let mut order: Vec<&String> = vec![&province];
    order.extend(codes.iter().filter(|c| **c != province));
    let mut walked: BTreeMap<String, Walked> = BTreeMap::new();
    for code in order {
        let extra: Vec<(u64, Digest, String)> =
            marks.get(code).map(|(cp, _)| vec![(cp.size, cp.root, format!("audit/{code}.note"))]).unwrap_or_default();
        let Some(ks) = keys.get(code) else { return Err(berr(format!("keys/{code}.pem"), "no key")) };
        let w = verify_origin(src, code, ks, verifier, &extra, true)?;
        if let Some((cp, _)) = marks.get(code) {
            if cp.size > w.report.entries {
                return Err(berr(
                    format!("audit/{code}.note"),
                    format!(
                        "audited size {} is beyond the {} leaves of {code} in the bundle (truncated?)",
                        cp.size, w.report.entries
                    ),
                ));
            }
        }
        walked.insert(code.clone(), w);
    }

    // Consistency proofs from each audited checkpoint to the newest checkpoint.
    let mut proofs = 0;
    for code in codes {
        let files = list(src, &format!("proofs/{code}"))?;
        let Some(w) = walked.get(code) else { continue };
        let Some((mark, _)) = marks.get(code) else {
            if let Some(l) = files.first() {
                return Err(berr(&l.path, format!("proof without an audited checkpoint audit/{code}.note")));
            }
            continue;
        };
        let Some(l) = files.first() else {
            return Err(berr(
                format!("proofs/{code}/{}-{}.proof", mark.size, w.report.latest_size),
                "missing: the consistency proof from the audited checkpoint to the newest one",
            ));
        };
        let p = l.path.as_str();
        if let Some(second) = files.get(1) {
            return Err(berr(&second.path, "second consistency proof for one origin"));
        }
        let sizes = l.stem.split_once('-').and_then(|(a, b)| {
            let (a, b) = (a.parse::<u64>().ok()?, b.parse::<u64>().ok()?);
            (format!("{a}-{b}") == l.stem).then_some((a, b))
        });
        let (Some((old, new)), "proof") = (sizes, l.ext.as_str()) else {
            return Err(berr(p, "unexpected file (expected <old>-<new>.proof)"));
        };
        if old != mark.size {
            return Err(berr(p, format!("starts at {old}, the audited checkpoint has size {}", mark.size)));
        }
        if new != w.report.latest_size {
            return Err(berr(p, format!("ends at {new}, the newest checkpoint of {code} is {}", w.report.latest_size)));
        }
        let Some(new_root) = w.roots.get(&new) else {
            return Err(berr(p, format!("ends at {new}, but checkpoints/{code}/{new}.note is not in the bundle")));
        };
        let text = String::from_utf8(src.read(p)?).map_err(|_| berr(p, "not text"))?;
        let mut hashes = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let mut d = [0u8; 32];
            hex::decode_to_slice(line, &mut d)
                .map_err(|_| berr(p, format!("line {}: not a 32-byte hex hash", n + 1)))?;
            hashes.push(d);
        }
        merkle::verify_consistency(old, new, &hashes, &mark.root, new_root)
            .map_err(|e| berr(p, format!("consistency proof from {old} to {new} does not verify: {e}")))?;
        proofs += 1;
    }

    // The registry and the reports are the payloads of signed leaves of the province log.
    let Some(pw) = walked.get(&province) else {
        return Err(berr(format!("keys/{province}.pem"), "missing: the province's log"));
    };
    let Some((reg_index, _, reg_digest)) = pw.system.iter().rev().find(|(_, k, _)| k == REGISTRY_KIND) else {
        return Err(berr("registry.json", format!("the province log entries/{province}/ publishes no registry")));
    };
    if crypto::sm3(&reg_bytes) != *reg_digest {
        return Err(berr(
            "registry.json",
            format!(
                "differs from the newest registry the province published (entry {reg_index} of entries/{province}/)"
            ),
        ));
    }
    for (index, kind, digest) in &pw.system {
        if kind != REPORT_KIND {
            continue;
        }
        match reports.get(index) {
            None => {
                return Err(berr(
                    format!("reports/{index}.json"),
                    format!("missing: leaf {index} of the province log is an audit report"),
                ))
            }
            Some((_, bytes)) if crypto::sm3(bytes) != *digest => {
                return Err(berr(
                    format!("reports/{index}.json"),
                    format!("differs from the report published at entry {index} of entries/{province}/"),
                ))
            }
            Some(_) => {}
        }
    }
    for index in reports.keys() {
        if !pw.system.iter().any(|(i, k, _)| i == index && k == REPORT_KIND) {
            return Err(berr(
                format!("reports/{index}.json"),
                format!("is not published in the province log (entry {index} of entries/{province}/ is not an audit report)"),
            ));
        }
    }
    // The newest report must not have audited more than the bundle holds.
    let newest = reports.iter().next_back();
    if let Some((i, (r, _))) = newest {
        for o in &r.origins {
            let held = walked.get(&o.code).map(|w| w.report.entries).unwrap_or(0);
            if held < o.mirror_size {
                return Err(berr(
                    format!("entries/{}/", o.code),
                    format!("the bundle holds {held} leaves of {} but the signed report reports/{i}.json audited {}: truncated bundle", o.code, o.mirror_size),
                ));
            }
        }
    }

    // The audit rules, re-run offline as of the newest signed time in the bundle.
    let mut newest_time: Option<(i64, String)> = None;
    let mut consider = |ts: &str| {
        if let Some(t) = unix(ts) {
            if newest_time.as_ref().is_none_or(|(n, _)| t > *n) {
                newest_time = Some((t, ts.to_string()));
            }
        }
    };
    for (r, _) in reports.values() {
        consider(&r.at);
    }
    for w in walked.values() {
        if let Some(ts) = &w.report.latest_timestamp {
            consider(ts);
        }
    }
    let (now, at) = newest_time.unwrap_or((0, String::new()));
    let sla: Sla = newest.map(|(_, (r, _))| r.sla).unwrap_or_default();
    let source = BundleAudit {
        src,
        province: &province,
        keys: &keys,
        walked: &walked,
        marks: &marks,
        newest: newest.map(|(i, (r, _))| (*i, r)),
    };
    let run = audit_subtree(&source, &reg, &province, "bundle", verifier, now, &sla)?;
    let (audit, _) = run.into_report(&format!("{province} (offline re-check of the bundle)"), &at, sla);
    let reports = reports
        .iter()
        .map(|(i, (r, _))| ReportCheck {
            index: *i,
            at: r.at.clone(),
            origins: r.origins.len(),
            not_ok: r.origins.iter().filter(|o| o.status != Status::Ok).map(|o| o.code.clone()).collect(),
        })
        .collect();
    let origins = codes.iter().filter_map(|c| walked.get(c)).map(|w| w.report.clone()).collect();
    Ok(BundleReport {
        origins,
        federation: Some(FederationCheck {
            province,
            province_key_sm3,
            anchor_pinned: anchor.is_some(),
            registry_version: reg.version,
            registry_index: *reg_index,
            reports,
            proofs,
            audit,
        }),
    })
}

/// The bundle as the audit sees it, after the walk: every leaf is already verified, so the audit continues from
/// the walked frontier (a mark at the bundle's size) and sees the checkpoints, the audited checkpoint and the
/// evidence of the newest signed report. Everything in it was delivered by the province, which exported it.
struct BundleAudit<'a, S: ?Sized> {
    src: &'a S,
    province: &'a str,
    keys: &'a BTreeMap<String, Vec<PublicKey>>,
    walked: &'a BTreeMap<String, Walked>,
    marks: &'a BTreeMap<String, (Checkpoint, SignedCheckpoint)>,
    newest: Option<(u64, &'a Report)>,
}

impl<'a, S: BundleSource + ?Sized> BundleAudit<'a, S> {
    fn walked(&self, code: &str) -> Result<&'a Walked, BundleError> {
        self.walked.get(code).ok_or_else(|| berr(format!("keys/{code}.pem"), "missing: origin not walked"))
    }
}

impl<S: BundleSource + ?Sized> AuditSource for BundleAudit<'_, S> {
    type Error = BundleError;

    fn keys(&self, code: &str) -> Vec<PublicKey> {
        self.keys.get(code).cloned().unwrap_or_default()
    }

    fn delivered_by(&self, _code: &str) -> String {
        self.province.to_string()
    }

    fn checkpoints(&self, code: &str) -> Result<Vec<SignedCheckpoint>, BundleError> {
        Ok(self.walked(code)?.checkpoints.clone())
    }

    fn resume(&self, code: &str) -> Result<Option<Mark>, BundleError> {
        let w = self.walked(code)?;
        let n = w.report.entries;
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        Ok(w.checkpoints.iter().find(|c| c.parse().is_ok_and(|p| p.size == n)).map(|c| Mark {
            format: crate::format::V1,
            size: n,
            root: hex::encode(w.frontier.root()),
            frontier: w.frontier.hashes().iter().map(hex::encode).collect(),
            checkpoint_b64: b64(&c.note),
            signature_b64: b64(&c.signature),
        }))
    }

    fn verified(&self, code: &str) -> u64 {
        self.walked.get(code).map(|w| w.report.entries).unwrap_or(0)
    }

    fn last_audit(&self, code: &str) -> Result<Option<(SignedCheckpoint, String)>, BundleError> {
        Ok(self.marks.get(code).map(|(_, signed)| (signed.clone(), self.province.to_string())))
    }

    fn anchors(&self, _code: &str) -> Result<Vec<(String, Anchor)>, BundleError> {
        Ok(Vec::new())
    }

    fn held(&self, code: &str) -> Result<u64, BundleError> {
        Ok(self.walked(code)?.report.entries)
    }

    fn leaves(&self, code: &str, range: Range<u64>) -> Result<Vec<AuditLeaf>, BundleError> {
        let w = self.walked(code)?;
        read_leaves(self.src, code, &w.packs, range.start..range.end.min(w.report.entries))
    }

    fn findings(&self, code: &str) -> Result<Vec<Finding>, BundleError> {
        let province = self.province;
        Ok(self
            .newest
            .and_then(|(i, r)| r.origins.iter().find(|o| o.code == code).map(|o| (i, o)))
            .map(|(i, o)| {
                o.evidence
                    .iter()
                    .map(|f| Finding {
                        kind: f.kind.clone(),
                        culprit: f.culprit.clone(),
                        detail: format!("{} (reported by {province} in reports/{i}.json)", f.detail),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }
}
