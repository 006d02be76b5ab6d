//! Self-check of the fast verifier against the crate's verifier on random valid and tampered signatures.
//! Used by the unit tests (small counts) and by `gongxin-node bench crypto --check N` (the 100k run in release).

use super::{sm3, CryptoError, PublicKey, SigningKey, Verifier};

/// Outcome of [`agreement_check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreementReport {
    /// Valid signatures accepted by the crate, the registered-signer path, the fallback path and the batch API.
    pub valid: usize,
    /// Tampered signatures (message, r, s or public key changed by one bit or key) rejected by all of them.
    pub tampered: usize,
}

/// The first disagreement found by [`agreement_check`].
#[derive(Debug, thiserror::Error)]
#[error("SM2 verifier disagreement on signature {index} ({case}): crate {crate_ok}, registered {registered_ok}, fallback {fallback_ok}, batch {batch_ok}")]
pub struct Disagreement {
    pub index: usize,
    pub case: &'static str,
    pub crate_ok: bool,
    pub registered_ok: bool,
    pub fallback_ok: bool,
    pub batch_ok: bool,
}

/// DER `SEQUENCE { INTEGER r, INTEGER s }` for arbitrary 32-byte big-endian integers (even 0 or ≥ n).
pub(crate) fn der_from_integers(r: &[u8; 32], s: &[u8; 32]) -> Vec<u8> {
    fn int(v: &[u8; 32]) -> Vec<u8> {
        let first = v.iter().position(|b| *b != 0).unwrap_or(31);
        let mut body = v[first..].to_vec();
        if body[0] & 0x80 != 0 {
            body.insert(0, 0);
        }
        let mut out = vec![0x02, body.len() as u8];
        out.extend(body);
        out
    }
    let mut inner = int(r);
    inner.extend(int(s));
    let mut out = vec![0x30, inner.len() as u8];
    out.extend(inner);
    out
}

/// (r, s) of a DER signature as 32-byte big-endian integers.
pub(crate) fn integers_from_der(der: &[u8]) -> Result<([u8; 32], [u8; 32]), CryptoError> {
    let sig = sm2::dsa::Signature::from_der(der).map_err(|e| CryptoError::SignatureEncoding(e.to_string()))?;
    Ok((sig.r_bytes().into(), sig.s_bytes().into()))
}

/// One verification of the agreement check: (signature index, case name, signer index, message, DER signature,
/// expected verdict).
type Case = (usize, &'static str, usize, Vec<u8>, Vec<u8>, bool);

/// Signs `n` random messages with `keys` fresh keys (`keys ≥ 2`) and checks that the crate's verifier, the
/// registered-signer path, the fallback path and the batch API all accept each signature, and all reject one
/// tampered variant per signature, rotating through the classes: one message bit, one bit of r, one bit of s,
/// another signer's public key. `progress` is called with the number of signatures done so far.
pub fn agreement_check(n: usize, keys: usize, progress: &dyn Fn(usize)) -> Result<AgreementReport, Disagreement> {
    let keys = keys.max(2);
    let signers: Vec<SigningKey> = (0..keys).map(|_| SigningKey::generate()).collect();
    let pubs: Vec<PublicKey> = signers.iter().map(|k| k.public_key()).collect();
    let registered = Verifier::new();
    for p in &pubs {
        registered.register(p);
    }
    let fallback = Verifier::with_max_tables(0);
    let mut report = AgreementReport { valid: 0, tampered: 0 };
    // Random message bytes: a hash chain seeded from a fresh key, so each run checks different messages.
    let mut seed = sm3(&SigningKey::generate().public_key().to_sec1_uncompressed());
    const CHUNK: usize = 512;
    let mut start = 0;
    while start < n {
        let end = (start + CHUNK).min(n);
        let mut cases: Vec<Case> = Vec::with_capacity(2 * CHUNK);
        for i in start..end {
            seed = sm3(&seed);
            let len = (seed[0] as usize) % 120;
            let mut msg = Vec::with_capacity(len);
            while msg.len() < len {
                seed = sm3(&seed);
                msg.extend_from_slice(&seed[..(len - msg.len()).min(32)]);
            }
            let ki = i % keys;
            let sig = signers[ki].sign(&msg);
            let (mut r, mut s) = integers_from_der(&sig).map_err(|_| Disagreement {
                index: i,
                case: "DER of a fresh signature",
                crate_ok: false,
                registered_ok: false,
                fallback_ok: false,
                batch_ok: false,
            })?;
            let bit = (seed[1] as usize) % 256;
            let tampered = match i % 4 {
                0 => {
                    let mut m = msg.clone();
                    if m.is_empty() {
                        m.push(0);
                    } else {
                        let b = (seed[2] as usize * 256 + seed[3] as usize) % (m.len() * 8);
                        m[b / 8] ^= 1 << (b % 8);
                    }
                    ("message bit", ki, m, sig.clone())
                }
                1 => {
                    r[bit / 8] ^= 1 << (bit % 8);
                    ("r bit", ki, msg.clone(), der_from_integers(&r, &s))
                }
                2 => {
                    s[bit / 8] ^= 1 << (bit % 8);
                    ("s bit", ki, msg.clone(), der_from_integers(&r, &s))
                }
                _ => ("public key", (ki + 1) % keys, msg.clone(), sig.clone()),
            };
            cases.push((i, "valid", ki, msg, sig, true));
            cases.push((i, tampered.0, tampered.1, tampered.2, tampered.3, false));
        }
        let items: Vec<(&PublicKey, &[u8], &[u8])> =
            cases.iter().map(|c| (&pubs[c.2], c.3.as_slice(), c.4.as_slice())).collect();
        let batch = registered.verify_batch(&items);
        for (c, b) in cases.iter().zip(&batch) {
            let key = &pubs[c.2];
            let crate_ok = key.verify(&c.3, &c.4).is_ok();
            let registered_ok = registered.verify(key, &c.3, &c.4).is_ok();
            let fallback_ok = fallback.verify(key, &c.3, &c.4).is_ok();
            let batch_ok = b.is_ok();
            if crate_ok != c.5 || registered_ok != c.5 || fallback_ok != c.5 || batch_ok != c.5 {
                return Err(Disagreement { index: c.0, case: c.1, crate_ok, registered_ok, fallback_ok, batch_ok });
            }
            if c.5 {
                report.valid += 1;
            } else {
                report.tampered += 1;
            }
        }
        start = end;
        progress(start);
    }
    Ok(report)
}
