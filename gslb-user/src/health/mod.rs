//! Health monitors: one task per (server, monitor)
//! probes the server's check address every `interval ± jitter`, each probe
//! bounded by `timeout`, and feeds the result through a rise/fall
//! [`Hysteresis`]. Every completed probe is reported as a [`HealthEvent`]
//! carrying its latency (seed 000 claim 36: the time needed to give a health
//! indication) and whether it flipped the monitor's state.
//!
//! Monitor kinds, one module each: [`tcp`] (connect), [`http`] (HTTP and
//! HTTPS: method, path, Host header, expected status and body substring;
//! certificates are not verified), [`dns`] (UDP query, expected rcode and
//! answer), [`icmp`] (echo, over an unprivileged ping socket or a raw
//! socket) and [`external`] (a command, exit status 0 is up).
//!
//! A server with several monitors is up when all of them are up; combining
//! them is the caller's business (each event names its monitor).

use std::{
    collections::hash_map::RandomState,
    hash::{BuildHasher, Hasher},
    net::IpAddr,
    time::{Duration, Instant, SystemTime},
};

use tokio::{sync::mpsc::UnboundedSender, task::JoinHandle};

use crate::{
    config::{MonitorConfig, MonitorKind, VirtualServerConfig},
    state::ids::ServerId,
};

pub mod dns;
pub mod external;
pub mod http;
mod hysteresis;
pub mod icmp;
pub mod tcp;
#[cfg(test)]
mod tests;

pub use hysteresis::Hysteresis;

/// One probe target: a server and one of its monitors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The server.
    pub server: ServerId,
    /// Probed address: the server's `check_address`, or its `address`.
    pub address: IpAddr,
    /// The monitor.
    pub monitor: MonitorConfig,
}

/// Result of one probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// The server passed the check.
    pub ok: bool,
    /// Time from the start of the probe to its verdict (at most about the
    /// monitor's timeout).
    pub latency: Duration,
    /// What happened, for people: "HTTP 200", "connect refused", "timeout
    /// after 500ms", ...
    pub message: String,
    /// When the probe completed.
    pub at: SystemTime,
}

/// Sent when a probe completes (every probe, so that latency can be
/// tracked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthEvent {
    /// The server.
    pub server: ServerId,
    /// Monitor name.
    pub monitor: String,
    /// The probe.
    pub probe: Probe,
    /// State of this (server, monitor) after the probe.
    pub up: bool,
    /// This probe flipped the rise/fall state (to `up`).
    pub changed: bool,
}

/// The running probe tasks; dropping it stops them all.
#[derive(Debug, Default)]
pub struct Monitors {
    tasks: Vec<JoinHandle<()>>,
}

impl Monitors {
    /// Number of probe tasks.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// No probe tasks at all.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

impl Drop for Monitors {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The probe targets of a configuration: one per (server, monitor), in
/// server order, then in the order of the server's `monitors`. Monitor names
/// that do not resolve are skipped (validation rejects them). `ids` holds
/// the id of each server, in the same order.
pub fn targets(
    servers: &[VirtualServerConfig],
    ids: &[ServerId],
    monitors: &[MonitorConfig],
) -> Vec<Target> {
    let mut out = Vec::new();
    for (server, &id) in servers.iter().zip(ids) {
        for name in &server.monitors {
            if let Some(monitor) = monitors.iter().find(|m| &m.name == name) {
                out.push(Target {
                    server: id,
                    address: server.check_address.unwrap_or(server.address),
                    monitor: monitor.clone(),
                });
            }
        }
    }
    out
}

/// Starts one task per target (must be called inside a tokio runtime).
/// Each target's state starts at `initial_up(target.server)`. Every
/// completed probe is sent to `tx`; a task stops when `tx`'s receiver is
/// gone or when the returned [`Monitors`] is dropped.
pub fn spawn(
    targets: Vec<Target>,
    initial_up: impl Fn(ServerId) -> bool,
    tx: UnboundedSender<HealthEvent>,
) -> Monitors {
    spawn_with(targets, |server, _| initial_up(server), tx)
}

/// [`spawn`], each (server, monitor name) starting from its own state
/// (a restarted daemon's saved health).
pub fn spawn_with(
    targets: Vec<Target>,
    initial_up: impl Fn(ServerId, &str) -> bool,
    tx: UnboundedSender<HealthEvent>,
) -> Monitors {
    let seed = RandomState::new().build_hasher().finish();
    let tasks = targets
        .into_iter()
        .enumerate()
        .map(|(i, target)| {
            let hysteresis = Hysteresis::new(
                initial_up(target.server, &target.monitor.name),
                target.monitor.rise,
                target.monitor.fall,
            );
            let rng = Rng::new(seed.wrapping_add(i as u64));
            tokio::spawn(run(target, hysteresis, rng, tx.clone()))
        })
        .collect();
    Monitors { tasks }
}

/// Runs one probe of `monitor` against `address` (bounded by the monitor's
/// timeout): for `gslb` commands and tests. The periodic tasks use a
/// [`Prober`], which keeps per-target state between probes.
pub async fn probe_once(address: IpAddr, monitor: &MonitorConfig) -> Probe {
    Prober::new(address, monitor.clone()).probe().await
}

/// The loop of one target.
async fn run(
    target: Target,
    mut hysteresis: Hysteresis,
    mut rng: Rng,
    tx: UnboundedSender<HealthEvent>,
) {
    let interval = target.monitor.interval.max(Duration::from_millis(1));
    let jitter = f64::from(target.monitor.jitter_permille.min(1000)) / 1000.0;
    let server = target.server;
    let name = target.monitor.name.clone();
    let mut prober = Prober::new(target.address, target.monitor);

    // First probe right away, spread over the jitter window.
    tokio::time::sleep(interval.mul_f64(jitter * rng.unit())).await;
    loop {
        let start = tokio::time::Instant::now();
        let probe = prober.probe().await;
        let (up, changed) = hysteresis.record(probe.ok);
        tracing::debug!(
            %server,
            monitor = %name,
            address = %prober.address,
            ok = probe.ok,
            latency_us = probe.latency.as_micros() as u64,
            message = %probe.message,
            up,
            changed,
            "health probe"
        );
        let event = HealthEvent {
            server,
            monitor: name.clone(),
            probe,
            up,
            changed,
        };
        if tx.send(event).is_err() {
            return;
        }
        // interval · (1 ± jitter), uniformly.
        let factor = 1.0 + jitter * (2.0 * rng.unit() - 1.0);
        tokio::time::sleep_until(start + interval.mul_f64(factor)).await;
    }
}

/// What a monitor-kind check returns: `Ok(message)` when the server passed,
/// `Err(message)` when it failed.
pub(crate) type Outcome = Result<String, String>;

/// Probes one target, keeping what can be reused between probes (the HTTP
/// client, the ICMP sequence number).
#[derive(Debug)]
pub struct Prober {
    address: IpAddr,
    monitor: MonitorConfig,
    http: Option<Result<http::Http, String>>,
    icmp_seq: u16,
}

impl Prober {
    /// A prober of `monitor` against `address`.
    pub fn new(address: IpAddr, monitor: MonitorConfig) -> Self {
        let http = match &monitor.kind {
            MonitorKind::Http { .. } => Some(http::Http::new(address, &monitor)),
            _ => None,
        };
        Prober {
            address,
            monitor,
            http,
            icmp_seq: 0,
        }
    }

