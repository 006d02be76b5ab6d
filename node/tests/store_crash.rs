//! Crash test of the sled log (DESIGN §6): a writer process appends batches to a real sled store and prints
//! each batch only after `commit` returned (i.e. after the flush); the parent SIGKILLs it at random moments,
//! reopens the store and checks that no acknowledged entry is missing, that the log ends on a batch boundary
//! (no torn batch: leaves, signatures, payloads, indexes, subtree hashes, head and checkpoint all agree), and
//! that the root recomputed from the leaf bytes equals the stored head.
//!
//! The writer is this same test binary, re-executed with `GONGXIN_CRASH_WRITER_DIR` set.

use gongxin_core::checkpoint::{Checkpoint, SignedCheckpoint};
use gongxin_core::crypto::{sm3, PublicKey, SigningKey};
use gongxin_core::merkle;
use gongxin_node::store::log::{Log, NewEntry, STORED_MIN_LEVEL};
use gongxin_node::store::sled::SledStore;
use gongxin_node::store::{Store, Table};
use gongxin_node::views;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ENV_DIR: &str = "GONGXIN_CRASH_WRITER_DIR";
const ENV_KEY: &str = "GONGXIN_CRASH_WRITER_KEY";
const ORIGIN: &str = "430102";
const ROUNDS: usize = 24;

/// Number of entries in the batch that starts at `size` (deterministic, so the parent knows batch boundaries).
fn batch_len(size: u64) -> u64 {
    1 + (size.wrapping_mul(31).wrapping_add(7)) % 48
}

fn leaf(i: u64) -> Vec<u8> {
    format!("gongxin-leaf/v1\norigin {ORIGIN}\nindex {i}\nkind penalty\n").into_bytes()
}

fn payload(i: u64) -> Option<(Vec<u8>, String)> {
    // None, small, one chunk, several chunks.
    match i % 4 {
        0 => None,
        1 => Some((format!("{{\"index\":{i}}}").into_bytes(), "json".into())),
        2 => Some((vec![(i % 256) as u8; 3000], "json".into())),
        _ => Some((vec![(i % 253) as u8; 9500], "bin".into())),
    }
}

fn natural_key(i: u64) -> [u8; 32] {
    sm3(format!("nk {i}").as_bytes())
}

fn subject(i: u64) -> Vec<u8> {
    format!("91430102MA{:08}", i % 97).into_bytes()
}

fn new_entry(i: u64) -> NewEntry {
    NewEntry {
        leaf: leaf(i),
        // The store does not interpret leaf signatures; a fixed-shape stand-in keeps the debug-mode writer fast.
        // Checkpoints below are real SM2 signatures.
        signature: format!("sig {i}").into_bytes(),
        payload: payload(i),
    }
}

fn derived(i: u64) -> views::Derived {
    views::Derived {
        natural_key: natural_key(i),
        subjects: vec![subject(i)],
        amends: None,
        class: None,
        names: Vec::new(),
    }
}

/// Writer mode: append batches forever, printing `ACK <size>` after each durable commit.
fn run_writer(dir: &Path) -> ! {
    let pem = std::env::var(ENV_KEY).expect("writer: key in environment");
    let key = SigningKey::from_pkcs8_pem(&pem).expect("writer: key");
    let log = Log::new(SledStore::open(dir).expect("writer: open store"));
    let mut out = std::io::stdout();
    loop {
        let head = log.head(ORIGIN).expect("writer: head");
        let range = head.size..head.size + batch_len(head.size);
        let entries: Vec<NewEntry> = range.clone().map(new_entry).collect();
        let derived: Vec<views::Derived> = range.map(derived).collect();
        let mut prepared = log.prepare_append(ORIGIN, entries).expect("writer: prepare");
        views::index_batch(&mut prepared, &derived).expect("writer: views");
        let cp = Checkpoint::new(ORIGIN, prepared.new_size(), prepared.new_root(), "2026-01-01T00:00:00Z");
        let signed = SignedCheckpoint::sign(&cp, &key);
        let new = log.commit(prepared, Some(signed)).expect("writer: commit");
        writeln!(out, "ACK {}", new.size).expect("stdout");
        out.flush().expect("stdout");
    }
}

