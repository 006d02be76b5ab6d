//! Pure domain: records, validation, Merkle log math, checkpoints. No I/O, no tokio, no sled, no fs.
pub mod audit;
pub mod backoff;
pub mod checkpoint;
pub mod date;
pub mod division;
pub mod envelope;
pub mod idcard;
pub mod merkle;
pub mod record;
pub mod registry;
pub mod sheet;
pub mod sync;
pub mod template;
pub mod uscc;
