//! Gongxin node library. Rooms (DESIGN §2): `core` is the pure domain (no I/O), `crypto` is SM2/SM3,
//! `store` is the `Store` trait with sled and memory implementations, `grpc` serves the APIs.
pub mod bench;
pub mod cli;
pub mod core;
pub mod crypto;
pub mod store;
pub mod config;
pub mod daemon;
pub mod grpc;
pub mod ledger;
pub mod testdata;
pub mod bundle;
pub mod federation;
pub mod peers;
pub mod bench_audit;