/// xorshift64*, seeded from the clock; the seed is printed so a failure can be replayed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Checks every invariant of the reopened store; returns the stored size.
fn check_store(dir: &Path, acked: u64, key: &PublicKey) -> u64 {
    let store = SledStore::open(dir).unwrap_or_else(|e| {
        // Name what sled left behind, so a failure can be told apart (snapshot, segment, conf).
        let files: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .map(|f| format!("{} ({} B)", f.file_name().to_string_lossy(), f.metadata().map_or(0, |m| m.len())))
                    .collect()
            })
            .unwrap_or_default();
        let keep = std::env::temp_dir().join(format!("gongxin-store-crash-{}", std::process::id()));
        let _ = std::fs::rename(dir, &keep);
        panic!("reopen store after SIGKILL: {e}; files: {files:?}; kept at {}", keep.display())
    });
    let log = Log::new(store);
    let head = log.head(ORIGIN).expect("head");
    assert!(head.size >= acked, "acknowledged size {acked} but only {} survived", head.size);
    // Batch boundaries: the store holds every acknowledged batch and at most the one that was in flight.
    let mut boundary = 0u64;
    while boundary < acked {
        boundary += batch_len(boundary);
    }
    assert_eq!(boundary, acked, "acknowledged size {acked} is not a batch boundary");
    let in_flight = acked + batch_len(acked);
    assert!(
        head.size == acked || head.size == in_flight,
        "torn batch: size {} (acked {acked}, next boundary {in_flight})",
        head.size
    );
    // Recomputed root from leaf bytes = stored head = independently computed root of the expected leaves.
    let recomputed = log.recompute_head(ORIGIN).expect("recompute");
    assert_eq!(recomputed, head, "recomputed head differs from stored head");
    let expected: Vec<Vec<u8>> = (0..head.size).map(leaf).collect();
    assert_eq!(head.root, merkle::root_of_leaves(&expected), "root is not that of the expected leaves");
    // Every entry, payload and index row is there, nothing beyond the head.
    let entries = log.entries(ORIGIN, 0..head.size + 100).expect("entries");
    assert_eq!(entries.len() as u64, head.size);
    for e in &entries {
        let i = e.index;
        assert_eq!(e.leaf, leaf(i), "leaf {i}");
        assert_eq!(e.signature, format!("sig {i}").into_bytes(), "signature {i}");
        assert_eq!(e.payload, payload(i), "payload {i}");
    }
    for i in 0..head.size {
        assert_eq!(
            views::find_natural_key(log.store(), &natural_key(i)).expect("nk"),
            Some((ORIGIN.to_string(), i)),
            "natural key {i}"
        );
    }
    assert_eq!(
        views::find_natural_key(log.store(), &natural_key(head.size)).expect("nk"),
        None,
        "natural key beyond the head"
    );
    let subject_rows: usize = (0..97u64.min(head.size))
        .map(|s| views::by_subject(log.store(), &subject(s), usize::MAX).expect("subject").len())
        .sum();
    assert_eq!(subject_rows as u64, head.size, "subject index rows");
    let leaves_beyond = log.store().scan(Table::Leaf, &[], None, usize::MAX, false).expect("scan").len() as u64;
    assert_eq!(leaves_beyond, head.size, "leaf rows in the store");
    let subtrees = log.store().scan(Table::Subtree, &[], None, usize::MAX, false).expect("scan").len() as u64;
    let want_subtrees: u64 = (STORED_MIN_LEVEL as u32..64).map(|l| head.size >> l).sum();
    assert_eq!(subtrees, want_subtrees, "aligned subtree rows for size {}", head.size);
    // The last checkpoint belongs to the head; every stored checkpoint is at a batch boundary with the right root.
    if head.size > 0 {
        let cp = log.latest_checkpoint(ORIGIN).expect("checkpoint").expect("a checkpoint per batch");
        let parsed = cp.parse().expect("checkpoint parses");
        assert_eq!((parsed.size, parsed.root), (head.size, head.root), "latest checkpoint");
        for cp in log.checkpoints(ORIGIN).expect("checkpoints") {
            let p = cp.verify(key).expect("checkpoint SM2 signature verifies");
            assert_eq!(log.root_at(ORIGIN, p.size).expect("root_at"), p.root, "checkpoint at {}", p.size);
        }
        // Proofs still come out of the stored subtree hashes.
        let p = log.consistency_proof(ORIGIN, acked.min(head.size), head.size).expect("consistency");
        let old = log.root_at(ORIGIN, acked.min(head.size)).expect("root_at");
        merkle::verify_consistency(acked.min(head.size), head.size, &p, &old, &head.root)
            .expect("consistency verifies");
    }
    head.size
}

