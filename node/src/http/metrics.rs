//! The node's metrics (DESIGN §7), named `gongxin_<subsystem>_<name>_<unit>`, each with HELP text; the table is
//! `docs/metrics.md`.
//!
//! Counters (events) live in the one [`Metrics`] created in `daemon.rs` and carried by the [`Ledger`]
//! (`Ledger::metrics`), so every site that counts reaches it without a new parameter: one line per site. Gauges
//! that are state (log sizes, lag, evidence, certificate expiry, store bytes) are read from the app layer at
//! scrape time ([`State`]), never kept twice.
//!
//! The exposition is the Prometheus text format 0.0.4: `prometheus-client` writes OpenMetrics text, and
//! [`to_text_004`] turns it into 0.0.4 (counter families named with their `_total` samples, no `# EOF`).
//!
//! [`Ledger`]: crate::app::Ledger

use prometheus_client::encoding::text::encode_registry;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::time::Instant;

/// One static label.
type L1 = [(&'static str, &'static str); 1];
/// Labels with values from the node's data (codes: six digits, checked before they get here).
type Owned = Vec<(&'static str, String)>;

/// Every counter and histogram of the node.
pub struct Metrics {
    registry: Registry,
    sync_requests: Family<L1, Counter>,
    sync_refusals: Family<L1, Counter>,
    verify_failures: Family<L1, Counter>,
    check_requests: Family<L1, Counter>,
    check_seconds: Histogram,
    import_rows: Family<L1, Counter>,
    http_requests: Family<L1, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let m = Metrics {
            sync_requests: Family::default(),
            sync_refusals: Family::default(),
            verify_failures: Family::default(),
            check_requests: Family::default(),
            // 1 ms … ~16 s.
            check_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
            import_rows: Family::default(),
            http_requests: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "gongxin_sync_requests",
            "Sync RPCs received from children after authorisation, by rpc (Cursor, Upload, Offer, Pull, PullLists)",
            m.sync_requests.clone(),
        );
        registry.register(
            "gongxin_sync_refusals",
            "Sync requests refused, by reason (unauthenticated, not_registered, forbidden, cursor, too_large, \
             equivocation, bad_entry, bad_checkpoint, resource_limit)",
            m.sync_refusals.clone(),
        );
        registry.register(
            "gongxin_sync_verify_failures",
            "Uploaded batches that failed verification, by kind (bad_entry, bad_checkpoint, equivocation)",
            m.verify_failures.clone(),
        );
        registry.register(
            "gongxin_check_requests",
            "Joint-punishment checks answered, by decision (restrict, none, incentive) or error",
            m.check_requests.clone(),
        );
        registry.register(
            "gongxin_check_duration_seconds",
            "Time to answer one joint-punishment check (fold, evaluate, prove, sign)",
            m.check_seconds.clone(),
        );
        registry.register(
            "gongxin_import_rows",
            "Rows of department files imported into the own log, by outcome (accepted, rejected, duplicate, changed)",
            m.import_rows.clone(),
        );
        registry.register(
            "gongxin_http_requests",
            "Requests to the HTTP side, by page (status, query, check, metrics, livez, readyz, refused)",
            m.http_requests.clone(),
        );
        Metrics { registry, ..m }
    }

    /// A sync RPC was received from an authorised child.
    pub fn sync_request(&self, rpc: &'static str) {
        self.sync_requests.get_or_create(&[("rpc", rpc)]).inc();
    }

    /// A sync request was refused for `reason`; the verification failures among them are also counted as such.
    pub fn sync_refused(&self, reason: &'static str) {
        self.sync_refusals.get_or_create(&[("reason", reason)]).inc();
        if matches!(reason, "bad_entry" | "bad_checkpoint" | "equivocation") {
            self.verify_failures.get_or_create(&[("kind", reason)]).inc();
        }
    }

    /// Counts one check by decision (`None`: it failed) and times it from `started`.
    pub fn checked(&self, started: Instant, decision: Option<&'static str>) {
        self.check_seconds.observe(started.elapsed().as_secs_f64());
        self.check_requests.get_or_create(&[("decision", decision.unwrap_or("error"))]).inc();
    }

    /// Counts the rows of one import chunk (dry runs write nothing and are not counted).
    pub fn import_chunk(&self, out: &crate::app::ledger::ImportOutcome, dry_run: bool) {
        if dry_run {
            return;
        }
        let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
        for (outcome, count) in [
            ("accepted", out.accepted),
            ("rejected", n(out.errors.len())),
            ("duplicate", out.duplicates),
            ("changed", n(out.changed.len())),
        ] {
            self.import_rows.get_or_create(&[("outcome", outcome)]).inc_by(count);
        }
    }

    pub fn http_request(&self, page: &'static str) {
        self.http_requests.get_or_create(&[("page", page)]).inc();
    }

    /// The whole exposition: these counters, then the state read at scrape time.
    pub fn render(&self, state: &State) -> String {
        let mut out = String::new();
        let mut gauges = Registry::default();
        state.register(&mut gauges);
        // Writing into a String cannot fail; an error here would be a bug in the encoder.
        if encode_registry(&mut out, &self.registry).is_err() || encode_registry(&mut out, &gauges).is_err() {
            tracing::error!("metrics encoding failed");
        }
        to_text_004(&out)
    }
}

