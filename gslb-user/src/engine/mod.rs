//! The GSLB engine: keeps every server's health, load metrics, admin
//! state and hand-out count, recomputes the decisions of the gslb names
//! whenever one of them changes, and publishes them to the slow path (a
//! new [`State`]) and to the XDP maps (only the entries that changed).
//!
//! A health flip is applied as soon as the deciding probe's event arrives
//! (no batching), so it reaches the maps within milliseconds. A one-second
//! tick refreshes the hand-out counters and load metrics for the methods
//! that use them.

pub mod clients;
pub mod decide;
mod failover;
pub mod history;
pub mod hits;
pub mod metrics;
mod persist;
pub mod reload;
pub mod saved;
mod servers;
#[cfg(test)]
mod tests;

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use arc_swap::ArcSwap;
use aya::maps::{MapData, PerCpuArray};
use hickory_proto::rr::{LowerName, Name, RecordType};
use ipnet::IpNet;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use self::{
    decide::{Availability, Explanation, Family, ForClient, Round, ServerView},
    hits::HitWindow,
    servers::Servers,
};
pub use crate::api::protocol::{
    ClientPlacement, ExplainFamily, ExplainReport, MonitorStatus, NameStatus, PoolStatus,
    RequestError, ServerStatus, StatusReport,
};
pub use crate::api::protocol::{PersistEntry, PersistReport};
use crate::{
    clients::Profile,
    config::{AdminState, Config, Health},
    fastpath::maps::Maps,
    health::HealthEvent,
    state::decision::{Decision, DecisionKey, PolicyKey, SlowHits},
    state::ids::{Exhausted, GroupId, PolicyId, Registry, ServerId},
    state::model::State,
};

/// Period of the metrics / hit-counter refresh.
pub const TICK: Duration = Duration::from_secs(1);

