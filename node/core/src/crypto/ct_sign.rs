//! Constant-time SM2 signing with a fixed-base table for the generator (GB/T 32918.2 §6.1).
//!
//! The one secret-dependent computation that costs anything is `(x1, y1) = [k]G`. This module computes it from a
//! table built once per process: for every window `i` of `W` bits it holds the affine points `[j·2^(W·i)]G` for
//! `j = 1..=2^(W-1)`. The nonce `k` is recoded into signed digits `d_i ∈ [-2^(W-1), 2^(W-1)]`, and
//! `[k]G = Σ [d_i·2^(W·i)]G` is one table entry (or its negation, or the identity) per window, added with the
//! crate's complete mixed addition: 43 additions and no doublings for `W = 6`.
//!
//! The invariant: **secret scalars (`k`, `d`) never index memory and never decide a branch.**
//! * The recoding ([`recode`]) reads bit positions fixed by the loop counter and computes digit, sign and carry
//!   with integer arithmetic only (shifts and masks, no comparisons that compile to branches on the digit).
//! * The lookup ([`select`]) reads **every** entry of the window and keeps the wanted one by masking whole words
//!   with a mask made from a `ConstantTimeEq` choice; the sign is applied with `ConditionallyNegatable`. The
//!   address sequence is the same whatever the digit is.
//! * The addition is the crate's complete formula (Renes–Costello–Batina, `a = −3`): no exceptional case, the
//!   identity as right operand is handled by a conditional assignment inside the crate.
//! * The affine conversion (`to_affine`) and `(1 + d)^-1` use the crate's constant-time field and scalar
//!   inversions (`invert`, never `invert_vartime`).
//! * The only branches are the standard's rejections (`r = 0`, `r + k = n`, `s = 0`), each of probability about
//!   2^-256, after which the nonce is discarded.
//!
//! The nonce is derived exactly as the `sm2` crate's `Signer` does it (RFC 6979 HMAC-DRBG over SM3 with the
//! secret key and e, no extra data), so a signature from this module is byte-for-byte the crate's signature
//! (a test checks it); where the crate would give up on a rejected nonce, this module draws the DRBG's next one.
//!
//! The tests check the table multiplication against the crate's constant-time multiplication, the signatures
//! against the crate's signer, both verifiers and the standard's example with its fixed k.

use sm2::dsa::Signature;
use sm2::elliptic_curve::ops::Reduce;
use sm2::elliptic_curve::point::AffineCoordinates;
use sm2::elliptic_curve::subtle::{Choice, ConditionallyNegatable, ConstantTimeEq};
use sm2::elliptic_curve::{BatchNormalize, Curve, Group, PrimeField};
use sm2::{AffinePoint, FieldBytes, ProjectivePoint, Scalar, Sm2, U256};
use std::sync::OnceLock;

/// Window width in bits.
const W: usize = 6;
/// Entries per window: multiples 1..=2^(W-1); the negative digits are negations, digit 0 is the identity.
const HALF: usize = 1 << (W - 1);
/// Windows covering a 256-bit scalar. The top window holds 256 − 42·6 = 4 bits, so its value plus a carry is at
/// most 16 ≤ HALF and never produces a carry of its own: no extra carry window is needed.
const WINDOWS: usize = 256usize.div_ceil(W);
const _: () = assert!(256 - (WINDOWS - 1) * W < W, "the top window must be narrower than W (no final carry)");

/// One table entry: the canonical big-endian bytes of x ‖ y, held as eight 64-bit words so that a lookup can
/// mask whole words (the crate's field-element select goes through a non-inlined call per coordinate).
type Entry = [u64; 8];

/// Memory held by the generator table, in bytes: 43 windows × 32 entries × 64 bytes = 88,064.
pub(crate) const G_TABLE_BYTES: usize = WINDOWS * HALF * std::mem::size_of::<Entry>();

type Table = [[Entry; HALF]; WINDOWS];

fn entry_of(p: &AffinePoint) -> Entry {
    let mut bytes = [0u8; 64];
    bytes[..32].copy_from_slice(&p.x());
    bytes[32..].copy_from_slice(&p.y());
    let mut e = [0u64; 8];
    for (w, chunk) in e.iter_mut().zip(bytes.chunks_exact(8)) {
        *w = u64::from_ne_bytes(chunk.try_into().expect("8-byte chunk"));
    }
    e
}