#[test]
fn sigkill_during_appends_loses_no_acknowledged_batch_and_tears_none() {
    if let Some(dir) = std::env::var_os(ENV_DIR) {
        run_writer(Path::new(&dir));
    }
    let seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
            | 1;
    eprintln!("store_crash seed {seed}");
    let mut rng = Rng(seed);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("store");
    let exe = std::env::current_exe().expect("current exe");
    let key = SigningKey::generate();
    let pem = key.to_pkcs8_pem();
    let public = key.public_key();
    let mut acked = 0u64;
    let (mut mid_batch_kills, mut progressing_rounds) = (0, 0);
    let started = Instant::now();
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args(["--exact", "sigkill_during_appends_loses_no_acknowledged_batch_and_tears_none", "--nocapture"])
            .env(ENV_DIR, &dir)
            .env(ENV_KEY, &pem)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn writer");
        let stdout = child.stdout.take().expect("stdout");
        let reader = std::thread::spawn(move || {
            let mut acks = Vec::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(n) = line.strip_prefix("ACK ") {
                    acks.push(n.trim().parse::<u64>().expect("ACK size"));
                }
            }
            acks
        });
        // Kill at a random moment: sometimes during startup, mostly in the middle of the append stream.
        let delay = Duration::from_millis(20 + rng.next() % 450);
        std::thread::sleep(delay);
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err).ok();
            panic!("round {round}: writer exited by itself with {status}: {err}");
        }
        child.kill().expect("SIGKILL writer");
        let status = child.wait().expect("wait writer");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "round {round}: writer should die of SIGKILL, got {status}");
        let acks = reader.join().expect("reader thread");
        // Acknowledged sizes grow strictly and start from what survived the previous round or the batch after it.
        for w in acks.windows(2) {
            assert!(w[0] < w[1], "round {round}: acks not increasing: {acks:?}");
        }
        let last_ack = acks.last().copied().unwrap_or(acked);
        let size = check_store(&dir, last_ack.max(acked), &public);
        if size > last_ack.max(acked) {
            mid_batch_kills += 1;
        }
        if size > acked {
            progressing_rounds += 1;
        }
        eprintln!(
            "round {round}: killed after {delay:?}, {} acks, acked size {last_ack}, stored size {size}",
            acks.len()
        );
        acked = size;
    }
    eprintln!(
        "{ROUNDS} rounds in {:?}: final size {acked}, {progressing_rounds} rounds made progress, \
         {mid_batch_kills} kills landed between commit and acknowledgement",
        started.elapsed()
    );
    assert!(progressing_rounds >= ROUNDS / 2, "only {progressing_rounds} of {ROUNDS} rounds appended anything");

    // Finally the store is still usable: a clean append after all the crashes, then reopen.
    {
        let log = Log::new(SledStore::open(&dir).expect("open"));
        let head = log.head(ORIGIN).expect("head");
        let range = head.size..head.size + batch_len(head.size);
        let mut p = log.prepare_append(ORIGIN, range.clone().map(new_entry).collect()).expect("prepare");
        views::index_batch(&mut p, &range.map(derived).collect::<Vec<_>>()).expect("views");
        let cp = Checkpoint::new(ORIGIN, p.new_size(), p.new_root(), "2026-01-02T00:00:00Z");
        log.commit(p, Some(SignedCheckpoint::sign(&cp, &key))).expect("commit");
    }
    let size = check_store(&dir, acked + batch_len(acked), &public);
    assert_eq!(size, acked + batch_len(acked));
    // Store-level check: the export of the crashed-and-recovered store imports into a fresh store intact.
    let store = SledStore::open(&dir).expect("open");
    let mut dump = Vec::new();
    let sum = store.export(&mut dump).expect("export");
    let fresh = gongxin_node::store::memory::MemoryStore::new();
    assert_eq!(fresh.import(&mut dump.as_slice()).expect("import").digest, sum.digest);
}
