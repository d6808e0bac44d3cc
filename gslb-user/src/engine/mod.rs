//! The GSLB engine: keeps every server's health, load metrics, admin
//! state and hand-out count, recomputes the decisions of the gslb names
//! whenever one of them changes, and publishes them to the slow path (a
//! new [`State`]) and to the XDP maps (only the entries that changed).
//!
//! A health flip is applied as soon as the deciding probe's event arrives
//! (no batching), so it reaches the maps within milliseconds. A one-second
//! tick refreshes the hand-out counters and load metrics for the methods
//! that use them.

pub mod decide;
pub mod hits;
pub mod metrics;

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use arc_swap::ArcSwap;
use aya::maps::{MapData, PerCpuArray};
use hickory_proto::rr::{LowerName, Name};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use self::{
    decide::{Availability, Explanation, Family, Round, ServerView},
    hits::HitWindow,
};
use crate::{
    config::{AdminState, Config},
    fastpath::maps::Maps,
    health::HealthEvent,
    state::decision::{Decision, SlowHits},
    state::model::State,
};

/// Period of the metrics / hit-counter refresh.
pub const TICK: Duration = Duration::from_secs(1);

/// Last result of one monitor of one server.
#[derive(Clone, Debug, Serialize)]
pub struct MonitorStatus {
    /// Monitor name.
    pub monitor: String,
    /// Its rise/fall state.
    pub up: bool,
    /// Last probe succeeded.
    pub last_ok: Option<bool>,
    /// Last probe message.
    pub last_message: Option<String>,
    /// Last probe latency in milliseconds.
    pub last_latency_ms: Option<f64>,
    /// When, seconds since the epoch.
    pub last_at: Option<f64>,
}

/// Run-time state of one server.
#[derive(Clone, Debug)]
struct ServerRuntime {
    admin: AdminState,
    monitors: Vec<MonitorStatus>,
    sessions: Option<u64>,
    connections: Option<u64>,
    /// Polls of its `metrics_url`, if it has one.
    metrics_poll: Option<metrics::PollState>,
    /// First-answer count within `fewest_selected_window`, both paths.
    hits_window: u64,
    /// First-answer count since start, both paths.
    hits_total: u64,
}

