//! gRPC services of the node. `admin` is the local operator API on a Unix socket in the data dir; the wire
//! types are mapped to core types here, never leaking protobuf further in.
pub mod admin;
pub mod audit;
pub mod check;
pub mod convert;
pub mod guard;
pub mod sync;
