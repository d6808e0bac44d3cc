//! Config reload (`gslb reload`, SIGHUP): the config file read again,
//! validated completely, the new state and its map entries computed, and
//! the switch made so that every query sees the old config or the new.
//!
//! 1. Read and validate, as `gslb check` does (errors `FILE:LINE:COL`);
//!    rebuild the client groups from the running ones (unchanged groups
//!    keep their ids); refuse settings fixed at start (listen addresses,
//!    interfaces, map sizes: [`restart_only`]). Nothing has changed yet.
//! 2. [`Engine::reconfigure`]: servers still there (by name) keep their
//!    id, health, admin state, metrics and hand-out counts; answer
//!    policies still there keep their id, hence their answer-set id in
//!    the maps and the persistence records keyed by it.
//! 3. Decide every policy of the new state before anyone sees it, check
//!    that the maps (sized at start) hold the old and new entries
//!    together, then [`Maps::sync`](crate::fastpath::maps::Maps::sync):
//!    answer sets and static answers first, then the names pointing at
//!    them, then the stale entries removed. When the client partition
//!    changed, the switch goes as a client data reload does
//!    ([`super::clients`]): answer sets of the old and new groups, then
//!    the `CLIENT_GROUPS` trie, then the new groups alone. Then the slow
//!    path's state is swapped whole, and the trusted ECS resolvers
//!    rewritten if they changed.
//! 4. The daemon is told ([`Reloaded`]) so that it restarts the monitors
//!    and pollers whose config changed, from the engine's current health.
//!
//! Any failure before the switch leaves everything as it was; a map
//! write that fails during it is undone by syncing the old state back.

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use arc_swap::ArcSwap;
use gslb_common::maps::CONFIG_CLIENT_GROUPS;
use tokio::sync::mpsc::UnboundedSender;
use tracing::{error, info, warn};

use super::{decide::Explanation, hits::HitWindow, servers::Servers, Engine};
use crate::{
    api::protocol::{Changes, ReloadReport, ReloadStatus, RequestError},
    clients::ClientMap,
    config::{self, Config},
    fastpath::ecs::EcsTrusted,
    state::{
        decision::{DecisionKey, PolicyKey},
        ids::{PolicyId, Registry, ServerId},
        model::State,
    },
};

/// Where a reload reads the config, and the `gslb run` options that
/// replace parts of it.
#[derive(Clone, Debug, Default)]
pub struct ReloadSource {
    /// The config file; `None`: the embedded default config.
    pub path: Option<PathBuf>,
    /// `--listen`: replaces `server.listen` when not empty.
    pub listen: Vec<SocketAddr>,
    /// `--iface`: replaces `server.interfaces` when not empty.
    pub interfaces: Vec<String>,
}

impl ReloadSource {
    /// How errors name the config: its path, or the default's origin.
    pub fn origin(&self) -> String {
        match &self.path {
            Some(p) => p.display().to_string(),
            None => config::DEFAULT_CONFIG_ORIGIN.to_string(),
        }
    }

    /// The validated config with the command line's replacements, and
    /// its warnings; the errors as `gslb check` prints them.
    pub fn load(&self) -> Result<(Config, Vec<config::Diagnostic>), String> {
        let (mut cfg, warnings) = match &self.path {
            Some(p) => config::load_with_warnings(p).map_err(|e| e.to_string())?,
            None => (
                config::load_default().map_err(|e| e.to_string())?,
                Vec::new(),
            ),
        };
        if !self.listen.is_empty() {
            cfg.server.listen = self.listen.clone();
        }
        if !self.interfaces.is_empty() {
            cfg.server.interfaces = self.interfaces.clone();
        }
        Ok((cfg, warnings))
    }
}

/// What the daemon needs after a reload to restart monitors and pollers:
/// the new config, each server's id (config order) and each monitor's
/// current state, which a restarted monitor starts from.
#[derive(Clone, Debug)]
pub struct Reloaded {
    /// The config now running.
    pub cfg: Arc<Config>,
    /// Per config position: the server's id.
    pub ids: Vec<ServerId>,
    /// By (server, monitor): up.
    pub monitors: HashMap<(ServerId, String), bool>,
}

