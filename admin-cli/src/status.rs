//! `gongxin status --data-dir DIR [-o json]`: one screen about a node — who it is, its own log and newest entry,
//! the uplink and its backlog, children, the newest audit, evidence, disk, the status page address — and the
//! warnings an operator should act on. Composed from the admin API (Status, Peers, AuditShow) and, for the disk
//! and the status page address, from the data dir itself (the CLI runs beside the node).

use crate::{client, exit, Output};
use clap::Args as ClapArgs;
use gongxin_proto::admin::v1 as pb;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

#[derive(ClapArgs, Debug)]
pub struct Args {
    #[arg(long, env = "GONGXIN_DATA_DIR")]
    pub data_dir: PathBuf,
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: Output,
}

/// Free space below which `status` warns (either bound).
const LOW_DISK_BYTES: u64 = 1 << 30;
const LOW_DISK_PERCENT: u64 = 10;

/// `(total, available)` bytes of the file system holding `dir`.
fn disk(dir: &Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes into the zeroed struct it is given and reads the NUL-terminated path.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return None;
    }
    let frsize = s.f_frsize as u64;
    Some((s.f_blocks as u64 * frsize, s.f_bavail as u64 * frsize))
}

/// The status page address the node wrote (`DATA_DIR/http.addr`), as a URL.
fn http_url(dir: &Path) -> Option<String> {
    let t = std::fs::read_to_string(dir.join("http.addr")).ok()?;
    let addr: std::net::SocketAddr = t.trim().parse().ok()?;
    Some(format!("http://{addr}/"))
}

/// The warnings for a status document (Chinese first, each with what to do).
fn warnings(v: &Value) -> Vec<String> {
    let mut w = Vec::new();
    let p = &v["link"]["parent"];
    if !p.is_null() && p["state"] != "ok" {
        w.push(format!(
            "上级链路 {} 状态 {}：查看 `gongxin peer list` 与节点日志 / uplink to {} is {}: see `gongxin peer list` and the node log",
            p["code"].as_str().unwrap_or("?"),
            p["state"].as_str().unwrap_or("?"),
            p["code"].as_str().unwrap_or("?"),
            p["state"].as_str().unwrap_or("?")
        ));
    }
    if let Some(b) = v["link"]["backlog_entries"].as_u64().filter(|b| *b > 0) {
        w.push(format!("待上传 {b} 条 / {b} entries not yet at the parent"));
    }
    for c in v["link"]["children"].as_array().into_iter().flatten() {
        let state = c["state"].as_str().unwrap_or("");
        if c["status"] == "active" && state != "ok" {
            w.push(format!(
                "下级 {} {} 链路 {state} / child {} is {state}",
                c["code"].as_str().unwrap_or("?"),
                c["name"].as_str().unwrap_or(""),
                c["code"].as_str().unwrap_or("?")
            ));
        }
    }
    if let Some(e) = v["evidence"].as_u64().filter(|e| *e > 0) {
        w.push(format!(
            "发现 {e} 条证据：运行 `gongxin audit show` 并按运维手册处理 / {e} evidence record(s): run `gongxin audit show`"
        ));
    }
    if let Some(bad) = v["audit"]["not_ok"].as_array().filter(|a| !a.is_empty()) {
        let codes: Vec<&str> = bad.iter().filter_map(Value::as_str).collect();
        w.push(format!("最近审计中异常的来源 origins not ok in the last audit: {}", codes.join(", ")));
    }
    if let (Some(total), Some(avail)) = (v["disk"]["total_bytes"].as_u64(), v["disk"]["available_bytes"].as_u64()) {
        if avail < LOW_DISK_BYTES || avail.saturating_mul(100) < total.saturating_mul(LOW_DISK_PERCENT) {
            w.push(format!(
                "磁盘剩余 {} MiB：请清理或扩容，磁盘满时导入与同步会被拒绝 / low disk: {} MiB free",
                avail >> 20,
                avail >> 20
            ));
        }
    }
    w
}

async fn collect(dir: &Path) -> anyhow::Result<Value> {
    let mut c = client::connect(dir).await?;
    let s = c.status(pb::StatusRequest {}).await?.into_inner();
    let peers: Value = serde_json::from_str(&c.peers(pb::PeersRequest {}).await?.into_inner().json)?;
    // A node without a federation, or one that has not audited yet, has no report: that is not an error.
    let report: Option<Value> = match c.audit_show(pb::AuditShowRequest {}).await {
        Ok(r) => serde_json::from_str(&r.into_inner().report_json).ok(),
        Err(_) => None,
    };
    let checkpoint_at =
        gongxin_core::checkpoint::Checkpoint::parse(&s.checkpoint).ok().and_then(|c| c.timestamp().map(str::to_string));
    let parent = &peers["parent"];
    let backlog: u64 =
        parent["origins"].as_array().into_iter().flatten().filter_map(|o| o["lag_entries"].as_u64()).sum();
    let audit = report.map(|r| {
        let not_ok: Vec<Value> = r["origins"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|o| o["status"] != "ok")
            .map(|o| o["code"].clone())
            .collect();
        json!({"at": r["at"], "auditor": r["auditor"], "origins": r["origins"].as_array().map(Vec::len), "not_ok": not_ok})
    });
    let disk = disk(dir).map(|(t, a)| json!({"total_bytes": t, "available_bytes": a}));
    let mut v = json!({
        "code": s.code,
        "name": s.name,
        "level": s.level,
        "log": {
            "size": s.size,
            "root": hex::encode(&s.root),
            "checkpoint_at": checkpoint_at,
            "last_entry_kind": Some(s.last_entry_kind).filter(|k| !k.is_empty()),
            "last_entry_at": Some(s.last_entry_at).filter(|k| !k.is_empty()),
        },
        "standalone": peers["standalone"] == true,
        "registry_version": peers["registry_version"],
        "link": {
            "parent": if parent.is_null() { Value::Null } else {
                json!({"code": parent["code"], "addr": parent["addr"], "state": parent["state"],
                       "last_contact_age_seconds": parent["last_contact_age_seconds"], "last_error": parent["last_error"]})
            },
            "backlog_entries": backlog,
            "children": peers["children"],
        },
        "evidence": peers["evidence"],
        "audit": audit,
        "disk": disk,
        "http": http_url(dir),
    });
    let w = warnings(&v);
    v["warnings"] = json!(w);
    Ok(v)
}