/// A command from the control socket.
pub enum Command {
    /// Change a server's admin state.
    SetAdmin {
        /// Server name.
        server: String,
        /// New state.
        state: AdminState,
        /// Result.
        reply: oneshot::Sender<Result<(), RequestError>>,
    },
    /// Report every pool and server.
    Status {
        /// Result.
        reply: oneshot::Sender<StatusReport>,
    },
    /// The config the engine runs (the HTTP API's model and its token).
    Config {
        /// Result.
        reply: oneshot::Sender<Arc<Config>>,
    },
    /// Answers per name over the last minutes and recent changes (the
    /// status page).
    History {
        /// Result.
        reply: oneshot::Sender<history::HistoryReport>,
    },
    /// Explain the answer for a name.
    Explain {
        /// The name.
        name: Name,
        /// The client (LDNS) address.
        client: Option<IpAddr>,
        /// The ECS prefix a resolver sends for its client (its address
        /// is the client then).
        ecs: Option<IpNet>,
        /// Result.
        reply: oneshot::Sender<Result<ExplainReport, RequestError>>,
    },
    /// List (and with `clear` remove) persistence records.
    Persist {
        /// Only those of this gslb name.
        name: Option<Name>,
        /// Only those of client prefixes overlapping this one.
        client: Option<IpNet>,
        /// Remove them.
        clear: bool,
        /// Result.
        reply: oneshot::Sender<PersistReport>,
    },
    /// Rebuild the client groups from the region files and geo
    /// databases (`gslb clients reload`).
    ReloadClients {
        /// Result.
        reply: oneshot::Sender<Result<crate::api::protocol::ClientsReport, RequestError>>,
    },
    /// Read the config file again and switch to it (`gslb reload`,
    /// SIGHUP; see [`reload`]).
    Reload {
        /// Result.
        reply: oneshot::Sender<Result<crate::api::protocol::ReloadReport, RequestError>>,
    },
    /// The result of one poll of a server's `metrics_url`.
    Metrics {
        /// The server.
        server: ServerId,
        /// The reading, or why the poll failed.
        reading: Result<metrics::Reading, String>,
    },
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
    /// Every server's state, by id.
    servers: Servers,
    /// How each decision was reached.
    explanations: HashMap<DecisionKey, Explanation>,
    /// The ids of the answer policies: what their decisions are keyed by.
    policies: Registry<PolicyKey, PolicyId>,
    round: u64,
    /// The answer policies (gslb names with pools; the others never
    /// change), each with the index in `cfg.gslb` of its first name.
    dynamic: Vec<(PolicyKey, usize)>,
    /// The gslb names with a pool that has persistence: the only ones
    /// whose set ids the slow path's persistence records need.
    sticky: Vec<LowerName>,
    /// The `CLIENT_GROUPS` trie (with XDP), for client data reloads.
    client_trie: Option<crate::fastpath::clients::ClientTrie>,
    /// The last round's answers, for the failover log lines.
    failovers: failover::Failovers,
    /// Config reloads: where the config comes from, who respawns the
    /// monitors, the outcome counters.
    reload: reload::Reloader,
    /// The state file and how this daemon started (`saved.rs`).
    restart: saved::Restart,
    /// Answers per name per tick and recent changes (the status page).
    history: history::History,
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
        // A validated config has at most `MAX_VSERVERS`, as many as ids.
        let servers = Servers::new(&cfg).expect("a validated config has ids for every server");
        let mut policies = Registry::new();
        let dynamic = dynamic_policies(&cfg, &mut policies).expect("fewer policies than ids");
        let n = servers.capacity();
        let window = window_ticks(cfg.engine.fewest_selected_window);
        let sticky = sticky_names(&cfg);
        Engine {
            // Every id has a counter, so a later config's servers need no
            // new one.
            slow_hits: Arc::new(SlowHits::new(gslb_common::maps::MAX_SERVERS as usize)),
            window: HitWindow::new(n, window),
            cfg,
            state,
            maps,
            hits,
            servers,
            explanations: HashMap::new(),
            policies,
            dynamic,
            sticky,
            round: 0,
            client_trie: None,
            failovers: failover::Failovers::default(),
            reload: reload::Reloader::default(),
            restart: saved::Restart::default(),
            history: history::History::default(),
        }
    }

    fn views(&self) -> Vec<ServerView<'_>> {
        views(&self.cfg, &self.servers)
    }

    /// The configured name of server `id` (its id when it is gone).
    fn server_name(&self, id: ServerId) -> String {
        match self.servers.position(id) {
            Some(pos) => self.cfg.servers[pos].name.clone(),
            None => format!("#{id}"),
        }
    }

    /// Per config position: the id of each server (what health events and
    /// metrics readings name it by).
    pub fn server_ids(&self) -> &[ServerId] {
        self.servers.ids()
    }
}

/// The answer policies of the gslb names with pools (the others never
/// change), each once with the index in `cfg.gslb` of its first name,
/// after giving them ids in `policies`.
fn dynamic_policies(
    cfg: &Config,
    policies: &mut Registry<PolicyKey, PolicyId>,
) -> Result<Vec<(PolicyKey, usize)>, Exhausted> {
    let mut seen = std::collections::HashSet::new();
    let dynamic: Vec<(PolicyKey, usize)> = cfg
        .gslb
        .iter()
        .enumerate()
        .filter_map(|(i, g)| PolicyKey::of(g).map(|k| (k, i)))
        .filter(|(k, _)| seen.insert(k.clone()))
        .collect();
    policies.assign(dynamic.iter().map(|(k, _)| k))?;
    Ok(dynamic)
}

/// The gslb names with a pool (or last resort pool) that has
/// persistence.
fn sticky_names(cfg: &Config) -> Vec<LowerName> {
    let sticky: std::collections::HashSet<&str> = cfg
        .pools
        .iter()
        .filter(|p| p.persistence.is_some())
        .map(|p| p.name.as_str())
        .collect();
    cfg.gslb
        .iter()
        .filter(|g| {
            g.pools
                .iter()
                .chain(&g.last_resort_pool)
                .any(|p| sticky.contains(p.as_str()))
        })
        .map(|g| LowerName::new(&g.name))
        .collect()
}

