//! The walk of one origin's log in a bundle: checkpoints, leaves, payloads and the re-derived roots.

use super::{berr, exists, list, parse_index, read_signed, signed_by_any, BundleError, BundleSource, OriginReport};
use crate::audit::{AuditLeaf, REPORT_KIND};
use crate::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::crypto::{self, Digest, PublicKey, Verifier};
use crate::envelope::LeafHeader;
use crate::merkle::Frontier;
use crate::registry::REGISTRY_KIND;
use std::collections::{BTreeMap, BTreeSet};

/// Everything about one origin after its walk.
pub(super) struct Walked {
    pub report: OriginReport,
    pub checkpoints: Vec<SignedCheckpoint>,
    /// Root of each checkpoint size, by size.
    pub roots: BTreeMap<u64, Digest>,
    pub frontier: Frontier,
    /// `(index, kind, payload digest)` of the registry and audit-report leaves.
    pub system: Vec<(u64, String, Digest)>,
    /// Payload file of each leaf that has one, by index.
    pub payloads: BTreeMap<u64, String>,
}

/// Leaf `i` of `code`, its signature and its payload (if the bundle holds one), as the audit reads them.
pub(super) fn read_leaf<S: BundleSource + ?Sized>(
    src: &S,
    code: &str,
    i: u64,
    payloads: &BTreeMap<u64, String>,
) -> Result<AuditLeaf, BundleError> {
    let leaf = src.read(&format!("entries/{code}/{i}.bin"))?;
    let sig = src.read(&format!("entries/{code}/{i}.sig"))?;
    let payload = payloads.get(&i).map(|p| src.read(p)).transpose()?;
    Ok((i, leaf, sig, payload))
}

