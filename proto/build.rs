//! Generates the gRPC code from `proto/` with a vendored `protoc`, so no system protoc is needed.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; prost-build reads PROTOC from the environment.
    unsafe { std::env::set_var("PROTOC", protoc) };
    let files = [
        "proto/gongxin/common/v1/common.proto",
        "proto/gongxin/admin/v1/admin.proto",
        "proto/gongxin/sync/v1/sync.proto",
        "proto/gongxin/audit/v1/audit.proto",
        "proto/gongxin/check/v1/check.proto",
    ];
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    tonic_prost_build::configure().compile_protos(&files, &["proto"])?;
    Ok(())
}
