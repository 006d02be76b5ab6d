//! Connection to a local node's admin API over the Unix socket in its data dir.

use anyhow::{Context, Result};
use gongxin_proto::admin::v1::admin_client::AdminClient;
use gongxin_proto::check::v1::check_client::CheckClient;
use hyper_util::rt::TokioIo;
use std::path::{Path, PathBuf};
use tonic::transport::{Channel, Endpoint, Uri};

/// Largest admin message either side will decode.
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024 * 1024;

/// Connects to the node serving `data_dir`. The error says what to do when no node is running.
pub async fn connect(data_dir: &Path) -> Result<AdminClient<Channel>> {
    Ok(AdminClient::new(channel(data_dir).await?)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES))
}

/// The joint-punishment check API of the node serving `data_dir` (same socket as the admin API).
pub async fn connect_check(data_dir: &Path) -> Result<CheckClient<Channel>> {
    Ok(CheckClient::new(channel(data_dir).await?)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES))
}

async fn channel(data_dir: &Path) -> Result<Channel> {
    let sock: PathBuf = data_dir.join(gongxin_proto::admin::ADMIN_SOCKET_FILE);
    if !sock.exists() {
        anyhow::bail!(
            "{} 下没有运行中的节点 no running node: {} does not exist; start it with `gongxin-node run --data-dir {}`",
            data_dir.display(),
            sock.display(),
            data_dir.display()
        );
    }
    // The URI is required by the API but unused: the connector always dials the socket.
    let channel = Endpoint::try_from("http://[::1]:50051")?
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let sock = sock.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(sock).await?)) }
        }))
        .await
        .with_context(|| format!("connect to the node's admin socket in {}", data_dir.display()))?;
    Ok(channel)
}

/// A current-thread runtime for one CLI command.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}
