//! Pure domain: records, validation, Merkle log math, checkpoints. No I/O, no tokio, no sled, no fs.
pub mod envelope;
pub mod merkle;
pub mod checkpoint;
pub mod date;
pub mod division;
pub mod idcard;
pub mod record;
pub mod sheet;
pub mod template;
pub mod uscc;
pub mod registry;
pub mod sync;
pub mod backoff;
pub mod audit;