/// A command from the control socket.
pub enum Command {
    /// Change a server's admin state.
    SetAdmin {
        /// Server name.
        server: String,
        /// New state.
        state: AdminState,
        /// Result.
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Report every pool and server.
    Status {
        /// Result.
        reply: oneshot::Sender<StatusReport>,
    },
    /// Explain the answer for a name.
    Explain {
        /// The name.
        name: Name,
        /// The client (LDNS) address.
        client: Option<IpAddr>,
        /// Result.
        reply: oneshot::Sender<Result<ExplainReport, String>>,
    },
    /// The result of one poll of a server's `metrics_url`.
    Metrics {
        /// Server index.
        server: usize,
        /// The reading, or why the poll failed.
        reading: Result<metrics::Reading, String>,
    },
}

/// `gslb status`.
#[derive(Clone, Debug, Serialize)]
pub struct StatusReport {
    /// Servers.
    pub servers: Vec<ServerStatus>,
    /// Pools with their members' names.
    pub pools: Vec<PoolStatus>,
    /// The gslb names with pools: their pools and current decisions.
    pub names: Vec<NameStatus>,
}

/// One gslb name in `gslb status`.
#[derive(Clone, Debug, Serialize)]
pub struct NameStatus {
    /// The name.
    pub name: String,
    /// Its pools, in order.
    pub pools: Vec<String>,
    /// How a pool is chosen (config spelling).
    pub pool_method: String,
    /// The pool deciding A answers now, if any.
    pub a_pool: Option<String>,
    /// The A decision in words.
    pub a: String,
    /// The pool deciding AAAA answers now, if any.
    pub aaaa_pool: Option<String>,
    /// The AAAA decision in words.
    pub aaaa: String,
}

/// One server in `gslb status`.
#[derive(Clone, Debug, Serialize)]
pub struct ServerStatus {
    /// Name.
    pub name: String,
    /// Address.
    pub address: IpAddr,
    /// Datacenter.
    pub datacenter: String,
    /// Admin state.
    pub admin: String,
    /// Health (all monitors up).
    pub health: String,
    /// Availability for new clients.
    pub availability: Availability,
    /// Monitors.
    pub monitors: Vec<MonitorStatus>,
    /// Sessions.
    pub sessions: Option<u64>,
    /// Connections.
    pub connections: Option<u64>,
    /// Seconds since the last good reading of its `metrics_url` (absent
    /// without one, null before the first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_age_s: Option<Option<f64>>,
    /// Why the latest poll of its `metrics_url` failed (null when it
    /// succeeded; absent without a `metrics_url`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_error: Option<Option<String>>,
    /// How often it was handed out first since start (XDP and slow path).
    pub handed_out: u64,
    /// How often it was handed out first within `fewest_selected_window`
    /// (what `fewest_selected` compares).
    pub handed_out_window: u64,
}

/// One pool in `gslb status`.
#[derive(Clone, Debug, Serialize)]
pub struct PoolStatus {
    /// Name.
    pub name: String,
    /// Members in order.
    pub members: Vec<String>,
    /// Method chain (config spelling).
    pub methods: Vec<String>,
    /// How many members are available for new clients now.
    pub available_members: usize,
    /// Whether any member is available.
    pub available: bool,
}

/// `gslb explain`.
#[derive(Clone, Debug, Serialize)]
pub struct ExplainReport {
    /// The gslb name.
    pub name: String,
    /// The client address used.
    pub client: Option<IpAddr>,
    /// A: how it was decided, and what this client gets now.
    pub a: ExplainFamily,
    /// AAAA.
    pub aaaa: ExplainFamily,
}

/// One family of `gslb explain`.
#[derive(Clone, Debug, Serialize)]
pub struct ExplainFamily {
    /// How the decision was reached.
    pub explanation: Explanation,
    /// The answer this client would get now.
    pub answer: Vec<IpAddr>,
}

/// The engine.
pub struct Engine {
    cfg: Arc<Config>,
    state: Arc<ArcSwap<State>>,
    maps: Option<Maps>,
    hits: Option<PerCpuArray<MapData, u64>>,
    /// The slow path's first-answer counts, attached to every answer set.
    slow_hits: Arc<SlowHits>,
    /// Both paths' counts over `fewest_selected_window`.
    window: HitWindow,
    servers: Vec<ServerRuntime>,
    explanations: HashMap<LowerName, [Explanation; 2]>,
    round: u64,
    /// Indexes of the gslb names with pools (the others never change).
    dynamic: Vec<usize>,
}

impl Engine {
    /// An engine for `cfg`, publishing into `state` (built from it) and
    /// `maps` (absent with `--no-xdp`, as are the hit counters).
    pub fn new(
        cfg: Arc<Config>,
        state: Arc<ArcSwap<State>>,
        maps: Option<Maps>,
        hits: Option<PerCpuArray<MapData, u64>>,
    ) -> Engine {
        let servers = cfg
            .servers
            .iter()
            .map(|s| {
                let (sessions, connections) = match &s.metrics {
                    crate::config::MetricsSource::Static {
                        sessions,
                        connections,
                    } => (Some(*sessions), Some(*connections)),
                    _ => (None, None),
                };
                ServerRuntime {
                    admin: s.admin,
                    monitors: s
                        .monitors
                        .iter()
                        .map(|m| MonitorStatus {
                            monitor: m.clone(),
                            up: s.initial_up,
                            last_ok: None,
                            last_message: None,
                            last_latency_ms: None,
                            last_at: None,
                        })
                        .collect(),
                    sessions,
                    connections,
                    metrics_poll: matches!(s.metrics, crate::config::MetricsSource::Url { .. })
                        .then(metrics::PollState::default),
                    hits_window: 0,
                    hits_total: 0,
                }
            })
            .collect();
        let dynamic = (0..cfg.gslb.len())
            .filter(|&i| !cfg.gslb[i].pools.is_empty())
            .collect();
        let n = cfg.servers.len();
        let window = window_ticks(cfg.engine.fewest_selected_window);
        Engine {
            slow_hits: Arc::new(SlowHits::new(n)),
            window: HitWindow::new(n, window),
            cfg,
            state,
            maps,
            hits,
            servers,
            explanations: HashMap::new(),
            dynamic,
            round: 0,
        }
    }

    fn views(&self) -> Vec<ServerView<'_>> {
        views(&self.cfg, &self.servers)
    }
}

/// Ticks in a hand-out window of `window` (at least one).
fn window_ticks(window: Duration) -> usize {
    (window.as_millis().div_ceil(TICK.as_millis()) as usize).max(1)
}

/// The selection's view of every server.
fn views<'a>(cfg: &'a Config, servers: &'a [ServerRuntime]) -> Vec<ServerView<'a>> {
    cfg.servers
        .iter()
        .zip(servers)
        .enumerate()
        .map(|(i, (cfg, rt))| ServerView {
            cfg,
            id: i as u16,
            admin: rt.admin,
            health_up: rt.monitors.iter().all(|m| m.up),
            latency: rt
                .monitors
                .iter()
                .filter_map(|m| m.last_latency_ms)
                .fold(None, |acc: Option<f64>, l| {
                    Some(acc.map_or(l, |a| a.max(l)))
                })
                .map(|ms| Duration::from_secs_f64(ms / 1000.0)),
            sessions: rt.sessions,
            connections: rt.connections,
            hits: rt.hits_window,
        })
        .collect()
}

