//! Registry documents (from a bundle or `registry add`): parse + validate never panics.
#![no_main]
use gongxin_core::registry::Registry;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = Registry::from_json(data) {
        let _ = Registry::from_json(&r.to_json());
    }
});
