//! Connection to a local node's admin API over the Unix socket in its data dir.

use anyhow::{Context, Result};
use gongxin_proto::admin::v1::admin_client::AdminClient;
use gongxin_proto::check::v1::check_client::CheckClient;
use hyper_util::rt::TokioIo;
use std::path::{Path, PathBuf};
use tonic::transport::{Channel, Endpoint, Uri};

/// Largest admin message either side will decode.
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024 * 1024;

/// Why the admin socket of a data dir cannot be reached, in words an operator can act on.
#[derive(Debug, PartialEq, Eq)]
pub enum Unreachable {
    NoDataDir,
    PermissionDenied,
    NotRunning,
    Other(String),
}

impl Unreachable {
    /// Classifies a failure to stat `what` (the data dir or the socket) or to connect to the socket.
    pub fn of(e: &std::io::Error, is_data_dir: bool) -> Unreachable {
        use std::io::ErrorKind::*;
        match e.kind() {
            NotFound if is_data_dir => Unreachable::NoDataDir,
            NotFound | ConnectionRefused => Unreachable::NotRunning,
            PermissionDenied => Unreachable::PermissionDenied,
            _ => Unreachable::Other(e.to_string()),
        }
    }

    /// The operator message for `data_dir`: what happened and what to do next.
    pub fn message(&self, data_dir: &Path) -> String {
        let d = data_dir.display();
        match self {
            Unreachable::NoDataDir => format!(
                "数据目录不存在 no such data dir: {d}; check --data-dir (create one with `gongxin-node init --code CODE \
                 --data-dir {d}`)"
            ),
            Unreachable::PermissionDenied => format!(
                "无权访问 permission denied: {d} (the data dir is 0700 and the admin socket 0600); run this command as \
                 the account that runs the node, or as root"
            ),
            Unreachable::NotRunning => format!(
                "节点未运行 node not running: no node is serving {d}; start it with `gongxin-node run --data-dir {d}`"
            ),
            Unreachable::Other(e) => format!("无法连接节点 cannot reach the node of {d}: {e}"),
        }
    }
}

/// Checks that a node is listening on the admin socket of `data_dir`, telling apart a missing data dir, a
/// permission problem and a node that is not running.
pub fn probe(data_dir: &Path) -> Result<PathBuf, Unreachable> {
    std::fs::metadata(data_dir).map_err(|e| Unreachable::of(&e, true))?;
    let sock: PathBuf = data_dir.join(gongxin_proto::admin::ADMIN_SOCKET_FILE);
    std::fs::symlink_metadata(&sock).map_err(|e| Unreachable::of(&e, false))?;
    std::os::unix::net::UnixStream::connect(&sock).map_err(|e| Unreachable::of(&e, false))?;
    Ok(sock)
}

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
    let sock = probe(data_dir).map_err(|u| anyhow::anyhow!(u.message(data_dir)))?;
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

/// The runtime of one command, or `None` after printing why it could not start (the caller exits with USAGE).
pub fn command_runtime() -> Option<tokio::runtime::Runtime> {
    runtime().map_err(|e| eprintln!("错误 error: {e:#}")).ok()
}

/// A current-thread runtime for one CLI command.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_dir_stale_socket_and_permissions_are_told_apart() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(probe(&tmp.path().join("nope")), Err(Unreachable::NoDataDir));
        // A data dir without a socket, and one with a stale socket (nobody listening): not running.
        assert_eq!(probe(tmp.path()), Err(Unreachable::NotRunning));
        let sock = tmp.path().join(gongxin_proto::admin::ADMIN_SOCKET_FILE);
        drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
        assert_eq!(probe(tmp.path()), Err(Unreachable::NotRunning));
        // Permission bits do not stop root, so the classification of the error itself is checked.
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert_eq!(Unreachable::of(&denied, true), Unreachable::PermissionDenied);
        assert_eq!(Unreachable::of(&denied, false), Unreachable::PermissionDenied);
        let m = Unreachable::PermissionDenied.message(tmp.path());
        assert!(m.starts_with("无权访问 permission denied"), "{m}");
        assert!(Unreachable::NoDataDir.message(tmp.path()).contains("no such data dir"));
        assert!(Unreachable::NotRunning.message(tmp.path()).contains("node not running"));
        // A listening socket is reachable.
        let _l = std::os::unix::net::UnixListener::bind(&sock).or_else(|_| {
            std::fs::remove_file(&sock).unwrap();
            std::os::unix::net::UnixListener::bind(&sock)
        });
        assert!(probe(tmp.path()).is_ok());
    }
}
