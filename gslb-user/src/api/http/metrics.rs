//! `/metrics`: the Prometheus exposition of a snapshot taken per scrape
//! (the engine's status and the XDP counters). Names follow the
//! Prometheus conventions: a `gslb_` prefix, base units in the name
//! (`_seconds`), `_total` on counters; states as state sets (one series
//! per state, 1 for the current one). The list with their meaning is in
//! docs/operations.md, "Prometheus metrics".
//!
//! Served as the Prometheus text format 0.0.4, or as OpenMetrics text
//! when the scraper asks for it (`Accept: application/openmetrics-text`).

use std::{path::Path, time::SystemTime};

use aya::maps::{Map, MapData, PerCpuArray};
use gslb_common::Counter;
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{counter::ConstCounter, gauge::ConstGauge, MetricType},
    registry::{Registry, Unit},
};

use crate::{
    api::protocol::{AdminState, Availability, Health, StatusReport},
    fastpath::MapsError,
};

/// What one scrape reports.
#[derive(Debug)]
pub struct Snapshot {
    /// The engine's status.
    pub status: StatusReport,
    /// The XDP counters summed over CPUs (`None` without XDP).
    pub xdp: Option<Vec<(Counter, u64)>>,
    /// When the daemon started.
    pub started: SystemTime,
}

/// The XDP program's `COUNTERS` map, opened from its pin once at start
/// (while the daemon still has every capability it started with).
pub struct XdpCounters(PerCpuArray<MapData, u64>);

impl XdpCounters {
    /// Opens the `COUNTERS` map pinned in `pin_dir`.
    pub fn open(pin_dir: &Path) -> Result<XdpCounters, MapsError> {
        let path = pin_dir.join(gslb_common::maps::COUNTERS);
        let data =
            MapData::from_pin(&path).map_err(|error| MapsError::NotPinned { path, error })?;
        Ok(XdpCounters(Map::PerCpuArray(data).try_into()?))
    }

    /// Every counter summed over CPUs; `None` when the map cannot be read.
    pub fn read(&self) -> Option<Vec<(Counter, u64)>> {
        crate::fastpath::stats::read(&self.0).ok()
    }
}

/// Prefix of the pass reasons' counter names (`xdp_passed_not_ip`), which
/// become one family with a `reason` label.
const PASSED: &str = "xdp_passed_";

/// The Prometheus name (without `_total`) and `reason` label of an XDP
/// counter: `gslb_xdp_passed` with the reason for the pass reasons,
/// `gslb_<name>` for the others.
pub fn xdp_family(c: Counter) -> (String, Option<&'static str>) {
    match c.name().strip_prefix(PASSED) {
        Some(reason) => ("gslb_xdp_passed".into(), Some(reason)),
        None => (format!("gslb_{}", c.name()), None),
    }
}

/// Labels of one series.
type Labels = Vec<(&'static str, String)>;

/// One family being written: its series are added with [`Family::add`].
struct Family<'a> {
    encoder: prometheus_client::encoding::MetricEncoder<'a>,
    kind: MetricType,
}

impl Family<'_> {
    fn add(&mut self, labels: &Labels, value: f64) -> Result<(), std::fmt::Error> {
        let enc = self.encoder.encode_family(labels)?;
        match self.kind {
            MetricType::Counter => ConstCounter::new(value).encode(enc),
            _ => ConstGauge::new(value).encode(enc),
        }
    }
}

/// Starts a family.
fn family<'a>(
    encoder: &'a mut DescriptorEncoder,
    name: &'a str,
    help: &str,
    unit: Option<&'a Unit>,
    kind: MetricType,
) -> Result<Family<'a>, std::fmt::Error> {
    Ok(Family {
        encoder: encoder.encode_descriptor(name, help, unit, kind)?,
        kind,
    })
}

/// A family of `kind` with one series per `(labels, value)`; skipped
/// when there is none (Prometheus reads an empty family as nothing
/// anyway, and a scraper's eye reads less).
fn write(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    kind: MetricType,
    series: &[(Labels, f64)],
) -> Result<(), std::fmt::Error> {
    if series.is_empty() {
        return Ok(());
    }
    let mut f = family(encoder, name, help, unit, kind)?;
    for (labels, v) in series {
        f.add(labels, *v)?;
    }
    Ok(())
}

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

#[allow(
    clippy::cast_precision_loss,
    reason = "counts above 2^53 lose their last digits in the exposition, as in any float sample"
)]
fn float(n: u64) -> f64 {
    n as f64
}