impl Engine {
    /// Recomputes the decisions of every gslb name with pools and
    /// publishes those that changed: swapped in place for the slow path,
    /// written to the XDP maps (only the changed entries).
    pub fn recompute(&mut self) {
        let views = views(&self.cfg, &self.servers);
        let round = Round {
            servers: &views,
            pools: &self.cfg.pools,
            round: self.round,
        };
        let state = self.state.load();
        let mut changes = 0;
        let mut explanations = HashMap::new();
        for g in self.dynamic.iter().map(|&i| &self.cfg.gslb[i]) {
            let key = LowerName::new(&g.name);
            let Some(name) = state.gslb_name(&key) else {
                continue;
            };
            let (mut a, ea) = decide::decide(&round, g, Family::V4);
            let (mut aaaa, eaaaa) = decide::decide(&round, g, Family::V6);
            for d in [&mut a, &mut aaaa] {
                if let Decision::Answer(set) = d {
                    set.hits = Some(Arc::clone(&self.slow_hits));
                }
            }
            explanations.insert(key, [ea, eaaaa]);
            if !name.set(a, aaaa) {
                continue;
            }
            if let Some(maps) = self.maps.as_mut() {
                match maps.update(name) {
                    Ok(n) => changes += n,
                    Err(e) => warn!(name = %g.name, error = %e, "updating the XDP maps failed"),
                }
            }
        }
        drop(views);
        self.explanations = explanations;
        if changes > 0 {
            debug!(changes, "XDP maps updated");
        }
    }

    /// Applies one probe result; recomputes when the server's state flipped.
    pub fn on_health(&mut self, ev: &HealthEvent) {
        let Some(rt) = self.servers.get_mut(ev.server) else {
            return;
        };
        let Some(m) = rt.monitors.iter_mut().find(|m| m.monitor == ev.monitor) else {
            return;
        };
        m.up = ev.up;
        m.last_ok = Some(ev.probe.ok);
        m.last_message = Some(ev.probe.message.clone());
        m.last_latency_ms = Some(ev.probe.latency.as_secs_f64() * 1000.0);
        m.last_at = ev
            .probe
            .at
            .duration_since(SystemTime::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs_f64());
        if ev.changed {
            info!(
                server = %self.cfg.servers[ev.server].name,
                monitor = %ev.monitor,
                up = ev.up,
                message = %ev.probe.message,
                "health changed"
            );
            self.recompute();
        }
    }

    /// Drops the polled readings older than `[metrics] max_age`; whether
    /// any was dropped.
    fn expire_metrics(&mut self, now: Instant) -> bool {
        let max_age = self.cfg.metrics.max_age;
        let mut dropped = false;
        for (i, rt) in self.servers.iter_mut().enumerate() {
            let Some(poll) = &rt.metrics_poll else {
                continue;
            };
            if (rt.sessions, rt.connections) != (None, None) && poll.expired(now, max_age) {
                warn!(
                    server = %self.cfg.servers[i].name,
                    max_age = ?max_age,
                    error = poll.error.as_deref().unwrap_or("-"),
                    "metrics older than max_age: unknown from now on"
                );
                rt.sessions = None;
                rt.connections = None;
                dropped = true;
            }
        }
        dropped
    }

    /// The periodic refresh: hand-out counters, then a recompute.
    pub fn on_tick(&mut self) {
        self.expire_metrics(Instant::now());
        self.round += 1;
        self.count_hand_outs();
        self.recompute();
    }

    /// One tick of hand-out counting: the XDP program's counts since the
    /// last tick (per-CPU `SERVER_HITS` summed) and the slow path's enter
    /// the window.
    fn count_hand_outs(&mut self) {
        let n = self.servers.len();
        let fast: Vec<Option<u64>> = match &self.hits {
            Some(hits) => (0..n)
                .map(|i| hits.get(&(i as u32), 0).ok().map(|v| v.iter().sum()))
                .collect(),
            None => vec![None; n],
        };
        let mut deltas = self.window.fast_deltas(&fast);
        for (d, slow) in deltas.iter_mut().zip(self.slow_hits.take()) {
            *d += slow;
        }
        self.window.push(&deltas);
        for (i, rt) in self.servers.iter_mut().enumerate() {
            rt.hits_window = self.window.window(i);
            rt.hits_total = self.window.total(i);
        }
    }

