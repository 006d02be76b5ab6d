//! Gongxin's pure domain (DESIGN §2): records, templates and code checks, the leaf envelope, RFC 9162 Merkle math,
//! C2SP checkpoints, the registry document, sync and audit rules, and SM2/SM3 (`crypto`, the one signing and
//! verification path). No I/O: the crate's dependencies exclude tokio, tonic, sled and anything doing file or
//! network I/O, so the compiler keeps it pure; callers pass times and bytes in.
pub mod audit;
pub mod backoff;
pub mod bundle;
pub mod calendar;
pub mod catalogue;
pub mod check;
pub mod checkpoint;
pub mod crypto;
pub mod date;
pub mod division;
pub mod envelope;
pub mod format;
pub mod idcard;
pub mod layout;
pub mod mask;
pub mod merkle;
pub mod names;
pub mod publicity;
pub mod record;
pub mod registry;
pub mod sheet;
pub mod state;
pub mod sync;
pub mod template;
#[cfg(feature = "testdata")]
pub mod testdata;
pub mod uscc;
