//! State that survives a restart (`gslb run --state-file`): the admin
//! states set at run time (`gslb server drain|disable|enable`) and the
//! last health of every server's monitors, by name, plus a fingerprint of
//! the server and answer-set ids the persistence records are keyed by.
//!
//! The engine offers a snapshot after every recompute; the file is
//! rewritten (temp file, fsync, rename: a reader sees the old file or the
//! new one) only when the snapshot changed, at most once per
//! [`MIN_INTERVAL`] (a change within it is written by the next tick, and
//! by [`StateFile::flush`] at shutdown). A starting daemon reads it back
//! before its first probe: a drain is not forgotten, and a server known
//! to be down is not handed out while the first probes run.

use std::{
    collections::{BTreeMap, HashMap},
    fs, io,
    io::Write as _,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime},
};

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::{servers::Servers, sticky_names, Engine};
pub use crate::api::protocol::StartStatus;
use crate::{
    config::{AdminState, Config},
    fastpath::maps::Maps,
    state::{ids::ServerId, model::State},
};

/// Default `--state-file`.
pub const DEFAULT_STATE_FILE: &str = "/var/lib/gslb/state.json";
/// Least time between two writes of the file.
pub const MIN_INTERVAL: Duration = Duration::from_millis(500);
/// Version of the file's layout.
const VERSION: u32 = 1;

/// The file's contents.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedState {
    /// Layout version.
    pub version: u32,
    /// When it was written (seconds since the epoch).
    #[serde(default)]
    pub saved_at_unix: u64,
    /// Fingerprint of the server ids and the persistence set ids
    /// ([`fingerprint`]): persistence records are kept across a restart
    /// only when the new daemon's ids are the same.
    #[serde(default)]
    pub ids: String,
    /// Every server, by name.
    #[serde(default)]
    pub servers: BTreeMap<String, SavedServer>,
}

/// One server in the file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedServer {
    /// Its admin state then.
    pub admin: AdminState,
    /// What its config said then: the saved state is a run-time change
    /// (re-applied) only when it differs from this, and only while the
    /// config still says the same.
    pub config_admin: AdminState,
    /// Each monitor's state (after rise/fall) then, by monitor name.
    #[serde(default)]
    pub monitors: BTreeMap<String, bool>,
}

/// Why the state file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Reading failed.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Not a state file of this layout.
    #[error("{path}: not a gslb state file: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Reads the state file at `path`; `None` when there is none.
pub fn read(path: &Path) -> Result<Option<SavedState>, ReadError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ReadError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let saved: SavedState = serde_json::from_str(&text).map_err(|e| ReadError::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    if saved.version != VERSION {
        return Err(ReadError::Format {
            path: path.to_path_buf(),
            message: format!(
                "layout version {} (this build reads {VERSION})",
                saved.version
            ),
        });
    }
    Ok(Some(saved))
}

/// Writes `saved` to `path` atomically (temp file in the same directory,
/// fsync, rename), creating the directory.
pub fn write(path: &Path, saved: &SavedState) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let text = serde_json::to_string_pretty(saved).map_err(io::Error::other)?;
    let mut f = fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)
}

/// The state file the engine writes, shared with the daemon (which
/// flushes it at shutdown).
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    inner: Mutex<Pending>,
}

#[derive(Debug, Default)]
struct Pending {
    /// What the file holds (without its time).
    written: Option<SavedState>,
    /// A newer snapshot not yet written.
    next: Option<SavedState>,
    last_write: Option<Instant>,
}