impl Snapshot {
    fn encode_xdp(&self, enc: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(counters) = &self.xdp else {
            return Ok(());
        };
        let passed: Vec<(Labels, f64)> = counters
            .iter()
            .filter_map(|&(c, v)| {
                let (_, reason) = xdp_family(c);
                Some((vec![("reason", reason?.to_string())], float(v)))
            })
            .collect();
        for &(c, v) in counters {
            let (name, reason) = xdp_family(c);
            if reason.is_none() {
                let help = format!("XDP fast path: {} (gslb stats: {})", help_of(c), c.name());
                write(
                    enc,
                    &name,
                    &help,
                    None,
                    MetricType::Counter,
                    &[(Vec::new(), float(v))],
                )?;
            }
        }
        write(
            enc,
            "gslb_xdp_passed",
            "XDP fast path: packets passed to the kernel (the slow path), by reason (gslb \
             stats: xdp_passed_<reason>)",
            None,
            MetricType::Counter,
            &passed,
        )
    }

    fn encode_servers(&self, enc: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let servers = &self.status.servers;
        let id = |s: &crate::api::protocol::ServerStatus| -> Labels {
            vec![
                ("server", s.name.clone()),
                ("datacenter", s.datacenter.clone()),
            ]
        };
        let answers: Vec<_> = servers
            .iter()
            .map(|s| (id(s), float(s.handed_out)))
            .collect();
        write(
            enc,
            "gslb_server_answers",
            "Answers that handed the server out first, both paths, since start",
            None,
            MetricType::Counter,
            &answers,
        )?;
        let up: Vec<_> = servers
            .iter()
            .map(|s| (id(s), flag(s.health == Health::Up)))
            .collect();
        write(
            enc,
            "gslb_server_up",
            "Health: 1 when every monitor of the server says up",
            None,
            MetricType::Gauge,
            &up,
        )?;
        let mut admin = Vec::new();
        let mut availability = Vec::new();
        for s in servers {
            for &(state, name) in AdminState::ALL {
                let mut l = vec![("server", s.name.clone())];
                l.push(("state", name.to_string()));
                admin.push((l, flag(s.admin == state)));
            }
            for &(a, name) in Availability::ALL {
                let mut l = vec![("server", s.name.clone())];
                l.push(("availability", name.to_string()));
                availability.push((l, flag(s.availability == a)));
            }
        }
        write(
            enc,
            "gslb_server_admin_state",
            "Admin state (state set: 1 for the current state)",
            None,
            MetricType::Gauge,
            &admin,
        )?;
        write(
            enc,
            "gslb_server_availability",
            "Whether the server takes new clients, and why not (state set)",
            None,
            MetricType::Gauge,
            &availability,
        )?;
        let load = |f: fn(&crate::api::protocol::ServerStatus) -> Option<u64>| -> Vec<_> {
            servers
                .iter()
                .filter_map(|s| Some((vec![("server", s.name.clone())], float(f(s)?))))
                .collect()
        };
        write(
            enc,
            "gslb_server_sessions",
            "Sessions (load metric, static or from the server's metrics_url)",
            None,
            MetricType::Gauge,
            &load(|s| s.sessions),
        )?;
        write(
            enc,
            "gslb_server_connections",
            "Connections (load metric, static or from the server's metrics_url)",
            None,
            MetricType::Gauge,
            &load(|s| s.connections),
        )?;
        let age: Vec<_> = servers
            .iter()
            .filter_map(|s| Some((vec![("server", s.name.clone())], s.metrics_age_s.flatten()?)))
            .collect();
        write(
            enc,
            "gslb_server_metrics_age",
            "Age of the last good reading of the server's metrics_url",
            Some(&Unit::Seconds),
            MetricType::Gauge,
            &age,
        )?;
        let mut mon_up = Vec::new();
        let mut latency = Vec::new();
        let mut last_ok = Vec::new();
        let mut last_at = Vec::new();
        for s in servers {
            for m in &s.monitors {
                let l: Labels = vec![("server", s.name.clone()), ("monitor", m.monitor.clone())];
                mon_up.push((l.clone(), flag(m.up)));
                if let Some(ms) = m.last_latency_ms {
                    latency.push((l.clone(), ms / 1000.0));
                }
                if let Some(ok) = m.last_ok {
                    last_ok.push((l.clone(), flag(ok)));
                }
                if let Some(at) = m.last_at {
                    last_at.push((l, at));
                }
            }
        }
        write(
            enc,
            "gslb_monitor_up",
            "The monitor's verdict on the server after rise/fall: 1 up, 0 down",
            None,
            MetricType::Gauge,
            &mon_up,
        )?;
        write(
            enc,
            "gslb_monitor_probe_latency",
            "How long the last probe of the server by the monitor took",
            Some(&Unit::Seconds),
            MetricType::Gauge,
            &latency,
        )?;
        write(
            enc,
            "gslb_monitor_probe_success",
            "Whether the last probe succeeded: 1 yes, 0 no",
            None,
            MetricType::Gauge,
            &last_ok,
        )?;
        write(
            enc,
            "gslb_monitor_last_probe_timestamp",
            "When the last probe ended, seconds since the epoch",
            Some(&Unit::Seconds),
            MetricType::Gauge,
            &last_at,
        )
    }

