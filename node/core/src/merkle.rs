//! RFC 9162 Merkle tree math with SM3 (DESIGN §5): tree head, inclusion and consistency proofs, and an
//! incremental frontier for appending.
//!
//! * leaf hash  = SM3(0x00 ‖ leaf bytes)
//! * node hash  = SM3(0x01 ‖ left ‖ right)
//! * empty tree = SM3("")
//!
//! Proofs are generated from a [`SubtreeSource`]: the hashes of *complete aligned* subtrees, addressed by
//! `(level, index)` where the subtree covers leaves `[index·2^level, (index+1)·2^level)`. Level 0 holds the leaf
//! hashes. Every node of the RFC 9162 tree over `n` leaves is either such an aligned subtree or lies on the right
//! edge, and right-edge nodes are derived here from aligned ones, so a store only keeps aligned hashes (about
//! `2n` of them), which never change once written.
//!
//! This module is pure: no I/O. The store supplies hashes through the trait.

use crate::crypto::{sm3, sm3_parts, Digest};

/// Hash of the empty tree, SM3("").
pub fn empty_root() -> Digest {
    sm3(b"")
}

/// RFC 9162 leaf hash: SM3(0x00 ‖ leaf).
pub fn leaf_hash(leaf: &[u8]) -> Digest {
    sm3_parts(&[&[0x00], leaf])
}

/// RFC 9162 interior node hash: SM3(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Digest, right: &Digest) -> Digest {
    sm3_parts(&[&[0x01], left, right])
}

/// Errors from proof generation and tree computations.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MerkleError<E> {
    #[error("subtree hash source failed: {0}")]
    Source(E),
    #[error("subtree hash missing at level {level}, index {index}")]
    MissingSubtree { level: u8, index: u64 },
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("consistency proof asked from size {old} to smaller size {new}")]
    SizesReversed { old: u64, new: u64 },
    #[error("frontier for size {size} needs {expected} subtree hashes, got {got}")]
    BadFrontier { size: u64, expected: usize, got: usize },
}

/// Why a proof did not verify.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum VerifyError {
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("old size {old} is larger than new size {new}")]
    SizesReversed { old: u64, new: u64 },
    #[error("proof has the wrong number of hashes for these sizes")]
    WrongLength,
    #[error("proof does not lead to the expected root")]
    RootMismatch,
}

/// Hashes of complete aligned subtrees of one log. `level` ≤ 63; the subtree `(level, index)` covers leaves
/// `[index << level, (index + 1) << level)`. Returns `Ok(None)` when the hash is not held.
pub trait SubtreeSource {
    type Error;
    fn aligned(&self, level: u8, index: u64) -> Result<Option<Digest>, Self::Error>;
}

/// Largest power of two strictly smaller than `n` (n ≥ 2).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

fn get_aligned<S: SubtreeSource + ?Sized>(src: &S, level: u8, index: u64) -> Result<Digest, MerkleError<S::Error>> {
    src.aligned(level, index).map_err(MerkleError::Source)?.ok_or(MerkleError::MissingSubtree { level, index })
}

/// RFC 9162 hash of the leaves `[start, end)` as they appear as a node of a tree: `start` must be a multiple of
/// the largest power of two not exceeding `end - start` whenever the range is not itself aligned (true of every
/// node of an RFC 9162 tree). The empty range hashes to SM3("").
pub fn range_hash<S: SubtreeSource + ?Sized>(src: &S, start: u64, end: u64) -> Result<Digest, MerkleError<S::Error>> {
    let n = end - start;
    if n == 0 {
        return Ok(empty_root());
    }
    if n.is_power_of_two() && start % n == 0 {
        return get_aligned(src, n.trailing_zeros() as u8, start >> n.trailing_zeros());
    }
    let k = split_point(n);
    let left = range_hash(src, start, start + k)?;
    let right = range_hash(src, start + k, end)?;
    Ok(node_hash(&left, &right))
}

/// Merkle tree head of the first `size` leaves.
pub fn root<S: SubtreeSource + ?Sized>(src: &S, size: u64) -> Result<Digest, MerkleError<S::Error>> {
    range_hash(src, 0, size)
}

