//! Leaf bytes from a peer or a bundle: decode never panics, and what decodes re-encodes to the same bytes.
#![no_main]
use gongxin_core::envelope::LeafHeader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = LeafHeader::decode(data) {
        let _ = LeafHeader::decode_at(data, &h.origin, h.index);
    }
});
