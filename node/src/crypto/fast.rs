//! Variable-time SM2 verification arithmetic over public data only.
//!
//! SM2 verification (GB/T 32918.2 §7.1) computes `(x1, y1) = [s]G + [t]P` with `t = (r + s) mod n` and accepts
//! when `(e + x1) mod n == r`. Every input is public (key, message, signature), so there is nothing to hide and
//! the constant-time machinery of the crate's verifier is pure cost. This module replaces it with fixed-base
//! tables: for a base point `B` the table holds the affine points `[d·2^(W·i)]B` for `d = 1..=2^(W-1)` and every
//! window `i`. A scalar is recoded into signed base-2^W digits, so `[k]B` is the sum of one table entry (or its
//! negation) per non-zero digit: about 33 mixed additions for `W = 8` and no doublings at all. The generator's
//! table is built once per process; a signer's table is built by [`super::Verifier`].
//!
//! Nothing here is used for signing, which stays on the crate's constant-time path.

use sm2::elliptic_curve::group::Group;
use sm2::elliptic_curve::ops::Reduce;
use sm2::elliptic_curve::point::AffineCoordinates;
use sm2::elliptic_curve::sec1::ToSec1Point;
use sm2::elliptic_curve::BatchNormalize;
use sm2::elliptic_curve::PrimeField;
use sm2::{AffinePoint, FieldBytes, ProjectivePoint, Scalar};
use std::sync::LazyLock;

/// Window width in bits of the fixed-base tables.
pub(crate) const W: usize = 8;
/// Table entries per window: multiples 1..=2^(W-1) (signed digits cover the negative half by negation).
const HALF: usize = 1 << (W - 1);
/// Number of windows covering a 256-bit scalar.
const WINDOWS: usize = 256usize.div_ceil(W);
/// Affine points per table: every window plus one point `[2^(W·WINDOWS)]B` for a final carry digit.
pub(crate) const TABLE_POINTS: usize = WINDOWS * HALF + 1;

/// A fixed-base table for one base point (about 288 KiB for `W = 8`).
pub(crate) struct FixedBaseTable {
    points: Box<[AffinePoint]>,
}

impl FixedBaseTable {
    /// Builds the table for `base`, which must not be the identity (a valid public key never is).
    pub(crate) fn new(base: &AffinePoint) -> Self {
        let mut proj: Vec<ProjectivePoint> = Vec::with_capacity(TABLE_POINTS);
        let mut b = ProjectivePoint::from(base);
        for _ in 0..WINDOWS {
            let b_affine = b.to_affine();
            let mut acc = b;
            proj.push(acc);
            for _ in 1..HALF {
                acc += &b_affine;
                proj.push(acc);
            }
            // acc = [2^(W-1)]b, so one doubling gives the next window's base [2^W]b.
            b = acc.double();
        }
        proj.push(b);
        let points = <ProjectivePoint as BatchNormalize<[ProjectivePoint]>>::batch_normalize(&proj);
        Self { points: points.into_boxed_slice() }
    }

    /// Memory held by one table, in bytes.
    pub(crate) const fn bytes() -> usize {
        TABLE_POINTS * std::mem::size_of::<AffinePoint>()
    }

    /// `acc += [k]B`, variable time in `k` (public data only).
    #[inline]
    fn accumulate(&self, acc: &mut ProjectivePoint, k: &Scalar) {
        let digits = recode(k);
        for (i, &d) in digits.iter().enumerate() {
            if d > 0 {
                *acc += &self.points[i * HALF + (d as usize - 1)];
            } else if d < 0 {
                *acc -= &self.points[i * HALF + ((-d) as usize - 1)];
            }
        }
    }

    /// `[k]B` (variable time).
    #[cfg(test)]
    pub(crate) fn mul(&self, k: &Scalar) -> ProjectivePoint {
        let mut acc = ProjectivePoint::IDENTITY;
        self.accumulate(&mut acc, k);
        acc
    }
}

