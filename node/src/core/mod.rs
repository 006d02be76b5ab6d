//! Pure domain: records, validation, Merkle log math, checkpoints. No I/O, no tokio, no sled, no fs.
pub mod envelope;
