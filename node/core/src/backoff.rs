//! Reconnect backoff for links that fail (issue: start 1 s, ×1.6, ±20 % jitter, cap 120 s). Pure: the caller
//! supplies the randomness.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    next_secs: f64,
}

pub const START_SECS: f64 = 1.0;
pub const FACTOR: f64 = 1.6;
pub const JITTER: f64 = 0.2;
pub const CAP_SECS: f64 = 120.0;

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

impl Backoff {
    pub fn new() -> Self {
        Backoff { next_secs: START_SECS }
    }

    /// After a success: start again from 1 s.
    pub fn reset(&mut self) {
        self.next_secs = START_SECS;
    }

    /// The delay before the next attempt; `unit` is a random number in [0, 1) placing it within ±20 %.
    pub fn next_delay(&mut self, unit: f64) -> Duration {
        let base = self.next_secs;
        self.next_secs = (self.next_secs * FACTOR).min(CAP_SECS);
        let jitter = 1.0 + JITTER * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
        Duration::from_secs_f64((base * jitter).min(CAP_SECS * (1.0 + JITTER)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_by_1_6_within_jitter_and_caps() {
        let mut b = Backoff::new();
        let d: Vec<f64> = (0..20).map(|_| b.next_delay(0.5).as_secs_f64()).collect();
        assert!((d[0] - 1.0).abs() < 1e-9);
        assert!((d[1] - 1.6).abs() < 1e-9);
        assert!((d[2] - 2.56).abs() < 1e-9);
        assert!((d[19] - 120.0).abs() < 1e-9, "capped: {}", d[19]);
        let mut lo = Backoff::new();
        let mut hi = Backoff::new();
        assert!((lo.next_delay(0.0).as_secs_f64() - 0.8).abs() < 1e-9);
        assert!((hi.next_delay(0.999_999).as_secs_f64() - 1.2).abs() < 1e-5);
        b.reset();
        assert!((b.next_delay(0.5).as_secs_f64() - 1.0).abs() < 1e-9);
    }
}
