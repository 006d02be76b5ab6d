//! Checkpoints in the C2SP tlog-checkpoint text form, signed with SM2 (DESIGN §5).
//!
//! A checkpoint body (the "note") is UTF-8 text, every line ending in `\n`:
//!
//! ```text
//! gongxin.hunan/430102 sm3
//! 1024
//! <base64 of the 32-byte SM3 Merkle tree head>
//! timestamp 2026-11-30T04:05:06Z
//! ```
//!
//! The first line is the origin: the log's name (the node's division code) and the hash profile. Then the
//! decimal tree size, the standard base64 root, and optional non-empty extension lines; Gongxin writes one
//! `timestamp <RFC 3339 UTC>` extension. The SM2 signature (DER, ID `1234567812345678`) covers the exact note
//! bytes and is kept beside them rather than appended as a signed-note signature line, so OpenSSL can check it
//! directly: `openssl pkeyutl -verify -rawin -digest sm3 -pkeyopt distid:1234567812345678 -in N.note -sigfile N.sig`.

use crate::crypto::{Digest, PublicKey, SigningKey};
use base64::Engine as _;

/// Name space of Gongxin log origins.
pub const ORIGIN_PREFIX: &str = "gongxin.hunan/";
/// Hash profile named on the origin line: RFC 9162 with SM3.
pub const HASH_PROFILE: &str = "sm3";
/// Name of the timestamp extension line.
pub const TIMESTAMP_EXTENSION: &str = "timestamp";
/// Largest note accepted by the parser.
pub const MAX_NOTE_LEN: usize = 4096;

/// The origin line of the log of the node with division code `code`, e.g. `gongxin.hunan/430102 sm3`.
pub fn origin_line(code: &str) -> String {
    format!("{ORIGIN_PREFIX}{code} {HASH_PROFILE}")
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CheckpointError {
    #[error("checkpoint note is {len} bytes, more than the {MAX_NOTE_LEN} allowed")]
    TooLong { len: usize },
    #[error("checkpoint note is not valid UTF-8")]
    NotUtf8,
    #[error("checkpoint note does not end with a newline")]
    NoFinalNewline,
    #[error("checkpoint line {line}: {reason}")]
    Line { line: usize, reason: String },
    #[error("checkpoint has {lines} lines; it needs at least origin, size and root")]
    TooFewLines { lines: usize },
    #[error("checkpoint signature: {0}")]
    Signature(String),
}

fn line_err(line: usize, reason: impl Into<String>) -> CheckpointError {
    CheckpointError::Line { line, reason: reason.into() }
}

/// A parsed checkpoint body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Origin line, without the newline.
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// Merkle tree head.
    pub root: Digest,
    /// Extension lines, without newlines, in order.
    pub extensions: Vec<String>,
}

fn check_text_line(line_no: usize, s: &str, what: &str) -> Result<(), CheckpointError> {
    if s.is_empty() {
        return Err(line_err(line_no, format!("{what} is empty")));
    }
    if let Some(c) = s.chars().find(|c| c.is_control()) {
        return Err(line_err(line_no, format!("{what} contains control character U+{:04X}", c as u32)));
    }
    if s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
        return Err(line_err(line_no, format!("{what} has leading or trailing whitespace")));
    }
    Ok(())
}

impl Checkpoint {
    /// Checkpoint of the log of node `code` at `size` with head `root`, stamped with `timestamp` (RFC 3339 UTC).
    pub fn new(code: &str, size: u64, root: Digest, timestamp: &str) -> Self {
        Self { origin: origin_line(code), size, root, extensions: vec![format!("{TIMESTAMP_EXTENSION} {timestamp}")] }
    }

