//! The walk of one origin's log in a bundle: checkpoints, leaves, payloads and the re-derived roots.

use super::{
    berr, exists, list, pack, parse_index, read_signed, signed_by_any, BundleError, BundleSource, OriginReport,
};
use crate::audit::{AuditLeaf, REPORT_KIND};
use crate::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::crypto::{self, Digest, PublicKey, Verifier};
use crate::envelope::LeafHeader;
use crate::merkle::{self, Frontier};
use crate::registry::REGISTRY_KIND;
use std::collections::BTreeMap;

/// One pack of an origin's entries: the index of its first entry and how many it holds.
#[derive(Debug, Clone, Copy)]
pub(super) struct PackRef {
    pub first: u64,
    pub count: u64,
}

/// Everything about one origin after its walk.
pub(super) struct Walked {
    pub report: OriginReport,
    pub checkpoints: Vec<SignedCheckpoint>,
    /// Root of each checkpoint size, by size.
    pub roots: BTreeMap<u64, Digest>,
    pub frontier: Frontier,
    /// `(index, kind, payload digest)` of the registry and audit-report leaves.
    pub system: Vec<(u64, String, Digest)>,
    /// The packs in index order.
    pub packs: Vec<PackRef>,
}

/// Reads the pack of `code` that starts at `first`: its bytes, its parsed index and the pack's path.
fn read_pack<S: BundleSource + ?Sized>(
    src: &S,
    code: &str,
    first: u64,
) -> Result<(Vec<u8>, Vec<pack::Line>, String), BundleError> {
    let (pack_path, idx_path) = (format!("entries/{code}/{first}.pack"), format!("entries/{code}/{first}.idx"));
    let lines = pack::parse_index(&src.read(&idx_path)?, &idx_path, first)?;
    Ok((src.read(&pack_path)?, lines, pack_path))
}

/// Leaves `range` of `code`, with signatures and payloads (where the bundle holds them), as the audit reads
/// them: each pack overlapping the range is read once.
pub(super) fn read_leaves<S: BundleSource + ?Sized>(
    src: &S,
    code: &str,
    packs: &[PackRef],
    range: std::ops::Range<u64>,
) -> Result<Vec<AuditLeaf>, BundleError> {
    let mut out = Vec::new();
    for p in packs.iter().filter(|p| p.first < range.end && p.first + p.count > range.start) {
        let (bytes, lines, path) = read_pack(src, code, p.first)?;
        for s in pack::split(&bytes, &lines, &path)?.into_iter().filter(|s| range.contains(&s.index)) {
            out.push((s.index, s.leaf.to_vec(), s.sig.to_vec(), s.payload.map(|(b, _)| b.to_vec())));
        }
    }
    Ok(out)
}

/// What the parallel part of the walk found for one entry.
struct Checked {
    leaf_hash: Digest,
    system: Option<(String, Digest)>,
    payload: bool,
}

/// The checks of one entry that need nothing from the others: its signature (by the newest key, else any older
/// one), its header (origin, index) and its payload digest; and its leaf hash.
fn check_entry(
    verifier: &Verifier,
    keys: &[PublicKey],
    code: &str,
    first: u64,
    s: &pack::Slot<'_>,
) -> Result<Checked, BundleError> {
    let name = || pack::entry_name(code, first, s.index);
    let Some((newest, older)) = keys.split_last() else {
        return Err(berr(format!("keys/{code}.pem"), "no key"));
    };
    if let Err(e) = verifier.verify(newest, s.leaf, s.sig) {
        if older.is_empty() || !signed_by_any(verifier, older, s.leaf, s.sig) {
            return Err(berr(name(), format!("signature of the leaf: {e}")));
        }
    }
    let h = LeafHeader::decode_at(s.leaf, code, s.index).map_err(|e| berr(name(), e.to_string()))?;
    if let Some((body, _)) = s.payload {
        if !h.payload_matches(body) {
            return Err(berr(
                name(),
                format!(
                    "payload SM3 {} differs from payload-sm3 {} in the signed leaf",
                    hex::encode(crypto::sm3(body)),
                    hex::encode(h.payload_digest)
                ),
            ));
        }
    }
    let system = (h.kind == REGISTRY_KIND || h.kind == REPORT_KIND).then(|| (h.kind.clone(), h.payload_digest));
    Ok(Checked { leaf_hash: merkle::leaf_hash(s.leaf), system, payload: s.payload.is_some() })
}

