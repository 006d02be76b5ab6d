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
//! The sum is accumulated in Jacobian coordinates (`x = X/Z²`, `y = Y/Z³`) with the incomplete mixed addition
//! `madd-2007-bl` (7M + 4S, against 13M and about 20 additions for the crate's complete formulas); its
//! exceptional cases (identity, `Q = ±acc`) are branched on, which is fine for public data. The result is never
//! made affine: the final check compares `X` with `x1·Z²` for the two integers `x1` that can satisfy the
//! equation (see [`x_matches`]), so a verification needs no field inversion at all.
//!
//! The field element type is reached through `elliptic_curve::hazmat::FieldArithmetic`, the crate's documented
//! door for code that depends on coordinates. Nothing here touches secret data: signing has its own
//! constant-time fixed-base code in `ct_sign.rs` (only [`le_limbs`], which reads fixed positions, is shared).

use sm2::elliptic_curve::group::Group;
use sm2::elliptic_curve::hazmat::FieldArithmetic;
use sm2::elliptic_curve::ops::Reduce;
use sm2::elliptic_curve::point::AffineCoordinates;
use sm2::elliptic_curve::sec1::ToSec1Point;
use sm2::elliptic_curve::BatchNormalize;
use sm2::elliptic_curve::{Field, PrimeField};
use sm2::{AffinePoint, FieldBytes, ProjectivePoint, Scalar};
use std::sync::LazyLock;

/// An element of SM2's base field GF(p) (Montgomery form, always fully reduced).
pub(crate) type Fe = <sm2::Sm2 as FieldArithmetic>::FieldElement;

/// Window width in bits of the fixed-base tables.
pub(crate) const W: usize = 8;
/// Table entries per window: multiples 1..=2^(W-1) (signed digits cover the negative half by negation).
const HALF: usize = 1 << (W - 1);
/// Number of windows covering a 256-bit scalar.
const WINDOWS: usize = 256usize.div_ceil(W);
/// Affine points per table: every window plus one point `[2^(W·WINDOWS)]B` for a final carry digit.
pub(crate) const TABLE_POINTS: usize = WINDOWS * HALF + 1;

/// n, the order of the base point, big-endian.
const N_BYTES: [u8; 32] = hex_literal("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123");
/// p − n, big-endian (a 128-bit number: p and n agree in their top 128 bits).
const P_MINUS_N_BYTES: [u8; 32] = hex_literal("000000000000000000000000000000008DFC2093DE39FAD5AC440BF6C62ABEDC");

/// A finite affine point as two field elements (the table entry format).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Affine {
    x: Fe,
    y: Fe,
}

impl Affine {
    /// The coordinates of `p`, or `None` for the identity.
    pub(crate) fn from_point(p: &AffinePoint) -> Option<Self> {
        if bool::from(p.is_identity()) {
            return None;
        }
        // Coordinates of a point the crate holds are canonical (< p), so from_repr always succeeds here.
        let x = Option::<Fe>::from(Fe::from_repr(p.x()))?;
        let y = Option::<Fe>::from(Fe::from_repr(p.y()))?;
        Some(Self { x, y })
    }
}

/// A point in Jacobian coordinates `(X : Y : Z)` standing for `(X/Z², Y/Z³)`; `Z = 0` is the identity.
/// Variable time: for public data only.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Jacobian {
    x: Fe,
    y: Fe,
    z: Fe,
}

impl Jacobian {
    pub(crate) const IDENTITY: Self = Self { x: Fe::ONE, y: Fe::ONE, z: Fe::ZERO };

    pub(crate) fn from_affine(p: &Affine) -> Self {
        Self { x: p.x, y: p.y, z: Fe::ONE }
    }

    /// The crate's point `p` (one field inversion, used only off the registered-signer path).
    pub(crate) fn from_projective(p: &ProjectivePoint) -> Self {
        match Affine::from_point(&p.to_affine()) {
            Some(a) => Self::from_affine(&a),
            None => Self::IDENTITY,
        }
    }