    /// The division code named by a Gongxin origin line (`gongxin.hunan/<6 digits> sm3`), if this is one.
    pub fn origin_code(&self) -> Option<&str> {
        let rest = self.origin.strip_prefix(ORIGIN_PREFIX)?;
        let code = rest.strip_suffix(HASH_PROFILE)?.strip_suffix(' ')?;
        (code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())).then_some(code)
    }

    /// The value of the first `timestamp` extension line, if any.
    pub fn timestamp(&self) -> Option<&str> {
        self.extensions.iter().find_map(|e| e.strip_prefix(TIMESTAMP_EXTENSION)?.strip_prefix(' '))
    }

    /// The exact note bytes that are signed.
    pub fn encode(&self) -> Vec<u8> {
        let mut s = String::with_capacity(128);
        s.push_str(&self.origin);
        s.push('\n');
        s.push_str(&self.size.to_string());
        s.push('\n');
        s.push_str(&base64::engine::general_purpose::STANDARD.encode(self.root));
        s.push('\n');
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s.into_bytes()
    }

    /// Strict parser: exactly the form [`Checkpoint::encode`] writes (canonical decimal and base64, no empty
    /// lines, no control characters, final newline), so parse → encode gives back the same bytes.
    pub fn parse(note: &[u8]) -> Result<Self, CheckpointError> {
        if note.len() > MAX_NOTE_LEN {
            return Err(CheckpointError::TooLong { len: note.len() });
        }
        let text = std::str::from_utf8(note).map_err(|_| CheckpointError::NotUtf8)?;
        let body = text.strip_suffix('\n').ok_or(CheckpointError::NoFinalNewline)?;
        let lines: Vec<&str> = body.split('\n').collect();
        if lines.len() < 3 {
            return Err(CheckpointError::TooFewLines { lines: lines.len() });
        }
        check_text_line(1, lines[0], "origin")?;
        let size_s = lines[1];
        if size_s.is_empty() || !size_s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(line_err(2, format!("size {size_s:?} is not a decimal number")));
        }
        if size_s.len() > 1 && size_s.starts_with('0') {
            return Err(line_err(2, format!("size {size_s:?} has a leading zero")));
        }
        let size: u64 = size_s.parse().map_err(|_| line_err(2, format!("size {size_s:?} does not fit in 64 bits")))?;
        let root_s = lines[2];
        let root_bytes = base64::engine::general_purpose::STANDARD
            .decode(root_s)
            .map_err(|e| line_err(3, format!("root is not standard base64: {e}")))?;
        let root: Digest = root_bytes
            .as_slice()
            .try_into()
            .map_err(|_| line_err(3, format!("root is {} bytes, expected 32", root_bytes.len())))?;
        if base64::engine::general_purpose::STANDARD.encode(root) != root_s {
            return Err(line_err(3, "root base64 is not in canonical form"));
        }
        let mut extensions = Vec::new();
        for (i, e) in lines[3..].iter().enumerate() {
            check_text_line(i + 4, e, "extension line")?;
            extensions.push(e.to_string());
        }
        Ok(Self { origin: lines[0].to_string(), size, root, extensions })
    }
}

/// A checkpoint note and the DER SM2 signature over its exact bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    pub note: Vec<u8>,
    pub signature: Vec<u8>,
}

impl SignedCheckpoint {
    /// Encodes and signs `cp` with `key`.
    pub fn sign(cp: &Checkpoint, key: &SigningKey) -> Self {
        let note = cp.encode();
        let signature = key.sign(&note);
        Self { note, signature }
    }

    /// Parses the note without checking the signature.
    pub fn parse(&self) -> Result<Checkpoint, CheckpointError> {
        Checkpoint::parse(&self.note)
    }