impl StateFile {
    /// The state file at `path`; `current` is what it holds now, if known.
    pub fn new(path: PathBuf, current: Option<SavedState>) -> Arc<StateFile> {
        let written = current.map(|mut s| {
            s.saved_at_unix = 0;
            s
        });
        Arc::new(StateFile {
            path,
            inner: Mutex::new(Pending {
                written,
                ..Pending::default()
            }),
        })
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes a snapshot: written now when it differs from the file and
    /// the last write is [`MIN_INTERVAL`] old, else kept for later.
    pub fn offer(&self, snapshot: SavedState) {
        let mut p = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if p.written.as_ref() == Some(&snapshot) {
            p.next = None;
            return;
        }
        p.next = Some(snapshot);
        if p.last_write.is_none_or(|t| t.elapsed() >= MIN_INTERVAL) {
            self.write_next(&mut p);
        }
    }

    /// Writes the snapshot not yet written, if any.
    pub fn flush(&self) {
        let mut p = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        self.write_next(&mut p);
    }

    fn write_next(&self, p: &mut Pending) {
        let Some(next) = p.next.take() else { return };
        let mut out = next.clone();
        out.saved_at_unix = unix_now();
        p.last_write = Some(Instant::now());
        match write(&self.path, &out) {
            Ok(()) => p.written = Some(next),
            Err(e) => warn!(path = %self.path.display(), error = %e, "writing the state file"),
        }
    }
}

/// Seconds since the epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// FNV-1a, 64 bits: stable across builds (unlike `DefaultHasher`).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The fingerprint of what persistence records are keyed by: each
/// server's id by name and each persistent gslb name's answer-set id.
pub fn fingerprint<'a>(
    servers: impl IntoIterator<Item = (&'a str, u32)>,
    sets: impl IntoIterator<Item = (String, u32)>,
) -> String {
    let mut lines: Vec<String> = servers
        .into_iter()
        .map(|(n, id)| format!("server {n} {id}"))
        .chain(sets.into_iter().map(|(n, id)| format!("set {n} {id}")))
        .collect();
    lines.sort();
    format!("{:016x}", fnv1a(lines.join("\n").as_bytes()))
}

/// The fingerprint a daemon starting with `cfg` (and `maps` filled from
/// `state`) will have: its servers get ids in config order.
pub fn fingerprint_for(cfg: &Config, state: &State, maps: &Maps) -> String {
    let servers = Servers::new(cfg).unwrap_or_default();
    let ids: Vec<(&str, u32)> = cfg
        .servers
        .iter()
        .zip(servers.ids())
        .map(|(s, id)| (s.name.as_str(), u32::from(id.get())))
        .collect();
    fingerprint(ids, set_ids(&sticky_names(cfg), state, maps))
}

fn set_ids(
    names: &[hickory_proto::rr::LowerName],
    state: &State,
    maps: &Maps,
) -> Vec<(String, u32)> {
    names
        .iter()
        .filter_map(|n| {
            let g = state.gslb_name(n)?;
            Some((n.to_string(), maps.set_id(g)?))
        })
        .collect()
}

/// What the engine knows about the restart it started from, and where it
/// saves its state.
#[derive(Debug, Default)]
pub struct Restart {
    /// The state file (none: nothing is saved).
    pub file: Option<Arc<StateFile>>,
    /// How this daemon started.
    pub start: StartStatus,
}

impl Engine {
    /// Sets where the engine saves its state and how the daemon started.
    pub fn set_restart(&mut self, file: Option<Arc<StateFile>>, start: StartStatus) {
        self.restart = Restart { file, start };
    }

    /// How this daemon started (completed by the attach).
    pub fn start_mut(&mut self) -> &mut StartStatus {
        &mut self.restart.start
    }

    /// Applies a saved state before the first recompute: the run-time
    /// admin states (where the config still says what it said then) and
    /// every monitor's last state. Returns how many servers it touched.
    pub fn restore(&mut self, saved: &SavedState) -> usize {
        let mut touched = 0;
        let names: Vec<(usize, String, AdminState)> = self
            .cfg
            .servers
            .iter()
            .enumerate()
            .map(|(i, s)| (i, s.name.clone(), s.admin))
            .collect();
        for (i, name, config_admin) in names {
            let Some(s) = saved.servers.get(&name) else {
                continue;
            };
            let id = self.servers.ids()[i];
            let Some(rt) = self.servers.get_mut(id) else {
                continue;
            };
            let mut changed = false;
            if s.admin != s.config_admin && s.config_admin == config_admin {
                info!(server = %name, admin = %s.admin, "admin state restored (set at run time before the restart)");
                rt.admin = s.admin;
                changed = true;
            }
            for m in &mut rt.monitors {
                if let Some(&up) = s.monitors.get(&m.monitor) {
                    changed |= m.up != up;
                    m.up = up;
                }
            }
            if s.monitors.values().any(|up| !up) {
                info!(server = %name, "health restored: down before the restart, until its monitors say otherwise");
            }
            touched += usize::from(changed || !s.monitors.is_empty());
        }
        touched
    }

    /// Each monitor's current state, by (server, monitor): what the
    /// monitors' rise/fall counting starts from.
    pub fn monitor_states(&self) -> HashMap<(ServerId, String), bool> {
        self.servers
            .iter()
            .flat_map(|(_, id, rt)| {
                rt.monitors
                    .iter()
                    .map(move |m| ((id, m.monitor.clone()), m.up))
            })
            .collect()
    }

    /// The state to save now.
    fn snapshot(&self) -> SavedState {
        let mut servers = BTreeMap::new();
        let mut ids = Vec::new();
        for (i, id, rt) in self.servers.iter() {
            let cfg = &self.cfg.servers[i];
            ids.push((cfg.name.as_str(), u32::from(id.get())));
            servers.insert(
                cfg.name.clone(),
                SavedServer {
                    admin: rt.admin,
                    config_admin: cfg.admin,
                    monitors: rt
                        .monitors
                        .iter()
                        .map(|m| (m.monitor.clone(), m.up))
                        .collect(),
                },
            );
        }
        let sets = match &self.maps {
            Some(maps) => set_ids(&self.sticky, &self.state.load(), maps),
            None => Vec::new(),
        };
        SavedState {
            version: VERSION,
            saved_at_unix: 0,
            ids: fingerprint(ids, sets),
            servers,
        }
    }

