//! Protobuf wire types and tonic service stubs. Nothing outside this crate knows protobuf; the node maps these
//! types to its core types in `gongxin_node::grpc::convert`.

pub mod common {
    pub mod v1 {
        tonic::include_proto!("gongxin.common.v1");
    }
}

pub mod admin {
    /// File name of the admin API's Unix socket inside a node's data dir: the node serves it, the CLI dials it.
    pub const ADMIN_SOCKET_FILE: &str = "admin.sock";

    pub mod v1 {
        tonic::include_proto!("gongxin.admin.v1");
        pub use crate::common::v1::Entry;
    }
}

pub mod sync {
    pub mod v1 {
        tonic::include_proto!("gongxin.sync.v1");
        pub use crate::common::v1::{Entry, SignedNote};
    }
}

pub mod audit {
    pub mod v1 {
        tonic::include_proto!("gongxin.audit.v1");
        pub use crate::common::v1::SignedNote;
    }
}

pub mod check {
    pub mod v1 {
        tonic::include_proto!("gongxin.check.v1");
    }
}