/// The affine point of an entry; all-zero words (no entry selected) give the identity, since (0, 0) is not on
/// the curve. Constant time: `from_coordinates` converts and checks both coordinates whatever they are
/// (`CtOption::and_then` evaluates its closure unconditionally) and `unwrap_or` is a conditional select.
fn point_of(e: &Entry) -> AffinePoint {
    let mut x = FieldBytes::default();
    let mut y = FieldBytes::default();
    for (i, w) in e.iter().enumerate() {
        let dst = if i < 4 { &mut x[i * 8..i * 8 + 8] } else { &mut y[(i - 4) * 8..(i - 4) * 8 + 8] };
        dst.copy_from_slice(&w.to_ne_bytes());
    }
    AffinePoint::from_coordinates(&x, &y).unwrap_or(AffinePoint::IDENTITY)
}

/// The generator table, built on first use and read-only afterwards. Built from public data only (G), so its
/// construction may take any time it likes.
static G_TABLE: OnceLock<Box<Table>> = OnceLock::new();

fn g_table() -> &'static Table {
    G_TABLE.get_or_init(|| {
        let mut proj: Vec<ProjectivePoint> = Vec::with_capacity(WINDOWS * HALF);
        let mut base = ProjectivePoint::GENERATOR;
        for _ in 0..WINDOWS {
            let mut acc = base;
            proj.push(acc);
            for _ in 1..HALF {
                acc += base;
                proj.push(acc);
            }
            // acc = [2^(W-1)]base, so one doubling gives the next window's base [2^W]base.
            base = acc.double();
        }
        let affine = <ProjectivePoint as BatchNormalize<[ProjectivePoint]>>::batch_normalize(&proj);
        let mut table = Box::new([[[0u64; 8]; HALF]; WINDOWS]);
        for (i, window) in table.iter_mut().enumerate() {
            for (j, entry) in window.iter_mut().enumerate() {
                *entry = entry_of(&affine[i * HALF + j]);
            }
        }
        table
    })
}

/// Signed base-2^W digits of `k`, least significant first, as (magnitude, negative) pairs with
/// `k = Σ (±magnitude_i)·2^(W·i)` and `magnitude_i ≤ 2^(W-1)`.
///
/// Constant time: the loop bounds and the limb and bit positions depend on the loop counter only; digit, carry
/// and sign are computed with shifts, masks and additions on `i32`, never compared in a branch.
fn recode(k: &Scalar) -> [(u32, Choice); WINDOWS] {
    let limbs = super::fast::le_limbs(k);
    let mut out = [(0u32, Choice::from(0)); WINDOWS];
    let mut carry: i32 = 0;
    for (i, slot) in out.iter_mut().enumerate() {
        // W bits from bit position i·W (public): which limbs are read depends on i only.
        let pos = i * W;
        let (limb, off) = (pos / 64, pos % 64);
        let mut bits = limbs[limb] >> off;
        if off + W > 64 && limb + 1 < 4 {
            bits |= limbs[limb + 1] << (64 - off);
        }
        let v = (bits & ((1u64 << W) - 1)) as i32 + carry;
        // carry = 1 exactly when v > HALF: (HALF − v) is negative then, and its arithmetic shift is all ones.
        carry = ((HALF as i32 - v) >> 31) & 1;
        let digit = v - (carry << W);
        // Magnitude and sign of the digit without a branch: mask is all ones for a negative digit.
        let mask = digit >> 31;
        let magnitude = ((digit ^ mask) - mask) as u32;
        *slot = (magnitude, Choice::from((mask & 1) as u8));
    }
    out
}