    fn encode_pools(&self, enc: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let pools = &self.status.pools;
        let members: Vec<_> = pools
            .iter()
            .flat_map(|p| {
                p.members.iter().map(|m| {
                    let l: Labels = vec![("pool", p.name.clone()), ("server", m.clone())];
                    (l, 1.0)
                })
            })
            .collect();
        write(
            enc,
            "gslb_pool_member",
            "1 for each (pool, server) membership: join on `server` to sum per pool",
            None,
            MetricType::Gauge,
            &members,
        )?;
        let available: Vec<_> = pools
            .iter()
            .map(|p| {
                (
                    vec![("pool", p.name.clone())],
                    float(p.available_members as u64),
                )
            })
            .collect();
        write(
            enc,
            "gslb_pool_available_members",
            "Members available for new clients",
            None,
            MetricType::Gauge,
            &available,
        )
    }

    fn encode_names(&self, enc: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let answers: Vec<_> = self
            .status
            .names
            .iter()
            .map(|n| (vec![("name", n.name.clone())], float(n.answers)))
            .collect();
        write(
            enc,
            "gslb_name_answers",
            "Responses with addresses for the gslb name, both paths, since start",
            None,
            MetricType::Counter,
            &answers,
        )?;
        // The slow path's share, from its own per-name counters (the
        // names of the status are those with a counter id already).
        let counts = crate::state::counts::names();
        let slow: Vec<_> = self
            .status
            .names
            .iter()
            .filter_map(|n| {
                let id = counts.id_of(&n.name)?;
                Some((vec![("name", n.name.clone())], float(counts.slow(id))))
            })
            .collect();
        write(
            enc,
            "gslb_name_slow_path_answers",
            "Of gslb_name_answers_total: those the slow path gave (TCP, queries XDP passed, \
             --no-xdp)",
            None,
            MetricType::Counter,
            &slow,
        )
    }

    fn encode_reloads(&self, enc: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let r = &self.status.reload;
        write(
            enc,
            "gslb_reloads",
            "Config reloads since start, by result: ok (applied) or failed (refused, the old \
             config kept serving)",
            None,
            MetricType::Counter,
            &[
                (vec![("result", "ok".to_string())], float(r.ok)),
                (vec![("result", "failed".to_string())], float(r.failed)),
            ],
        )?;
        if let Some(ok) = r.last_ok {
            write(
                enc,
                "gslb_last_reload_success",
                "Whether the last reload was applied: 1 yes, 0 refused",
                None,
                MetricType::Gauge,
                &[(Vec::new(), flag(ok))],
            )?;
        }
        if let Some(at) = r.last_at_unix {
            write(
                enc,
                "gslb_last_reload_timestamp",
                "When the last reload ended, seconds since the epoch",
                Some(&Unit::Seconds),
                MetricType::Gauge,
                &[(Vec::new(), float(at))],
            )?;
        }
        Ok(())
    }

    fn encode_process(&self, enc: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &self.status.start;
        let started = if s.at_unix > 0 {
            float(s.at_unix)
        } else {
            self.started
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64())
        };
        write(
            enc,
            "gslb_start_info",
            "How this daemon started (always 1): whether it adopted a pinned fast path, \
             replaced its program, restored saved admin and health state, kept the \
             persistence records",
            None,
            MetricType::Gauge,
            &[(
                vec![
                    ("adopted", s.adopted.to_string()),
                    ("program_replaced", s.program_replaced.to_string()),
                    ("state_restored", s.state_restored.to_string()),
                    ("persistence_kept", s.persistence_kept.to_string()),
                ],
                1.0,
            )],
        )?;
        write(
            enc,
            "gslb_start_time",
            "When the daemon started, seconds since the epoch",
            Some(&Unit::Seconds),
            MetricType::Gauge,
            &[(Vec::new(), started)],
        )?;
        write(
            enc,
            "gslb_build_info",
            "The daemon's version (always 1)",
            None,
            MetricType::Gauge,
            &[(
                vec![("version", env!("CARGO_PKG_VERSION").to_string())],
                1.0,
            )],
        )
    }
}

