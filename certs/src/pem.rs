//! PEM loading (through `rustls-pki-types`' `PemObject`) and the file-writing rules: keys 0600, nothing
//! overwritten without `force`.
use crate::{CertError, Result};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::fs;
use std::io::Write;
use std::path::Path;

/// Reads every certificate in a PEM file (leaf first for a chain). At least one is required.
pub fn load_certs_pem(path: impl AsRef<Path>) -> Result<Vec<CertificateDer<'static>>> {
    let path = path.as_ref();
    let bytes = read(path, "read certificate file")?;
    parse_certs_pem(&bytes, &path.display().to_string())
}

/// Reads the private key (PKCS#8, SEC1 or PKCS#1 PEM) in a file. Refuses a file that group or others can
/// read or write (unix), naming the `chmod` that fixes it.
pub fn load_key_pem(path: impl AsRef<Path>) -> Result<PrivateKeyDer<'static>> {
    let path = path.as_ref();
    let bytes = read_private(path)?;
    parse_key_pem(&bytes, &path.display().to_string())
}

/// Parses every certificate in PEM text; `what` names the source in errors.
pub fn parse_certs_pem(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| CertError::Pem { what: what.to_string(), reason: format!("bad PEM: {e}") })?;
    if certs.is_empty() {
        return Err(CertError::Pem {
            what: what.to_string(),
            reason: "no CERTIFICATE block found / 文件中没有证书".into(),
        });
    }
    Ok(certs)
}

/// Parses one private key from PEM text; `what` names the source in errors.
pub fn parse_key_pem(pem: &[u8], what: &str) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| CertError::Pem {
        what: what.to_string(),
        reason: match e {
            rustls_pki_types::pem::Error::NoItemsFound => "no PRIVATE KEY block found / 文件中没有私钥".into(),
            other => format!("bad private key PEM: {other}"),
        },
    })
}

/// PEM text of one DER object (`label` is `CERTIFICATE`, `PRIVATE KEY`, ...), LF line endings.
pub(crate) fn to_pem(label: &'static str, der: &[u8]) -> String {
    // Encoding into a String cannot fail for a valid label; fall back to an empty string rather than panic.
    x509_cert::der::pem::encode_string(label, x509_cert::der::pem::LineEnding::LF, der).unwrap_or_default()
}

/// Reads a private key file as bytes after checking its permissions.
pub(crate) fn read_private(path: &Path) -> Result<Vec<u8>> {
    check_private_mode(path)?;
    read(path, "read private key file")
}

pub(crate) fn read(path: &Path, action: &'static str) -> Result<Vec<u8>> {
    fs::read(path).map_err(|source| CertError::Io { action, path: path.to_path_buf(), source })
}

/// Refuses a private key file that group or others may read or write (`KeyPermissions`, with the `chmod`
/// to run), like the TLS key; used for the node's SM2 key as well.
#[cfg(unix)]
pub fn check_private_mode(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::metadata(path).map_err(|source| CertError::Io {
        action: "read private key file",
        path: path.to_path_buf(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(CertError::KeyPermissions { path: path.to_path_buf(), mode });
    }
    Ok(())
}

#[cfg(not(unix))]
pub fn check_private_mode(_path: &Path) -> Result<()> {
    Ok(())
}

/// Whether a file may be written: it must not exist unless `force`.
pub(crate) fn ensure_writable(path: &Path, force: bool) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(_) if !force => Err(CertError::Exists { path: path.to_path_buf() }),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(CertError::Io { action: "check", path: path.to_path_buf(), source }),
    }
}

/// Writes `bytes` to `path` with `mode` (unix). Without `force` the file is created exclusively (an existing
/// file is an error, never touched); with `force` a temporary file is written and renamed over it, so the
/// result is either the old or the new content, and the mode is `mode` even if the old file was laxer.
pub(crate) fn write_file(path: &Path, bytes: &[u8], mode: u32, force: bool) -> Result<()> {
    let io = |action: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| CertError::Io { action, path: p, source }
    };
    if !force {
        let mut f = open_new(path, mode).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                CertError::Exists { path: path.to_path_buf() }
            } else {
                CertError::Io { action: "create", path: path.to_path_buf(), source: e }
            }
        })?;
        f.write_all(bytes).map_err(io("write", path))?;
        f.sync_all().map_err(io("sync", path))?;
        return Ok(());
    }
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let mut f = open_new(&tmp, mode).map_err(io("create", &tmp))?;
    let written = f.write_all(bytes).and_then(|_| f.sync_all());
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(CertError::Io { action: "write", path: tmp, source: e });
    }
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        CertError::Io { action: "replace", path: path.to_path_buf(), source: e }
    })
}

fn open_new(path: &Path, mode: u32) -> std::io::Result<fs::File> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let f = opts.open(path)?;
    // The umask may have removed bits but never adds them; set the exact mode anyway.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(fs::Permissions::from_mode(mode))?;
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_broken_pem_are_named() {
        let e = parse_certs_pem(b"hello", "x.pem").unwrap_err().to_string();
        assert!(e.contains("x.pem") && e.contains("no CERTIFICATE"), "{e}");
        let e = parse_key_pem(b"", "k.key").unwrap_err().to_string();
        assert!(e.contains("k.key") && e.contains("no PRIVATE KEY"), "{e}");
        let broken = b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        let e = parse_certs_pem(broken, "b.pem").unwrap_err().to_string();
        assert!(e.contains("b.pem") && e.contains("bad PEM"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn write_rules_and_key_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.key");
        write_file(&p, b"one", 0o600, false).unwrap();
        assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(matches!(write_file(&p, b"two", 0o600, false), Err(CertError::Exists { .. })));
        assert_eq!(fs::read(&p).unwrap(), b"one");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(read_private(&p), Err(CertError::KeyPermissions { mode: 0o644, .. })));
        write_file(&p, b"two", 0o600, true).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(read_private(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "temporary file left behind");
    }
}
