//! `gongxin-node bench audit`: the province audits a federation holding N records across six origins (built
//! in-process on a real sled store with real SM2 signatures), next to the verify-bound ceiling measured in the
//! same run.

use crate::app::{now_rfc3339, Ledger};
use crate::app::{Federation, PROVINCE};
use crate::store::log::NewEntry;
use anyhow::Result;
use gongxin_core::audit::Sla;
use gongxin_core::checkpoint::{Checkpoint, SignedCheckpoint};
use gongxin_core::crypto::{self, PublicKey, SigningKey, Verifier};
use gongxin_core::envelope::LeafHeader;
use gongxin_core::registry::{Change, KeyEntry, NodeEntry, NodeStatus, Registry};
use std::sync::Arc;
use std::time::Instant;

const ORIGINS: [(&str, &str); 6] = [
    ("430100", "430000"),
    ("430300", "430000"),
    ("430102", "430100"),
    ("430104", "430100"),
    ("430302", "430300"),
    ("430321", "430300"),
];

fn entry(key: &SigningKey, origin: &str, i: u64) -> NewEntry {
    let payload = format!("{{\"kind\":\"bench\",\"origin\":\"{origin}\",\"n\":{i}}}").into_bytes();
    let nk = crypto::sm3(format!("{origin}/{i}").as_bytes());
    let h = LeafHeader {
        origin: origin.to_string(),
        index: i,
        kind: "penalty".into(),
        share: gongxin_core::record::ShareType::Unconditional,
        disclosure: gongxin_core::record::Disclosure::Public,
        recorded_at: "2026-11-30T00:00:00Z".into(),
        decided_on: "2026-11-29".into(),
        natural_key: nk,
        payload_digest: crypto::sm3(&payload),
    };
    let leaf = h.encode();
    let signature = key.sign(&leaf);
    NewEntry { leaf, signature, payload: Some((payload, "json".into())) }
}

pub fn run(records: u64, json: bool) -> Result<()> {
    let tmp = super::import::make_temp_dir(&std::env::temp_dir())?;
    let dir = tmp.0.join("430000");
    crate::daemon::init(PROVINCE, &dir, false)?;
    let cfg = crate::daemon::load_config(&dir)?;
    let ledger = Arc::new(Ledger::open(&cfg)?);
    let province_key = ledger.signing_key().public_key();
    let fed = Federation::new(PROVINCE, ledger.clone(), province_key.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let keys: Vec<SigningKey> = ORIGINS.iter().map(|_| SigningKey::generate()).collect();
    let key_entry =
        |k: &PublicKey| vec![KeyEntry { spki_pem: k.to_spki_pem(), valid_from: now_rfc3339(), valid_until: None }];
    let mut reg = Registry::empty();
    let node = |code: &str, parent: Option<&str>, k: &PublicKey| NodeEntry {
        code: code.into(),
        name: code.into(),
        level: "bench".into(),
        parent: parent.map(Into::into),
        keys: key_entry(k),
        tls_fingerprints: vec!["00".into()],
        status: NodeStatus::Active,
        operators: vec![],
    };
    reg = reg.apply(&Change::Upsert(node(PROVINCE, None, &province_key)), "t")?;
    for ((code, parent), k) in ORIGINS.iter().zip(&keys) {
        reg = reg.apply(&Change::Upsert(node(code, Some(parent), &k.public_key())), "t")?;
    }
    fed.publish_registry(&reg).map_err(|e| anyhow::anyhow!("{e}"))?;

    // Build the mirrors: signed on all cores, appended in batches of 5000 with an origin-signed checkpoint.
    let per = records / ORIGINS.len() as u64;
    let build = Instant::now();
    let log = ledger.log();
    for ((code, _), key) in ORIGINS.iter().zip(&keys) {
        let mut at = 0;
        while at < per {
            let upto = (at + 5000).min(per);
            let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as u64;
            let span = (upto - at).div_ceil(threads);
            let mut batch: Vec<NewEntry> = Vec::with_capacity((upto - at) as usize);
            std::thread::scope(|s| {
                let hs: Vec<_> = (0..threads)
                    .map(|t| {
                        let (a, b) = (at + t * span, (at + (t + 1) * span).min(upto));
                        s.spawn(move || (a..b).map(|i| entry(key, code, i)).collect::<Vec<_>>())
                    })
                    .collect();
                for h in hs {
                    batch.extend(h.join().expect("signing thread"));
                }
            });
            let prepared = log.prepare_append(code, batch)?;
            let cp = SignedCheckpoint::sign(
                &Checkpoint::new(code, prepared.new_size(), prepared.new_root(), &now_rfc3339()),
                key,
            );
            log.commit(prepared, Some(cp))?;
            at = upto;
        }
    }
    let build_s = build.elapsed().as_secs_f64();
    let total = per * ORIGINS.len() as u64;

    // The verify-bound ceiling, same run: the same verifier on a sample of real leaves, all cores.
    let verifier = Verifier::new();
    let pk = keys[2].public_key();
    verifier.register(&pk);
    let sample: Vec<NewEntry> = (0..20_000.min(per)).map(|i| entry(&keys[2], "430102", i)).collect();
    let items: Vec<(&PublicKey, &[u8], &[u8])> =
        sample.iter().map(|e| (&pk, e.leaf.as_slice(), e.signature.as_slice())).collect();
    let t = Instant::now();
    let ok = verifier.verify_batch(&items).iter().all(|r| r.is_ok());
    let verify_rate = items.len() as f64 / t.elapsed().as_secs_f64();
    anyhow::ensure!(ok, "sample signatures must verify");

    let t = Instant::now();
    let report = fed.run_audit(Sla::default()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let audit_s = t.elapsed().as_secs_f64();
    let checked: u64 = report.origins.iter().map(|o| o.leaves_checked).sum();
    let verify_part = checked as f64 / verify_rate;
    let ceiling = verify_rate;
    let rate = checked as f64 / audit_s;
    let statuses: Vec<String> = report.origins.iter().map(|o| format!("{}:{:?}", o.code, o.status)).collect();
    if json {
        println!(
            "{}",
            serde_json::json!({
                "records": total, "leaves_checked": checked, "build_seconds": build_s, "audit_seconds": audit_s,
                "audit_records_per_s": rate, "verify_ceiling_per_s": ceiling,
                "verify_part_seconds_estimate": verify_part, "ratio_to_ceiling": rate / ceiling,
                "store_bytes": super::import::dir_size(&cfg.store_path())?.0, "statuses": statuses,
            })
        );
    } else {
        println!("审计基准 audit benchmark: {total} records in 6 origins (+ province log), built in {build_s:.1} s");
        println!("  audit wall time           {audit_s:.2} s  ({rate:.0} records/s, {checked} leaves re-verified)");
        println!("  verify-bound ceiling      {ceiling:.0} verifies/s on all cores (same run) → {verify_part:.2} s of the audit");
        println!("  ratio to ceiling          {:.2}", rate / ceiling);
        println!("  statuses                  {}", statuses.join(" "));
    }
    Ok(())
}
