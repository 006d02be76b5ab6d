//! A throwaway federation for tests: a real CA, real node certificates, real `gongxin-node` processes talking
//! mTLS gRPC on loopback, registered on the province with the real `gongxin registry` commands.
//!
//! Ports cannot collide with a parallel test: a parent's config says `listen = "127.0.0.1:0"` on its first
//! start, the node binds a port the kernel picks and writes the bound address to `DATA_DIR/listen.addr`, and
//! [`Fed::start`] reads it into [`FedNode::port`]. A child's `[federation]` section is written when the child
//! starts, with its parent's bound address, so parents start first ([`Fed::up`] does; [`Fed::start`] refuses
//! otherwise). When a parent restarts, its config is rewritten to the concrete port of its first start, so the
//! `parent_addr` in its children's configs stays valid. Rebinding that port works at once (the listener sets
//! SO_REUSEADDR); only another process taking the port while the parent is down can fail a restart, and then
//! `Fed::start` fails with the node's log, which says `bind 127.0.0.1:PORT`.

use crate::{cli, eventually, text, NodeProc};
use anyhow::{bail, Context, Result};
use gongxin_certs::{Algorithm, Ca, CaOptions, IssueOptions, NodeCode, Role};
use gongxin_core::checkpoint::{Checkpoint, SignedCheckpoint};
use gongxin_core::crypto::{self, SigningKey};
use gongxin_core::envelope::LeafHeader;
use gongxin_core::merkle;
use gongxin_node::store::log::Log;
use gongxin_node::store::sled::SledStore;
use gongxin_proto::sync::v1 as pb;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    /// Whether the node has children, and so a federation listener.
    pub listens: bool,
    /// The port its listener bound on its first start (from `listen.addr`); `None` before that.
    pub port: Option<u16>,
    pub proc: Option<NodeProc>,
    /// The `tls_profile` written into its config: the federation's, unless a test makes a mismatched peer.
    pub tls_profile: Algorithm,
    /// `gongxin.toml` as `init` wrote it (heartbeat shortened); [`Fed::start`] appends `[federation]`.
    base_config: String,
}

pub struct Fed {
    pub root: PathBuf,
    pub ca: Ca,
    pub nodes: BTreeMap<String, FedNode>,
    /// The federation's TLS profile = the CA's algorithm.
    pub profile: Algorithm,
    sync_interval_s: u64,
}

/// The TLS profile a federation of the testkit uses when none is given: `GONGXIN_TLS_PROFILE` (`sm2` or
/// `ecdsa`), default `ecdsa`. An unknown value panics, so a typo never silently tests the default.
pub fn env_profile() -> Algorithm {
    match std::env::var("GONGXIN_TLS_PROFILE").ok().as_deref().map(str::trim) {
        None | Some("") | Some("ecdsa") => Algorithm::EcdsaP256,
        Some("sm2") => Algorithm::Sm2,
        Some(other) => panic!("GONGXIN_TLS_PROFILE={other:?}: use sm2 or ecdsa"),
    }
}

/// A gRPC channel to the node `server` listening on loopback `port`, over mTLS with `id` under `ca`, through
/// the same certs functions the node uses (either profile). The error is the connector's message.
pub async fn mtls_channel(
    port: u16,
    id: &gongxin_certs::TlsIdentity,
    ca: &gongxin_certs::CaCert,
    server: &str,
) -> Result<tonic::transport::Channel> {
    let config = gongxin_certs::tls::rustls_client_config(id, ca)?;
    Ok(gongxin_certs::tls::connect(&format!("127.0.0.1:{port}"), config, &NodeCode::parse(server)?).await?)
}

/// The address a node wrote to `DATA_DIR/listen.addr` once its federation listener was bound.
pub fn listen_addr(dir: &Path) -> Option<std::net::SocketAddr> {
    std::fs::read_to_string(dir.join("listen.addr")).ok()?.trim().parse().ok()
}

impl Fed {
    /// Creates CA, data dirs, keys and certificates under `root`. Starts nothing; each node's `[federation]`
    /// config section is written by [`Fed::start`] (a child needs its parent's bound address).
    pub fn create(root: &Path, topology: &[(&str, Option<&str>)], sync_interval_s: u64) -> Result<Fed> {
        Fed::create_with(root, topology, sync_interval_s, env_profile())
    }