/// The engine's reload business: source, the daemon's channel, the
/// trusted ECS trie, and the outcome counters.
#[derive(Default)]
pub struct Reloader {
    source: ReloadSource,
    notify: Option<UnboundedSender<Reloaded>>,
    ecs: Option<EcsTrusted>,
    status: ReloadStatus,
}

impl Reloader {
    /// The outcome counters, for `gslb status` and the metrics.
    pub fn status(&self) -> ReloadStatus {
        self.status.clone()
    }
}

/// The config keys that cannot change without a restart: sockets bound,
/// programs attached and maps sized at start. `Err` names each one that
/// differs.
pub fn restart_only(old: &Config, new: &Config) -> Result<(), String> {
    let mut changed = Vec::new();
    if old.server.listen != new.server.listen {
        changed.push("server.listen");
    }
    if old.server.interfaces != new.server.interfaces {
        changed.push("server.interfaces");
    }
    if old.server.persist_records != new.server.persist_records {
        changed.push("server.persist_records");
    }
    if old.engine.fewest_selected_window != new.engine.fewest_selected_window {
        changed.push("engine.fewest_selected_window");
    }
    // The HTTP listener is bound at start (its token and settings are
    // read from the running config, so they follow a reload; without
    // `[api]` it keeps running and refuses every request).
    if let Some(api) = &new.api {
        if old.api.as_ref().map(|a| a.listen) != Some(api.listen) {
            changed.push("api.listen");
        }
    }
    if changed.is_empty() {
        return Ok(());
    }
    let what = if changed.len() == 1 { "it" } else { "them" };
    Err(format!(
        "{} changed: restart gslb to apply {what}",
        changed.join(", ")
    ))
}

/// The order to build the new state's zones in (indexes into
/// `cfg.zones`), when it is not the config's: a zone of the running
/// state keeps its position (its id in the maps' name entries, which the
/// XDP program reads the zone's SOA by), new zones fill the positions of
/// removed ones, then follow. A zone that must move (one before it was
/// removed and none added) moves. Without this a zone inserted before
/// others would, during the switch, lend its SOA to the names of the zone
/// that had its position.
fn zone_order(cfg: &Config, old: &State) -> Option<Vec<usize>> {
    let n = cfg.zones.len();
    let was: HashMap<hickory_proto::rr::LowerName, usize> = old
        .zones
        .iter()
        .enumerate()
        .map(|(i, z)| (hickory_proto::rr::LowerName::new(z.origin()), i))
        .collect();
    let mut slots: Vec<Option<usize>> = vec![None; n];
    let mut rest = Vec::new();
    for (j, z) in cfg.zones.iter().enumerate() {
        match was.get(&hickory_proto::rr::LowerName::new(&z.name)) {
            Some(&i) if i < n && slots[i].is_none() => slots[i] = Some(j),
            _ => rest.push(j),
        }
    }
    let mut rest = rest.into_iter();
    let order: Vec<usize> = slots
        .into_iter()
        .map(|s| {
            s.or_else(|| rest.next())
                .expect("as many positions as zones")
        })
        .collect();
    (order.iter().enumerate().any(|(i, &j)| i != j)).then_some(order)
}

/// What differs between `old` and `new` (by `name`).
fn changes<T: PartialEq>(old: &[T], new: &[T], name: impl Fn(&T) -> String) -> Changes {
    let old: HashMap<String, &T> = old.iter().map(|t| (name(t), t)).collect();
    let new_names: HashMap<String, &T> = new.iter().map(|t| (name(t), t)).collect();
    let mut c = Changes::default();
    for t in new {
        let n = name(t);
        match old.get(&n) {
            None => c.added.push(n),
            Some(o) if *o != t => c.changed.push(n),
            Some(_) => {}
        }
    }
    for (n, _) in old.iter().filter(|(n, _)| !new_names.contains_key(*n)) {
        c.removed.push(n.clone());
    }
    c.removed.sort();
    c
}

/// The engine state a reload changes, kept to be put back when the
/// reload fails after [`Engine::reconfigure`].
struct Saved {
    cfg: Arc<Config>,
    servers: Servers,
    window: HitWindow,
    policies: Registry<PolicyKey, PolicyId>,
    dynamic: Vec<(PolicyKey, usize)>,
    sticky: Vec<hickory_proto::rr::LowerName>,
    explanations: HashMap<DecisionKey, Explanation>,
}

