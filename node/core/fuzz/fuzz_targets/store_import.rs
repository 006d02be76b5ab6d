//! The store import stream (`gongxin-node store import`): any bytes are imported into an empty in-memory
//! store or refused with an error, never a panic or an unbounded allocation.
#![no_main]
use gongxin_node::store::memory::MemoryStore;
use gongxin_node::store::Store;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let store = MemoryStore::new();
    let mut input = data;
    let _ = store.import(&mut input);
});