/// Turns OpenMetrics text (as `prometheus-client` writes it) into the Prometheus text format 0.0.4: a counter
/// family `x` with samples `x_total` is announced as `x_total`; `# UNIT` and `# EOF` lines are dropped.
pub fn to_text_004(open_metrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = open_metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(open_metrics.len() + 16 * counters.len());
    for line in open_metrics.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|p| {
            let rest = line.strip_prefix(p)?;
            let (name, tail) = rest.split_once(' ')?;
            counters.contains(name).then(|| format!("{p}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

/// State gauges of one scrape, read from the app layer.
#[derive(Debug, Default, Clone)]
pub struct State {
    pub node: (String, String),
    /// (origin, entries held, age of its newest checkpoint held in seconds).
    pub logs: Vec<(String, u64, Option<i64>)>,
    /// (peer, origin, lag in entries, lag in seconds).
    pub lag: Vec<(String, String, u64, Option<i64>)>,
    /// (peer, direction `up`/`down`, link ok, seconds since last contact).
    pub links: Vec<(String, &'static str, bool, Option<i64>)>,
    pub evidence: Option<u64>,
    pub cert_expiry_days: Option<i64>,
    pub store_bytes: Option<u64>,
}

fn owned_gauge(reg: &mut Registry, name: &str, help: &str, rows: impl IntoIterator<Item = (Owned, i64)>) {
    let fam: Family<Owned, Gauge> = Family::default();
    let mut any = false;
    for (labels, v) in rows {
        fam.get_or_create(&labels).set(v);
        any = true;
    }
    if any {
        reg.register(name, help, fam);
    }
}

fn plain_gauge(reg: &mut Registry, name: &str, help: &str, v: Option<i64>) {
    if let Some(v) = v {
        let g: Gauge = Gauge::default();
        g.set(v);
        reg.register(name, help, g);
    }
}

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl State {
    fn register(&self, reg: &mut Registry) {
        let (code, level) = &self.node;
        owned_gauge(
            reg,
            "gongxin_node_info",
            "This node: its division code and level (always 1)",
            [(vec![("code", code.clone()), ("level", level.clone())], 1)],
        );
        owned_gauge(
            reg,
            "gongxin_log_size_entries",
            "Entries held of each origin's log (own log and mirrors)",
            self.logs.iter().map(|(o, n, _)| (vec![("origin", o.clone())], i(*n))),
        );
        owned_gauge(
            reg,
            "gongxin_log_checkpoint_age_seconds",
            "Age of the newest checkpoint held of each origin (for a mirror: how fresh this node's copy is)",
            self.logs.iter().filter_map(|(o, _, a)| Some((vec![("origin", o.clone())], (*a)?))),
        );
        owned_gauge(
            reg,
            "gongxin_sync_lag_entries",
            "Entries of an origin this node holds that the peer (its parent) has not acknowledged",
            self.lag.iter().map(|(p, o, n, _)| (vec![("peer", p.clone()), ("origin", o.clone())], i(*n))),
        );
        owned_gauge(
            reg,
            "gongxin_sync_lag_seconds",
            "0 when the peer holds the whole origin; else seconds since the uplink last reached the peer",
            self.lag.iter().filter_map(|(p, o, _, s)| Some((vec![("peer", p.clone()), ("origin", o.clone())], (*s)?))),
        );
        owned_gauge(
            reg,
            "gongxin_sync_link_up",
            "1 when the link to the peer is ok (direction up: the uplink to the parent; down: a child's last call)",
            self.links
                .iter()
                .map(|(p, d, ok, _)| (vec![("peer", p.clone()), ("direction", (*d).to_string())], i64::from(*ok))),
        );
        owned_gauge(
            reg,
            "gongxin_sync_last_contact_age_seconds",
            "Seconds since the last successful contact with the peer",
            self.links
                .iter()
                .filter_map(|(p, d, _, a)| Some((vec![("peer", p.clone()), ("direction", (*d).to_string())], (*a)?))),
        );
        plain_gauge(
            reg,
            "gongxin_evidence_items",
            "Evidence items stored (equivocation, bad signatures, …; kept forever)",
            self.evidence.map(i),
        );
        plain_gauge(
            reg,
            "gongxin_certs_expiry_days",
            "Whole days until this node's TLS certificate expires (negative: expired)",
            self.cert_expiry_days,
        );
        plain_gauge(reg, "gongxin_store_size_bytes", "Bytes of the store directory on disk", self.store_bytes.map(i));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_announced_under_their_sample_names_in_text_004() {
        let m = Metrics::new();
        m.sync_request("Upload");
        m.sync_refused("bad_entry");
        let text = m.render(&State { node: ("430102".into(), "county".into()), ..Default::default() });
        assert!(text.contains("# TYPE gongxin_sync_requests_total counter\n"), "{text}");
        assert!(text.contains("# HELP gongxin_sync_requests_total "), "{text}");
        assert!(text.contains("gongxin_sync_requests_total{rpc=\"Upload\"} 1\n"), "{text}");
        assert!(text.contains("gongxin_sync_verify_failures_total{kind=\"bad_entry\"} 1\n"), "{text}");
        assert!(text.contains("# TYPE gongxin_check_duration_seconds histogram\n"), "{text}");
        assert!(!text.contains("# EOF") && !text.contains("# UNIT"), "{text}");
        // Every family has HELP text.
        let helps = text.lines().filter(|l| l.starts_with("# HELP ")).count();
        let types = text.lines().filter(|l| l.starts_with("# TYPE ")).count();
        assert_eq!(helps, types, "{text}");
    }
}