/// RFC 9162 inclusion proof (audit path) for leaf `index` in the tree of the first `size` leaves, leaf-side first.
pub fn inclusion_proof<S: SubtreeSource + ?Sized>(
    src: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Digest>, MerkleError<S::Error>> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    // Walk down from the root, collecting siblings; reverse at the end so the proof runs leaf → root.
    let mut path = Vec::new();
    let (mut start, mut end) = (0u64, size);
    while end - start > 1 {
        let k = split_point(end - start);
        if index < start + k {
            path.push(range_hash(src, start + k, end)?);
            end = start + k;
        } else {
            path.push(range_hash(src, start, start + k)?);
            start += k;
        }
    }
    path.reverse();
    Ok(path)
}

/// RFC 9162 consistency proof between the trees of sizes `old` and `new` (old ≤ new). Empty when `old` is 0 or
/// equal to `new`.
pub fn consistency_proof<S: SubtreeSource + ?Sized>(
    src: &S,
    old: u64,
    new: u64,
) -> Result<Vec<Digest>, MerkleError<S::Error>> {
    if old > new {
        return Err(MerkleError::SizesReversed { old, new });
    }
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    // SUBPROOF(m, D[start:end], b) of RFC 9162 §2.1.4.1, iteratively.
    let mut proof = Vec::new();
    let (mut start, mut end) = (0u64, new);
    let mut m = old; // relative to start
    let mut whole = true; // the "b" flag: the old tree is a complete subtree we already know
    loop {
        let n = end - start;
        if m == n {
            if !whole {
                proof.push(range_hash(src, start, end)?);
            }
            break;
        }
        let k = split_point(n);
        if m <= k {
            proof.push(range_hash(src, start + k, end)?);
            end = start + k;
        } else {
            proof.push(range_hash(src, start, start + k)?);
            start += k;
            m -= k;
            whole = false;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// Checks an inclusion proof (RFC 9162 §2.1.3.2) of the leaf with hash `leaf` at `index` in a tree of `size`
/// with head `root`.
pub fn verify_inclusion(
    leaf: &Digest,
    index: u64,
    size: u64,
    proof: &[Digest],
    root: &Digest,
) -> Result<(), VerifyError> {
    if index >= size {
        return Err(VerifyError::IndexOutOfRange { index, size });
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return Err(VerifyError::WrongLength);
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(VerifyError::WrongLength);
    }
    if &r != root {
        return Err(VerifyError::RootMismatch);
    }
    Ok(())
}

/// Checks a consistency proof (RFC 9162 §2.1.4.2) that the tree of `old_size` with head `old_root` is a prefix
/// of the tree of `new_size` with head `new_root`. A tree of size 0 is consistent with any tree when `old_root`
/// is the empty root; equal sizes need an empty proof and equal roots.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    proof: &[Digest],
    old_root: &Digest,
    new_root: &Digest,
) -> Result<(), VerifyError> {
    if old_size > new_size {
        return Err(VerifyError::SizesReversed { old: old_size, new: new_size });
    }
    if old_size == 0 {
        if !proof.is_empty() {
            return Err(VerifyError::WrongLength);
        }
        return if *old_root == empty_root() { Ok(()) } else { Err(VerifyError::RootMismatch) };
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(VerifyError::WrongLength);
        }
        return if old_root == new_root { Ok(()) } else { Err(VerifyError::RootMismatch) };
    }
    if proof.is_empty() {
        return Err(VerifyError::WrongLength);
    }
    let mut path: Vec<&Digest> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(old_root);
    }
    path.extend(proof.iter());
    let (mut fnode, mut snode) = (old_size - 1, new_size - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let mut fr = *path[0];
    let mut sr = *path[0];
    for c in &path[1..] {
        if snode == 0 {
            return Err(VerifyError::WrongLength);
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(VerifyError::WrongLength);
    }
    if &fr != old_root || &sr != new_root {
        return Err(VerifyError::RootMismatch);
    }
    Ok(())
}

/// One complete aligned subtree hash produced by an append, to be stored by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlignedHash {
    pub level: u8,
    pub index: u64,
    pub hash: Digest,
}

/// The right edge of a tree (the "compact range" `[0, size)`): one complete aligned subtree per set bit of
/// `size`, from the highest level down. Enough to append leaves and compute the head without the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// `(level, hash)` in descending level order; levels are the set bits of `size`.
    nodes: Vec<(u8, Digest)>,
}

