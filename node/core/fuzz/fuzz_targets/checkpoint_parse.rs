//! C2SP checkpoint notes: the strict parser never panics and round-trips what it accepts.
#![no_main]
use gongxin_core::checkpoint::Checkpoint;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cp) = Checkpoint::parse(data) {
        assert_eq!(cp.encode(), data, "parse → encode must give back the same bytes");
    }
});
