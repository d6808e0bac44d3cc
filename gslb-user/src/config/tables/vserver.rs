//! `[[vserver]]`: the virtual servers whose addresses pools answer, with
//! their limits, monitors, state and load metrics. (`[server]` is the
//! listener table and a TOML key cannot be both a table and an array of
//! tables, hence `vserver`.)
//!
//! ```toml
//! [[vserver]]
//! name = "ams-web1"
//! address = "198.18.10.1"      # v4 → A answers, v6 → AAAA answers
//! datacenter = "ams"
//! ratio = 3                    # weight, 1..=65535 (default 1)
//! max_sessions = 1000          # optional: above it the server is unavailable
//! max_connections = 5000       # optional
//! monitors = ["web"]           # all must be up for the server to be up (default none)
//! check_address = "198.18.10.101"  # optional: probe here instead
//! state = "enabled"            # enabled | disabled | draining (default enabled)
//! initial = "up"               # optional override of [health] initial
//! metrics = { sessions = 10, connections = 20 }   # static metrics, or (exclusive)
//! metrics_url = "http://198.18.10.1:9100/metrics" # Prometheus text, http:// only
//! metrics_labels = { instance = "web1" }          # optional, with metrics_url: only
//!                                                 # series with these labels count
//! ```

use std::{collections::BTreeMap, net::IpAddr};

use serde::Deserialize;
use toml::Spanned;

use super::{
    datacenter::DatacenterConfig, health::HealthConfig, metrics::prometheus_name,
    monitor::MonitorConfig,
};
use crate::config::{
    checks::{Declared, Validator},
    raw::{Int, Str, StrList},
};

/// Most `[[vserver]]` entries: server ids index the XDP program's
/// `SERVER_HITS` counters.
pub const MAX_VSERVERS: usize = gslb_common::maps::MAX_SERVERS as usize;

/// Administrative state of a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AdminState {
    /// Takes new clients.
    #[default]
    Enabled,
    /// Never answered.
    Disabled,
    /// Keeps its persistent clients, gets no new ones.
    Draining,
}

names!(AdminState {
    Enabled = "enabled",
    Disabled = "disabled",
    Draining = "draining",
});

/// Where a server's load metrics come from (until agents exist).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum MetricsSource {
    /// None: its metrics are unknown (the load-based methods pass it over,
    /// the capacity limits do not apply).
    #[default]
    None,
    /// Fixed values from the config.
    Static {
        /// Current sessions.
        sessions: u64,
        /// Current connections.
        connections: u64,
    },
    /// A Prometheus text endpoint, polled as `[metrics]` says.
    Url {
        /// `http://HOST[:PORT][/PATH]`.
        url: String,
        /// Only series with all these labels count (`metrics_labels`).
        labels: BTreeMap<String, String>,
    },
}

/// One `[[vserver]]` (virtual server).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualServerConfig {
    /// Unique name.
    pub name: String,
    /// Answered address.
    pub address: IpAddr,
    /// Datacenter name (validated to exist).
    pub datacenter: String,
    /// Weight for ratio methods, ≥ 1.
    pub ratio: u16,
    /// Sessions above which the server is unavailable (seed 000 claim 35).
    pub max_sessions: Option<u64>,
    /// Connections above which the server is unavailable.
    pub max_connections: Option<u64>,
    /// Monitor names (validated to exist); none = always up.
    pub monitors: Vec<String>,
    /// Probe address when it differs from `address`.
    pub check_address: Option<IpAddr>,
    /// Administrative state at start.
    pub admin: AdminState,
    /// Cold start health (from `initial` or `[health] initial`).
    pub initial_up: bool,
    /// Load metrics.
    pub metrics: MetricsSource,
}

/// One `[[vserver]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawVirtualServer {
    pub(in crate::config) name: Str,
    pub(in crate::config) address: Str,
    pub(in crate::config) datacenter: Str,
    pub(in crate::config) ratio: Option<Int>,
    pub(in crate::config) max_sessions: Option<Int>,
    pub(in crate::config) max_connections: Option<Int>,
    pub(in crate::config) monitors: Option<StrList>,
    pub(in crate::config) check_address: Option<Str>,
    pub(in crate::config) state: Option<Str>,
    pub(in crate::config) initial: Option<Str>,
    pub(in crate::config) metrics: Option<Spanned<RawMetrics>>,
    pub(in crate::config) metrics_url: Option<Str>,
    pub(in crate::config) metrics_labels: Option<Spanned<BTreeMap<String, Str>>>,
}

/// A vserver's static `metrics = { sessions, connections }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawMetrics {
    pub(in crate::config) sessions: Option<Int>,
    pub(in crate::config) connections: Option<Int>,
}

