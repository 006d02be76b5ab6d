//! Record payload JSON (mirrored payloads, bundle payloads): parsing never panics.
#![no_main]
use gongxin_core::record::Record;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Record::from_payload_json(data);
});