pub fn run(a: Args) -> i32 {
    if let Err(u) = client::probe(&a.data_dir) {
        eprintln!("错误 error: {}", u.message(&a.data_dir));
        return exit::NODE;
    }
    let Some(rt) = client::command_runtime() else { return exit::USAGE };
    let v = match rt.block_on(collect(&a.data_dir)) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("错误 error: {e:#}");
            return exit::NODE;
        }
    };
    if a.output == Output::Json {
        println!("{v}");
        return exit::OK;
    }
    println!(
        "节点 node      {} {} ({})",
        crate::peer::s(&v["code"]),
        crate::peer::s(&v["name"]),
        crate::peer::s(&v["level"])
    );
    println!(
        "本地日志 log   {} 条 entries，最新检查点 checkpoint {}，最近条目 last entry {} {}",
        crate::peer::s(&v["log"]["size"]),
        crate::peer::s(&v["log"]["checkpoint_at"]),
        crate::peer::s(&v["log"]["last_entry_kind"]),
        crate::peer::s(&v["log"]["last_entry_at"])
    );
    let p = &v["link"]["parent"];
    if v["standalone"] == true {
        println!("链路 link      单机运行 standalone");
    } else if p.is_null() {
        println!("链路 link      省级节点，无上级 province (no parent)");
    } else {
        println!(
            "上级 parent    {} {}：{}，{} 秒前联系 s since contact，待上传 backlog {} 条 entries",
            crate::peer::s(&p["code"]),
            crate::peer::s(&p["addr"]),
            crate::peer::s(&p["state"]),
            crate::peer::s(&p["last_contact_age_seconds"]),
            crate::peer::s(&v["link"]["backlog_entries"])
        );
    }
    let children = v["link"]["children"].as_array().cloned().unwrap_or_default();
    if !children.is_empty() {
        let shown: Vec<String> = children
            .iter()
            .map(|c| format!("{} {}", crate::peer::s(&c["code"]), crate::peer::s(&c["state"])))
            .collect();
        println!("下级 children  {}", shown.join("，"));
    }
    match v["audit"].as_object() {
        Some(a) => println!(
            "最近审计 audit {}，{} 个来源 origins，异常 not ok {}",
            crate::peer::s(&a["at"]),
            crate::peer::s(&a["origins"]),
            a["not_ok"].as_array().map(Vec::len).unwrap_or(0)
        ),
        None => println!("最近审计 audit 无 none"),
    }
    println!("证据 evidence  {}", crate::peer::s(&v["evidence"]));
    if let (Some(t), Some(av)) = (v["disk"]["total_bytes"].as_u64(), v["disk"]["available_bytes"].as_u64()) {
        println!("磁盘 disk      剩余 free {} MiB / 共 total {} MiB", av >> 20, t >> 20);
    }
    println!("状态页 status page {}", crate::peer::s(&v["http"]));
    let w = v["warnings"].as_array().cloned().unwrap_or_default();
    if w.is_empty() {
        println!("无警告 no warnings");
    }
    for x in w {
        println!("警告 warning: {}", crate::peer::s(&x));
    }
    exit::OK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_name_what_to_act_on_and_none_when_all_is_well() {
        let good = json!({
            "link": {"parent": {"code": "430100", "state": "ok"}, "backlog_entries": 0,
                     "children": [{"code": "430102", "status": "active", "state": "ok"}]},
            "evidence": 0, "audit": {"not_ok": []},
            "disk": {"total_bytes": 100u64 << 30, "available_bytes": 50u64 << 30},
        });
        assert!(warnings(&good).is_empty(), "{:?}", warnings(&good));
        let mut bad = good.clone();
        bad["link"]["parent"]["state"] = json!("backoff");
        bad["link"]["backlog_entries"] = json!(12);
        bad["link"]["children"][0]["state"] = json!("late");
        bad["evidence"] = json!(2);
        bad["audit"]["not_ok"] = json!(["430104"]);
        bad["disk"]["available_bytes"] = json!(5u64 << 30);
        let w = warnings(&bad);
        assert_eq!(w.len(), 6, "{w:?}");
        assert!(w[0].contains("430100") && w[0].contains("backoff"));
        assert!(w[2].contains("430102") && w[2].contains("late"));
        assert!(w[5].contains("low disk"));
        assert!(disk(Path::new("/")).is_some_and(|(t, a)| t > 0 && a <= t));
    }
}