    /// [`Fed::create`] on the TLS profile `profile` (the CA's algorithm and every node's `tls_profile`).
    pub fn create_with(
        root: &Path,
        topology: &[(&str, Option<&str>)],
        sync_interval_s: u64,
        profile: Algorithm,
    ) -> Result<Fed> {
        let ca = Ca::create_with(&CaOptions::default(), profile)?;
        ca.save(root.join("pki"), false)?;
        let mut nodes = BTreeMap::new();
        for (code, parent) in topology {
            let dir = root.join(code);
            NodeProc::init(code, &dir)?;
            let issued = ca.issue(Role::Node, &NodeCode::parse(code)?, &IssueOptions::default())?;
            issued.save(&dir.join("tls"), Some("node"), false)?;
            std::fs::create_dir_all(dir.join("anchor"))?;
            std::fs::write(dir.join("anchor/ca.pem"), ca.cert_pem())?;
            let base_config = std::fs::read_to_string(dir.join("gongxin.toml"))?
                .replace("heartbeat_seconds = 60", "heartbeat_seconds = 2");
            let listens = topology.iter().any(|(_, p)| *p == Some(*code));
            nodes.insert(
                code.to_string(),
                FedNode {
                    code: code.to_string(),
                    parent: parent.map(str::to_string),
                    dir,
                    listens,
                    port: None,
                    proc: None,
                    tls_profile: profile,
                    base_config,
                },
            );
        }
        let province_pub = std::fs::read(root.join("430000/node.pub.pem")).context("province key")?;
        for n in nodes.values() {
            std::fs::write(n.dir.join("anchor/province.pub.pem"), &province_pub)?;
        }
        Ok(Fed { root: root.to_path_buf(), ca, nodes, profile, sync_interval_s })
    }

    /// Writes `code`'s config: the init config plus a `[federation]` section with `listen` on port 0 (first
    /// start) or on the port of its first start (restart), and the parent's bound address.
    pub fn write_config(&self, code: &str) -> Result<()> {
        let n = self.nodes.get(code).context("no such node")?;
        let mut sec = String::from(
            "\n[federation]\nprovince_key = \"anchor/province.pub.pem\"\nca_cert = \"anchor/ca.pem\"\ntls_cert = \"tls/node.pem\"\ntls_key = \"tls/node.key\"\n",
        );
        sec += &format!("sync_interval_seconds = {}\n", self.sync_interval_s);
        sec += &format!("tls_profile = \"{}\"\n", n.tls_profile);
        if n.listens {
            sec += &format!("listen = \"127.0.0.1:{}\"\n", n.port.unwrap_or(0));
        }
        if let Some(parent) = &n.parent {
            let Some(pp) = self.nodes.get(parent).context("parent not in the topology")?.port else {
                bail!("start {parent} before {code}: its port is known only once it has bound it");
            };
            sec += &format!("parent_code = \"{parent}\"\nparent_addr = \"127.0.0.1:{pp}\"\n");
        }
        std::fs::write(n.dir.join("gongxin.toml"), format!("{}{sec}", n.base_config))?;
        Ok(())
    }

    /// Makes an operator's config file the base of `code`'s config (e.g. `deploy/config/county.toml`): everything
    /// up to its `[federation]` section is kept as written; the section itself is replaced by the testkit's, with
    /// the real bound ports, on every start.
    pub fn adopt_config(&mut self, code: &str, config: &str) -> Result<()> {
        let n = self.nodes.get_mut(code).context("no such node")?;
        let base = match config.find("\n[federation]") {
            Some(i) => &config[..i],
            None => config,
        };
        n.base_config = format!("{}\n", base.trim_end());
        Ok(())
    }

    pub fn dir(&self, code: &str) -> String {
        self.nodes[code].dir.to_str().expect("utf-8").to_string()
    }