/// `[±magnitude]` entry of one window, or the identity for magnitude 0.
///
/// Constant time: every one of the window's `HALF` entries is read, in the same order, and OR-ed into the result
/// under a mask that is all ones for the wanted entry and zero otherwise; the mask comes from `ConstantTimeEq` on
/// the magnitude (a `Choice`, behind subtle's optimisation barrier) widened by negation, never from a comparison
/// the compiler could branch on. The sign is applied with `conditional_negate`. No index or branch depends on
/// `magnitude` or `negative`.
#[inline]
fn select(window: &[Entry; HALF], magnitude: u32, negative: Choice) -> AffinePoint {
    let mut words = [0u64; 8];
    for (j, entry) in window.iter().enumerate() {
        let mask = u64::from(magnitude.ct_eq(&(j as u32 + 1)).unwrap_u8()).wrapping_neg();
        for (o, w) in words.iter_mut().zip(entry) {
            *o |= w & mask;
        }
    }
    let mut out = point_of(&words);
    out.conditional_negate(negative);
    out
}

/// `[k]G` from the fixed-base table.
///
/// Constant time: [`recode`] and [`select`] as documented there; the additions are the crate's complete mixed
/// addition, one per window whatever the digit (a zero digit adds the identity, which costs the same).
pub(crate) fn mul_generator(k: &Scalar) -> ProjectivePoint {
    let table = g_table();
    let digits = recode(k);
    let mut acc = ProjectivePoint::IDENTITY;
    for (window, &(magnitude, negative)) in table.iter().zip(digits.iter()) {
        acc += select(window, magnitude, negative);
    }
    acc
}

/// A secret key prepared for signing: `d` and `(1 + d)^-1`, the latter computed once per key.
#[derive(Clone)]
pub(crate) struct SecretScalars {
    d: Scalar,
    d_plus_1_inv: Scalar,
}

impl SecretScalars {
    /// `d` must be in [1, n − 2] (a valid SM2 private key: 1 + d ≠ 0); returns `None` otherwise.
    /// Constant time: the crate's `Scalar::invert` (not `invert_vartime`); the `None` case is a property of an
    /// invalid key, rejected before any signature is made.
    pub(crate) fn new(d: &Scalar) -> Option<Self> {
        let inv = Option::<Scalar>::from((*d + Scalar::ONE).invert())?;
        Some(Self { d: *d, d_plus_1_inv: inv })
    }