    pub(crate) fn is_identity(&self) -> bool {
        self.z.is_zero_vartime()
    }

    /// `self += (q.x, ±q.y)`: madd-2007-bl, with the exceptional cases handled by branches.
    #[inline]
    fn add_affine(&mut self, q: &Affine, negate: bool) {
        let qy = if negate { -q.y } else { q.y };
        if self.is_identity() {
            *self = Self { x: q.x, y: qy, z: Fe::ONE };
            return;
        }
        let z1z1 = self.z.square();
        let u2 = q.x * z1z1;
        let s2 = qy * self.z * z1z1;
        let h = u2 - self.x;
        let r = (s2 - self.y).double();
        if h.is_zero_vartime() {
            // Same x: either the same point (double it) or its negation (the sum is the identity).
            if r.is_zero_vartime() {
                self.double_in_place();
            } else {
                *self = Self::IDENTITY;
            }
            return;
        }
        let hh = h.square();
        let i = hh.double().double();
        let j = h * i;
        let v = self.x * i;
        let x3 = r.square() - j - v.double();
        let y3 = r * (v - x3) - (self.y * j).double();
        let z3 = (self.z + h).square() - z1z1 - hh;
        *self = Self { x: x3, y: y3, z: z3 };
    }

    /// `self = [2]self`: dbl-2001-b, valid because SM2's `a` is −3 (checked by a test against the crate).
    fn double_in_place(&mut self) {
        if self.is_identity() {
            return;
        }
        let delta = self.z.square();
        let gamma = self.y.square();
        let beta = self.x * gamma;
        let t = (self.x - delta) * (self.x + delta);
        let alpha = t.double() + t;
        let beta4 = beta.double().double();
        let x3 = alpha.square() - beta4.double();
        let z3 = (self.y + self.z).square() - gamma - delta;
        let gamma_sq8 = gamma.square().double().double().double();
        let y3 = alpha * (beta4 - x3) - gamma_sq8;
        *self = Self { x: x3, y: y3, z: z3 };
    }
}

/// A fixed-base table for one base point (256 KiB for `W = 8`).
pub(crate) struct FixedBaseTable {
    points: Box<[Affine]>,
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
        let affine = <ProjectivePoint as BatchNormalize<[ProjectivePoint]>>::batch_normalize(&proj);
        // Entries are [m]base with 0 < m < n (m = d·2^(W·i) < 2^255, or 2^256 mod n ≠ 0) for a base of prime
        // order n, so none is the identity.
        let points = affine
            .iter()
            .map(|p| Affine::from_point(p).expect("fixed-base table entry of a valid point is finite"))
            .collect();
        Self { points }
    }

    /// Memory held by one table, in bytes.
    pub(crate) const fn bytes() -> usize {
        TABLE_POINTS * std::mem::size_of::<Affine>()
    }

    /// `acc += [k]B`, variable time in `k` (public data only).
    #[inline]
    fn accumulate(&self, acc: &mut Jacobian, k: &Scalar) {
        let digits = recode(k);
        for (i, &d) in digits.iter().enumerate() {
            if d > 0 {
                acc.add_affine(&self.points[i * HALF + (d as usize - 1)], false);
            } else if d < 0 {
                acc.add_affine(&self.points[i * HALF + ((-d) as usize - 1)], true);
            }
        }
    }

    /// `[k]B` (variable time).
    #[cfg(test)]
    pub(crate) fn mul(&self, k: &Scalar) -> Jacobian {
        let mut acc = Jacobian::IDENTITY;
        self.accumulate(&mut acc, k);
        acc
    }
}

/// Little-endian 64-bit limbs of the canonical integer of `k` (fixed positions: constant time).
pub(crate) fn le_limbs(k: &Scalar) -> [u64; 4] {
    let be = k.to_repr();
    let mut limbs = [0u64; 4];
    for (i, limb) in limbs.iter_mut().enumerate() {
        let start = 32 - 8 * (i + 1);
        let mut b = [0u8; 8];
        b.copy_from_slice(&be[start..start + 8]);
        *limb = u64::from_be_bytes(b);
    }
    limbs
}

