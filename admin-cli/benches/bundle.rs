//! Evaluator bundles at scale (issue 14 item 5): N signed entries over four origins (real SM2 signatures, leaves
//! through `LeafHeader::encode`, payloads of ~740 bytes like an imported penalty) written by the CLI's
//! `BundleWriter`, then checked by `gongxin_core::bundle::verify` over the CLI's `BundleDir`, as
//! `gongxin verify-bundle` does. Next to it, in the same run: the registered verifier on the same leaves on all
//! cores (the ceiling the issue names). Prints figures and one JSON line.
//!
//! `cargo bench -p gongxin-admin-cli --bench bundle` (`GONGXIN_BENCH_RECORDS`, default 200,000).

use gongxin_admin_cli::bundle::{BundleDir, BundleWriter};
use gongxin_core::checkpoint::{Checkpoint, SignedCheckpoint};
use gongxin_core::crypto::{SigningKey, Verifier};
use gongxin_core::envelope::LeafHeader;
use gongxin_core::merkle::Frontier;
use std::time::Instant;

const ORIGINS: [&str; 4] = ["430102", "430103", "430104", "430105"];

/// A payload the size of an imported penalty's JSON body.
fn payload(code: &str, i: u64) -> Vec<u8> {
    let mut p = format!(
        "{{\"kind\":\"penalty\",\"origin\":\"{code}\",\"i\":{i},\"subject\":\"湖南某某建材有限公司{i}\",\
         \"uscc\":\"91430102MA4L{i:06}\",\"doc_no\":\"长市监罚〔2026〕{i}号\",\"basis\":\"《中华人民共和国产品质量法》第四十九条\",\
         \"facts\":\""
    );
    while p.len() < 700 {
        p.push_str("生产销售不符合标准的产品；");
    }
    p.push_str("\"}");
    p.into_bytes()
}

/// One origin's log: `(leaf, signature, payload)` each, signed on all cores, and the checkpoint of its size.
fn log(key: &SigningKey, code: &str, n: u64) -> (Vec<(Vec<u8>, Vec<u8>, Vec<u8>)>, SignedCheckpoint) {
    let threads = std::thread::available_parallelism().map(|c| c.get()).unwrap_or(1) as u64;
    let per = n.div_ceil(threads);
    let mut entries: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (t * per..((t + 1) * per).min(n))
                        .map(|i| {
                            let body = payload(code, i);
                            let leaf = LeafHeader {
                                origin: code.into(),
                                index: i,
                                kind: "penalty".into(),
                                share: gongxin_core::record::ShareType::Unconditional,
                                disclosure: gongxin_core::record::Disclosure::Public,
                                recorded_at: "2026-12-01T00:00:00Z".into(),
                                decided_on: "2026-11-30".into(),
                                natural_key: gongxin_core::crypto::sm3(&i.to_be_bytes()),
                                payload_digest: gongxin_core::crypto::sm3(&body),
                            }
                            .encode();
                            (key.sign(&leaf), leaf, body)
                        })
                        .map(|(sig, leaf, body)| (leaf, sig, body))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().expect("signing thread")).collect()
    });
    entries.truncate(n as usize);
    let mut f = Frontier::new();
    for (leaf, _, _) in &entries {
        f.push_leaf(leaf);
    }
    let cp = SignedCheckpoint::sign(&Checkpoint::new(code, n, f.root(), "2026-12-01T00:00:01Z"), key);
    (entries, cp)
}

fn walk(dir: &std::path::Path, files: &mut u64, bytes: &mut u64) {
    for e in std::fs::read_dir(dir).expect("bundle directory") {
        let e = e.expect("entry");
        let m = e.metadata().expect("metadata");
        if m.is_dir() {
            walk(&e.path(), files, bytes);
        } else {
            *files += 1;
            *bytes += m.len();
        }
    }
}

fn main() -> anyhow::Result<()> {
    let n: u64 = std::env::var("GONGXIN_BENCH_RECORDS").ok().and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let per = n / ORIGINS.len() as u64;
    let tmp = tempfile::tempdir()?;
    let root = tmp.path().join("bundle");
    let writer = BundleWriter::create_unmasked(&root)?;
    let (mut raw, mut sample) = (0u64, Vec::new());
    let t = Instant::now();
    let mut logs = Vec::new();
    for code in ORIGINS {
        let key = SigningKey::generate();
        let (entries, cp) = log(&key, code, per);
        logs.push((code, key, entries, cp));
    }
    let sign_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for (code, key, entries, cp) in &logs {
        writer.key(code, &key.public_key())?;
        writer.checkpoint(code, per, cp)?;
        for (i, (leaf, sig, body)) in entries.iter().enumerate() {
            writer.entry(code, i as u64, leaf, sig, Some((body, "json")))?;
            raw += (leaf.len() + sig.len() + body.len()) as u64;
        }
    }
    writer.finish()?;
    let write_s = t.elapsed().as_secs_f64();
    let (mut files, mut bytes) = (0, 0);
    walk(&root, &mut files, &mut bytes);

    // verify-bundle's work, twice (both from the page cache: the files were just written).
    let dir = BundleDir::new(&root);
    let mut best = f64::MAX;
    for _ in 0..2 {
        let t = Instant::now();
        let report = gongxin_core::bundle::verify(&dir).map_err(|e| anyhow::anyhow!("{e}"))?;
        best = best.min(t.elapsed().as_secs_f64());
        anyhow::ensure!(report.origins.iter().map(|o| o.entries).sum::<u64>() == per * ORIGINS.len() as u64);
    }
    let records = per * ORIGINS.len() as u64;
    let rate = records as f64 / best;

    // The ceiling, same run: the registered verifier (a table per key) on all cores over the same leaves.
    let verifier = Verifier::new();
    for (_, key, entries, _) in &logs {
        let pk = key.public_key();
        verifier.register(&pk);
        sample.extend(entries.iter().map(|(leaf, sig, _)| (pk.clone(), leaf.as_slice(), sig.as_slice())));
    }
    let items: Vec<_> = sample.iter().map(|(k, l, s)| (k, *l, *s)).collect();
    let t = Instant::now();
    let ok = verifier.verify_batch(&items).iter().all(|r| r.is_ok());
    let ceiling = items.len() as f64 / t.elapsed().as_secs_f64();
    anyhow::ensure!(ok, "every signature verifies");

    let cores = std::thread::available_parallelism().map(|c| c.get()).unwrap_or(1);
    println!("bundle of {records} entries over {} origins ({cores} cores)", ORIGINS.len());
    println!("  signed in {sign_s:.1} s, written in {write_s:.1} s");
    println!("  {files} files ({:.2} per 256 entries), {bytes} bytes = {:.3}x the raw {raw} bytes (leaf + signature + payload)", files as f64 * 256.0 / records as f64, bytes as f64 / raw as f64);
    println!("  verify-bundle     {rate:.0} entries/s (best of 2: {best:.2} s)");
    println!("  verify ceiling    {ceiling:.0} verifies/s (registered verifier, all cores, same leaves)");
    println!("  ratio             {:.2}", rate / ceiling);
    println!(
        "{}",
        serde_json::json!({"bench": "bundle", "records": records, "origins": ORIGINS.len(), "cores": cores,
            "files": files, "files_per_256_entries": files as f64 * 256.0 / records as f64,
            "bytes": bytes, "raw_bytes": raw, "size_ratio": bytes as f64 / raw as f64,
            "verify_records_per_s": rate, "verify_ceiling_per_s": ceiling, "ratio_to_ceiling": rate / ceiling})
    );
    Ok(())
}
