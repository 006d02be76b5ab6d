//! A throwaway federation for tests: a real CA, real node certificates, real `gongxin-node` processes talking
//! mTLS gRPC on free loopback ports, registered on the province with the real `gongxin registry` commands.

use crate::{cli, text, NodeProc};
use anyhow::{bail, Context, Result};
use gongxin_certs::{Ca, CaOptions, IssueOptions, NodeCode, Role};
use gongxin_core::checkpoint::{Checkpoint, SignedCheckpoint};
use gongxin_core::crypto::{self, SigningKey};
use gongxin_core::envelope::LeafHeader;
use gongxin_core::merkle;
use gongxin_proto::sync::v1 as pb;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The six-node topology of the issue: province, two cities, two counties each.
pub const HUNAN6: &[(&str, Option<&str>)] = &[
    ("430000", None),
    ("430100", Some("430000")),
    ("430300", Some("430000")),
    ("430102", Some("430100")),
    ("430104", Some("430100")),
    ("430302", Some("430300")),
    ("430321", Some("430300")),
];

pub struct FedNode {
    pub code: String,
    pub parent: Option<String>,
    pub dir: PathBuf,
    pub port: Option<u16>,
    pub proc: Option<NodeProc>,
}

pub struct Fed {
    pub root: PathBuf,
    pub ca: Ca,
    pub nodes: BTreeMap<String, FedNode>,
}

/// A free loopback port (bound and released; good enough for tests on one machine).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

impl Fed {
    /// Creates CA, data dirs, keys, certificates and configs under `root`. Starts nothing.
    pub fn create(root: &Path, topology: &[(&str, Option<&str>)], sync_interval_s: u64) -> Result<Fed> {
        let ca = Ca::create(&CaOptions::default())?;
        ca.save(root.join("pki"), false)?;
        let mut nodes = BTreeMap::new();
        for (code, parent) in topology {
            let dir = root.join(code);
            NodeProc::init(code, &dir)?;
            let issued = ca.issue(Role::Node, &NodeCode::parse(code)?, &IssueOptions::default())?;
            issued.save(&dir.join("tls"), Some("node"), false)?;
            std::fs::create_dir_all(dir.join("anchor"))?;
            std::fs::write(dir.join("anchor/ca.pem"), ca.cert_pem())?;
            let has_children = topology.iter().any(|(_, p)| *p == Some(*code));
            let port = has_children.then(free_port);
            nodes.insert(
                code.to_string(),
                FedNode { code: code.to_string(), parent: parent.map(str::to_string), dir, port, proc: None },
            );
        }
        let province_pub = std::fs::read(root.join("430000/node.pub.pem")).context("province key")?;
        for n in nodes.values() {
            std::fs::write(n.dir.join("anchor/province.pub.pem"), &province_pub)?;
            let mut sec = String::from(
                "\n[federation]\nprovince_key = \"anchor/province.pub.pem\"\nca_cert = \"anchor/ca.pem\"\ntls_cert = \"tls/node.pem\"\ntls_key = \"tls/node.key\"\n",
            );
            sec += &format!("sync_interval_seconds = {sync_interval_s}\n");
            if let Some(p) = n.port {
                sec += &format!("listen = \"127.0.0.1:{p}\"\n");
            }
            if let Some(parent) = &n.parent {
                let pp = nodes[parent].port.context("parent has a port")?;
                sec += &format!("parent_code = \"{parent}\"\nparent_addr = \"127.0.0.1:{pp}\"\n");
            }
            let cfg = n.dir.join("gongxin.toml");
            let mut t = std::fs::read_to_string(&cfg)?;
            t = t.replace("heartbeat_seconds = 60", "heartbeat_seconds = 2");
            t += &sec;
            std::fs::write(&cfg, t)?;
        }
        Ok(Fed { root: root.to_path_buf(), ca, nodes })
    }

    pub fn dir(&self, code: &str) -> String {
        self.nodes[code].dir.to_str().expect("utf-8").to_string()
    }

    pub fn start(&mut self, code: &str) -> Result<()> {
        let n = self.nodes.get_mut(code).context("no such node")?;
        n.proc = Some(NodeProc::start(&n.dir)?);
        Ok(())
    }

    /// SIGKILL one node.
    pub fn kill(&mut self, code: &str) {
        if let Some(mut p) = self.nodes.get_mut(code).and_then(|n| n.proc.take()) {
            p.kill();
        }
    }