/// Signed base-2^W digits of `k`, least significant first: `k = Σ d_i·2^(W·i)` with `|d_i| ≤ 2^(W-1)`.
/// The last slot holds the final carry (0 or 1).
fn recode(k: &Scalar) -> [i16; WINDOWS + 1] {
    let be = k.to_repr();
    // Little-endian 64-bit limbs of the canonical integer.
    let mut limbs = [0u64; 4];
    for (i, limb) in limbs.iter_mut().enumerate() {
        let start = 32 - 8 * (i + 1);
        let mut b = [0u8; 8];
        b.copy_from_slice(&be[start..start + 8]);
        *limb = u64::from_be_bytes(b);
    }
    let bits = |pos: usize| -> u32 {
        // W bits starting at bit `pos` (bits past 255 read as zero).
        let mut v: u64 = 0;
        let limb = pos / 64;
        let off = pos % 64;
        if limb < 4 {
            v = limbs[limb] >> off;
            if off + W > 64 && limb + 1 < 4 {
                v |= limbs[limb + 1] << (64 - off);
            }
        }
        (v & ((1u64 << W) - 1)) as u32
    };
    let mut out = [0i16; WINDOWS + 1];
    let mut carry: i32 = 0;
    for (i, slot) in out.iter_mut().take(WINDOWS).enumerate() {
        let v = bits(i * W) as i32 + carry;
        if v > HALF as i32 {
            *slot = (v - (1 << W)) as i16;
            carry = 1;
        } else {
            *slot = v as i16;
            carry = 0;
        }
    }
    out[WINDOWS] = carry as i16;
    out
}

/// The generator's table, built on first use and shared by every verifier in the process.
static G_TABLE: LazyLock<FixedBaseTable> = LazyLock::new(|| FixedBaseTable::new(&AffinePoint::GENERATOR));

/// Builds the generator table now (so that the first verification does not pay for it).
pub(crate) fn warm_generator_table() {
    LazyLock::force(&G_TABLE);
}

/// Z_A = SM3(ENTL_A ‖ ID_A ‖ a ‖ b ‖ x_G ‖ y_G ‖ x_A ‖ y_A) per GB/T 32918.2 §5.5.
/// Panics only if `id` is longer than 8191 bytes (ENTL is 16 bits of bit length); callers pass fixed IDs.
pub(crate) fn za(id: &[u8], key: &AffinePoint) -> super::Digest {
    const A: [u8; 32] = hex_literal("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC");
    const B: [u8; 32] = hex_literal("28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93");
    const GX: [u8; 32] = hex_literal("32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7");
    const GY: [u8; 32] = hex_literal("BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0");
    let entl = u16::try_from(id.len() * 8).expect("distinguishing ID shorter than 8192 bytes");
    let point = key.to_sec1_point(false);
    let sec1 = point.as_bytes();
    super::sm3_parts(&[&entl.to_be_bytes(), id, &A, &B, &GX, &GY, &sec1[1..33], &sec1[33..65]])
}

const fn hex_literal(s: &str) -> [u8; 32] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'A'..=b'F' => c - b'A' + 10,
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("not a hex digit"),
        }
    }
    let b = s.as_bytes();
    assert!(b.len() == 64);
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = (nibble(b[2 * i]) << 4) | nibble(b[2 * i + 1]);
        i += 1;
    }
    out
}

/// The scalars of one verification, after the range checks that make a signature well-formed.
pub(crate) struct Prepared {
    pub(crate) e: Scalar,
    pub(crate) r: Scalar,
    pub(crate) s: Scalar,
    pub(crate) t: Scalar,
}

