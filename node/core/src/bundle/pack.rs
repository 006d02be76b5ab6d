//! Packed entries: how `entries/<code>/` of a bundle holds an origin's leaves, signatures and payloads.
//!
//! An origin's log is cut into packs of consecutive entries, each two files named by the index of its first
//! entry:
//! - `<first>.pack` — for each entry in index order, its exact leaf bytes, then its DER signature, then its
//!   payload when the bundle holds it, back to back with nothing between;
//! - `<first>.idx` — text, one line per entry in the same order: `<index> <leaf bytes> <signature bytes>
//!   <payload bytes> <payload extension>`, the last two `-` when the payload is left out; each line ends in `\n`.
//!
//! A pack holds at most [`PACK_ENTRIES`] entries and is closed early once it reaches [`PACK_TARGET_BYTES`], so
//! a bundle of n entries has about 2n/256 entry files, and the packs are the raw bytes themselves. The lengths
//! in an index must add up to the pack's size exactly; the next pack starts where the previous one ended.
//! The index is plain text so that `verify-openssl.sh` cuts the same bytes out with `dd` and checks them with
//! OpenSSL alone.

use super::{berr, BundleError};

/// Entries in a full pack (the tile width of the C2SP tlog-tiles layout).
pub const PACK_ENTRIES: usize = 256;
/// A pack is closed before an entry that would take it past this size (a single larger entry gets a pack of
/// its own).
pub const PACK_TARGET_BYTES: usize = 16 << 20;
/// The largest leaf a pack may hold.
pub const MAX_LEAF_BYTES: usize = 16 << 10;
/// The largest signature a pack may hold.
pub const MAX_SIG_BYTES: usize = 1 << 10;
/// The largest payload a pack may hold.
pub const MAX_PAYLOAD_BYTES: usize = 4 << 20;
/// The largest pack a reader accepts: a full target plus one largest entry.
pub const MAX_PACK_BYTES: u64 = (PACK_TARGET_BYTES + MAX_LEAF_BYTES + MAX_SIG_BYTES + MAX_PAYLOAD_BYTES) as u64;
/// The largest index a reader accepts (256 lines of at most 60 characters fit well inside).
pub const MAX_INDEX_BYTES: u64 = 64 << 10;

/// How a message names entry `index` held in the pack that starts at `first`.
pub fn entry_name(code: &str, first: u64, index: u64) -> String {
    format!("entries/{code}/{first}.pack#{index}")
}

/// One line of an index: the lengths of an entry's parts in its pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub index: u64,
    pub leaf: usize,
    pub sig: usize,
    /// Payload length and extension (`json`, `csv`, …), `None` when the bundle leaves the payload out.
    pub payload: Option<(usize, String)>,
}

/// One entry cut out of a pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot<'a> {
    pub index: u64,
    pub leaf: &'a [u8],
    pub sig: &'a [u8],
    pub payload: Option<(&'a [u8], &'a str)>,
}