impl Default for Frontier {
    fn default() -> Self {
        Self::new()
    }
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Self { size: 0, nodes: Vec::new() }
    }

    /// The aligned subtrees `(level, index)` a frontier of `size` is made of, highest level first.
    pub fn positions(size: u64) -> Vec<(u8, u64)> {
        (0..64u8).rev().filter(|l| size >> l & 1 == 1).map(|l| (l, (size >> l) - 1)).collect()
    }

    /// Loads the frontier of `size` from stored aligned subtree hashes.
    pub fn load<S: SubtreeSource + ?Sized>(src: &S, size: u64) -> Result<Self, MerkleError<S::Error>> {
        let mut nodes = Vec::new();
        for (level, index) in Self::positions(size) {
            nodes.push((level, get_aligned(src, level, index)?));
        }
        Ok(Self { size, nodes })
    }

    /// Builds the frontier of `size` from its subtree hashes, highest level first (see [`Frontier::positions`]).
    pub fn from_hashes(size: u64, hashes: &[Digest]) -> Result<Self, MerkleError<std::convert::Infallible>> {
        let pos = Self::positions(size);
        if pos.len() != hashes.len() {
            return Err(MerkleError::BadFrontier { size, expected: pos.len(), got: hashes.len() });
        }
        Ok(Self { size, nodes: pos.iter().zip(hashes).map(|(&(l, _), h)| (l, *h)).collect() })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The subtree hashes, highest level first.
    pub fn hashes(&self) -> Vec<Digest> {
        self.nodes.iter().map(|(_, h)| *h).collect()
    }

    /// Merkle tree head of the leaves appended so far.
    pub fn root(&self) -> Digest {
        let mut it = self.nodes.iter().rev();
        let Some((_, last)) = it.next() else { return empty_root() };
        it.fold(*last, |acc, (_, h)| node_hash(h, &acc))
    }

    /// Appends one leaf given its leaf hash; returns every complete aligned subtree this creates (the leaf
    /// itself at level 0 first, then each newly completed parent).
    pub fn push_hash(&mut self, leaf: Digest) -> Vec<AlignedHash> {
        let mut created = Vec::with_capacity(1 + self.size.trailing_ones() as usize);
        let (mut level, mut index, mut hash) = (0u8, self.size, leaf);
        created.push(AlignedHash { level, index, hash });
        while index & 1 == 1 {
            // The left sibling is the lowest frontier node, at exactly this level.
            let (l, left) = self.nodes.pop().expect("frontier holds the left sibling of an odd index");
            debug_assert_eq!(l, level);
            hash = node_hash(&left, &hash);
            level += 1;
            index >>= 1;
            created.push(AlignedHash { level, index, hash });
        }
        self.nodes.push((level, hash));
        self.size += 1;
        created
    }

    /// Appends one leaf given its bytes.
    pub fn push_leaf(&mut self, leaf: &[u8]) -> Vec<AlignedHash> {
        self.push_hash(leaf_hash(leaf))
    }
}

/// Merkle tree head over `leaves` (exact leaf bytes).
pub fn root_of_leaves<L: AsRef<[u8]>>(leaves: &[L]) -> Digest {
    let mut f = Frontier::new();
    for l in leaves {
        f.push_leaf(l.as_ref());
    }
    f.root()
}

/// Every aligned subtree hash of a tree, kept in memory: a [`SubtreeSource`] for tests, bundle verification and
/// small in-memory logs.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    /// `levels[l][i]` = hash of aligned subtree `(l, i)`.
    levels: Vec<Vec<Digest>>,
    frontier: Frontier,
}

impl MemoryTree {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn from_leaves<L: AsRef<[u8]>>(leaves: &[L]) -> Self {
        let mut t = Self::new();
        for l in leaves {
            t.push_leaf(l.as_ref());
        }
        t
    }

    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    pub fn root(&self) -> Digest {
        self.frontier.root()
    }

    pub fn push_leaf(&mut self, leaf: &[u8]) {
        self.push_hash(leaf_hash(leaf));
    }

    /// Appends one leaf given its leaf hash.
    pub fn push_hash(&mut self, leaf: Digest) {
        for a in self.frontier.push_hash(leaf) {
            let l = a.level as usize;
            if self.levels.len() <= l {
                self.levels.resize(l + 1, Vec::new());
            }
            debug_assert_eq!(self.levels[l].len() as u64, a.index);
            self.levels[l].push(a.hash);
        }
    }
}

