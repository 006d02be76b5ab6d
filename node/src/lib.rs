//! Gongxin node library. Rooms (DESIGN §2): `core` is the pure domain (no I/O), `crypto` is SM2/SM3,
//! `store` is the `Store` trait with sled and memory implementations, `grpc` serves the APIs.
#[cfg(feature = "bench")]
pub mod bench;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod federation;
pub mod grpc;
pub mod ledger;
pub mod peers;
pub mod store;