/// [`check_entry`] over `slots` on all cores, contiguous shares, results in input order.
fn check_all(
    verifier: &Verifier,
    keys: &[PublicKey],
    code: &str,
    slots: &[(u64, pack::Slot<'_>)],
) -> Vec<Result<Checked, BundleError>> {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(slots.len() / 64).max(1);
    let run = |part: &[(u64, pack::Slot<'_>)]| -> Vec<Result<Checked, BundleError>> {
        part.iter().map(|(first, s)| check_entry(verifier, keys, code, *first, s)).collect()
    };
    if threads == 1 {
        return run(slots);
    }
    let per = slots.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = slots.chunks(per).map(|part| scope.spawn(move || run(part))).collect();
        let mut out = Vec::with_capacity(slots.len());
        for h in handles {
            match h.join() {
                Ok(r) => out.extend(r),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    })
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

    // Packs: `<first>.idx` with `<first>.pack`, each starting where the previous one ended.
    let edir = format!("entries/{code}");
    let mut firsts: BTreeMap<u64, [bool; 2]> = BTreeMap::new();
    for l in list(src, &edir)? {
        let first = parse_index(&l.stem, &l.path)?;
        let slot = match l.ext.as_str() {
            "idx" if !l.is_dir => 0,
            "pack" if !l.is_dir => 1,
            _ => return Err(berr(l.path, "unexpected entry (expected the files <first>.idx and <first>.pack)")),
        };
        firsts.entry(first).or_default()[slot] = true;
    }
    let mut packs = Vec::with_capacity(firsts.len());
    let mut n = 0u64;
    for (first, [idx, pk]) in firsts {
        if !idx || !pk {
            let (missing, other) = if idx { ("pack", "idx") } else { ("idx", "pack") };
            return Err(berr(format!("{edir}/{first}.{missing}"), format!("missing (its .{other} is present)")));
        }
        if first != n {
            return Err(berr(
                format!("{edir}/{first}.pack"),
                format!(
                    "starts at entry {first}, but the packs before it end at entry {n} (entries are contiguous from 0)"
                ),
            ));
        }
        let idx_path = format!("{edir}/{first}.idx");
        let count = pack::parse_index(&src.read(&idx_path)?, &idx_path, first)?.len() as u64;
        packs.push(PackRef { first, count });
        n += count;
    }
    if checkpoints.is_empty() && n > 0 {
        return Err(berr(cdir, format!("no signed checkpoint covers the {n} leaves of origin {code}")));
    }
    if latest_size != n {
        let why = if latest_size > n {
            format!("missing entries: the checkpoint of size {latest_size} covers them, the packs end at entry {n}")
        } else {
            format!("entries beyond the latest signed checkpoint (size {latest_size}): the packs hold {n}")
        };
        return Err(berr(format!("{edir}/"), why));
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

    // Walk the packs in order, a batch of about CHUNK entries at a time: signature, header, payload digest and
    // leaf hash of every entry on all cores (the shared verifier, with a table for this key); then the tree in
    // index order, so the first bad object reported is the first in the log.
    const CHUNK: u64 = 4096;
    const CHUNK_BYTES: usize = 32 << 20;
    let mut frontier = Frontier::new();
    let mut system = Vec::new();
    let mut payloads = 0u64;
    check_root(&frontier)?;
    verifier.register(&key);
    let mut next = 0;
    while next < packs.len() {
        let mut held = Vec::new();
        let (mut entries, mut bytes) = (0u64, 0usize);
        while next < packs.len() && entries < CHUNK && bytes < CHUNK_BYTES {
            let p = packs[next];
            let (b, lines, path) = read_pack(src, code, p.first)?;
            if lines.len() as u64 != p.count {
                return Err(berr(path, "its index changed while the bundle was read"));
            }
            entries += p.count;
            bytes += b.len();
            held.push((p.first, b, lines, path));
            next += 1;
        }
        let mut slots = Vec::with_capacity(entries as usize);
        for (first, b, lines, path) in &held {
            slots.extend(pack::split(b, lines, path)?.into_iter().map(|s| (*first, s)));
        }
        for ((_, s), checked) in slots.iter().zip(check_all(verifier, keys, code, &slots)) {
            let c = checked?;
            if let Some((kind, digest)) = c.system {
                system.push((s.index, kind, digest));
            }
            payloads += u64::from(c.payload);
            frontier.push_hash(c.leaf_hash);
            check_root(&frontier)?;
        }
    }
    let roots = checkpoints.iter().map(|(s, (cp, _))| (*s, cp.root)).collect();
    Ok(Walked {
        report: OriginReport {
            code: code.to_string(),
            entries: n,
            checkpoints: checkpoints.len() as u64,
            payloads,
            latest_size,
            root: hex::encode(frontier.root()),
            latest_timestamp,
        },
        checkpoints: signed_cps,
        roots,
        frontier,
        system,
        packs,
    })
}