impl Prepared {
    /// `digest` is e = SM3(Z_A ‖ M); `sig` was parsed by the crate, which rejects r, s outside [1, n-1].
    /// Returns `None` when t = (r + s) mod n is zero (GB/T 32918.2 §7.1 step B5).
    pub(crate) fn new(digest: &super::Digest, sig: &sm2::dsa::Signature) -> Option<Self> {
        let e = <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::from(*digest));
        let r: Scalar = *sig.r();
        let s: Scalar = *sig.s();
        let t = r + s;
        if bool::from(t.is_zero()) {
            return None;
        }
        Some(Self { e, r, s, t })
    }

    /// `[s]G + [t]P` with the generator table and the signer's table.
    pub(crate) fn point_with_table(&self, key_table: &FixedBaseTable) -> ProjectivePoint {
        let mut acc = ProjectivePoint::IDENTITY;
        G_TABLE.accumulate(&mut acc, &self.s);
        key_table.accumulate(&mut acc, &self.t);
        acc
    }

    /// `[s]G + [t]P` for a key without a table: the generator table plus a variable-time wNAF for `P`.
    pub(crate) fn point_without_table(&self, key: &AffinePoint) -> ProjectivePoint {
        let mut acc = ProjectivePoint::from(key).mul_vartime(&self.t);
        G_TABLE.accumulate(&mut acc, &self.s);
        acc
    }

    /// Final check given the affine `(x1, y1)`: not the point at infinity, and (e + x1) mod n == r.
    pub(crate) fn accepts(&self, point: &AffinePoint) -> bool {
        if bool::from(point.is_identity()) {
            return false;
        }
        let x1 = <Scalar as Reduce<FieldBytes>>::reduce(&point.x());
        self.e + x1 == self.r
    }

    /// Final check for a single projective result (one field inversion).
    pub(crate) fn accepts_projective(&self, point: &ProjectivePoint) -> bool {
        if bool::from(point.is_identity()) {
            return false;
        }
        self.accepts(&point.to_affine())
    }
}

/// Normalises many results with one shared field inversion and checks each one.
pub(crate) fn accept_many(prepared: &[&Prepared], points: &[ProjectivePoint]) -> Vec<bool> {
    let affine = <ProjectivePoint as BatchNormalize<[ProjectivePoint]>>::batch_normalize(points);
    prepared.iter().zip(affine.iter()).map(|(p, a)| p.accepts(a)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_scalar(seed: u64) -> Scalar {
        // Deterministic, spread-out scalars: reduce SM3 outputs.
        let d = super::super::sm3(&seed.to_le_bytes());
        <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::from(d))
    }

    fn recode_value(k: &Scalar) -> Scalar {
        // Σ d_i·2^(W·i) computed in the scalar field.
        let digits = recode(k);
        let mut acc = Scalar::ZERO;
        for &d in digits.iter().rev() {
            for _ in 0..W {
                acc = acc.double();
            }
            let m = Scalar::from(d.unsigned_abs() as u64);
            acc = if d < 0 { acc - m } else { acc + m };
        }
        acc
    }

    #[test]
    fn recoding_is_exact_and_bounded() {
        let n_minus_1 = -Scalar::ONE;
        let mut cases = vec![Scalar::ZERO, Scalar::ONE, n_minus_1, Scalar::from(0x80u64), Scalar::from(0x81u64)];
        cases.extend((0..500).map(random_scalar));
        for k in cases {
            let digits = recode(&k);
            assert!(digits.iter().all(|d| d.unsigned_abs() as usize <= HALF), "{digits:?}");
            assert!(digits[WINDOWS] == 0 || digits[WINDOWS] == 1);
            assert_eq!(recode_value(&k), k);
        }
    }

    #[test]
    fn table_multiplication_matches_constant_time_multiplication() {
        let g = &*G_TABLE;
        let p_scalar = random_scalar(99);
        let p = (ProjectivePoint::generator() * p_scalar).to_affine();
        let pt = FixedBaseTable::new(&p);
        let n_minus_1 = -Scalar::ONE;
        let mut cases = vec![Scalar::ZERO, Scalar::ONE, n_minus_1, Scalar::from(255u64), Scalar::from(128u64)];
        cases.extend((0..40).map(random_scalar));
        for k in cases {
            assert_eq!(g.mul(&k), ProjectivePoint::generator() * k);
            assert_eq!(pt.mul(&k), ProjectivePoint::from(p) * k);
        }
        assert!(bool::from(g.mul(&Scalar::ZERO).is_identity()));
    }

    #[test]
    fn table_memory_is_as_documented() {
        assert_eq!(TABLE_POINTS, 32 * 128 + 1);
        assert!(FixedBaseTable::bytes() <= 4097 * 72, "{}", FixedBaseTable::bytes());
    }
}