/// Whether `s` may name a payload's extension in a pack's index: 1 to 16 ASCII letters or digits.
pub fn is_ext(s: &str) -> bool {
    !s.is_empty() && s.len() <= 16 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn decimal(s: &str, max: usize, what: &str, file: &str, n: usize) -> Result<usize, BundleError> {
    match s.parse::<usize>() {
        Ok(v) if v.to_string() == s && (1..=max).contains(&v) => Ok(v),
        _ => Err(berr(file, format!("line {n}: {what} {s:?} is not a decimal length from 1 to {max}"))),
    }
}

/// Parses the index `file` of the pack that starts at `first`: at most [`PACK_ENTRIES`] lines, indices
/// `first, first + 1, …`, every length within its bound. Refuses anything else, naming the line.
pub fn parse_index(text: &[u8], file: &str, first: u64) -> Result<Vec<Line>, BundleError> {
    let text = std::str::from_utf8(text).map_err(|_| berr(file, "index is not UTF-8 text"))?;
    let Some(body) = text.strip_suffix('\n') else {
        return Err(berr(file, "index is empty or its last line does not end in a newline"));
    };
    let mut lines = Vec::new();
    for (k, line) in body.split('\n').enumerate() {
        let n = k + 1;
        if k >= PACK_ENTRIES {
            return Err(berr(file, format!("more than {PACK_ENTRIES} entries in one pack")));
        }
        let f: Vec<&str> = line.split(' ').collect();
        let [index, leaf, sig, plen, ext] = f[..] else {
            return Err(berr(file, format!("line {n}: expected 5 fields separated by single spaces")));
        };
        let want = first + k as u64;
        if index != want.to_string() {
            return Err(berr(
                file,
                format!("line {n}: index {index:?}, expected {want} (entries in order from {first})"),
            ));
        }
        let payload = match (plen, ext) {
            ("-", "-") => None,
            (p, e) if is_ext(e) => Some((decimal(p, MAX_PAYLOAD_BYTES, "payload length", file, n)?, e.to_string())),
            _ => return Err(berr(file, format!("line {n}: payload length and extension must both be - or be given"))),
        };
        lines.push(Line {
            index: want,
            leaf: decimal(leaf, MAX_LEAF_BYTES, "leaf length", file, n)?,
            sig: decimal(sig, MAX_SIG_BYTES, "signature length", file, n)?,
            payload,
        });
    }
    Ok(lines)
}

/// Cuts `pack` (the file `file`) into its entries as `lines` describe them; the lengths must cover the pack
/// exactly.
pub fn split<'a>(pack: &'a [u8], lines: &'a [Line], file: &str) -> Result<Vec<Slot<'a>>, BundleError> {
    let mut at = 0usize;
    let mut take = |len: usize| -> Option<&'a [u8]> {
        let part = pack.get(at..at.checked_add(len)?)?;
        at += len;
        Some(part)
    };
    let mut out = Vec::with_capacity(lines.len());
    for l in lines {
        let short = || berr(file, format!("pack ends inside entry {} (its index gives more bytes)", l.index));
        let leaf = take(l.leaf).ok_or_else(short)?;
        let sig = take(l.sig).ok_or_else(short)?;
        let payload = match &l.payload {
            Some((len, ext)) => Some((take(*len).ok_or_else(short)?, ext.as_str())),
            None => None,
        };
        out.push(Slot { index: l.index, leaf, sig, payload });
    }
    if at != pack.len() {
        return Err(berr(file, format!("{} bytes after the last entry its index describes", pack.len() - at)));
    }
    Ok(out)
}

/// A finished pack: its first index, the pack bytes and the index text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pack {
    pub first: u64,
    pub bytes: Vec<u8>,
    pub index: String,
}

/// Builds the packs of one origin from its entries in index order.
#[derive(Debug, Default)]
pub struct Packer {
    open: Option<Pack>,
    entries: usize,
    next: u64,
}