    /// Parses the note and checks the signature with `key`.
    pub fn verify(&self, key: &PublicKey) -> Result<Checkpoint, CheckpointError> {
        let cp = self.parse()?;
        key.verify(&self.note, &self.signature).map_err(|e| CheckpointError::Signature(e.to_string()))?;
        Ok(cp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::sm3;

    fn sample() -> Checkpoint {
        Checkpoint::new("430102", 1024, sm3(b"root"), "2026-11-30T04:05:06Z")
    }

    #[test]
    fn encode_parse_round_trip() {
        let cp = sample();
        let note = cp.encode();
        let text = String::from_utf8(note.clone()).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(sm3(b"root"));
        assert_eq!(text, format!("gongxin.hunan/430102 sm3\n1024\n{b64}\ntimestamp 2026-11-30T04:05:06Z\n"));
        let back = Checkpoint::parse(&note).unwrap();
        assert_eq!(back, cp);
        assert_eq!(back.encode(), note);
        assert_eq!(back.origin_code(), Some("430102"));
        assert_eq!(back.timestamp(), Some("2026-11-30T04:05:06Z"));
        let bare = Checkpoint { origin: "example.org/log".into(), size: 0, root: sm3(b""), extensions: vec![] };
        let parsed = Checkpoint::parse(&bare.encode()).unwrap();
        assert_eq!(parsed, bare);
        assert_eq!(parsed.origin_code(), None);
        assert_eq!(parsed.timestamp(), None);
    }

    /// One data-driven helper: the note text and the error the parser must give (None = accepted).
    fn check(note: &str, expected: Option<CheckpointError>) {
        let got = Checkpoint::parse(note.as_bytes());
        match expected {
            None => assert!(got.is_ok(), "{note:?} should parse, got {got:?}"),
            Some(e) => assert_eq!(got, Err(e), "{note:?}"),
        }
    }

    #[test]
    fn strict_parser_rejects_malformed_notes() {
        let r = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let l = |line, reason: &str| Some(line_err(line, reason));
        check(&format!("o sm3\n5\n{r}\n"), None);
        check(&format!("o sm3\n5\n{r}"), Some(CheckpointError::NoFinalNewline));
        check(&format!("o sm3\n5\n{r}\n\n"), l(4, "extension line is empty"));
        check(&format!("o sm3\n5\n{r}\r\n"), l(3, "root is not standard base64: Invalid symbol 13, offset 44."));
        check("o sm3\n5\n", Some(CheckpointError::TooFewLines { lines: 2 }));
        check(&format!("\n5\n{r}\n"), l(1, "origin is empty"));
        check(&format!(" o\n5\n{r}\n"), l(1, "origin has leading or trailing whitespace"));
        check(&format!("o\t1\n5\n{r}\n"), l(1, "origin contains control character U+0009"));
        check(&format!("o\n05\n{r}\n"), l(2, "size \"05\" has a leading zero"));
        check(&format!("o\n+5\n{r}\n"), l(2, "size \"+5\" is not a decimal number"));
        check(&format!("o\n\n{r}\n"), l(2, "size \"\" is not a decimal number"));
        check(
            &format!("o\n18446744073709551616\n{r}\n"),
            l(2, "size \"18446744073709551616\" does not fit in 64 bits"),
        );
        check(&format!("o\n18446744073709551615\n{r}\n"), None);
        check(&format!("o\n0\n{r}\n"), None);
        let short = base64::engine::general_purpose::STANDARD.encode([7u8; 31]);
        check(&format!("o\n1\n{short}\n"), l(3, "root is 31 bytes, expected 32"));
        let unpadded = r.trim_end_matches('=');
        assert!(Checkpoint::parse(format!("o\n1\n{unpadded}\n").as_bytes()).is_err());
        // Non-canonical trailing bits: same bytes decoded only by a lenient decoder; ours refuses.
        let mut nc = r.clone().into_bytes();
        nc[42] = b'd'; // 'c' carries low bits 0b00 in [7;32] encoding; 'd' sets a trailing bit
        assert!(Checkpoint::parse(format!("o\n1\n{}\n", String::from_utf8(nc).unwrap()).as_bytes()).is_err());
        assert_eq!(Checkpoint::parse(b"o\n1\n\xff\n"), Err(CheckpointError::NotUtf8));
        let long = format!("o\n1\n{r}\n{}\n", "x".repeat(MAX_NOTE_LEN));
        assert!(matches!(Checkpoint::parse(long.as_bytes()), Err(CheckpointError::TooLong { .. })));
        check(&format!("o\n1\n{r}\nb ext\n"), None);
        check(&format!("o\n1\n{r}\nb ext \n"), l(4, "extension line has leading or trailing whitespace"));
    }

    #[test]
    fn signed_checkpoint_verifies_only_with_the_right_key_and_exact_bytes() {
        let key = SigningKey::generate();
        let other = SigningKey::generate();
        let signed = SignedCheckpoint::sign(&sample(), &key);
        assert_eq!(signed.verify(&key.public_key()).unwrap(), sample());
        assert!(matches!(signed.verify(&other.public_key()), Err(CheckpointError::Signature(_))));
        for i in [0usize, 30, signed.note.len() - 2] {
            let mut bad = signed.clone();
            bad.note[i] ^= 0x01;
            assert!(bad.verify(&key.public_key()).is_err(), "flipped byte {i}");
        }
        let mut bad = signed.clone();
        let last = bad.signature.len() - 1;
        bad.signature[last] ^= 0x01;
        assert!(matches!(bad.verify(&key.public_key()), Err(CheckpointError::Signature(_))));
    }
}