/// Walks one origin: checkpoints (signature by one of `keys`, origin, size), contiguous leaves with signatures,
/// headers and payload digests, and the root re-derived at every checkpoint size and at every `extra` size
/// (`(size, root, file)`). `allow_empty`: an origin with no checkpoint and no leaf is fine (a federation bundle
/// lists every registered node, held or not).
pub(super) fn verify_origin<S: BundleSource + ?Sized>(
    src: &S,
    code: &str,
    keys: &[PublicKey],
    verifier: &Verifier,
    extra: &[(u64, Digest, String)],
    allow_empty: bool,
) -> Result<Walked, BundleError> {
    let Some(key) = keys.last().cloned() else {
        return Err(berr(format!("keys/{code}.pem"), "no key"));
    };

    // Checkpoints: signature, origin, size; collected by size.
    let mut checkpoints: BTreeMap<u64, (Checkpoint, String)> = BTreeMap::new();
    let mut signed_cps = Vec::new();
    let cdir = format!("checkpoints/{code}");
    for l in list(src, &cdir)? {
        let size = parse_index(&l.stem, &l.path)?;
        let (note_path, sig_path) = (format!("{cdir}/{}.note", l.stem), format!("{cdir}/{}.sig", l.stem));
        match l.ext.as_str() {
            "note" => {
                let signed = read_signed(src, &l.path, &sig_path, "checkpoint")?;
                if let Err(e) = verifier.verify(&key, &signed.note, &signed.signature) {
                    if !signed_by_any(verifier, keys, &signed.note, &signed.signature) {
                        return Err(berr(sig_path, format!("checkpoint {e}")));
                    }
                }
                let cp = signed.parse().map_err(|e| berr(&l.path, e.to_string()))?;
                if cp.origin_code() != Some(code) {
                    return Err(berr(l.path, format!("origin line {:?} does not name {code}", cp.origin)));
                }
                if cp.size != size {
                    return Err(berr(l.path, format!("checkpoint size {} does not match file name", cp.size)));
                }
                checkpoints.insert(size, (cp, l.path));
                signed_cps.push(signed);
            }
            "sig" => {
                if !exists(src, &note_path) {
                    return Err(berr(note_path, "missing checkpoint note (its signature is present)"));
                }
            }
            _ => return Err(berr(l.path, "unexpected file (expected <size>.note / <size>.sig)")),
        }
    }
    let (latest_size, latest_timestamp) = match checkpoints.iter().next_back() {
        Some((&s, (cp, _))) => (s, cp.timestamp().map(str::to_string)),
        None if allow_empty => (0, None),
        None => return Err(berr(cdir, format!("no signed checkpoint for origin {code}"))),
    };

    // Entries: contiguous 0..n, each .bin with its .sig.
    let edir = format!("entries/{code}");
    let mut indices = BTreeSet::new();
    for l in list(src, &edir)? {
        let i = parse_index(&l.stem, &l.path)?;
        match l.ext.as_str() {
            "bin" => {
                indices.insert(i);
            }
            "sig" => {
                let bin = format!("{edir}/{}.bin", l.stem);
                if !exists(src, &bin) {
                    return Err(berr(bin, "missing leaf (its signature is present)"));
                }
            }
            _ => return Err(berr(l.path, "unexpected file (expected <index>.bin / <index>.sig)")),
        }
    }
    let n = indices.len() as u64;
    if let Some(missing) = (0..n).find(|i| !indices.contains(i)) {
        return Err(berr(format!("{edir}/{missing}.bin"), "missing leaf: indices must be contiguous from 0"));
    }
    if checkpoints.is_empty() && n > 0 {
        return Err(berr(cdir, format!("no signed checkpoint covers the {n} leaves of origin {code}")));
    }
    if latest_size != n {
        let (p, why) = if latest_size > n {
            (format!("{edir}/{n}.bin"), format!("missing leaf: the checkpoint of size {latest_size} covers it"))
        } else {
            (format!("{edir}/{latest_size}.bin"), "leaf beyond the latest signed checkpoint".to_string())
        };
        return Err(berr(p, why));
    }

    // Payloads by index.
    let mut payloads: BTreeMap<u64, String> = BTreeMap::new();
    for l in list(src, &format!("payloads/{code}"))? {
        let i = parse_index(&l.stem, &l.path)?;
        if i >= n {
            return Err(berr(l.path, "payload of a leaf that is not in the bundle"));
        }
        if payloads.contains_key(&i) {
            return Err(berr(l.path, "second payload for the same leaf"));
        }
        payloads.insert(i, l.path);
    }

    // Every root to compare with the re-derived one, by size.
    let mut expected: BTreeMap<u64, Vec<(Digest, String)>> = BTreeMap::new();
    for (size, (cp, p)) in &checkpoints {
        expected.entry(*size).or_default().push((cp.root, p.clone()));
    }
    for (size, r, file) in extra {
        expected.entry(*size).or_default().push((*r, file.clone()));
    }
    let check_root = |frontier: &Frontier| -> Result<(), BundleError> {
        for (want, file) in expected.get(&frontier.size()).map(Vec::as_slice).unwrap_or(&[]) {
            if *want != frontier.root() {
                return Err(berr(
                    file.as_str(),
                    format!(
                        "root {} differs from the root {} re-derived from the leaves",
                        hex::encode(want),
                        hex::encode(frontier.root())
                    ),
                ));
            }
        }
        Ok(())
    };

    // Walk the leaves in order: signature, header, payload digest, and the root at every checkpoint size.
    let mut frontier = Frontier::new();
    let mut system = Vec::new();
    check_root(&frontier)?;
    // Signatures are checked a chunk at a time on all cores (the shared verifier, with a table for this key);
    // everything else in index order, so the first bad object reported is the first in the log.
    const CHUNK: u64 = 4096;
    verifier.register(&key);
    let mut at = 0;
    while at < n {
        let upto = (at + CHUNK).min(n);
        let mut chunk = Vec::with_capacity((upto - at) as usize);
        for i in at..upto {
            let leaf_path = format!("{edir}/{i}.bin");
            let sig_path = format!("{edir}/{i}.sig");
            let leaf = src.read(&leaf_path)?;
            if !exists(src, &sig_path) {
                return Err(berr(sig_path, "missing signature of the leaf"));
            }
            let sig = src.read(&sig_path)?;
            chunk.push((i, leaf_path, sig_path, leaf, sig));
        }
        let items: Vec<(&[u8], &[u8])> =
            chunk.iter().map(|(_, _, _, leaf, sig)| (leaf.as_slice(), sig.as_slice())).collect();
        let verdicts = verifier.verify_batch_any(keys, &items);
        for ((i, leaf_path, sig_path, leaf, _), verdict) in chunk.iter().zip(verdicts) {
            let i = *i;
            verdict.map_err(|e| berr(sig_path, e.to_string()))?;
            let h = LeafHeader::decode_at(leaf, code, i).map_err(|e| berr(leaf_path, e.to_string()))?;
            if let Some(p) = payloads.get(&i) {
                let body = src.read(p)?;
                if !h.payload_matches(&body) {
                    return Err(berr(
                        p.as_str(),
                        format!(
                            "SM3 {} differs from payload-sm3 {} in the signed leaf",
                            hex::encode(crypto::sm3(&body)),
                            hex::encode(h.payload_digest)
                        ),
                    ));
                }
            }
            if h.kind == REGISTRY_KIND || h.kind == REPORT_KIND {
                system.push((i, h.kind.clone(), h.payload_digest));
            }
            frontier.push_leaf(leaf);
            check_root(&frontier)?;
        }
        at = upto;
    }
    let roots = checkpoints.iter().map(|(s, (cp, _))| (*s, cp.root)).collect();
    Ok(Walked {
        report: OriginReport {
            code: code.to_string(),
            entries: n,
            checkpoints: checkpoints.len() as u64,
            payloads: payloads.len() as u64,
            latest_size,
            root: hex::encode(frontier.root()),
            latest_timestamp,
        },
        checkpoints: signed_cps,
        roots,
        frontier,
        system,
        payloads,
    })
}