    /// Offers the current state to the state file (after a recompute).
    pub(super) fn save_state(&self) {
        if let Some(file) = &self.restart.file {
            file.offer(self.snapshot());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::tests::{config_with, engine};

    /// Servers `a`, `b`, `c` (one TCP monitor each) in one pool; `b`'s
    /// config says `admin_b`.
    fn cfg(admin_b: AdminState) -> Config {
        let mut cfg = config_with(&["a", "b", "c"]);
        cfg.servers[1].admin = admin_b;
        cfg
    }

    fn admin(e: &Engine, name: &str) -> AdminState {
        e.servers
            .iter()
            .find(|&(i, _, _)| e.cfg.servers[i].name == name)
            .map(|(_, _, rt)| rt.admin)
            .unwrap()
    }

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "gslb-saved-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_run_time_drain_and_a_down_monitor_come_back() {
        let mut e = engine(cfg(AdminState::Enabled));
        let b = e.servers.by_name("b").unwrap();
        let c = e.servers.by_name("c").unwrap();
        e.servers.get_mut(b).unwrap().admin = AdminState::Draining;
        e.servers.get_mut(c).unwrap().monitors[0].up = false;
        let saved = e.snapshot();
        assert_eq!(saved.servers["b"].admin, AdminState::Draining);
        assert_eq!(saved.servers["b"].config_admin, AdminState::Enabled);
        assert!(!saved.servers["c"].monitors["m"]);

        let mut fresh = engine(cfg(AdminState::Enabled));
        fresh.restore(&saved);
        assert_eq!(admin(&fresh, "b"), AdminState::Draining);
        let states = fresh.monitor_states();
        assert!(!states[&(c, "m".to_string())]);
        assert!(states[&(b, "m".to_string())]);
        // Same config, same ids.
        assert_eq!(fresh.snapshot().ids, saved.ids);
    }

    #[test]
    fn the_config_wins_when_it_changed_since() {
        let mut e = engine(cfg(AdminState::Enabled));
        let b = e.servers.by_name("b").unwrap();
        e.servers.get_mut(b).unwrap().admin = AdminState::Draining;
        let saved = e.snapshot();
        // The config now says disabled: the saved drain is not applied.
        let mut fresh = engine(cfg(AdminState::Disabled));
        fresh.restore(&saved);
        assert_eq!(admin(&fresh, "b"), AdminState::Disabled);
        // A state equal to the config's is no run-time change either.
        let plain = engine(cfg(AdminState::Disabled)).snapshot();
        let mut again = engine(cfg(AdminState::Disabled));
        again.restore(&plain);
        assert_eq!(admin(&again, "b"), AdminState::Disabled);
    }

    #[test]
    fn the_fingerprint_follows_ids_not_order_of_listing() {
        let a = fingerprint([("a", 0), ("b", 1)], [("www.".to_string(), 1)]);
        let b = fingerprint([("b", 1), ("a", 0)], [("www.".to_string(), 1)]);
        assert_eq!(a, b);
        assert_ne!(
            a,
            fingerprint([("a", 1), ("b", 0)], [("www.".to_string(), 1)])
        );
        assert_ne!(
            a,
            fingerprint([("a", 0), ("b", 1)], [("www.".to_string(), 2)])
        );
        assert_eq!(a.len(), 16);
    }

    #[test]
    fn the_file_is_written_when_it_changed_and_read_back() {
        let d = dir();
        let path = d.join("state.json");
        let e = engine(cfg(AdminState::Enabled));
        let snap = e.snapshot();
        let file = StateFile::new(path.clone(), None);
        file.offer(snap.clone());
        let read_back = read(&path).unwrap().unwrap();
        assert!(read_back.saved_at_unix > 0);
        assert_eq!(read_back.servers, snap.servers);
        // Unchanged: not written again.
        fs::remove_file(&path).unwrap();
        file.offer(snap.clone());
        file.flush();
        assert!(!path.exists());
        // Changed within MIN_INTERVAL: kept, then written by flush.
        let mut changed = snap;
        changed.servers.get_mut("a").unwrap().admin = AdminState::Disabled;
        file.offer(changed.clone());
        file.flush();
        assert_eq!(read(&path).unwrap().unwrap().servers, changed.servers);
        assert!(!d.join("state.json.tmp").exists());
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn a_missing_file_is_none_and_a_broken_one_an_error() {
        let d = dir().join("broken");
        fs::create_dir_all(&d).unwrap();
        assert!(read(&d.join("none.json")).unwrap().is_none());
        let bad = d.join("bad.json");
        fs::write(&bad, "{ not json").unwrap();
        let e = read(&bad).unwrap_err().to_string();
        assert!(
            e.contains("bad.json") && e.contains("not a gslb state file"),
            "{e}"
        );
        fs::write(&bad, r#"{"version": 9}"#).unwrap();
        let e = read(&bad).unwrap_err().to_string();
        assert!(e.contains("layout version 9"), "{e}");
        let _ = fs::remove_dir_all(&d);
    }
}