    /// Writes the node's config (see the module doc) and starts it; for a parent, waits for its `listen.addr`
    /// and records the port of its first start (a restart must bind the same port).
    pub fn start(&mut self, code: &str) -> Result<()> {
        self.write_config(code)?;
        let n = self.nodes.get_mut(code).context("no such node")?;
        if n.listens {
            // Left by an earlier run: the new process writes its own.
            let _ = std::fs::remove_file(n.dir.join("listen.addr"));
        }
        n.proc = Some(NodeProc::start(&n.dir)?);
        if n.listens {
            let dir = n.dir.clone();
            eventually(&format!("{code} to write listen.addr"), Duration::from_secs(30), || {
                listen_addr(&dir).is_some()
            })?;
            let bound = listen_addr(&dir).context("listen.addr vanished")?;
            match n.port {
                None => n.port = Some(bound.port()),
                Some(p) if p == bound.port() => {}
                Some(p) => bail!("{code} restarted on {bound}, not on the port {p} of its first start"),
            }
        }
        Ok(())
    }

    /// SIGTERM one node and check that it exits cleanly (so that its store can be opened).
    pub fn stop(&mut self, code: &str) -> Result<()> {
        let mut p = self.nodes.get_mut(code).and_then(|n| n.proc.take()).context("node not running")?;
        let st = p.stop()?;
        if !st.success() {
            bail!("node {code} exited with {st} on SIGTERM");
        }
        Ok(())
    }

