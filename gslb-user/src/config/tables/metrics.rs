//! `[metrics]`: how the vservers' `metrics_url` endpoints are polled and
//! read.
//!
//! ```toml
//! [metrics]
//! interval = "5s"              # between two polls, >= 10ms (default 5s)
//! timeout = "2s"               # of one poll, < interval (default 2s, or half the interval)
//! max_age = "15s"              # a reading older than this is unknown, >= interval
//!                              # (default 3 intervals)
//! sessions = "sessions"        # gauge names (default sessions, connections)
//! connections = "connections"
//! ```

use std::time::Duration;

use serde::Deserialize;

use super::monitor::MIN_MONITOR_INTERVAL;
use crate::config::{
    checks::Validator,
    raw::{Dur, Str},
};

/// `[metrics]`: how the `metrics_url` endpoints are polled and read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Time between two polls of one endpoint.
    pub interval: Duration,
    /// Time one poll may take (< interval).
    pub timeout: Duration,
    /// A reading older than this is unknown (>= interval).
    pub max_age: Duration,
    /// Gauge of the current sessions.
    pub sessions: String,
    /// Gauge of the current connections.
    pub connections: String,
}

/// Default `[metrics] interval`.
pub const DEFAULT_METRICS_INTERVAL: Duration = Duration::from_secs(5);

/// Default `[metrics] timeout` (or half the interval when that is shorter).
pub const DEFAULT_METRICS_TIMEOUT: Duration = Duration::from_secs(2);

/// Default `[metrics] max_age`, in intervals: two polls may fail before
/// a reading is dropped.
pub const DEFAULT_METRICS_MAX_AGE_INTERVALS: u32 = 3;

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            interval: DEFAULT_METRICS_INTERVAL,
            timeout: DEFAULT_METRICS_TIMEOUT,
            max_age: DEFAULT_METRICS_INTERVAL * DEFAULT_METRICS_MAX_AGE_INTERVALS,
            sessions: "sessions".into(),
            connections: "connections".into(),
        }
    }
}

/// `[metrics]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawMetricsPolling {
    pub(in crate::config) interval: Option<Dur>,
    pub(in crate::config) timeout: Option<Dur>,
    pub(in crate::config) max_age: Option<Dur>,
    pub(in crate::config) sessions: Option<Str>,
    pub(in crate::config) connections: Option<Str>,
}

/// Whether `name` can be matched as a Prometheus metric or label name:
/// `[A-Za-z_][A-Za-z0-9_]*` (the colon of recording rules is not read by
/// the text parser).
pub(super) fn prometheus_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Validator<'_> {
    /// `[metrics]`, defaults filled in.
    pub(super) fn metrics_polling(&mut self, raw: Option<&RawMetricsPolling>) -> MetricsConfig {
        let mut m = MetricsConfig::default();
        let Some(raw) = raw else {
            return m;
        };
        let mut interval_ok = true;
        if let Some(v) = &raw.interval {
            match self.duration(v, "metrics.interval") {
                Some(d) if d >= MIN_MONITOR_INTERVAL => m.interval = d,
                Some(d) => {
                    self.error(
                        &v.span(),
                        format!(
                            "metrics.interval {d:?} is shorter than the minimum \
                             {MIN_MONITOR_INTERVAL:?}"
                        ),
                    );
                    interval_ok = false;
                }
                None => interval_ok = false,
            }
        }
        m.timeout = DEFAULT_METRICS_TIMEOUT.min(m.interval / 2);
        m.max_age = m.interval * DEFAULT_METRICS_MAX_AGE_INTERVALS;
        if let Some(v) = &raw.timeout {
            match self.duration(v, "metrics.timeout") {
                Some(d) if d.is_zero() => self.error(&v.span(), "metrics.timeout must not be zero"),
                Some(d) if interval_ok && d >= m.interval => self.error(
                    &v.span(),
                    format!(
                        "metrics.timeout {d:?} is not shorter than metrics.interval {:?}",
                        m.interval
                    ),
                ),
                Some(d) => m.timeout = d,
                None => {}
            }
        }
        if let Some(v) = &raw.max_age {
            match self.duration(v, "metrics.max_age") {
                Some(d) if interval_ok && d < m.interval => self.error(
                    &v.span(),
                    format!(
                        "metrics.max_age {d:?} is shorter than metrics.interval {:?}: every \
                         reading would be unknown before the next poll",
                        m.interval
                    ),
                ),
                Some(d) => m.max_age = d,
                None => {}
            }
        }
        for (v, slot, what) in [
            (&raw.sessions, &mut m.sessions, "metrics.sessions"),
            (&raw.connections, &mut m.connections, "metrics.connections"),
        ] {
            if let Some(v) = v {
                if prometheus_name(v.get_ref()) {
                    *slot = v.get_ref().clone();
                } else {
                    self.error(
                        &v.span(),
                        format!(
                            "invalid {what} `{}`: a gauge name is [A-Za-z_][A-Za-z0-9_]*",
                            v.get_ref()
                        ),
                    );
                }
            }
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::prometheus_name;

    #[test]
    fn prometheus_names() {
        for ok in ["sessions", "_x", "http_requests_total", "A1"] {
            assert!(prometheus_name(ok), "{ok}");
        }
        for bad in ["", "1x", "a-b", "a:b", "a b", "é"] {
            assert!(!prometheus_name(bad), "{bad}");
        }
    }
}