    /// Handles one control command.
    pub fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::SetAdmin {
                server,
                state,
                reply,
            } => {
                let r = match self.cfg.servers.iter().position(|s| s.name == server) {
                    Some(i) => {
                        self.servers[i].admin = state;
                        info!(%server, %state, "admin state changed");
                        self.recompute();
                        Ok(())
                    }
                    None => Err(format!("no server named {server:?}")),
                };
                let _ = reply.send(r);
            }
            Command::Status { reply } => {
                let _ = reply.send(self.status());
            }
            Command::Explain {
                name,
                client,
                reply,
            } => {
                let _ = reply.send(self.explain(&name, client));
            }
            Command::Metrics { server, reading } => {
                let now = Instant::now();
                let Some(rt) = self.servers.get_mut(server) else {
                    return;
                };
                let Some(poll) = rt.metrics_poll.as_mut() else {
                    return;
                };
                let mut changed = false;
                if let Some(r) = poll.record(reading, now) {
                    changed = (rt.sessions, rt.connections) != (r.sessions, r.connections);
                    rt.sessions = r.sessions;
                    rt.connections = r.connections;
                }
                if self.expire_metrics(now) || changed {
                    self.recompute();
                }
            }
        }
    }

    fn status(&self) -> StatusReport {
        let now = Instant::now();
        let views = self.views();
        let servers = views
            .iter()
            .zip(&self.servers)
            .map(|(v, rt)| ServerStatus {
                name: v.cfg.name.clone(),
                address: v.cfg.address,
                datacenter: v.cfg.datacenter.clone(),
                admin: rt.admin.name().into(),
                health: if v.health_up { "up" } else { "down" }.into(),
                availability: v.availability(),
                monitors: rt.monitors.clone(),
                sessions: rt.sessions,
                connections: rt.connections,
                metrics_age_s: rt
                    .metrics_poll
                    .as_ref()
                    .map(|p| p.age(now).map(|a| a.as_secs_f64())),
                metrics_error: rt.metrics_poll.as_ref().map(|p| p.error.clone()),
                handed_out: rt.hits_total,
                handed_out_window: rt.hits_window,
            })
            .collect();
        let pools = self
            .cfg
            .pools
            .iter()
            .map(|p| {
                let available_members = p
                    .members
                    .iter()
                    .filter(|m| {
                        views.iter().any(|v| {
                            &v.cfg.name == *m && v.availability() == Availability::Available
                        })
                    })
                    .count();
                PoolStatus {
                    name: p.name.clone(),
                    members: p.members.clone(),
                    methods: p.methods.iter().map(|m| m.name().to_string()).collect(),
                    available_members,
                    available: available_members > 0,
                }
            })
            .collect();
        let names = self
            .dynamic
            .iter()
            .map(|&i| &self.cfg.gslb[i])
            .map(|g| {
                let [a, aaaa] = self
                    .explanations
                    .get(&LowerName::new(&g.name))
                    .cloned()
                    .unwrap_or_default();
                NameStatus {
                    name: g.name.to_string(),
                    pools: g.pools.clone(),
                    pool_method: g.pool_method.name().to_string(),
                    a_pool: a.pool,
                    a: a.decision,
                    aaaa_pool: aaaa.pool,
                    aaaa: aaaa.decision,
                }
            })
            .collect();
        StatusReport {
            servers,
            pools,
            names,
        }
    }

    fn explain(&self, name: &Name, client: Option<IpAddr>) -> Result<ExplainReport, String> {
        let key = LowerName::new(name);
        let state = self.state.load();
        let g = state
            .gslb_name(&key)
            .ok_or_else(|| format!("{name} is not a gslb name"))?;
        let [ea, eaaaa] = self.explanations.get(&key).cloned().unwrap_or_default();
        let answer = |d: &Decision| match d {
            // A copy, so explaining does not advance the live rotation.
            Decision::Answer(set) => {
                crate::state::decision::AnswerSet::new(set.sel, set.addrs.clone()).pick(client)
            }
            _ => Vec::new(),
        };
        Ok(ExplainReport {
            name: g.name.to_string(),
            client,
            a: ExplainFamily {
                explanation: ea,
                answer: answer(&g.a()),
            },
            aaaa: ExplainFamily {
                explanation: eaaaa,
                answer: answer(&g.aaaa()),
            },
        })
    }
}

/// Runs the engine until both channels close.
pub async fn run(
    mut engine: Engine,
    mut health: mpsc::UnboundedReceiver<HealthEvent>,
    mut commands: mpsc::Receiver<Command>,
) {
    engine.recompute();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            Some(ev) = health.recv() => engine.on_health(&ev),
            Some(cmd) = commands.recv() => engine.on_command(cmd),
            _ = tick.tick() => engine.on_tick(),
        }
    }
}