    /// Signature over the digest `e = SM3(Z_A ‖ M)`, with the crate's RFC 6979 nonce derivation.
    pub(crate) fn sign_digest(&self, digest: &super::Digest) -> Signature {
        let e = <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::from(*digest));
        let mut kgen = rfc6979::KGenerator::<sm3::Sm3, U256>::new(&self.d.to_repr(), &e.to_repr(), &[], &Sm2::ORDER);
        loop {
            let mut k_bytes = FieldBytes::default();
            kgen.fill_next_k(&mut k_bytes);
            // The generator returns k in [1, n − 1] (rejection sampling), so the conversion always succeeds.
            let Some(k) = Option::<Scalar>::from(Scalar::from_repr(k_bytes)) else { continue };
            if let Some(sig) = self.sign_with_k(&e, &k) {
                return sig;
            }
        }
    }

    /// A6–A7 for a given nonce: `None` when the standard says to pick another k.
    ///
    /// Constant time in `k` and `d` up to the rejection branches, which are taken with probability about 2^-256
    /// and discard the nonce.
    fn sign_with_k(&self, e: &Scalar, k: &Scalar) -> Option<Signature> {
        // A4: (x1, y1) = [k]G, made affine with the constant-time field inversion.
        let point = mul_generator(k).to_affine();
        // A5: r = (e + x1) mod n; reject r = 0 or r + k = n.
        let r = *e + <Scalar as Reduce<FieldBytes>>::reduce(&point.x());
        if bool::from(r.is_zero() | (r + k).is_zero()) {
            return None;
        }
        // A6: s = (1 + d)^-1 · (k − r·d) mod n; reject s = 0.
        let s = self.d_plus_1_inv * (*k - r * self.d);
        if bool::from(s.is_zero()) {
            return None;
        }
        Signature::from_scalars(r.to_repr(), s.to_repr()).ok()
    }

    /// Test-only door for the standard's example, which fixes k.
    #[cfg(test)]
    pub(crate) fn sign_digest_with_k(&self, digest: &super::Digest, k: &Scalar) -> Option<Signature> {
        let e = <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::from(*digest));
        self.sign_with_k(&e, k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sm2::dsa::signature::{Signer, Verifier as _};
    use sm2::NonZeroScalar;

    fn random_scalar(seed: u64) -> Scalar {
        let d = super::super::sm3(&(seed ^ 0x5eed_5eed).to_le_bytes());
        <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::from(d))
    }

    fn scalar_hex(h: &str) -> Scalar {
        let b: [u8; 32] = hex::decode(h).unwrap().try_into().unwrap();
        Scalar::from_repr(FieldBytes::from(b)).unwrap()
    }

    fn value_of(digits: &[(u32, Choice); WINDOWS]) -> Scalar {
        let mut acc = Scalar::ZERO;
        for &(m, neg) in digits.iter().rev() {
            for _ in 0..W {
                acc = acc.double();
            }
            let m = Scalar::from(m as u64);
            acc = if bool::from(neg) { acc - m } else { acc + m };
        }
        acc
    }

    fn edge_scalars() -> Vec<Scalar> {
        let n_minus_1 = -Scalar::ONE;
        let mut v = vec![Scalar::ZERO, Scalar::ONE, n_minus_1, n_minus_1 - Scalar::ONE, Scalar::from(2u64)];
        for small in [31u64, 32, 33, 63, 64, 65, 0xffff, u64::MAX] {
            v.push(Scalar::from(small));
        }
        // High-bit values: 2^255, 2^255 − 1, 2^252 ± 1, all ones in the top window, and n − 2^k.
        let two = Scalar::from(2u64);
        let pow = |e: usize| (0..e).fold(Scalar::ONE, |a, _| a * two);
        for e in [252usize, 253, 254, 255] {
            v.push(pow(e));
            v.push(pow(e) - Scalar::ONE);
            v.push(pow(e) + Scalar::ONE);
            v.push(-pow(e));
        }
        // Digits exactly ±HALF in every window: Σ 32·64^i and its negation.
        let all_half = (0..WINDOWS).fold(Scalar::ZERO, |a, i| a + Scalar::from(HALF as u64) * pow(W * i));
        v.push(all_half);
        v.push(-all_half);
        v
    }

    #[test]
    fn recoding_is_exact_and_bounded() {
        let mut cases = edge_scalars();
        cases.extend((0..500).map(random_scalar));
        for k in cases {
            let digits = recode(&k);
            assert!(digits.iter().all(|&(m, _)| m as usize <= HALF));
            assert_eq!(value_of(&digits), k, "{k:?}");
        }
    }

    #[test]
    fn fixed_base_multiplication_matches_the_crate() {
        let mut cases = edge_scalars();
        cases.extend((0..300).map(random_scalar));
        for k in cases {
            let ours = mul_generator(&k);
            let crates = ProjectivePoint::GENERATOR * k;
            assert_eq!(ours.to_affine(), crates.to_affine(), "{k:?}");
        }
        assert_eq!(mul_generator(&Scalar::ZERO).to_affine(), AffinePoint::IDENTITY);
        assert_eq!(mul_generator(&Scalar::ONE).to_affine(), AffinePoint::GENERATOR);
    }

    #[test]
    fn select_reads_the_wanted_entry_or_the_identity() {
        let t = g_table();
        for m in 0..=HALF as u32 {
            for neg in [0u8, 1] {
                let got = select(&t[3], m, Choice::from(neg));
                let want = match m {
                    0 => AffinePoint::IDENTITY,
                    _ if neg == 1 => -point_of(&t[3][m as usize - 1]),
                    _ => point_of(&t[3][m as usize - 1]),
                };
                assert_eq!(got, want);
            }
        }
    }

    #[test]
    fn signatures_equal_the_crates_and_verify_everywhere() {
        let verifier = super::super::Verifier::new();
        for seed in 0..40u64 {
            let d = random_scalar(1000 + seed);
            let crate_key =
                sm2::dsa::SigningKey::from_nonzero_scalar(super::super::DIST_ID, NonZeroScalar::new(d).unwrap())
                    .unwrap();
            let public = super::super::PublicKey::from_verifying_key(crate_key.verifying_key().clone());
            if seed % 2 == 0 {
                verifier.register(&public);
            }
            let ours = SecretScalars::new(&d).unwrap();
            for m in 0..5u64 {
                let msg = super::super::sm3(&(seed * 100 + m).to_be_bytes());
                let msg = &msg[..(m as usize * 7) % 33];
                let sig = ours.sign_digest(&public.message_digest(msg));
                // Same nonce derivation as the crate: the very same signature.
                let crate_sig: Signature = crate_key.sign(msg);
                assert_eq!(sig, crate_sig);
                crate_key.verifying_key().verify(msg, &sig).expect("crate verifier");
                let der = sig.to_der().to_vec();
                public.verify(msg, &der).expect("crate verifier through PublicKey");
                verifier.verify(&public, msg, &der).expect("project verifier");
            }
        }
    }

    /// GB/T 32918.5 (GM/T 0003.5) example on the recommended curve, with the example's fixed k.
    #[test]
    fn standard_example_with_its_k() {
        const D: &str = "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8";
        const K: &str = "59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21";
        const E: &str = "F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640";
        const R: &str = "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3";
        const S: &str = "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA";
        let keys = SecretScalars::new(&scalar_hex(D)).unwrap();
        let e: [u8; 32] = hex::decode(E).unwrap().try_into().unwrap();
        let sig = keys.sign_digest_with_k(&e, &scalar_hex(K)).unwrap();
        assert_eq!(hex::encode_upper(sig.r().to_repr()), R);
        assert_eq!(hex::encode_upper(sig.s().to_repr()), S);
    }

    #[test]
    fn rejected_nonces_give_none() {
        let keys = SecretScalars::new(&random_scalar(7)).unwrap();
        let k = random_scalar(8);
        let x1 = <Scalar as Reduce<FieldBytes>>::reduce(&mul_generator(&k).to_affine().x());
        // e chosen so that r = 0, then so that r + k = n.
        assert!(keys.sign_with_k(&-x1, &k).is_none());
        assert!(keys.sign_with_k(&(-x1 - k), &k).is_none());
        assert!(keys.sign_with_k(&(Scalar::ONE - x1), &k).is_some());
        // d = n − 1 has no (1 + d)^-1: not a valid key.
        assert!(SecretScalars::new(&-Scalar::ONE).is_none());
    }

    /// The secret-handling functions, read as source: no branch keyword and no indexing by a digit, magnitude or
    /// sign. (A structural guard against an edit that reintroduces `table[digit]` or `if negative`; it does not
    /// replace review of what the compiler emits.)
    #[test]
    fn secret_handling_source_has_no_branches_or_secret_indexing() {
        let src = include_str!("ct_sign.rs");
        let body = |name: &str| {
            let start = src.find(&format!("fn {name}(")).unwrap_or_else(|| panic!("fn {name} not found"));
            let end = src[start..].find("\n}\n").expect("end of function") + start;
            &src[start..end]
        };
        for name in ["select", "mul_generator", "point_of"] {
            let b = body(name);
            for bad in ["match ", "while ", "if magnitude", "if negative", "if bool::from", "[magnitude", "[negative"] {
                assert!(!b.contains(bad), "fn {name} contains `{bad}`");
            }
            // point_of branches on the word index only (public); select and mul_generator not at all.
            if name != "point_of" {
                assert!(!b.contains("if "), "fn {name} has a branch");
            }
        }
        let r = body("recode");
        for bad in ["if v", "if digit", "if carry", "if mask", "match ", "[digit", "[carry", "[v]"] {
            assert!(!r.contains(bad), "fn recode contains `{bad}`");
        }
    }

    #[test]
    fn table_memory_is_as_documented() {
        assert_eq!(WINDOWS, 43);
        assert_eq!(std::mem::size_of::<Table>(), G_TABLE_BYTES);
        assert_eq!(G_TABLE_BYTES, 43 * 32 * 64);
        // Entries round-trip to the points they were made from.
        let t = g_table();
        assert_eq!(point_of(&t[0][0]), AffinePoint::GENERATOR);
        assert_eq!(point_of(&[0u64; 8]), AffinePoint::IDENTITY);
    }
}
