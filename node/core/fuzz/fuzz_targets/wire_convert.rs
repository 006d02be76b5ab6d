//! Protobuf → core conversion of what a peer sends (grpc/convert.rs, sync and audit modules): any bytes that
//! decode as an `UploadRequest` or `PullReply` convert or fail naming a field, never panic.
#![no_main]
use gongxin_node::grpc::convert::sync as convert;
use gongxin_proto::sync::v1 as pb;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = pb::UploadRequest::decode(data) {
        let _ = convert::origin("origin", &r.origin);
        let _ = convert::checkpoint(r.checkpoint);
        let _ = convert::entries(r.entries);
    }
    if let Ok(r) = pb::PullReply::decode(data) {
        let _ = convert::checkpoint(r.checkpoint);
        let _ = convert::entries(r.entries);
    }
});