impl SubtreeSource for MemoryTree {
    type Error = std::convert::Infallible;
    fn aligned(&self, level: u8, index: u64) -> Result<Option<Digest>, Self::Error> {
        Ok(self.levels.get(level as usize).and_then(|v| usize::try_from(index).ok().and_then(|i| v.get(i))).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_LEAVES: [&str; 8] =
        ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];
    const RFC_ROOTS: [&str; 9] = [
        "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b",
        "2daef60e7a0b8f5e024c81cd2ab3109f2b4f155cf83adeb2ae5532f74a157fdf",
        "0b990fe0c7ad70f1bf1a1262f2c7908ea48146b14253a6db99f2917ab1f5cc4d",
        "209ec96a210d662a964772680e8544d18cab7b88ffec3e00962220349b56ea56",
        "28e4e307ef6d2d0c62d84b11ef96e835efe490f35b93c8f024ecfe38c8dd4377",
        "bb10c996aeebbcdc69be3715fc847344de77442d37a5ab8213da9f41785b103b",
        "8723c1ab1f82ddfba4a3733ac0c80d936d9f4c208c7dbc8cc81ca9fff8584f66",
        "bd36c22a1ac6ff4308e0c3cc1a85bf0ffa30538ec60a55c70413ab15d45db4d2",
        "bc48ba7a709184b5f2a631e1adeb8dc2a0d4c018c1d6cc89b5664fe154c93b38",
    ];

    fn rfc_leaves() -> Vec<Vec<u8>> {
        RFC_LEAVES.iter().map(|h| hex::decode(h).expect("test vector hex")).collect()
    }

    /// Textbook recursive MTH straight from RFC 9162 §2.1.1, as an independent reference.
    fn reference_mth(leaves: &[Vec<u8>]) -> Digest {
        match leaves.len() {
            0 => sm3(b""),
            1 => sm3_parts(&[&[0], &leaves[0]]),
            n => {
                let k = split_point(n as u64) as usize;
                sm3_parts(&[&[1], &reference_mth(&leaves[..k]), &reference_mth(&leaves[k..])])
            }
        }
    }

    /// Textbook recursive PATH and PROOF of RFC 9162 §2.1.3.1 / §2.1.4.1, as references for the iterative code.
    fn reference_path(m: usize, leaves: &[Vec<u8>]) -> Vec<Digest> {
        let n = leaves.len();
        if n <= 1 {
            return vec![];
        }
        let k = split_point(n as u64) as usize;
        if m < k {
            let mut p = reference_path(m, &leaves[..k]);
            p.push(reference_mth(&leaves[k..]));
            p
        } else {
            let mut p = reference_path(m - k, &leaves[k..]);
            p.push(reference_mth(&leaves[..k]));
            p
        }
    }

    fn reference_subproof(m: usize, leaves: &[Vec<u8>], b: bool) -> Vec<Digest> {
        let n = leaves.len();
        if m == n {
            return if b { vec![] } else { vec![reference_mth(leaves)] };
        }
        let k = split_point(n as u64) as usize;
        if m <= k {
            let mut p = reference_subproof(m, &leaves[..k], b);
            p.push(reference_mth(&leaves[k..]));
            p
        } else {
            let mut p = reference_subproof(m - k, &leaves[k..], false);
            p.push(reference_mth(&leaves[..k]));
            p
        }
    }

    #[test]
    fn known_answer_roots_of_rfc_leaves() {
        let leaves = rfc_leaves();
        for n in 0..=8 {
            let want = RFC_ROOTS[n];
            assert_eq!(hex::encode(root_of_leaves(&leaves[..n])), want, "frontier MTH n={n}");
            assert_eq!(hex::encode(reference_mth(&leaves[..n])), want, "reference MTH n={n}");
            let t = MemoryTree::from_leaves(&leaves[..n]);
            assert_eq!(hex::encode(root(&t, n as u64).unwrap()), want, "range MTH n={n}");
            // Roots of prefixes from the full tree's stored subtrees.
            let full = MemoryTree::from_leaves(&leaves);
            assert_eq!(hex::encode(root(&full, n as u64).unwrap()), want, "prefix MTH n={n}");
        }
        assert_eq!(hex::encode(empty_root()), RFC_ROOTS[0]);
    }

    #[test]
    fn proofs_match_the_recursive_definitions() {
        let leaves: Vec<Vec<u8>> = (0..70u32).map(|i| i.to_be_bytes().to_vec()).collect();
        let t = MemoryTree::from_leaves(&leaves);
        for n in 1..=leaves.len() {
            for m in 0..n {
                assert_eq!(
                    inclusion_proof(&t, m as u64, n as u64).unwrap(),
                    reference_path(m, &leaves[..n]),
                    "inclusion m={m} n={n}"
                );
            }
            for m in 1..n {
                assert_eq!(
                    consistency_proof(&t, m as u64, n as u64).unwrap(),
                    reference_subproof(m, &leaves[..n], true),
                    "consistency m={m} n={n}"
                );
            }
        }
    }

    /// Flips bit `bit` of proof element `pos`.
    fn flipped(proof: &[Digest], pos: usize, bit: usize) -> Vec<Digest> {
        let mut p = proof.to_vec();
        p[pos][bit / 8] ^= 1 << (bit % 8);
        p
    }

    fn flip(d: &Digest, bit: usize) -> Digest {
        let mut d = *d;
        d[bit / 8] ^= 1 << (bit % 8);
        d
    }

    /// Cheap deterministic bit choice, so each (m, n, position) flips a different bit.
    fn pick_bit(m: u64, n: u64, pos: usize) -> usize {
        ((m.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ n.wrapping_mul(0xC2B2_AE3D_27D4_EB4F) ^ (pos as u64 * 0x1656_67B1))
            >> 17) as usize
            % 256
    }

    /// Every inclusion and consistency proof for all m ≤ n ≤ 300 verifies. For n ≤ 128 every proof element
    /// position gets a flipped bit (a different bit per case) and must then fail, as must a flipped leaf or root
    /// and a shortened or lengthened proof; for larger n the same is done for every seventh m (plus 0, 1, n-1). For a handful of
    /// proofs every one of the 256 bits of every element is flipped.
    #[test]
    fn every_proof_up_to_300_verifies_and_any_bit_flip_fails() {
        const N: u64 = 300;
        let leaves: Vec<Vec<u8>> = (0..N).map(|i| format!("leaf {i}").into_bytes()).collect();
        let t = MemoryTree::from_leaves(&leaves);
        let roots: Vec<Digest> = (0..=N).map(|n| root(&t, n).unwrap()).collect();
        let hashes: Vec<Digest> = leaves.iter().map(|l| leaf_hash(l)).collect();
        let mut flips = 0u64;
        let full_bits = |n: u64, m: u64| (n <= 20 && m == n / 3) || (n == 300 && (m == 0 || m == 137 || m == 299));
        for n in 0..=N {
            assert_eq!(roots[n as usize], reference_root_cache(&leaves, n));
            let covered = |m: u64| n <= 128 || m % 7 == n % 7 || m == n.saturating_sub(1) || m <= 1;
            for m in 0..n {
                let p = inclusion_proof(&t, m, n).unwrap();
                let (leaf, r) = (hashes[m as usize], roots[n as usize]);
                assert_eq!(verify_inclusion(&leaf, m, n, &p, &r), Ok(()), "inclusion m={m} n={n}");
                if covered(m) {
                    for pos in 0..p.len() {
                        let bits: Vec<usize> =
                            if full_bits(n, m) { (0..256).collect() } else { vec![pick_bit(m, n, pos)] };
                        for bit in bits {
                            flips += 1;
                            assert!(verify_inclusion(&leaf, m, n, &flipped(&p, pos, bit), &r).is_err(), "m={m} n={n}");
                        }
                    }
                    let bit = pick_bit(m, n, 99);
                    assert!(verify_inclusion(&flip(&leaf, bit), m, n, &p, &r).is_err());
                    assert!(verify_inclusion(&leaf, m, n, &p, &flip(&r, bit)).is_err());
                    assert!(verify_inclusion(&leaf, m ^ 1, n, &p, &r).is_err() || (m ^ 1) >= n);
                    if !p.is_empty() {
                        assert!(verify_inclusion(&leaf, m, n, &p[..p.len() - 1], &r).is_err());
                    }
                    let mut longer = p.clone();
                    longer.push(r);
                    assert!(verify_inclusion(&leaf, m, n, &longer, &r).is_err());
                }
            }
            for m in 0..=n {
                let p = consistency_proof(&t, m, n).unwrap();
                let (r1, r2) = (roots[m as usize], roots[n as usize]);
                assert_eq!(verify_consistency(m, n, &p, &r1, &r2), Ok(()), "consistency m={m} n={n}");
                if covered(m) {
                    for pos in 0..p.len() {
                        let bits: Vec<usize> =
                            if full_bits(n, m) { (0..256).collect() } else { vec![pick_bit(m, n, pos)] };
                        for bit in bits {
                            flips += 1;
                            assert!(verify_consistency(m, n, &flipped(&p, pos, bit), &r1, &r2).is_err(), "m={m} n={n}");
                        }
                    }
                    let bit = pick_bit(m, n, 77);
                    assert!(verify_consistency(m, n, &p, &flip(&r1, bit), &r2).is_err(), "old root m={m} n={n}");
                    // The empty tree is consistent with every tree, so only m > 0 binds the new root.
                    if m > 0 {
                        assert!(verify_consistency(m, n, &p, &r1, &flip(&r2, bit)).is_err(), "new root m={m} n={n}");
                    }
                    if !p.is_empty() {
                        assert!(verify_consistency(m, n, &p[..p.len() - 1], &r1, &r2).is_err());
                    }
                    let mut longer = p.clone();
                    longer.push(r2);
                    assert!(verify_consistency(m, n, &longer, &r1, &r2).is_err());
                }
            }
        }
        assert!(flips > 20_000, "only {flips} bit flips were tried");
        eprintln!("{flips} single-bit flips all rejected");
    }

    /// Root of the first n leaves from a fresh frontier (independent of the stored-subtree path).
    fn reference_root_cache(leaves: &[Vec<u8>], n: u64) -> Digest {
        if n <= 40 {
            reference_mth(&leaves[..n as usize])
        } else {
            root_of_leaves(&leaves[..n as usize])
        }
    }

    #[test]
    fn frontier_reports_every_aligned_subtree_once() {
        let mut f = Frontier::new();
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..100u32 {
            for a in f.push_leaf(&i.to_be_bytes()) {
                assert!(seen.insert((a.level, a.index)), "duplicate {a:?}");
            }
            let size = f.size();
            let again = Frontier::from_hashes(size, &f.hashes()).unwrap();
            assert_eq!(again.root(), f.root());
            let t = MemoryTree::from_leaves(&(0..=i).map(|j| j.to_be_bytes()).collect::<Vec<_>>());
            assert_eq!(Frontier::load(&t, size).unwrap(), f);
        }
        // 100 leaves make 100 + 50 + 25 + 12 + 6 + 3 + 1 complete aligned subtrees.
        assert_eq!(seen.len(), 197);
        assert!(matches!(Frontier::from_hashes(3, &[empty_root()]), Err(MerkleError::BadFrontier { .. })));
    }

    #[test]
    fn missing_subtrees_and_bad_ranges_are_errors() {
        let t = MemoryTree::from_leaves(&[b"a", b"b", b"c"]);
        assert_eq!(inclusion_proof(&t, 3, 3), Err(MerkleError::IndexOutOfRange { index: 3, size: 3 }));
        assert_eq!(consistency_proof(&t, 3, 2), Err(MerkleError::SizesReversed { old: 3, new: 2 }));
        assert!(matches!(inclusion_proof(&t, 0, 5), Err(MerkleError::MissingSubtree { .. })));
        assert_eq!(
            verify_inclusion(&leaf_hash(b"a"), 3, 3, &[], &empty_root()),
            Err(VerifyError::IndexOutOfRange { index: 3, size: 3 })
        );
        assert_eq!(
            verify_consistency(2, 1, &[], &empty_root(), &empty_root()),
            Err(VerifyError::SizesReversed { old: 2, new: 1 })
        );
        let r = root(&t, 3).unwrap();
        assert_eq!(verify_consistency(0, 3, &[], &empty_root(), &r), Ok(()));
        assert_eq!(verify_consistency(0, 3, &[], &r, &r), Err(VerifyError::RootMismatch));
        assert_eq!(verify_consistency(3, 3, &[], &r, &r), Ok(()));
        assert_eq!(verify_consistency(3, 3, &[r], &r, &r), Err(VerifyError::WrongLength));
    }
}