/// Ticks in a hand-out window of `window` (at least one).
fn window_ticks(window: Duration) -> usize {
    (window.as_millis().div_ceil(TICK.as_millis()) as usize).max(1)
}

/// The selection's view of every server, in config order.
fn views<'a>(cfg: &'a Config, servers: &'a Servers) -> Vec<ServerView<'a>> {
    cfg.servers
        .iter()
        .zip(servers.iter())
        .map(|(cfg, (_, id, rt))| ServerView {
            cfg,
            id,
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
    /// Recomputes the decisions of every answer policy, once per policy
    /// (and per client group for client-aware ones), and publishes those
    /// that changed: swapped in place for the slow path (every name of
    /// the policy shares them), written to the XDP maps (only the changed
    /// entries).
    pub fn recompute(&mut self) {
        let views = views(&self.cfg, &self.servers);
        let state = self.state.load();
        self.persistence(&state, &views);
        let clients = &*state.clients;
        let default_profile = Profile::default();
        let base = Round {
            servers: &views,
            pools: &self.cfg.pools,
            round: self.round,
            client: Some(ForClient {
                map: clients,
                profile: clients
                    .profile(GroupId::DEFAULT)
                    .unwrap_or(&default_profile),
            }),
        };
        let mut changes = 0;
        let mut explanations = HashMap::new();
        for (key, i) in &self.dynamic {
            let g = &self.cfg.gslb[*i];
            let Some(first) = state.policy_names(key).next() else {
                continue;
            };
            let Some(id) = self.policies.get(key) else {
                continue;
            };
            // A client-aware policy is decided for every group (the
            // kernel's fallback to group 0 is not relied on); the others
            // once, for group 0.
            let aware = decide::client_aware(&self.cfg.pools, g);
            let groups: Vec<(GroupId, Round<'_>)> = if aware {
                clients
                    .groups()
                    .map(|(group, profile)| {
                        let client = Some(ForClient {
                            map: clients,
                            profile,
                        });
                        (group, Round { client, ..base })
                    })
                    .collect()
            } else {
                vec![(GroupId::DEFAULT, base)]
            };
            let mut decided = Vec::with_capacity(groups.len());
            for (group, round) in groups {
                let (mut a, ea) = decide::decide(&round, g, Family::V4);
                let (mut aaaa, eaaaa) = decide::decide(&round, g, Family::V6);
                for d in [&mut a, &mut aaaa] {
                    if let Decision::Answer(set) = d {
                        set.hits = Some(Arc::clone(&self.slow_hits));
                    }
                }
                let at = |family| DecisionKey {
                    policy: id,
                    family,
                    group,
                };
                explanations.insert(at(Family::V4), ea);
                explanations.insert(at(Family::V6), eaaaa);
                decided.push((group, a, aaaa));
            }
            if !first.set_groups(aware, decided) {
                continue;
            }
            if let Some(maps) = self.maps.as_mut() {
                let names: Vec<&crate::state::model::GslbName> = state.policy_names(key).collect();
                match maps.update(&names) {
                    Ok(n) => changes += n,
                    Err(e) => warn!(name = %g.name, error = %e, "updating the XDP maps failed"),
                }
            }
        }
        drop(views);
        self.publish_sets(&state);
        self.save_state();
        self.explanations = explanations;
        self.log_failovers(&state);
        if changes > 0 {
            debug!(changes, "XDP maps updated");
        }
    }

    /// Persistence with a TTL: a server that went down or was disabled
    /// since the last round moves to its next generation (its records
    /// are void at once; draining keeps them).
    fn persistence(&self, state: &State, views: &[ServerView<'_>]) {
        for v in views {
            let usable = v.health_up && v.admin != AdminState::Disabled;
            if let Err(e) = state.persist.observe(v.id.get(), usable) {
                warn!(server = %v.cfg.name, error = %e, "writing the server generation failed");
            }
        }
    }

    /// Tells the slow path the fast path's set id of every gslb name with
    /// persistence, which its records are keyed by (without the fast
    /// path, the store's own id of the name's policy).
    fn publish_sets(&self, state: &State) {
        let Some(maps) = &self.maps else {
            // Without the fast path the store assigns the ids, one per
            // answer policy as the map writer does.
            for name in &self.sticky {
                if let Some(g) = state.gslb_name(name) {
                    state
                        .persist
                        .publish_own(&crate::dns::wire::wire_key(&g.name), g.policy.as_ref());
                }
            }
            return;
        };
        // Only the names that can have persistence: reading every name's
        // decisions here made each recompute cost O(names).
        for name in &self.sticky {
            let Some(g) = state.gslb_name(name) else {
                continue;
            };
            if let Some(id) = maps.set_id(g) {
                state
                    .persist
                    .publish_set(&crate::dns::wire::wire_key(&g.name), id);
            }
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
            let server = self.server_name(ev.server);
            self.record_health_change(server, &ev.monitor, ev.up, &ev.probe.message);
            info!(
                server = %self.server_name(ev.server),
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
        for (i, _, rt) in self.servers.iter_mut() {
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

    /// Takes a changed config's servers, pools and gslb names. A server
    /// still there (by name) keeps its id, and with it its health, admin
    /// state, metrics and hand-out counts (in the `fewest_selected` window
    /// too), wherever it now sits in the config; a new or renamed one
    /// starts from its config, and a removed one's state and counts go.
    /// Building and publishing the new config's names (the slow path's
    /// `State`, the maps) is the caller's; the hand-out window keeps its
    /// length.
    pub fn reconfigure(&mut self, cfg: Arc<Config>) -> Result<(), Exhausted> {
        let assignment = self.servers.update(&cfg)?;
        self.window.resize(self.servers.capacity());
        for id in assignment.retired.iter().chain(&assignment.fresh) {
            self.window.forget(id.index());
        }
        self.dynamic = dynamic_policies(&cfg, &mut self.policies)?;
        self.sticky = sticky_names(&cfg);
        self.cfg = cfg;
        Ok(())
    }

    /// The periodic refresh: hand-out counters, then a recompute.
    pub fn on_tick(&mut self) {
        self.expire_metrics(Instant::now());
        self.round += 1;
        self.count_hand_outs();
        self.record_history(SystemTime::now());
        self.recompute();
    }

    /// One tick of hand-out counting: the XDP program's counts since the
    /// last tick (per-CPU `SERVER_HITS` summed) and the slow path's enter
    /// the window.
    fn count_hand_outs(&mut self) {
        let n = self.servers.capacity();
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
        for (_, id, rt) in self.servers.iter_mut() {
            rt.hits_window = self.window.window(id.index());
            rt.hits_total = self.window.total(id.index());
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
                let r = match self
                    .servers
                    .by_name(&server)
                    .and_then(|id| self.servers.get_mut(id))
                {
                    Some(rt) => {
                        let before = std::mem::replace(&mut rt.admin, state);
                        if before != state {
                            self.record_admin_change(&server, before, state);
                        }
                        info!(%server, %state, "admin state changed");
                        self.recompute();
                        Ok(())
                    }
                    None => Err(RequestError::NoServer(server)),
                };
                let _ = reply.send(r);
            }
            Command::Status { reply } => {
                let _ = reply.send(self.status());
            }
            Command::Config { reply } => {
                let _ = reply.send(self.cfg.clone());
            }
            Command::History { reply } => {
                let _ = reply.send(self.history.report());
            }
            Command::Explain {
                name,
                client,
                ecs,
                reply,
            } => {
                let _ = reply.send(self.explain(&name, client, ecs));
            }
            Command::Persist {
                name,
                client,
                clear,
                reply,
            } => {
                let _ = reply.send(self.persist_records(name.as_ref(), client, clear));
            }
            Command::ReloadClients { reply } => {
                let _ = reply.send(self.reload_clients());
            }
            Command::Reload { reply } => {
                let _ = reply.send(self.reload());
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
            .zip(self.servers.iter())
            .map(|(v, (_, _, rt))| ServerStatus {
                name: v.cfg.name.clone(),
                address: v.cfg.address,
                datacenter: v.cfg.datacenter.clone(),
                admin: rt.admin,
                health: Health::from_up(v.health_up),
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
                    methods: p.methods.to_vec(),
                    available_members,
                    available: available_members > 0,
                }
            })
            .collect();
        let names = self
            .cfg
            .gslb
            .iter()
            .filter(|g| !g.pools.is_empty())
            .map(|g| {
                let [a, aaaa] = self.explained(&LowerName::new(&g.name));
                NameStatus {
                    name: g.name.to_string(),
                    pools: g.pools.clone(),
                    pool_method: g.pool_method.clone(),
                    a_pool: a.pool,
                    a: a.decision,
                    aaaa_pool: aaaa.pool,
                    aaaa: aaaa.decision,
                    answers: self.name_answers(&LowerName::new(&g.name)),
                }
            })
            .collect();
        StatusReport {
            start: self.restart.start.clone(),
            servers,
            pools,
            names,
            reload: self.reload.status(),
        }
    }

    /// Address answers handed out for gslb name `name` since the daemon
    /// started: the XDP program's (`NAME_ANSWERS`) and the slow path's.
    pub fn name_answers(&self, name: &LowerName) -> u64 {
        let state = self.state.load();
        let Some(id) = state.gslb_name(name).and_then(|g| g.counter) else {
            return 0;
        };
        let fast = self.maps.as_ref().map_or(0, |m| m.name_answers(id));
        fast + crate::state::counts::names().slow(id)
    }

    /// How the A and AAAA decisions of `name` for the default client
    /// group were reached.
    fn explained(&self, name: &LowerName) -> [Explanation; 2] {
        self.explained_for(name, GroupId::DEFAULT)
    }

    /// How the A and AAAA decisions of `name` for client `group` were
    /// reached (the default group's when the group has none of its own).
    fn explained_for(&self, name: &LowerName, group: GroupId) -> [Explanation; 2] {
        let state = self.state.load();
        let policy = state
            .gslb_name(name)
            .and_then(|g| g.policy.as_ref())
            .and_then(|k| self.policies.get(k));
        [Family::V4, Family::V6].map(|family| {
            policy
                .and_then(|id| {
                    let at = |group| DecisionKey {
                        policy: id,
                        family,
                        group,
                    };
                    self.explanations
                        .get(&at(group))
                        .or_else(|| self.explanations.get(&at(GroupId::DEFAULT)))
                })
                .cloned()
                .unwrap_or_default()
        })
    }

    /// Explains `name` for a client: `ecs` (the ECS prefix a resolver
    /// sends; its masked address is the client) or else `client`.
    fn explain(
        &self,
        name: &Name,
        client: Option<IpAddr>,
        ecs: Option<IpNet>,
    ) -> Result<ExplainReport, RequestError> {
        let key = LowerName::new(name);
        let state = self.state.load();
        let g = state
            .gslb_name(&key)
            .ok_or_else(|| RequestError::NotGslbName(name.to_string()))?;
        let addr = ecs.map(|net| net.trunc().addr()).or(client);
        let placed = addr.map(|a| state.client(a));
        let group = placed.map_or(GroupId::DEFAULT, |c| c.group);
        let [ea, eaaaa] = self.explained_for(&key, group);
        let decisions = g.decisions();
        // The client's persistence records (read only: explaining neither
        // makes nor refreshes one).
        let records = addr
            .map(|a| {
                self.persist_records(Some(name), Some(IpNet::from(a)), false)
                    .records
            })
            .unwrap_or_default();
        let family = |explanation: Explanation, fam: Family, rtype: RecordType| {
            let d = decisions.decision(fam, group);
            let record = |rtype: RecordType| {
                let Some(r) = records.iter().find(|r| r.rtype == rtype.to_string()) else {
                    return "no record for this client: its next query makes one".to_owned();
                };
                match r.expires_in_s {
                    Some(left) => format!(
                        "{} sticks to {} (used {:.0}s ago, {:.0}s left): it is the first answer",
                        r.client, r.server, r.age_s, left
                    ),
                    None => format!(
                        "{} had {} (void now: expired, or the server went down or was \
                         disabled): its next query makes a new record",
                        r.client, r.server
                    ),
                }
            };
            // A live record's server is the first answer, as the query
            // paths hand it out.
            let kept = |set: &crate::state::decision::AnswerSet| {
                let r = records
                    .iter()
                    .find(|r| r.rtype == rtype.to_string() && r.expires_in_s.is_some())?;
                let address = explanation
                    .candidates
                    .iter()
                    .find(|c| c.server == r.server)?
                    .address;
                let first = set.addrs.iter().position(|a| *a == address)?;
                let mut order = [0u8; gslb_common::maps::MAX_ADDRS];
                let n = gslb_common::select::answer_order(&set.sel, first, &mut order);
                Some(
                    order[..n]
                        .iter()
                        .filter_map(|&i| set.addrs.get(usize::from(i)).copied())
                        .collect::<Vec<IpAddr>>(),
                )
            };
            let (answer, persistence) = match &**d {
                Decision::Answer(set) if set.sel.sticky_ttl != 0 => (
                    kept(set).unwrap_or_else(|| {
                        crate::state::decision::AnswerSet::new(set.sel, set.addrs.clone())
                            .pick(addr)
                    }),
                    Some(record(rtype)),
                ),
                // A copy, so explaining does not advance the live rotation.
                Decision::Answer(set) => (
                    crate::state::decision::AnswerSet::new(set.sel, set.addrs.clone()).pick(addr),
                    None,
                ),
                _ => (Vec::new(), None),
            };
            let scope = match (&placed, ecs) {
                // A source prefix of 0 gets scope 0 (RFC 7871 §7.1.2).
                (Some(c), Some(net)) if net.prefix_len() > 0 => g.scope(rtype, c),
                (Some(c), None) => g.scope(rtype, c),
                _ => 0,
            };
            ExplainFamily {
                explanation,
                answer,
                scope,
                persistence,
            }
        };
        let placement = addr.map(|a| {
            let x = state.clients.explain(a);
            ClientPlacement {
                prefix: x.prefix.map(|p| p.to_string()),
                group: x.group.get(),
                rules: x.rules.into_iter().map(|r| (r.text, r.score)).collect(),
                geo: x.geo.map(|geo| {
                    let or = |v: Option<String>| v.unwrap_or_else(|| "-".into());
                    format!(
                        "country {}, continent {}, asn {}, location {}",
                        or(geo.country),
                        or(geo.continent),
                        or(geo.asn.map(|a| a.to_string())),
                        or(geo.location.map(|(lat, lon)| format!("{lat:.4},{lon:.4}")))
                    )
                }),
                ranking: x.ranking,
            }
        });
        Ok(ExplainReport {
            name: g.name.to_string(),
            client: addr,
            ecs: ecs.map(|n| n.to_string()),
            placement,
            client_aware: decisions.client_aware,
            a: family(ea, Family::V4, RecordType::A),
            aaaa: family(eaaaa, Family::V6, RecordType::AAAA),
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