impl Validator<'_> {
    pub(super) fn servers(
        &mut self,
        raw: &[RawVirtualServer],
        health: &HealthConfig,
        datacenters: &Declared<DatacenterConfig>,
        monitors: &Declared<MonitorConfig>,
    ) -> Declared<VirtualServerConfig> {
        let mut decl = Declared::new();
        for (i, s) in raw.iter().enumerate() {
            if i == MAX_VSERVERS {
                self.error(
                    &s.name.span(),
                    format!(
                        "too many vservers: {} declared, at most {MAX_VSERVERS} (the size of \
                         the XDP program's per-server hand-out counters)",
                        raw.len()
                    ),
                );
            }
            let name = self.declare(&mut decl, &s.name, "vserver");
            let address = self.ip(&s.address, "address");
            let datacenter = self
                .reference(datacenters, &s.datacenter, "datacenter", "datacenter")
                .unwrap_or_default();
            let ratio = self.opt_int_in(s.ratio.as_ref(), 1..=65535, 1, "ratio") as u16;
            let max_sessions = s
                .max_sessions
                .as_ref()
                .and_then(|v| self.int_in(v, 0..=i64::MAX, "max_sessions"))
                .map(|v| v as u64);
            let max_connections = s
                .max_connections
                .as_ref()
                .and_then(|v| self.int_in(v, 0..=i64::MAX, "max_connections"))
                .map(|v| v as u64);
            let mut server_monitors: Vec<String> = Vec::new();
            for m in s.monitors.as_ref().map_or(&[][..], |l| l.get_ref()) {
                if server_monitors.contains(m.get_ref()) {
                    self.error(
                        &m.span(),
                        format!("monitor `{}` is listed twice", m.get_ref()),
                    );
                } else if let Some(m) = self.reference(monitors, m, "monitor", "monitors") {
                    server_monitors.push(m);
                }
            }
            let check_address = s
                .check_address
                .as_ref()
                .and_then(|a| self.ip(a, "check_address"));
            let admin = s
                .state
                .as_ref()
                .and_then(|v| self.choice(v, "state", AdminState::ALL))
                .unwrap_or_default();
            let initial_up = s
                .initial
                .as_ref()
                .and_then(|v| self.up_down(v))
                .unwrap_or(health.initial_up);
            let metrics = self.metrics(
                s.metrics.as_ref(),
                s.metrics_url.as_ref(),
                s.metrics_labels.as_ref(),
            );
            if let Some(name) = name {
                decl.items.push(VirtualServerConfig {
                    name,
                    // An invalid address has been reported; the placeholder
                    // is never used (the config is rejected).
                    address: address.unwrap_or(IpAddr::from([0, 0, 0, 0])),
                    datacenter,
                    ratio,
                    max_sessions,
                    max_connections,
                    monitors: server_monitors,
                    check_address,
                    admin,
                    initial_up,
                    metrics,
                });
            }
        }
        decl
    }

    fn metrics(
        &mut self,
        fixed: Option<&Spanned<RawMetrics>>,
        url: Option<&Str>,
        labels: Option<&Spanned<BTreeMap<String, Str>>>,
    ) -> MetricsSource {
        let labels = match (labels, url) {
            (Some(l), Some(_)) => self.metrics_labels(l),
            (Some(l), None) => {
                self.error(&l.span(), "`metrics_labels` needs a `metrics_url`");
                BTreeMap::new()
            }
            (None, _) => BTreeMap::new(),
        };
        match (fixed, url) {
            (Some(_), Some(url)) => {
                self.error(
                    &url.span(),
                    "`metrics` and `metrics_url` are exclusive: give static metrics or an \
                     endpoint, not both",
                );
                MetricsSource::None
            }
            (Some(m), None) => {
                let m = m.get_ref();
                let mut value = |v: Option<&Int>, what| {
                    v.and_then(|v| self.int_in(v, 0..=i64::MAX, what))
                        .unwrap_or(0) as u64
                };
                let sessions = value(m.sessions.as_ref(), "metrics.sessions");
                let connections = value(m.connections.as_ref(), "metrics.connections");
                MetricsSource::Static {
                    sessions,
                    connections,
                }
            }
            (None, Some(url)) => match metrics_url_problem(url.get_ref()) {
                None => MetricsSource::Url {
                    url: url.get_ref().clone(),
                    labels,
                },
                Some(problem) => {
                    self.error(
                        &url.span(),
                        format!("invalid metrics_url `{}`: {problem}", url.get_ref()),
                    );
                    MetricsSource::None
                }
            },
            (None, None) => MetricsSource::None,
        }
    }

    /// A vserver's `metrics_labels`: label names as Prometheus has them,
    /// any value.
    fn metrics_labels(&mut self, raw: &Spanned<BTreeMap<String, Str>>) -> BTreeMap<String, String> {
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

/// Why `url` is not an `http://HOST[:PORT][/PATH]` URL, if it is not.
fn metrics_url_problem(url: &str) -> Option<String> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Some(if url.starts_with("https://") {
            "https is not supported; use http://".to_string()
        } else {
            "must start with http://".to_string()
        });
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("contains whitespace".to_string());
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Some("credentials in the URL are not supported".to_string());
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, p)) if h.parse::<std::net::Ipv6Addr>().is_ok() => match p {
                "" => (h, None),
                _ => match p.strip_prefix(':') {
                    Some(port) => (h, Some(port)),
                    None => return Some("invalid host".to_string()),
                },
            },
            _ => return Some("invalid IPv6 host (write it as [ADDR])".to_string()),
        }
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Some("no host".to_string());
    }
    if let Some(port) = port {
        if !matches!(port.parse::<u16>(), Ok(p) if p > 0) {
            return Some(format!("invalid port `{port}`"));
        }
    }
    None
}
