//! Testkit: start real `gongxin-node` processes on throwaway data dirs and drive them with the real `gongxin`
//! CLI, exactly as an operator would.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Directory holding this package's binaries (`gxt-node`, `gxt-cli`), next to the running test executable.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current test executable");
    let deps = exe.parent().expect("test executable has a parent");
    if deps.ends_with("deps") {
        deps.parent().expect("target profile dir").to_path_buf()
    } else {
        deps.to_path_buf()
    }
}

/// The node binary under test (same code as `gongxin-node`).
pub fn node_bin() -> PathBuf {
    bin_dir().join("gxt-node")
}

/// The CLI binary under test (same code as `gongxin`).
pub fn cli_bin() -> PathBuf {
    bin_dir().join("gxt-cli")
}

/// The workspace root (for `deploy/` files).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// Runs the CLI with `args`, returning its output (never fails on a non-zero exit; check `status`).
pub fn cli(args: &[&str]) -> Output {
    Command::new(cli_bin()).args(args).env_remove("GONGXIN_DATA_DIR").output().expect("run gongxin CLI")
}

/// Runs the node binary with `args` to completion (init, config check, …).
pub fn node_cmd(args: &[&str]) -> Output {
    Command::new(node_bin()).args(args).env_remove("GONGXIN_DATA_DIR").output().expect("run gongxin-node")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Polls `cond` every 100 ms until it holds (`Ok`) or `limit` passes (an error naming `what`): the eventual
/// assertion to use instead of a fixed sleep.
pub fn eventually(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) -> Result<()> {
    let start = Instant::now();
    loop {
        if cond() {
            return Ok(());
        }
        if start.elapsed() >= limit {
            bail!("timed out after {limit:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A running node process on its own data dir. Killed (SIGKILL) on drop.
pub struct NodeProc {
    pub data_dir: PathBuf,
    child: Option<Child>,
}

impl NodeProc {
    /// `gongxin-node init --code CODE` into `data_dir` (which must not be initialised yet).
    pub fn init(code: &str, data_dir: &Path) -> Result<()> {
        let out = node_cmd(&["init", "--code", code, "--data-dir", data_dir.to_str().context("utf-8 path")?]);
        if !out.status.success() {
            bail!("init failed: {}", text(&out.stderr));
        }
        Ok(())
    }

    /// Starts `gongxin-node run` and waits until its admin socket answers.
    pub fn start(data_dir: &Path) -> Result<Self> {
        let log = std::fs::File::create(data_dir.join("node.log"))?;
        let child = Command::new(node_bin())
            .args(["run", "--data-dir", data_dir.to_str().context("utf-8 path")?])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("spawn gongxin-node run")?;
        let mut p = NodeProc { data_dir: data_dir.to_path_buf(), child: Some(child) };
        p.wait_ready(Duration::from_secs(30))?;
        Ok(p)
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<()> {
        let start = Instant::now();
        let dd = self.data_dir.to_str().context("utf-8 path")?.to_string();
        while start.elapsed() < limit {
            if let Some(c) = self.child.as_mut() {
                if let Some(st) = c.try_wait()? {
                    let log = std::fs::read_to_string(self.data_dir.join("node.log")).unwrap_or_default();
                    bail!("node exited early with {st}: {log}");
                }
            }
            if self.data_dir.join("admin.sock").exists() && cli(&["log", "show", "--data-dir", &dd]).status.success() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("node in {} not ready after {limit:?}", self.data_dir.display())
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// SIGKILL, no chance to clean up (crash simulation).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) -> Result<std::process::ExitStatus> {
        let mut c = self.child.take().context("node not running")?;
        let st = Command::new("kill").args(["-TERM", &c.id().to_string()]).status()?;
        if !st.success() {
            bail!("kill -TERM failed");
        }
        Ok(c.wait()?)
    }

    pub fn dir_str(&self) -> &str {
        self.data_dir.to_str().expect("utf-8 test path")
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        self.kill();
    }
}
pub mod fed;

/// Every file under `dir`, recursively (test fixtures: what a bundle holds).
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Copies a directory tree (test fixtures: a bundle or a data dir to tamper with).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), t).unwrap();
        }
    }
}

/// Where entry `index` of origin `code` lies in an evaluator bundle: the pack file that holds it and the byte
/// ranges of its leaf, signature and payload (if held) in that file. Panics when the bundle does not hold it.
pub struct EntrySpan {
    pub pack: PathBuf,
    pub leaf: std::ops::Range<usize>,
    pub sig: std::ops::Range<usize>,
    pub payload: Option<std::ops::Range<usize>>,
}

pub fn entry_span(bundle: &Path, code: &str, index: u64) -> EntrySpan {
    use gongxin_core::bundle::pack;
    let dir = bundle.join("entries").join(code);
    let mut firsts: Vec<u64> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok()?.strip_suffix(".idx")?.parse().ok())
        .collect();
    firsts.sort();
    let first = *firsts.iter().rev().find(|f| **f <= index).expect("a pack at or before the entry");
    let lines = pack::parse_index(&std::fs::read(dir.join(format!("{first}.idx"))).unwrap(), "idx", first).unwrap();
    let mut at = 0;
    for l in lines {
        let leaf = at..at + l.leaf;
        let sig = leaf.end..leaf.end + l.sig;
        let payload = l.payload.as_ref().map(|(n, _)| sig.end..sig.end + n);
        at = payload.as_ref().map_or(sig.end, |p| p.end);
        if l.index == index {
            return EntrySpan { pack: dir.join(format!("{first}.pack")), leaf, sig, payload };
        }
    }
    panic!("entry {index} of {code} is not in the bundle");
}

/// Replaces the first `from` inside `range` of `file` by `to` (of the same length).
pub fn replace_in(file: &Path, range: std::ops::Range<usize>, from: &str, to: &str) {
    assert_eq!(from.len(), to.len(), "an in-place edit keeps the length");
    let mut bytes = std::fs::read(file).unwrap();
    let part = &mut bytes[range];
    let at = part.windows(from.len()).position(|w| w == from.as_bytes()).expect("the text to replace");
    part[at..at + from.len()].copy_from_slice(to.as_bytes());
    std::fs::write(file, bytes).unwrap();
}