/// The help text of an XDP counter that is not a pass reason.
fn help_of(c: Counter) -> &'static str {
    match c {
        Counter::Packets => "every packet the program saw",
        Counter::DnsQueries => "UDP datagrams to the DNS port",
        Counter::Answered => "queries answered in XDP",
        Counter::Dropped => "queries dropped by the drop_packet method",
        Counter::AnsweredNxdomain => "of the answered: NXDOMAIN",
        Counter::AnsweredNodata => "of the answered: NODATA",
        Counter::AnsweredStatic => "of the answered: static zone data",
        Counter::AnsweredEcs => "of the answered: with an EDNS Client Subnet echo",
        Counter::PersistHit => "of the answered: from a live persistence record",
        Counter::PersistNew => "of the answered: a new persistence record",
        _ => "a pass reason",
    }
}

impl Collector for Snapshot {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        self.encode_xdp(&mut enc)?;
        self.encode_servers(&mut enc)?;
        self.encode_pools(&mut enc)?;
        self.encode_names(&mut enc)?;
        self.encode_reloads(&mut enc)?;
        self.encode_process(&mut enc)
    }
}

/// The content types of the two formats.
pub const PROMETHEUS_TEXT: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
/// OpenMetrics text 1.0.0.
pub const OPENMETRICS_TEXT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `snapshot` in the Prometheus text format, or OpenMetrics text.
pub fn render(snapshot: Snapshot, openmetrics: bool) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(snapshot));
    let mut out = String::new();
    let r = if openmetrics {
        prometheus_client::encoding::text::encode(&mut out, &registry)
    } else {
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
    };
    // Writing to a String does not fail; an encoder error is a bug.
    r.expect("encoding metrics into a String");
    out
}

