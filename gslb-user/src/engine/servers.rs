//! The engine's per-server state, kept by [`ServerId`]: health of each
//! monitor, admin state, load metrics and hand-out counts. Ids come from a
//! [`Registry`] keyed by the server's name, so after a config change a
//! server that is still there keeps its state wherever it now sits in the
//! config; a new (or renamed) server starts from its config, and a
//! removed one's state is dropped.

use std::collections::HashMap;

use super::{metrics, MonitorStatus};
use crate::{
    config::{AdminState, Config, MetricsSource, VirtualServerConfig},
    state::ids::{Assignment, Exhausted, Registry, ServerId},
};

/// Run-time state of one server.
#[derive(Clone, Debug)]
pub(super) struct ServerRuntime {
    pub(super) admin: AdminState,
    pub(super) monitors: Vec<MonitorStatus>,
    pub(super) sessions: Option<u64>,
    pub(super) connections: Option<u64>,
    /// Polls of its `metrics_url`, if it has one.
    pub(super) metrics_poll: Option<metrics::PollState>,
    /// First-answer count within `fewest_selected_window`, both paths.
    pub(super) hits_window: u64,
    /// First-answer count since start, both paths.
    pub(super) hits_total: u64,
}

fn static_metrics(s: &VirtualServerConfig) -> (Option<u64>, Option<u64>) {
    match &s.metrics {
        MetricsSource::Static {
            sessions,
            connections,
        } => (Some(*sessions), Some(*connections)),
        _ => (None, None),
    }
}

fn monitor_status(s: &VirtualServerConfig, monitor: &str) -> MonitorStatus {
    MonitorStatus {
        monitor: monitor.to_string(),
        up: s.initial_up,
        last_ok: None,
        last_message: None,
        last_latency_ms: None,
        last_at: None,
    }
}

impl ServerRuntime {
    /// The state of a server the engine has not seen: from its config.
    pub(super) fn new(s: &VirtualServerConfig) -> ServerRuntime {
        let (sessions, connections) = static_metrics(s);
        ServerRuntime {
            admin: s.admin,
            monitors: s.monitors.iter().map(|m| monitor_status(s, m)).collect(),
            sessions,
            connections,
            metrics_poll: matches!(s.metrics, MetricsSource::Url { .. })
                .then(metrics::PollState::default),
            hits_window: 0,
            hits_total: 0,
        }
    }

    /// Carries the state over to the server's new config: admin state,
    /// the status of each monitor still configured, polled metrics while
    /// it still has a `metrics_url`, and the hand-out counts are kept;
    /// new monitors start from `initial_up`, static metrics are the new
    /// config's.
    fn carry_over(mut self, s: &VirtualServerConfig) -> ServerRuntime {
        let mut old: HashMap<String, MonitorStatus> = self
            .monitors
            .drain(..)
            .map(|m| (m.monitor.clone(), m))
            .collect();
        self.monitors = s
            .monitors
            .iter()
            .map(|m| old.remove(m).unwrap_or_else(|| monitor_status(s, m)))
            .collect();
        match &s.metrics {
            MetricsSource::Url { .. } => {
                if self.metrics_poll.is_none() {
                    self.metrics_poll = Some(metrics::PollState::default());
                    (self.sessions, self.connections) = (None, None);
                }
            }
            _ => {
                self.metrics_poll = None;
                (self.sessions, self.connections) = static_metrics(s);
            }
        }
        self
    }
}

/// Every configured server's state, by id.
#[derive(Clone, Debug, Default)]
pub(super) struct Servers {
    registry: Registry<String, ServerId>,
    /// Per config position: the server's id.
    ids: Vec<ServerId>,
    by_id: HashMap<ServerId, ServerRuntime>,
}

impl Servers {
    /// The servers of `cfg`, ids `0..n` in config order.
    pub(super) fn new(cfg: &Config) -> Result<Servers, Exhausted> {
        let mut servers = Servers::default();
        servers.update(cfg)?;
        Ok(servers)
    }

    /// Takes `cfg`'s servers: those already known by name keep their id
    /// and state, the others start from their config, the state of those
    /// gone is dropped.
    pub(super) fn update(&mut self, cfg: &Config) -> Result<Assignment<ServerId>, Exhausted> {
        let assignment = self.registry.assign(cfg.servers.iter().map(|s| &s.name))?;
        let mut old = std::mem::take(&mut self.by_id);
        self.by_id = assignment
            .ids
            .iter()
            .zip(&cfg.servers)
            .map(|(&id, s)| {
                let rt = match old.remove(&id) {
                    Some(rt) if !assignment.fresh.contains(&id) => rt.carry_over(s),
                    _ => ServerRuntime::new(s),
                };
                (id, rt)
            })
            .collect();
        self.ids = assignment.ids.clone();
        Ok(assignment)
    }

    /// Per config position: the server's id.
    pub(super) fn ids(&self) -> &[ServerId] {
        &self.ids
    }

    /// The config position of server `id`.
    pub(super) fn position(&self, id: ServerId) -> Option<usize> {
        self.ids.iter().position(|&i| i == id)
    }

    /// The id of the server named `name`.
    pub(super) fn by_name(&self, name: &str) -> Option<ServerId> {
        self.registry.get(name)
    }

    /// One past the highest id handed out.
    pub(super) fn capacity(&self) -> usize {
        self.registry.capacity()
    }

    pub(super) fn get_mut(&mut self, id: ServerId) -> Option<&mut ServerRuntime> {
        self.by_id.get_mut(&id)
    }

    /// In config order: position, id and state.
    pub(super) fn iter(&self) -> impl Iterator<Item = (usize, ServerId, &ServerRuntime)> + '_ {
        self.ids
            .iter()
            .enumerate()
            .map(|(pos, id)| (pos, *id, &self.by_id[id]))
    }

    /// In config order: position, id and mutable state.
    pub(super) fn iter_mut(
        &mut self,
    ) -> impl Iterator<Item = (usize, ServerId, &mut ServerRuntime)> + '_ {
        let pos: HashMap<ServerId, usize> = self
            .ids
            .iter()
            .enumerate()
            .map(|(p, &id)| (id, p))
            .collect();
        let mut all: Vec<_> = self
            .by_id
            .iter_mut()
            .map(|(&id, rt)| (pos[&id], id, rt))
            .collect();
        all.sort_by_key(|(p, _, _)| *p);
        all.into_iter()
    }
}