    /// Runs one probe, bounded by the monitor's timeout.
    pub async fn probe(&mut self) -> Probe {
        let timeout = self.monitor.timeout;
        let start = Instant::now();
        let outcome = match tokio::time::timeout(timeout, self.check()).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("timeout after {}", fmt_duration(timeout))),
        };
        let latency = start.elapsed();
        let (ok, message) = match outcome {
            Ok(message) => (true, message),
            Err(message) => (false, message),
        };
        Probe {
            ok,
            latency,
            message,
            at: SystemTime::now(),
        }
    }

    /// The kind-specific check, unbounded (the caller applies the timeout;
    /// dropping the future cancels it, kills an external command).
    async fn check(&mut self) -> Outcome {
        let address = self.address;
        match &self.monitor.kind {
            MonitorKind::Tcp { port } => tcp::check(address, *port).await,
            MonitorKind::Http { .. } => match &self.http {
                Some(Ok(http)) => http.check().await,
                Some(Err(e)) => Err(e.clone()),
                None => Err("no HTTP client".to_string()),
            },
            MonitorKind::Dns {
                port,
                query,
                query_type,
                expect_rcode,
                expect_answer,
            } => {
                dns::check(
                    address,
                    *port,
                    query,
                    *query_type,
                    *expect_rcode,
                    expect_answer.as_deref(),
                )
                .await
            }
            MonitorKind::Icmp => {
                self.icmp_seq = self.icmp_seq.wrapping_add(1);
                icmp::check(address, self.icmp_seq).await
            }
            MonitorKind::External { command } => {
                external::check(command, address, monitor_port(&self.monitor.kind)).await
            }
        }
    }
}

/// The port `{port}` of an external command stands for: that of the
/// monitor kind when it has one, else 0.
pub fn monitor_port(kind: &MonitorKind) -> u16 {
    match kind {
        MonitorKind::Tcp { port }
        | MonitorKind::Http { port, .. }
        | MonitorKind::Dns { port, .. } => *port,
        MonitorKind::Icmp | MonitorKind::External { .. } => 0,
    }
}

/// "500ms", "2s", "1.5s" (Duration's Debug form is just that).
pub(crate) fn fmt_duration(d: Duration) -> String {
    format!("{d:?}")
}

/// A short description of an I/O error ("connect refused", ...).
pub(crate) fn io_message(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => "connect refused".to_string(),
        ConnectionReset => "connection reset".to_string(),
        ConnectionAborted => "connection aborted".to_string(),
        TimedOut => "timed out".to_string(),
        HostUnreachable => "host unreachable".to_string(),
        NetworkUnreachable => "network unreachable".to_string(),
        UnexpectedEof => "connection closed".to_string(),
        _ => e.to_string(),
    }
}

/// A small xorshift64* generator for the jitter (no need for anything
/// better).
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    /// Seeded through splitmix64, so that close seeds give unrelated
    /// streams.
    fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A random 64-bit value (query ids, ICMP identifiers, payload tokens).
pub(crate) fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}
