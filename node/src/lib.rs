//! Gongxin node daemon library. Rooms (DESIGN §2, ARCHITECTURE.md): the pure domain and SM2/SM3 are the
//! `gongxin-core` crate; here `store` is the narrow `Store` trait with sled and memory implementations and the
//! log layout, `app` the use cases (the only writer of the store), `views` the derived indexes, `grpc` the
//! services that convert and call `app`, `peers` the uplink, `http` the status pages, metrics and health
//! (read-only), `daemon`/`config`/`cli` the process, `logging` its logs (format, output, rotation, SIGHUP level),
//! `backup` backup and verified restore.
pub mod app;
pub mod backup;
#[cfg(feature = "bench")]
pub mod bench;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod grpc;
pub mod http;
pub mod logging;
pub mod peers;
pub mod store;
pub mod views;