    /// Size and hex root of `origin`'s log in the store of the stopped node `code`, re-derived from the stored
    /// leaves alone (which must be contiguous from index 0); fails if the stored head says otherwise.
    pub fn stored_log(&self, code: &str, origin: &str) -> Result<(u64, String)> {
        let n = self.nodes.get(code).context("no such node")?;
        if n.proc.is_some() {
            bail!("{code} is running: stop it before opening its store");
        }
        let store = SledStore::open(&n.dir.join("store")).with_context(|| format!("open the store of {code}"))?;
        let log = Log::new(store);
        let head = log.head(origin)?;
        let derived = log.recompute_head(origin)?;
        if (head.size, head.root) != (derived.size, derived.root) {
            bail!(
                "{code}'s stored head of {origin} ({}, {}) differs from the one re-derived from its leaves ({}, {})",
                head.size,
                hex::encode(head.root),
                derived.size,
                hex::encode(derived.root)
            );
        }
        Ok((derived.size, hex::encode(derived.root)))
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

    /// A certificate of `role` for node `code` from the federation CA (people and systems are named 值班员).
    pub fn issue(&self, role: Role, code: &str) -> Result<gongxin_certs::IssuedCert> {
        let name = (role != Role::Node).then(|| "值班员".to_string());
        Ok(self.ca.issue(role, &NodeCode::parse(code)?, &IssueOptions { name, ..Default::default() })?)
    }

    /// Registers (`registry operator add`, or `revoke`) the operator certificate `issued` on the province, applies
    /// the registry, and waits until the certificate's node holds that version. Returns the cert file.
    pub fn register_operator(
        &self,
        issued: &gongxin_certs::IssuedCert,
        registry_operator: bool,
        revoke: bool,
    ) -> Result<PathBuf> {
        let fp = gongxin_certs::parse_identity(&issued.cert_der)?.fingerprint;
        let (cert, _) = issued.save(&self.root.join("operators"), Some(&fp[..16]), true)?;
        let p = self.dir("430000");
        let verb = if revoke { "revoke" } else { "add" };
        let mut args = vec!["registry", "operator", verb, "--data-dir", &p, "--cert", cert.to_str().context("utf-8")?];
        if registry_operator {
            args.push("--registry-operator");
        }
        let out = cli(&args);
        if !out.status.success() {
            bail!("registry operator {verb}: {}", text(&out.stderr));
        }
        let out = cli(&["registry", "apply", "--data-dir", &p, "-o", "json"]);
        if !out.status.success() {
            bail!("registry apply: {}", text(&out.stderr));
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        let version = v["current"]["version"].as_u64().context("registry version")?;
        let code = issued.code.as_str().to_string();
        self.wait_until(&format!("{code} to hold registry version {version}"), Duration::from_secs(60), |f| {
            f.peers(&code)["registry_version"].as_u64().unwrap_or(0) >= version
        })?;
        Ok(cert)
    }

    /// Province up, registry applied, then every other node, parents before their children.
    pub fn up(root: &Path, topology: &[(&str, Option<&str>)]) -> Result<Fed> {
        Fed::up_with(root, topology, env_profile())
    }

    /// [`Fed::up`] on the TLS profile `profile`.
    pub fn up_with(root: &Path, topology: &[(&str, Option<&str>)], profile: Algorithm) -> Result<Fed> {
        let mut f = Fed::create_with(root, topology, 1, profile)?;
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
            for c in next.iter().filter(|c| f.nodes[*c].listens) {
                f.wait_until(&format!("{c} to receive the registry"), Duration::from_secs(60), |f| {
                    f.peers(c)["registry_version"].as_u64().unwrap_or(0) >= 1
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

    /// Size and hex root of `code`'s own log, through `gongxin log show`.
    pub fn own_head(&self, code: &str) -> (u64, String) {
        let out = cli(&["log", "show", "--data-dir", &self.dir(code), "-o", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        (v["size"].as_u64().unwrap_or(0), v["root"].as_str().unwrap_or("").to_string())
    }

    /// `gongxin peer list -o json` of `code` (`Null` if the node does not answer).
    pub fn peers(&self, code: &str) -> serde_json::Value {
        let out = cli(&["peer", "list", "--data-dir", &self.dir(code), "-o", "json"]);
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }

    /// Waits until a checkpoint of every node has reached the province, so that an audit finds nobody without
    /// a heartbeat (`stale`). A child of the province lists an origin among its uplink's origins once it has
    /// uploaded that origin's newest checkpoint (a heartbeat included); it holds a checkpoint of a node below it
    /// only once that node's uplink delivered one.
    pub fn wait_province_has_every_checkpoint(&self, limit: Duration) -> Result<()> {
        let subtree = |top: &str| -> Vec<String> {
            let mut all = vec![top.to_string()];
            let mut i = 0;
            while i < all.len() {
                let below: Vec<String> = self
                    .nodes
                    .values()
                    .filter(|n| n.parent.as_deref() == Some(all[i].as_str()))
                    .map(|n| n.code.clone())
                    .collect();
                all.extend(below);
                i += 1;
            }
            all
        };
        let tops: Vec<(String, Vec<String>)> = self
            .nodes
            .values()
            .filter(|n| n.parent.as_deref() == Some("430000"))
            .map(|n| (n.code.clone(), subtree(&n.code)))
            .collect();
        self.wait_until("a checkpoint of every node at the province", limit, |f| {
            tops.iter().all(|(top, codes)| {
                let v = f.peers(top);
                let listed: Vec<&str> = v["parent"]["origins"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|o| o["origin"].as_str()).collect())
                    .unwrap_or_default();
                codes.iter().all(|c| listed.contains(&c.as_str()))
            })
        })
    }

    /// Polls `cond` until true or `limit` passes; on a timeout the error carries the tail of every node's log.
    /// Waits until node `at` holds exactly `want` entries of each listed origin.
    pub fn wait_mirrored(&self, at: &str, want: &[(&str, u64)], limit: Duration) -> Result<()> {
        self.wait_until(&format!("{at} to mirror {want:?}"), limit, |f| {
            let l = f.logs(at);
            want.iter().all(|(o, n)| l.get(*o).map(|s| s.0) == Some(*n))
        })
    }

    pub fn wait_until(&self, what: &str, limit: Duration, mut cond: impl FnMut(&Fed) -> bool) -> Result<()> {
        eventually(what, limit, || cond(self)).map_err(|e| {
            let logs: Vec<String> = self
                .nodes
                .values()
                .map(|n| {
                    let log = std::fs::read_to_string(n.dir.join("node.log")).unwrap_or_default();
                    let lines: Vec<&str> = log.lines().collect();
                    format!("--- {} ---\n{}", n.code, lines[lines.len().saturating_sub(15)..].join("\n"))
                })
                .collect();
            anyhow::anyhow!("{e}\n{}", logs.join("\n"))
        })
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
