//! Checks of the `[metrics]` table (how `metrics_url` endpoints are
//! polled) and of a vserver's `metrics_labels`.

use std::collections::BTreeMap;

use toml::Spanned;

use super::{
    balancing::MIN_MONITOR_INTERVAL,
    raw::{RawMetricsPolling, Str},
    validate::Validator,
    MetricsConfig, DEFAULT_METRICS_MAX_AGE_INTERVALS, DEFAULT_METRICS_TIMEOUT,
};

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

    /// A vserver's `metrics_labels`: label names as Prometheus has them,
    /// any value.
    pub(super) fn metrics_labels(
        &mut self,
        raw: &Spanned<BTreeMap<String, Str>>,
    ) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::new();
        for (k, v) in raw.get_ref() {
            if !prometheus_name(k) {
                self.error(
                    &raw.span(),
                    format!("invalid label name `{k}` in metrics_labels: [A-Za-z_][A-Za-z0-9_]*"),
                );
            } else if v.get_ref().contains([',', '=', '"', '\\', '}']) {
                // The text parser splits label pairs on these.
                self.error(
                    &v.span(),
                    format!(
                        "metrics_labels.{k} `{}`: a value with , = \" \\ or }} cannot be matched",
                        v.get_ref()
                    ),
                );
            } else {
                labels.insert(k.clone(), v.get_ref().clone());
            }
        }
        labels
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