/// Signed base-2^W digits of `k`, least significant first: `k = Σ d_i·2^(W·i)` with `|d_i| ≤ 2^(W-1)`.
/// The last slot holds the final carry (0 or 1).
fn recode(k: &Scalar) -> [i16; WINDOWS + 1] {
    let limbs = le_limbs(k);
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

/// Whether the x-coordinate `x_num / den` (with `den` ≠ 0) of a curve point is congruent to `v` modulo n.
///
/// The coordinate is an integer `x1` with `0 ≤ x1 < p`, and `p < 2n`, so `x1 ≡ v (mod n)` with `0 ≤ v < n` holds
/// exactly when `x1 = v` or `x1 = v + n`; the second is possible only when `v + n < p`, that is `v < p − n`.
/// Both are checked without dividing: `x_num == x1·den`. `p − n` is about 2^128, so for the `v = r − e` of a
/// real signature the second case has probability about 2^-128 (a verification that comes out there cannot be
/// produced from a hash on purpose either); it is tested with constructed points and scalars instead.
/// `den = 0` (the point at infinity) never matches.
pub(crate) fn x_matches(x_num: &Fe, den: &Fe, v: &Scalar) -> bool {
    if den.is_zero_vartime() {
        return false;
    }
    let v_bytes = v.to_repr();
    // v < n < p, so v is a canonical field element and this never takes the `None` branch.
    let Some(v_fe) = Option::<Fe>::from(Fe::from_repr(v_bytes)) else {
        return false;
    };
    if *x_num == v_fe * den {
        return true;
    }
    if v_bytes.as_slice() >= P_MINUS_N_BYTES.as_slice() {
        return false;
    }
    let Some(n_fe) = Option::<Fe>::from(Fe::from_repr(FieldBytes::from(N_BYTES))) else {
        return false;
    };
    *x_num == (v_fe + n_fe) * den
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
    pub(crate) fn point_with_table(&self, key_table: &FixedBaseTable) -> Jacobian {
        let mut acc = Jacobian::IDENTITY;
        G_TABLE.accumulate(&mut acc, &self.s);
        key_table.accumulate(&mut acc, &self.t);
        acc
    }

    /// `[s]G + [t]P` for a key without a table: a variable-time wNAF for `[t]P` (made affine with one
    /// inversion), then the generator table.
    pub(crate) fn point_without_table(&self, key: &AffinePoint) -> Jacobian {
        let mut acc = Jacobian::from_projective(&ProjectivePoint::from(key).mul_vartime(&self.t));
        G_TABLE.accumulate(&mut acc, &self.s);
        acc
    }

    /// Final check on `(x1, y1) = (X/Z², Y/Z³)`: not the point at infinity, and (e + x1) mod n == r, that is
    /// x1 ≡ r − e (mod n). No inversion: see [`x_matches`].
    pub(crate) fn accepts(&self, point: &Jacobian) -> bool {
        if point.is_identity() {
            return false;
        }
        x_matches(&point.x, &point.z.square(), &(self.r - self.e))
    }
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

    /// `j` and the crate's `p` are the same point (no inversion: compares X with x·Z² and Y with y·Z³).
    fn same_point(j: &Jacobian, p: &ProjectivePoint) -> bool {
        match Affine::from_point(&p.to_affine()) {
            None => j.is_identity(),
            Some(a) => {
                let zz = j.z.square();
                !j.is_identity() && j.x == a.x * zz && j.y == a.y * zz * j.z
            }
        }
    }

    fn fe(bytes: &[u8; 32]) -> Fe {
        Fe::from_repr(FieldBytes::from(*bytes)).unwrap()
    }

    fn point(seed: u64) -> ProjectivePoint {
        ProjectivePoint::generator() * random_scalar(seed)
    }

    fn affine(p: &ProjectivePoint) -> Affine {
        Affine::from_point(&p.to_affine()).unwrap()
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
            assert!(same_point(&g.mul(&k), &(ProjectivePoint::generator() * k)), "{k:?}");
            assert!(same_point(&pt.mul(&k), &(ProjectivePoint::from(p) * k)), "{k:?}");
        }
        assert!(g.mul(&Scalar::ZERO).is_identity());
        assert!(!same_point(&g.mul(&Scalar::ONE), &(ProjectivePoint::generator() * Scalar::from(2u64))));
    }

    #[test]
    fn jacobian_addition_and_doubling_match_the_crate() {
        for seed in 0..20u64 {
            // An accumulator with Z ≠ 1, the way it is during a verification.
            let (a, b, q) = (point(3 * seed), point(3 * seed + 1), point(3 * seed + 2));
            let mut acc = Jacobian::from_affine(&affine(&a));
            acc.add_affine(&affine(&b), false);
            assert!(acc.z != Fe::ONE);
            let ab = a + b;
            assert!(same_point(&acc, &ab));
            // Generic sum and difference.
            let mut plus = acc;
            plus.add_affine(&affine(&q), false);
            assert!(same_point(&plus, &(ab + q)));
            let mut minus = acc;
            minus.add_affine(&affine(&q), true);
            assert!(same_point(&minus, &(ab - q)));
            // Exceptional cases: adding the point itself (doubling), its negation (identity), to the identity.
            let mut twice = acc;
            twice.add_affine(&affine(&ab), false);
            assert!(same_point(&twice, &ab.double()));
            let mut zero = acc;
            zero.add_affine(&affine(&ab), true);
            assert!(zero.is_identity());
            let mut from_identity = Jacobian::IDENTITY;
            from_identity.add_affine(&affine(&q), true);
            assert!(same_point(&from_identity, &(-q)));
            let mut dbl = acc;
            dbl.double_in_place();
            assert!(same_point(&dbl, &ab.double()));
            // The fallback's entry point.
            assert!(same_point(&Jacobian::from_projective(&ab), &ab));
        }
        assert!(Jacobian::from_projective(&ProjectivePoint::IDENTITY).is_identity());
        let mut id = Jacobian::IDENTITY;
        id.double_in_place();
        assert!(id.is_identity());
    }

    #[test]
    fn constants_are_n_and_p_minus_n() {
        // n − 1 is the scalar −1; p − n plus n is p ≡ 0 in the field (both below p, so the sum is exactly p).
        let mut n_minus_1 = N_BYTES;
        n_minus_1[31] -= 1;
        assert_eq!(<[u8; 32]>::from((-Scalar::ONE).to_repr()), n_minus_1);
        assert!(bool::from(Scalar::from_repr(FieldBytes::from(N_BYTES)).is_none()));
        assert_eq!(fe(&P_MINUS_N_BYTES) + fe(&N_BYTES), Fe::ZERO);
        assert!(P_MINUS_N_BYTES[..16].iter().all(|b| *b == 0));
    }

    #[test]
    fn x_matches_both_admissible_coordinates() {
        let n = fe(&N_BYTES);
        let dens: Vec<Fe> = vec![Fe::ONE, affine(&point(7)).x, affine(&point(8)).y.square()];
        let p_minus_n = Scalar::from_repr(FieldBytes::from(P_MINUS_N_BYTES)).unwrap();
        for den in dens {
            let check = |x1: Fe, v: Scalar| x_matches(&(x1 * den), &den, &v);
            let sfe = |v: Scalar| fe(&v.to_repr().into());
            for v in [Scalar::ZERO, Scalar::from(5u64), random_scalar(1), -Scalar::ONE, p_minus_n - Scalar::ONE] {
                // x1 = v: always admissible.
                assert!(check(sfe(v), v));
                assert!(!check(sfe(v) + Fe::ONE, v));
                assert!(!check(sfe(v + Scalar::ONE), v));
            }
            // x1 = v + n with v + n < p: the rare branch.
            for v in [Scalar::ZERO, Scalar::from(5u64), p_minus_n - Scalar::ONE] {
                assert!(check(sfe(v) + n, v), "v + n < p must be admissible");
                assert!(!check(sfe(v) + n + Fe::ONE, v));
                assert!(!check(sfe(v) + n, v + Scalar::ONE));
            }
            // x1 = p − 1 = (p − n − 1) + n is the largest coordinate there is.
            assert!(check(-Fe::ONE, p_minus_n - Scalar::ONE));
            // v + n ≥ p: (v + n) mod p is a different integer below p, whose residue mod n is not v.
            for v in [p_minus_n, p_minus_n + Scalar::ONE, random_scalar(2), -Scalar::ONE] {
                assert!(!check(sfe(v) + n, v), "v + n ≥ p is not a coordinate");
            }
            // The point at infinity (Z = 0) never matches, whatever X is.
            assert!(!x_matches(&Fe::ZERO, &Fe::ZERO, &Scalar::ZERO));
            assert!(!x_matches(&den, &Fe::ZERO, &Scalar::ONE));
        }
    }

    /// A curve point with x1 = n + k for a small k, and a public key for which a chosen (e, r, s) makes
    /// [s]G + [t]P land exactly on it: the verification then passes only through the `x1 = v + n` branch.
    /// (A real signature cannot be steered there: e is a hash of Z_A, which depends on the key.)
    #[test]
    fn verification_point_with_x1_at_least_n() {
        use sm2::dsa::signature::hazmat::PrehashVerifier;
        use sm2::elliptic_curve::group::GroupEncoding;
        let n_plus = |k: u8| {
            let mut x = N_BYTES;
            x[31] += k; // n ends in 0x23: no carry for small k
            x
        };
        let (k, q) = (1u8..64)
            .find_map(|k| {
                let mut c = [0u8; 33];
                c[0] = 0x02;
                c[1..].copy_from_slice(&n_plus(k));
                Option::<AffinePoint>::from(AffinePoint::from_bytes(&c.into())).map(|q| (k, q))
            })
            .expect("about half of all x are on the curve");
        assert!(q.x().as_slice() >= N_BYTES.as_slice());
        let q = ProjectivePoint::from(q);
        for seed in 0..4u64 {
            let e = random_scalar(1000 + seed);
            let r = e + Scalar::from(k as u64);
            let t = random_scalar(2000 + seed);
            let s = t - r;
            let key = ((q - ProjectivePoint::generator() * s) * t.invert().unwrap()).to_affine();
            let prepared = Prepared { e, r, s, t };
            let table = FixedBaseTable::new(&key);
            let with_table = prepared.point_with_table(&table);
            assert!(same_point(&with_table, &q));
            assert!(prepared.accepts(&with_table));
            assert!(prepared.accepts(&prepared.point_without_table(&key)));
            // The crate's verifier agrees on the digest level.
            let vk = sm2::dsa::VerifyingKey::from_affine(super::super::DIST_ID, key).unwrap();
            let sig = sm2::dsa::Signature::from_scalars(r.to_repr(), s.to_repr()).unwrap();
            vk.verify_prehash(&e.to_repr(), &sig).expect("crate accepts");
            // Another digest with the same (r, s): same point, v off by one, rejected by both.
            let e2 = e + Scalar::ONE;
            let wrong = Prepared { e: e2, r, s, t };
            assert!(!wrong.accepts(&wrong.point_with_table(&table)));
            assert!(!wrong.accepts(&wrong.point_without_table(&key)));
            assert!(vk.verify_prehash(&e2.to_repr(), &sig).is_err());
        }
    }

    #[test]
    fn table_memory_is_as_documented() {
        assert_eq!(TABLE_POINTS, 32 * 128 + 1);
        assert_eq!(FixedBaseTable::bytes(), 4097 * 64, "two 32-byte coordinates per entry");
    }
}