impl Saved {
    fn of(e: &Engine) -> Saved {
        Saved {
            cfg: Arc::clone(&e.cfg),
            servers: e.servers.clone(),
            window: e.window.clone(),
            policies: e.policies.clone(),
            dynamic: e.dynamic.clone(),
            sticky: e.sticky.clone(),
            explanations: e.explanations.clone(),
        }
    }

    fn restore(self, e: &mut Engine) {
        e.cfg = self.cfg;
        e.servers = self.servers;
        e.window = self.window;
        e.policies = self.policies;
        e.dynamic = self.dynamic;
        e.sticky = self.sticky;
        e.explanations = self.explanations;
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

impl Engine {
    /// Where reloads read the config, and where to tell the daemon that
    /// one was applied.
    pub fn set_reload(&mut self, source: ReloadSource, notify: UnboundedSender<Reloaded>) {
        self.reload.status.config = source.path.as_ref().map(|p| p.display().to_string());
        self.reload.source = source;
        self.reload.notify = Some(notify);
    }

    /// Hands the engine the `ECS_TRUSTED` trie (written at start), so
    /// that reloads can rewrite it.
    pub fn set_ecs_trusted(&mut self, ecs: EcsTrusted) {
        self.reload.ecs = Some(ecs);
    }

    /// Reads the config again and switches to it (module doc). On
    /// failure nothing changed; the error says why (`FILE:LINE:COL` for
    /// config errors). Counted and logged either way.
    pub fn reload(&mut self) -> Result<ReloadReport, RequestError> {
        let started = Instant::now();
        let result = self.try_reload(started);
        let status = &mut self.reload.status;
        status.last_at_unix = Some(unix_now());
        status.last_ok = Some(result.is_ok());
        match &result {
            Ok(r) => {
                status.ok += 1;
                let count = |c: &Changes| {
                    format!(
                        "+{} -{} ~{}",
                        c.added.len(),
                        c.removed.len(),
                        c.changed.len()
                    )
                };
                info!(
                    config = %r.config,
                    servers = %count(&r.servers),
                    pools = %count(&r.pools),
                    names = %count(&r.names),
                    zones = %count(&r.zones),
                    map_changes = r.map_changes,
                    elapsed_ms = r.elapsed_ms,
                    "config reloaded"
                );
            }
            Err(e) => {
                status.failed += 1;
                status.last_error = Some(e.clone());
                error!(error = %e, "config reload refused: the old config keeps serving");
            }
        }
        result.map_err(RequestError::Reload)
    }

    fn try_reload(&mut self, started: Instant) -> Result<ReloadReport, String> {
        let source = self.reload.source.clone();
        let origin = source.origin();
        let (cfg, warnings) = source.load()?;
        for w in &warnings {
            warn!("{w}");
        }
        restart_only(&self.cfg, &cfg).map_err(|e| format!("{origin}: {e}"))?;
        let old = self.state.load_full();
        let clients = ClientMap::rebuild(&cfg, &old.clients)
            .map_err(|e| format!("{origin}: client groups: {e}"))?;
        let geo_read = clients.geo_read_since(&old.clients);
        // Zones keep their positions (the zone ids of the maps' negative
        // answers) where they can.
        let reordered = zone_order(&cfg, &old).map(|order| {
            let mut c = cfg.clone();
            c.zones = order.iter().map(|&j| cfg.zones[j].clone()).collect();
            c
        });
        let mut state = State::with_clients(reordered.as_ref().unwrap_or(&cfg), clients);
        // The same store: records (and in XDP, the map) carry over.
        state.persist = Arc::clone(&old.persist);
        let mut report = ReloadReport {
            config: origin,
            servers: changes(&self.cfg.servers, &cfg.servers, |s| s.name.clone()),
            pools: changes(&self.cfg.pools, &cfg.pools, |p| p.name.clone()),
            names: changes(&self.cfg.gslb, &cfg.gslb, |g| g.name.to_string()),
            zones: changes(&self.cfg.zones, &cfg.zones, |z| z.name.to_string()),
            warnings: warnings.iter().map(ToString::to_string).collect(),
            geo_read,
            ..ReloadReport::default()
        };
        let old_cfg = Arc::clone(&self.cfg);
        let cfg = Arc::new(cfg);
        let saved = Saved::of(self);
        if let Err(e) = self.reconfigure(Arc::clone(&cfg)) {
            saved.restore(self);
            return Err(format!("{}: {e}", report.config));
        }
        match self.switch(&old, state) {
            Ok((maps, trie)) => {
                report.map_changes = maps;
                report.trie_changes = trie;
            }
            Err(e) => {
                // Back to the old state, maps included.
                if let Some(maps) = self.maps.as_mut() {
                    if let Err(back) = maps.sync(&old) {
                        error!(error = %back, "restoring the XDP maps after a failed reload");
                    }
                }
                if let Some(trie) = self.client_trie.as_mut() {
                    let _ = trie.write(&old.clients);
                }
                self.state.store(Arc::clone(&old));
                saved.restore(self);
                self.recompute();
                return Err(e);
            }
        }
        if old_cfg.server.ecs != cfg.server.ecs {
            if let (Some(ecs), Some(maps)) = (self.reload.ecs.as_mut(), self.maps.as_mut()) {
                match ecs.rewrite(maps, &cfg.server.ecs) {
                    Ok(n) => {
                        info!(ecs = ?cfg.server.ecs, changes = n, "trusted ECS resolvers rewritten")
                    }
                    // The rest of the config is in: say so, do not undo it.
                    Err(e) => error!(error = %e, "rewriting the trusted ECS resolvers failed"),
                }
            }
        }
        if old_cfg.log != cfg.log {
            if let Err(e) = crate::dns::querylog::install(&cfg.log) {
                let e = format!("opening the query log: {e}; no query log until it opens");
                error!("{e}");
                report.warnings.push(e);
            }
        }
        report.elapsed_ms = started.elapsed().as_millis() as u64;
        if let Some(tx) = &self.reload.notify {
            let _ = tx.send(Reloaded {
                cfg: Arc::clone(&self.cfg),
                ids: self.server_ids().to_vec(),
                monitors: self.monitor_states(),
            });
        }
        Ok(report)
    }

    /// Publishes `new` (built from the config just taken) to the maps and
    /// the slow path; returns the map entries and trie entries changed.
    fn switch(&mut self, old: &Arc<State>, new: State) -> Result<(usize, usize), String> {
        let new = Arc::new(new);
        let mut map_changes = 0;
        let mut trie_changes = 0;
        let moves = self.client_trie.is_some() && old.clients.entries() != new.clients.entries();
        if moves {
            // The new config's answers for the old groups and the new
            // ones, while the trie still holds the old partition.
            let mut both = (*new).clone();
            both.clients = Arc::new(old.clients.with_groups_of(&new.clients));
            map_changes += self.publish(Arc::new(both))?;
            if let Some(trie) = self.client_trie.as_mut() {
                trie_changes = trie
                    .write(&new.clients)
                    .map_err(|e| format!("writing the client group trie: {e}"))?;
            }
            if let Some(maps) = self.maps.as_mut() {
                maps.set_flag(CONFIG_CLIENT_GROUPS, !new.clients.is_empty())
                    .map_err(|e| format!("writing the XDP config: {e}"))?;
            }
        }
        map_changes += self.publish(new)?;
        Ok((map_changes, trie_changes))
    }

    /// Decides every policy of `state` (not yet published), writes it to
    /// the maps and then swaps it in for the slow path; returns the map
    /// entries changed.
    fn publish(&mut self, state: Arc<State>) -> Result<usize, String> {
        // The engine decides into `self.state`: point it at the new state
        // for one round, with the maps out of reach (nothing is written
        // until every decision is in).
        let shared = std::mem::replace(&mut self.state, Arc::new(ArcSwap::new(Arc::clone(&state))));
        let maps = self.maps.take();
        self.recompute();
        self.maps = maps;
        self.state = shared;
        let mut changes = 0;
        if let Some(maps) = self.maps.as_mut() {
            let short = maps
                .shortfalls(&state)
                .map_err(|e| format!("reading the XDP map sizes: {e}"))?;
            if !short.is_empty() {
                let list: Vec<String> = short
                    .iter()
                    .map(|(m, n, cap)| format!("{m} needs {n} entries, has {cap}"))
                    .collect();
                return Err(format!(
                    "the XDP maps sized at start are too small for the new config ({}): \
                     restart gslb to apply it",
                    list.join(", ")
                ));
            }
            changes = maps
                .sync(&state)
                .map_err(|e| format!("writing the XDP maps: {e}"))?;
        }
        self.state.store(Arc::clone(&state));
        self.publish_sets(&state);
        Ok(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Config {
        config::parse(text, "t").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn listen_and_interfaces_need_a_restart() {
        let old = parse(config::DEFAULT_CONFIG);
        assert_eq!(restart_only(&old, &old.clone()), Ok(()));
        let mut new = old.clone();
        new.server.listen = vec!["198.18.0.1:53".parse().unwrap()];
        assert_eq!(
            restart_only(&old, &new),
            Err("server.listen changed: restart gslb to apply it".into())
        );
        new.server.interfaces = vec!["eth9".into()];
        assert_eq!(
            restart_only(&old, &new),
            Err("server.listen, server.interfaces changed: restart gslb to apply them".into())
        );
    }

    /// Vservers `servers` (monitor `m` each) in pool `p` behind
    /// www.example.test, and static.example.test answering `fixed`.
    fn text(servers: &[&str], fixed: &str, listen: &str) -> String {
        let mut t = format!(
            "[server]\nlisten = [\"{listen}\"]\n\
             [[zone]]\nname = \"example.test\"\nns = [\"ns1.example.test.\"]\n\
             [zone.soa]\nrname = \"hostmaster.example.test.\"\n\
             [[zone.record]]\nname = \"ns1\"\ntype = \"A\"\ndata = \"198.18.0.53\"\n\
             [[datacenter]]\nname = \"ams\"\nlat = 52.37\nlon = 4.9\n\
             [[monitor]]\nname = \"m\"\ntype = \"tcp\"\nport = 80\n\
             [[gslb]]\nname = \"static.example.test\"\nttl = 30\na = [\"{fixed}\"]\n"
        );
        for (i, n) in servers.iter().enumerate() {
            t += &format!(
                "[[vserver]]\nname = \"{n}\"\ndatacenter = \"ams\"\n\
                 address = \"198.18.20.{}\"\nmonitors = [\"m\"]\n",
                i + 1
            );
        }
        let members: Vec<String> = servers.iter().map(|n| format!("\"{n}\"")).collect();
        t += &format!(
            "[[pool]]\nname = \"p\"\nmembers = [{}]\npreferred = \"round_robin\"\n\
             [[gslb]]\nname = \"www.example.test\"\nttl = 30\npools = [\"p\"]\n",
            members.join(", ")
        );
        t
    }

    fn static_answer(e: &Engine) -> String {
        let name = hickory_proto::rr::Name::from_ascii("static.example.test.").unwrap();
        let state = e.state.load();
        let g = state
            .gslb_name(&hickory_proto::rr::LowerName::new(&name))
            .unwrap();
        match &*g.a() {
            crate::state::decision::Decision::Answer(set) => set.addrs[0].to_string(),
            d => format!("{d:?}"),
        }
    }

    /// A reload keeps the health and admin state of the servers still
    /// there, takes the new answers, tells the daemon each monitor's
    /// state; broken configs and a changed `server.listen` are refused
    /// with their positions and change nothing; the outcomes are counted.
    #[test]
    fn reload_carries_state_over_and_refuses_bad_configs() {
        use crate::config::AdminState;
        let dir = std::env::temp_dir().join(format!("gslb-reload-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gslb.toml");
        let listen = "127.0.0.1:53";
        std::fs::write(&path, text(&["a", "b", "c"], "198.18.0.1", listen)).unwrap();
        let cfg = config::load(&path).unwrap();
        let state = Arc::new(ArcSwap::from_pointee(State::from_config(&cfg)));
        let mut e = Engine::new(Arc::new(cfg), state, None, None);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        e.set_reload(
            ReloadSource {
                path: Some(path.clone()),
                ..ReloadSource::default()
            },
            tx,
        );
        e.recompute();
        let b = e.servers.by_name("b").unwrap();
        e.on_health(&crate::health::HealthEvent {
            server: b,
            monitor: "m".into(),
            probe: crate::health::Probe {
                ok: false,
                latency: Duration::from_millis(1),
                message: "refused".into(),
                at: SystemTime::now(),
            },
            up: false,
            changed: true,
        });
        e.servers
            .get_mut(e.servers.by_name("c").unwrap())
            .unwrap()
            .admin = AdminState::Draining;
        assert_eq!(static_answer(&e), "198.18.0.1");

        std::fs::write(&path, text(&["a", "b", "c", "d"], "198.18.0.2", listen)).unwrap();
        let r = e.reload().unwrap();
        assert_eq!(r.servers.added, ["d"]);
        assert_eq!(r.names.changed, ["static.example.test."]);
        assert_eq!(static_answer(&e), "198.18.0.2");
        let st = e.status();
        let server = |n: &str| st.servers.iter().find(|s| s.name == n).unwrap().clone();
        assert_eq!(server("b").health, crate::config::Health::Down);
        assert_eq!(server("c").admin, AdminState::Draining);
        assert_eq!(server("d").admin, AdminState::Enabled);
        let told = rx.try_recv().unwrap();
        assert_eq!(told.ids.len(), 4);
        assert!(!told.monitors[&(b, "m".to_string())]);

        // Broken: syntax, then a pool naming an unknown server.
        let origin = path.display().to_string();
        std::fs::write(&path, "[[vserver]\nname = 1\n").unwrap();
        let err = e.reload().unwrap_err().to_string();
        assert!(err.contains(&format!("{origin}:1:")), "{err}");
        let bad =
            text(&["a", "b"], "198.18.0.3", listen).replace("\"a\", \"b\"]", "\"a\", \"zz\"]");
        std::fs::write(&path, bad).unwrap();
        let err = e.reload().unwrap_err().to_string();
        assert!(err.contains(&origin) && err.contains("zz"), "{err}");
        // Fixed at start.
        std::fs::write(&path, text(&["a"], "198.18.0.4", "127.0.0.2:53")).unwrap();
        let err = e.reload().unwrap_err().to_string();
        assert!(
            err.contains("server.listen changed: restart gslb to apply it"),
            "{err}"
        );
        assert_eq!(static_answer(&e), "198.18.0.2");
        assert_eq!(e.server_ids().len(), 4);
        let st = e.status().reload;
        assert_eq!((st.ok, st.failed, st.last_ok), (1, 3, Some(false)));
        assert!(st.last_error.unwrap().contains("server.listen"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Zones keep their positions across a reload where they can.
    #[test]
    fn zones_keep_their_positions() {
        let zones = |names: &[&str]| {
            let text: String = names
                .iter()
                .map(|n| {
                    format!(
                        "[[zone]]\nname = \"{n}.test\"\nns = [\"ns1.example.net.\"]\n\
                         [zone.soa]\nmname = \"ns1.example.net.\"\nrname = \"hostmaster.{n}.test.\"\n"
                    )
                })
                .collect();
            parse(&text)
        };
        let old = State::from_config(&zones(&["a", "b", "c"]));
        // Already in place; a removed zone's successor has to move.
        assert_eq!(zone_order(&zones(&["a", "b", "c"]), &old), None);
        assert_eq!(zone_order(&zones(&["a", "c"]), &old), None);
        // A zone inserted before others goes where it does not move them.
        assert_eq!(
            zone_order(&zones(&["a", "d", "b", "c"]), &old),
            Some(vec![0, 2, 3, 1])
        );
        // A new zone takes a removed one's position.
        assert_eq!(zone_order(&zones(&["a", "d", "c"]), &old), None);
        assert_eq!(
            zone_order(&zones(&["d", "c", "a"]), &old),
            Some(vec![2, 0, 1])
        );
        // Reordered in the file: the running order stays.
        assert_eq!(
            zone_order(&zones(&["c", "b", "a"]), &old),
            Some(vec![2, 1, 0])
        );
    }

    #[test]
    fn changes_by_name() {
        let c = changes(
            &[("a", 1), ("b", 2), ("c", 3)],
            &[("b", 2), ("c", 4), ("d", 5)],
            |t| t.0.to_string(),
        );
        assert_eq!(c.added, ["d"]);
        assert_eq!(c.removed, ["a"]);
        assert_eq!(c.changed, ["c"]);
    }
}
