//! Files the CLI reads from and writes for operators, handled as hostile (issue 9): inputs are read with a
//! size bound and never block on a FIFO or device; outputs are created without following symbolic links, with
//! mode 0600 (directories 0700), because rejects files and bundles hold full ID numbers.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Opens `path` for reading without blocking on a FIFO (and, unless `follow`, without following a final
/// symbolic link); refuses anything but a regular file.
pub fn open_regular(path: &Path, follow: bool) -> io::Result<File> {
    #[cfg(unix)]
    let f = {
        use std::os::unix::fs::OpenOptionsExt;
        let nofollow = if follow { 0 } else { libc_flags::O_NOFOLLOW };
        OpenOptions::new().read(true).custom_flags(nofollow | libc_flags::O_NONBLOCK).open(path)
    };
    #[cfg(not(unix))]
    let f = OpenOptions::new().read(true).open(path);
    let f = f.map_err(|e| {
        if e.raw_os_error() == Some(libc_flags::ELOOP) {
            io::Error::new(io::ErrorKind::InvalidInput, "是符号链接，拒绝读取 (a symbolic link: refused)")
        } else {
            e
        }
    })?;
    let m = f.metadata()?;
    if !m.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "不是普通文件（FIFO、设备或目录），拒绝读取 (not a regular file: FIFO, device or directory refused)",
        ));
    }
    Ok(f)
}

/// Reads a regular file of at most `max` bytes (see [`open_regular`]); a longer one is refused naming the
/// limit, without reading more than `max + 1` bytes.
pub fn read_bounded(path: &Path, max: u64, follow: bool) -> io::Result<Vec<u8>> {
    let f = open_regular(path, follow)?;
    let mut out = Vec::new();
    f.take(max.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("文件超过大小上限 {max} 字节 (file larger than the limit of {max} bytes)"),
        ));
    }
    Ok(out)
}

/// Writes `bytes` to `path` as a new private file (0600): the bytes go to a fresh temporary file created with
/// `O_EXCL | O_NOFOLLOW` in the same directory, which is then renamed over `path`. A symbolic link planted at
/// `path` is replaced, never followed.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let tmp = dir.join(format!(".{name}.{}.{nanos}.tmp", std::process::id()));
    let mut f = create_new_private(&tmp)?;
    let written = f.write_all(bytes).and_then(|_| f.sync_all());
    if let Err(e) = written.and_then(|_| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(())
}

/// Creates a new file (never an existing one, never through a symbolic link), mode 0600.
pub fn create_new_private(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600).custom_flags(libc_flags::O_NOFOLLOW);
    }
    o.open(path)
}

/// Creates directory `path` (not its parents) with mode 0700; an existing directory is refused unless it is
/// a real (not symbolic-link) empty directory and `allow_empty` is set.
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(path)
}

/// The few libc constants needed, without a libc dependency (Linux values; other Unixes differ).
#[cfg(unix)]
mod libc_flags {
    #[cfg(target_os = "linux")]
    pub const O_NOFOLLOW: i32 = 0o400000;
    #[cfg(target_os = "linux")]
    pub const O_NONBLOCK: i32 = 0o4000;
    #[cfg(target_os = "linux")]
    pub const ELOOP: i32 = 40;
    #[cfg(target_os = "macos")]
    pub const O_NOFOLLOW: i32 = 0x0100;
    #[cfg(target_os = "macos")]
    pub const O_NONBLOCK: i32 = 0x0004;
    #[cfg(target_os = "macos")]
    pub const ELOOP: i32 = 62;
}
#[cfg(not(unix))]
mod libc_flags {
    pub const ELOOP: i32 = -1;
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn planted_symlink_is_replaced_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        std::fs::write(&victim, b"root-owned").unwrap();
        let out = d.path().join("in.csv.rejects.csv");
        std::os::unix::fs::symlink(&victim, &out).unwrap();
        write_private(&out, b"rejects").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"root-owned");
        assert!(!std::fs::symlink_metadata(&out).unwrap().file_type().is_symlink());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read(&out).unwrap(), b"rejects");
        // create_new never opens through a link, dangling or not.
        let dangling = d.path().join("dangling");
        std::os::unix::fs::symlink(d.path().join("nowhere"), &dangling).unwrap();
        assert!(create_new_private(&dangling).is_err());
        assert!(!d.path().join("nowhere").exists());
    }

    #[test]
    fn reads_refuse_links_fifos_and_big_files() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, b"12345").unwrap();
        assert_eq!(read_bounded(&f, 5, false).unwrap(), b"12345");
        assert!(read_bounded(&f, 4, false).unwrap_err().to_string().contains("4 bytes"));
        let l = d.path().join("l");
        std::os::unix::fs::symlink(&f, &l).unwrap();
        assert!(read_bounded(&l, 10, false).unwrap_err().to_string().contains("symbolic link"));
        assert_eq!(read_bounded(&l, 10, true).unwrap(), b"12345");
        let fifo = d.path().join("fifo");
        let st = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(st.success());
        // Would block forever without O_NONBLOCK and the regular-file check.
        assert!(read_bounded(&fifo, 10, true).unwrap_err().to_string().contains("not a regular file"));
        assert!(read_bounded(Path::new("/dev/zero"), 10, true).unwrap_err().to_string().contains("not a regular file"));
    }
}
