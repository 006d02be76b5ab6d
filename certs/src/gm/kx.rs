//! The key-exchange group curveSM2 (RFC 8998 §2, 0x0029): ephemeral ECDH on the SM2 curve. The key share is
//! the uncompressed point (0x04 ‖ x ‖ y, 65 bytes) and the shared secret the x coordinate of the product
//! (as for the NIST curves in RFC 8446 §7.4.2). The scalar multiplication is the RustCrypto `sm2` crate's
//! constant-time one; the ephemeral secret is wiped when dropped.
use rustls::crypto::{ActiveKeyExchange, SharedSecret, SupportedKxGroup};
use rustls::{Error, NamedGroup, PeerMisbehaved, ProtocolVersion};
use sm2::elliptic_curve::ecdh::EphemeralSecret;
use sm2::elliptic_curve::sec1::ToSec1Point;
use sm2::elliptic_curve::Generate;

/// Code point of curveSM2.
pub const CURVE_SM2_ID: u16 = 0x0029;
/// Length of a curveSM2 key share.
pub const KEY_SHARE_LEN: usize = 65;

/// curveSM2 for rustls.
#[derive(Debug)]
pub struct CurveSm2;

pub static CURVE_SM2: CurveSm2 = CurveSm2;

impl SupportedKxGroup for CurveSm2 {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, Error> {
        let secret = EphemeralSecret::<sm2::Sm2>::try_generate()
            .map_err(|_| Error::General("system random number generator failed".into()))?;
        let pub_key = secret.public_key().to_sec1_point(false).as_bytes().to_vec();
        Ok(Box::new(Sm2KeyExchange { secret, pub_key }))
    }

    fn name(&self) -> NamedGroup {
        NamedGroup::Unknown(CURVE_SM2_ID)
    }

    fn usable_for_version(&self, version: ProtocolVersion) -> bool {
        // RFC 8998 defines curveSM2 for TLS 1.3 only.
        version == ProtocolVersion::TLSv1_3
    }
}

struct Sm2KeyExchange {
    secret: EphemeralSecret<sm2::Sm2>,
    pub_key: Vec<u8>,
}

impl ActiveKeyExchange for Sm2KeyExchange {
    fn complete(self: Box<Self>, peer_pub_key: &[u8]) -> Result<SharedSecret, Error> {
        let peer = parse_peer_share(peer_pub_key)?;
        let shared = self.secret.diffie_hellman(&peer);
        Ok(SharedSecret::from(shared.raw_secret_bytes().as_slice()))
    }

    fn pub_key(&self) -> &[u8] {
        &self.pub_key
    }

    fn group(&self) -> NamedGroup {
        NamedGroup::Unknown(CURVE_SM2_ID)
    }
}

/// Accepts only an uncompressed point that is on the curve and not the identity (`from_sec1_bytes` checks
/// both); anything else is the peer's fault.
pub(crate) fn parse_peer_share(bytes: &[u8]) -> Result<sm2::PublicKey, Error> {
    if bytes.len() != KEY_SHARE_LEN || bytes[0] != 0x04 {
        return Err(PeerMisbehaved::InvalidKeyShare.into());
    }
    sm2::PublicKey::from_sec1_bytes(bytes).map_err(|_| PeerMisbehaved::InvalidKeyShare.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_agree() {
        let a = CURVE_SM2.start().expect("start");
        let b = CURVE_SM2.start().expect("start");
        assert_eq!(a.pub_key().len(), KEY_SHARE_LEN);
        let (a_pub, b_pub) = (a.pub_key().to_vec(), b.pub_key().to_vec());
        let s1 = a.complete(&b_pub).expect("complete");
        let s2 = b.complete(&a_pub).expect("complete");
        assert_eq!(s1.secret_bytes(), s2.secret_bytes());
        assert_eq!(s1.secret_bytes().len(), 32);
    }

    #[test]
    fn bad_key_shares_are_refused() {
        let good = CURVE_SM2.start().expect("start").pub_key().to_vec();
        // Compressed form, truncated, wrong prefix, a point off the curve, the identity encoding.
        let mut compressed = vec![0x02 | (good[64] & 1)];
        compressed.extend_from_slice(&good[1..33]);
        let mut off_curve = good.clone();
        off_curve[64] ^= 1;
        let mut wrong_prefix = good.clone();
        wrong_prefix[0] = 0x06;
        for (what, share) in [
            ("compressed", compressed),
            ("truncated", good[..64].to_vec()),
            ("wrong prefix", wrong_prefix),
            ("off the curve", off_curve),
            ("identity", vec![0x00]),
            ("zeros", vec![0u8; 65]),
        ] {
            let kx = CURVE_SM2.start().expect("start");
            assert!(kx.complete(&share).is_err(), "{what} accepted");
        }
        assert!(!CURVE_SM2.usable_for_version(ProtocolVersion::TLSv1_2));
    }
}