/// Whether an `Accept` header asks for OpenMetrics.
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.contains("application/openmetrics-text"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::protocol::{
        MonitorStatus, NameStatus, PoolStatus, ReloadStatus, ServerStatus, StartStatus,
    };

    fn snapshot() -> Snapshot {
        let server = |name: &str, health, admin, availability| ServerStatus {
            name: name.into(),
            address: "198.18.0.1".parse().unwrap(),
            datacenter: "dc-1".into(),
            admin,
            health,
            availability,
            monitors: vec![MonitorStatus {
                monitor: "web".into(),
                up: health == Health::Up,
                last_ok: Some(health == Health::Up),
                last_message: None,
                last_latency_ms: Some(2.5),
                last_at: Some(1_700_000_000.5),
            }],
            sessions: Some(7),
            connections: None,
            metrics_age_s: None,
            metrics_error: None,
            handed_out: 42,
            handed_out_window: 1,
        };
        Snapshot {
            status: StatusReport {
                servers: vec![
                    server(
                        "s1",
                        Health::Up,
                        AdminState::Enabled,
                        Availability::Available,
                    ),
                    server(
                        "s2",
                        Health::Down,
                        AdminState::Draining,
                        Availability::Draining,
                    ),
                ],
                pools: vec![PoolStatus {
                    name: "p".into(),
                    members: vec!["s1".into(), "s2".into()],
                    methods: Vec::new(),
                    available_members: 1,
                    available: true,
                }],
                names: vec![NameStatus {
                    name: "www.example.test.".into(),
                    pools: vec!["p".into()],
                    pool_method: crate::config::PoolMethod::RoundRobin,
                    a_pool: Some("p".into()),
                    a: String::new(),
                    aaaa_pool: None,
                    aaaa: String::new(),
                    answers: 9,
                }],
                reload: ReloadStatus {
                    ok: 3,
                    failed: 1,
                    last_at_unix: Some(2000),
                    last_ok: Some(false),
                    last_error: Some("t.toml:1:1: bad".into()),
                    config: None,
                },
                start: StartStatus {
                    adopted: true,
                    at_unix: 0,
                    ..StartStatus::default()
                },
            },
            xdp: Some(Counter::ALL.iter().map(|&c| (c, c as u64 * 10)).collect()),
            started: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1000),
        }
    }

    /// A sample: name, sorted labels, value.
    type Sample = (String, Vec<(String, String)>, f64);

    /// Every sample of the exposition, by name and sorted labels, as the
    /// Prometheus text parser reads it.
    fn samples(text: &str) -> Vec<Sample> {
        let lines = text.lines().map(|l| Ok(l.to_string()));
        let scrape = prometheus_parse::Scrape::parse(lines).expect("parses");
        scrape
            .samples
            .into_iter()
            .map(|s| {
                let v = match s.value {
                    prometheus_parse::Value::Counter(v)
                    | prometheus_parse::Value::Gauge(v)
                    | prometheus_parse::Value::Untyped(v) => v,
                    other => panic!("{other:?}"),
                };
                let mut labels: Vec<_> = s
                    .labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                labels.sort();
                (s.metric, labels, v)
            })
            .collect()
    }

    fn get(all: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
        let mut want: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        want.sort();
        all.iter()
            .find(|(n, l, _)| n == name && *l == want)
            .unwrap_or_else(|| panic!("no {name} {labels:?}"))
            .2
    }

    /// The names, labels and values a scraper reads back.
    #[test]
    fn exposition_reads_back() {
        let text = render(snapshot(), false);
        let s = samples(&text);
        for &c in &Counter::ALL {
            let (name, reason) = xdp_family(c);
            let labels: Vec<(&str, &str)> = reason.map(|r| ("reason", r)).into_iter().collect();
            assert_eq!(
                get(&s, &format!("{name}_total"), &labels),
                (c as u64 * 10) as f64,
                "{}",
                c.name()
            );
        }
        let s1 = [("server", "s1"), ("datacenter", "dc-1")];
        assert_eq!(get(&s, "gslb_server_answers_total", &s1), 42.0);
        assert_eq!(get(&s, "gslb_server_up", &s1), 1.0);
        assert_eq!(
            get(
                &s,
                "gslb_server_up",
                &[("server", "s2"), ("datacenter", "dc-1")]
            ),
            0.0
        );
        let st = |server, state| [("server", server), ("state", state)];
        assert_eq!(
            get(&s, "gslb_server_admin_state", &st("s2", "draining")),
            1.0
        );
        assert_eq!(
            get(&s, "gslb_server_admin_state", &st("s2", "enabled")),
            0.0
        );
        assert_eq!(
            get(
                &s,
                "gslb_server_availability",
                &[("server", "s2"), ("availability", "draining")]
            ),
            1.0
        );
        let m = [("server", "s1"), ("monitor", "web")];
        assert_eq!(get(&s, "gslb_monitor_probe_latency_seconds", &m), 0.0025);
        assert_eq!(get(&s, "gslb_monitor_up", &m), 1.0);
        assert_eq!(get(&s, "gslb_server_sessions", &[("server", "s1")]), 7.0);
        assert!(!s.iter().any(|(n, _, _)| n == "gslb_server_connections"));
        assert_eq!(
            get(&s, "gslb_pool_member", &[("pool", "p"), ("server", "s2")]),
            1.0
        );
        assert_eq!(
            get(&s, "gslb_pool_available_members", &[("pool", "p")]),
            1.0
        );
        assert_eq!(get(&s, "gslb_start_time_seconds", &[]), 1000.0);
        assert_eq!(
            get(
                &s,
                "gslb_name_answers_total",
                &[("name", "www.example.test.")]
            ),
            9.0
        );
        assert_eq!(get(&s, "gslb_reloads_total", &[("result", "ok")]), 3.0);
        assert_eq!(get(&s, "gslb_reloads_total", &[("result", "failed")]), 1.0);
        assert_eq!(get(&s, "gslb_last_reload_success", &[]), 0.0);
        assert_eq!(get(&s, "gslb_last_reload_timestamp_seconds", &[]), 2000.0);
        let start = [
            ("adopted", "true"),
            ("program_replaced", "false"),
            ("state_restored", "false"),
            ("persistence_kept", "false"),
        ];
        assert_eq!(get(&s, "gslb_start_info", &start), 1.0);
        assert!(
            text.contains("# TYPE gslb_xdp_answered_total counter"),
            "{text}"
        );
    }

    /// OpenMetrics when asked: its counter families and the EOF marker.
    #[test]
    fn openmetrics_on_request() {
        assert!(wants_openmetrics(Some(
            "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
        )));
        assert!(!wants_openmetrics(Some("text/plain")));
        assert!(!wants_openmetrics(None));
        let text = render(snapshot(), true);
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(text.contains("# TYPE gslb_xdp_answered counter"), "{text}");
        assert!(
            text.contains("# UNIT gslb_monitor_probe_latency_seconds seconds"),
            "{text}"
        );
    }

    /// Without XDP, no XDP family at all.
    #[test]
    fn no_xdp_no_counters() {
        let mut snap = snapshot();
        snap.xdp = None;
        let text = render(snap, false);
        assert!(!text.contains("gslb_xdp_"), "{text}");
    }
}
