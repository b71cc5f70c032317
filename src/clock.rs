//! Time as credwatch writes it: unix seconds (the state file, the metrics) and RFC 3339 (the
//! API, the page, messages). Below every module that records or shows a time, so that none of
//! them needs another for it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `time` as unix seconds (0 for a time before the epoch).
pub fn unix_seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A duration in seconds, rounded to the millisecond (for output and the state).
pub fn rounded_seconds(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1000.0).round() / 1000.0
}

/// Unix seconds as RFC 3339 (UTC, whole seconds).
pub fn rfc3339(seconds: f64) -> String {
    chrono::DateTime::from_timestamp(seconds as i64, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms() {
        let time = UNIX_EPOCH + std::time::Duration::from_millis(1_795_993_416_045);
        assert_eq!(unix_seconds(time), 1_795_993_416.045);
        assert_eq!(rfc3339(1_795_993_416.045), "2026-11-29T23:03:36Z");
        assert_eq!(
            unix_seconds(UNIX_EPOCH - std::time::Duration::from_secs(1)),
            0.0
        );
    }
}