impl Packer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds entry `index` (the next one in order); returns the pack it closed, if adding it closed one. An
    /// entry out of order or a part out of bounds is refused before anything is added.
    pub fn push(
        &mut self,
        index: u64,
        leaf: &[u8],
        sig: &[u8],
        payload: Option<(&[u8], &str)>,
    ) -> Result<Option<Pack>, String> {
        if index != self.next {
            return Err(format!("entry {index} out of order: expected entry {}", self.next));
        }
        if !(1..=MAX_LEAF_BYTES).contains(&leaf.len()) || !(1..=MAX_SIG_BYTES).contains(&sig.len()) {
            return Err(format!("entry {index}: leaf or signature length outside what a bundle holds"));
        }
        if let Some((p, ext)) = payload {
            if !(1..=MAX_PAYLOAD_BYTES).contains(&p.len()) || !is_ext(ext) {
                return Err(format!("entry {index}: payload length or extension outside what a bundle holds"));
            }
        }
        let size = leaf.len() + sig.len() + payload.map_or(0, |(p, _)| p.len());
        let full = self
            .open
            .as_ref()
            .is_some_and(|p| self.entries >= PACK_ENTRIES || p.bytes.len() + size > PACK_TARGET_BYTES);
        let closed = if full { self.finish() } else { None };
        let open = self.open.get_or_insert_with(|| Pack { first: index, bytes: Vec::new(), index: String::new() });
        open.bytes.extend_from_slice(leaf);
        open.bytes.extend_from_slice(sig);
        let (plen, ext) = match payload {
            Some((p, ext)) => {
                open.bytes.extend_from_slice(p);
                (p.len().to_string(), ext)
            }
            None => ("-".to_string(), "-"),
        };
        open.index.push_str(&format!("{index} {} {} {plen} {ext}\n", leaf.len(), sig.len()));
        self.entries += 1;
        self.next = index + 1;
        Ok(closed)
    }

    /// Closes the open pack, if any.
    pub fn finish(&mut self) -> Option<Pack> {
        self.entries = 0;
        self.open.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packs(n: u64, payload_len: usize) -> Vec<Pack> {
        let mut p = Packer::new();
        let mut out = Vec::new();
        let body = vec![b'p'; payload_len];
        for i in 0..n {
            let payload = (i % 3 != 1).then_some((body.as_slice(), "json"));
            out.extend(p.push(i, format!("leaf {i}").as_bytes(), b"sig", payload).unwrap());
        }
        out.extend(p.finish());
        out
    }

    #[test]
    fn packs_hold_256_entries_and_split_back_exactly() {
        let all = packs(600, 10);
        assert_eq!(all.iter().map(|p| p.first).collect::<Vec<_>>(), [0, 256, 512]);
        let mut next = 0;
        for p in &all {
            let lines = parse_index(p.index.as_bytes(), "x.idx", p.first).unwrap();
            for s in split(&p.bytes, &lines, "x.pack").unwrap() {
                assert_eq!(s.index, next);
                assert_eq!(s.leaf, format!("leaf {next}").as_bytes());
                assert_eq!(s.sig, b"sig");
                assert_eq!(s.payload.is_some(), next % 3 != 1);
                next += 1;
            }
        }
        assert_eq!(next, 600);
    }

    #[test]
    fn a_pack_closes_at_its_byte_target() {
        let all = packs(40, 1 << 20);
        assert!(all.iter().all(|p| p.bytes.len() <= PACK_TARGET_BYTES), "{:?}", all.iter().map(|p| p.bytes.len()));
        assert!(all.len() >= 2);
    }

    #[test]
    fn the_packer_refuses_entries_out_of_order_or_out_of_bounds() {
        let mut p = Packer::new();
        assert!(p.push(1, b"l", b"s", None).unwrap_err().contains("out of order"));
        assert!(p.push(0, b"", b"s", None).is_err());
        assert!(p.push(0, b"l", b"s", Some((b"x", "../x"))).is_err());
        assert!(p.push(0, b"l", b"s", None).unwrap().is_none());
    }

    #[test]
    fn bad_indexes_and_packs_are_refused_naming_the_line() {
        let p = &packs(3, 5)[0];
        let lines = parse_index(p.index.as_bytes(), "i", 0).unwrap();
        let bad = |text: &str, first: u64| parse_index(text.as_bytes(), "i", first).unwrap_err().reason;
        assert!(bad("", 0).contains("empty"));
        assert!(bad("0 1 1 - -", 0).contains("newline"));
        assert!(bad("1 1 1 - -\n", 0).contains("expected 0"));
        assert!(bad("0 1 1 - -\n2 1 1 - -\n", 0).contains("line 2: index \"2\", expected 1"));
        assert!(bad("0 01 1 - -\n", 0).contains("leaf length"));
        assert!(bad("0 1 0 - -\n", 0).contains("signature length"));
        assert!(bad("0 1 1 5 -\n", 0).contains("both"));
        assert!(bad("0 1 1 99999999 json\n", 0).contains("payload length"));
        assert!(bad("0  1 1 - -\n", 0).contains("5 fields"));
        let many: String = (0..257).map(|i| format!("{i} 1 1 - -\n")).collect();
        assert!(bad(&many, 0).contains("more than 256"));
        let mut longer = p.bytes.clone();
        longer.push(0);
        assert!(split(&longer, &lines, "p").unwrap_err().reason.contains("1 bytes after"));
        assert!(split(&p.bytes[..p.bytes.len() - 1], &lines, "p").unwrap_err().reason.contains("ends inside entry 2"));
    }
}