    /// Stages every node of the topology on the province and applies the registry.
    pub fn register_all(&self) -> Result<()> {
        let p = self.dir("430000");
        for n in self.nodes.values() {
            let key = n.dir.join("node.pub.pem");
            let cert = n.dir.join("tls/node.pem");
            let mut args = vec![
                "registry",
                "add",
                "--data-dir",
                &p,
                "--code",
                &n.code,
                "--key",
                key.to_str().unwrap(),
                "--cert",
                cert.to_str().unwrap(),
            ];
            if let Some(parent) = &n.parent {
                args.extend(["--parent", parent.as_str()]);
            }
            let out = cli(&args);
            if !out.status.success() {
                bail!("registry add {}: {}", n.code, text(&out.stderr));
            }
        }
        let out = cli(&["registry", "apply", "--data-dir", &p]);
        if !out.status.success() {
            bail!("registry apply: {}", text(&out.stderr));
        }
        Ok(())
    }

    /// Province up, registry applied, then every other node.
    pub fn up(root: &Path, topology: &[(&str, Option<&str>)]) -> Result<Fed> {
        let mut f = Fed::create(root, topology, 1)?;
        f.start("430000")?;
        f.register_all()?;
        // Parents first, each once it holds the registry, so children are not refused and sent into backoff.
        let mut level: Vec<String> = vec!["430000".to_string()];
        while !level.is_empty() {
            let next: Vec<String> = f
                .nodes
                .values()
                .filter(|n| n.parent.as_ref().is_some_and(|p| level.contains(p)))
                .map(|n| n.code.clone())
                .collect();
            for c in &next {
                f.start(c)?;
            }
            for c in next.iter().filter(|c| f.nodes.values().any(|n| n.parent.as_deref() == Some(c.as_str()))) {
                f.wait_until(&format!("{c} to receive the registry"), Duration::from_secs(60), |f| {
                    let out = cli(&["peer", "list", "--data-dir", &f.dir(c), "-o", "json"]);
                    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
                    v["registry_version"].as_u64().unwrap_or(0) >= 1
                })?;
            }
            level = next;
        }
        Ok(f)
    }

    /// Sizes of every log `code` holds (its own and its mirrors).
    pub fn logs(&self, code: &str) -> BTreeMap<String, (u64, String)> {
        let out = cli(&["peer", "list", "--data-dir", &self.dir(code), "-o", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        let mut m = BTreeMap::new();
        for l in v["logs"].as_array().cloned().unwrap_or_default() {
            m.insert(l["origin"].as_str().unwrap_or("").to_string(), (l["size"].as_u64().unwrap_or(0), String::new()));
        }
        m
    }

    /// The log head (size, hex root) of `origin` as held by `code`, through `gongxin log show` for the own log
    /// and the export of mirrors otherwise.
    pub fn own_head(&self, code: &str) -> (u64, String) {
        let out = cli(&["log", "show", "--data-dir", &self.dir(code), "-o", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        (v["size"].as_u64().unwrap_or(0), v["root"].as_str().unwrap_or("").to_string())
    }

    /// Polls `cond` until true or `limit` passes.
    pub fn wait_until(&self, what: &str, limit: Duration, mut cond: impl FnMut(&Fed) -> bool) -> Result<()> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if cond(self) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let logs: Vec<String> = self
            .nodes
            .values()
            .map(|n| {
                format!(
                    "--- {} ---\n{}",
                    n.code,
                    std::fs::read_to_string(n.dir.join("node.log"))
                        .unwrap_or_default()
                        .lines()
                        .rev()
                        .take(15)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect::<Vec<_>>()
                        .join("\n")
                )
            })
            .collect();
        bail!("timed out after {limit:?} waiting for {what}\n{}", logs.join("\n"))
    }
}

/// Entries of `origin` from index `from`, signed with `key` as the origin would, with the payloads they commit
/// to: for tests that speak for a node on the sync API.
pub fn signed_entries(key: &SigningKey, origin: &str, from: u64, n: u64, tag: &str) -> Vec<pb::Entry> {
    (from..from + n)
        .map(|i| {
            let payload = format!("{{\"kind\":\"test\",\"n\":{i},\"tag\":\"{tag}\"}}").into_bytes();
            let h = LeafHeader {
                origin: origin.into(),
                index: i,
                kind: "license".into(),
                share: gongxin_core::record::ShareType::Unconditional,
                disclosure: gongxin_core::record::Disclosure::Public,
                recorded_at: "2026-11-30T00:00:00Z".into(),
                decided_on: "2026-11-29".into(),
                natural_key: crypto::sm3(format!("{tag}{i}").as_bytes()),
                payload_digest: crypto::sm3(&payload),
            };
            let leaf = h.encode();
            pb::Entry { index: i, signature: key.sign(&leaf), leaf, payload, payload_ext: "json".into() }
        })
        .collect()
}

pub fn signed_checkpoint(key: &SigningKey, origin: &str, leaves: &[Vec<u8>], ts: &str) -> pb::SignedNote {
    let cp =
        SignedCheckpoint::sign(&Checkpoint::new(origin, leaves.len() as u64, merkle::root_of_leaves(leaves), ts), key);
    pb::SignedNote { note: cp.note, signature: cp.signature }
}
