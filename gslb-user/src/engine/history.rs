//! What the status page draws over time: the answers handed out per gslb
//! name in each tick of the last [`TICKS`] (a ring), and the last
//! [`CHANGES`] health and admin changes of the servers.
//!
//! A name's count is read as a cumulative number each tick (the engine
//! passes what it has: per-name answer counters where they exist, else
//! the hand-out counts of the servers in the name's pools summed); the
//! history keeps the difference. A name's ring is allocated on its first
//! answer, so a config with many names that are never asked costs
//! nothing here.

use std::{
    collections::{HashMap, VecDeque},
    time::{Duration, SystemTime},
};

use hickory_proto::rr::LowerName;
use serde::{Deserialize, Serialize};

/// Ticks kept: ten minutes of one-second ticks.
pub const TICKS: usize = 600;

/// Health and admin changes kept.
pub const CHANGES: usize = 100;

/// Gslb names kept: the first ones with pools, in config order. Each
/// tick reads every kept name's counters (one per-CPU map lookup each),
/// so a config of 100,000 names would keep the engine busy for a good
/// part of every second; a page draws a few names anyway.
pub const MAX_NAMES: usize = 1000;

/// The history the engine keeps.
#[derive(Debug, Default)]
pub struct History {
    /// When each tick kept ended (seconds since the epoch) and how long
    /// it was, oldest first; at most [`TICKS`].
    ticks: VecDeque<(f64, f64)>,
    /// Per gslb name: its last cumulative count, and its per-tick counts
    /// (aligned with the newest entries of `ticks`; absent until the
    /// name's first answer).
    names: HashMap<String, NameSeries>,
    /// The gslb names in the order reports list them (the config's).
    order: Vec<String>,
    /// When the last tick ended.
    last: Option<SystemTime>,
    /// Newest last; at most [`CHANGES`].
    changes: VecDeque<Change>,
}

#[derive(Debug, Default)]
struct NameSeries {
    cumulative: Option<u64>,
    /// Per-tick counts, newest last; shorter than `ticks` when the name
    /// was first answered later (the missing older ticks were zero).
    counts: VecDeque<u32>,
}

/// One health or admin change of a server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// When, seconds since the epoch.
    pub at: f64,
    /// The server's name.
    pub server: String,
    /// `health` (a monitor's verdict flipped) or `admin` (its admin
    /// state was set).
    pub kind: String,
    /// The monitor whose verdict flipped (health changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<String>,
    /// The state before: `up`/`down`, or the admin state.
    pub from: String,
    /// The state after.
    pub to: String,
    /// The deciding probe's message, or who set the admin state.
    pub message: String,
}

/// `GET /api/v1/history`: answers per name per tick, and recent changes.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct HistoryReport {
    /// Seconds per tick (nominal).
    pub tick_s: f64,
    /// When each tick ended (seconds since the epoch), oldest first.
    pub times: Vec<f64>,
    /// The gslb names with pools, in config order (the first
    /// [`MAX_NAMES`]).
    pub names: Vec<NameHistory>,
    /// Recent health and admin changes, newest first.
    pub changes: Vec<Change>,
}

/// One gslb name's answers over the ticks of a [`HistoryReport`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct NameHistory {
    /// The name.
    pub name: String,
    /// Answers per second in each tick (aligned with `times`).
    pub qps: Vec<f64>,
    /// Answers in the whole history.
    pub answers: u64,
}

/// Seconds since the epoch.
pub fn epoch_s(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl History {
    /// Ends one tick at `now` with each name's cumulative answer count
    /// (names in the order reports should list them; a name missing from
    /// `counts` is gone and forgotten). A count below the last one means
    /// its counter restarted: all of it is new.
    pub fn tick<'a>(&mut self, now: SystemTime, counts: impl IntoIterator<Item = (&'a str, u64)>) {
        let length = match self.last {
            Some(last) => now.duration_since(last).unwrap_or(Duration::ZERO),
            None => super::TICK,
        };
        self.last = Some(now);
        if self.ticks.len() == TICKS {
            self.ticks.pop_front();
        }
        self.ticks.push_back((epoch_s(now), length.as_secs_f64()));
        let kept = self.ticks.len();
        let mut order = Vec::with_capacity(self.order.len());
        let mut seen = HashMap::with_capacity(self.names.len());
        for (name, total) in counts {
            let mut series = self.names.remove(name).unwrap_or_default();
            let delta = match series.cumulative {
                Some(last) => total.checked_sub(last).unwrap_or(total),
                // The first reading: what came before is not this tick's.
                None => 0,
            };
            series.cumulative = Some(total);
            if delta > 0 || !series.counts.is_empty() {
                series
                    .counts
                    .push_back(u32::try_from(delta).unwrap_or(u32::MAX));
                while series.counts.len() > kept {
                    series.counts.pop_front();
                }
            }
            order.push(name.to_owned());
            seen.insert(name.to_owned(), series);
        }
        self.names = seen;
        self.order = order;
    }

    /// Records a change (the oldest goes beyond [`CHANGES`]).
    pub fn change(&mut self, change: Change) {
        if self.changes.len() == CHANGES {
            self.changes.pop_front();
        }
        self.changes.push_back(change);
    }

    /// The report.
    pub fn report(&self) -> HistoryReport {
        let kept = self.ticks.len();
        let names = self
            .order
            .iter()
            .map(|name| {
                let series = &self.names[name];
                let pad = kept - series.counts.len();
                let qps = self
                    .ticks
                    .iter()
                    .enumerate()
                    .map(|(i, &(_, length))| {
                        let n = if i < pad { 0 } else { series.counts[i - pad] };
                        if length > 0.0 {
                            f64::from(n) / length
                        } else {
                            0.0
                        }
                    })
                    .collect();
                NameHistory {
                    name: name.clone(),
                    qps,
                    answers: series.counts.iter().map(|&n| u64::from(n)).sum(),
                }
            })
            .collect();
        HistoryReport {
            tick_s: super::TICK.as_secs_f64(),
            times: self.ticks.iter().map(|&(at, _)| at).collect(),
            names,
            changes: self.changes.iter().rev().cloned().collect(),
        }
    }
}

/// The engine's hooks: what it records each tick and on each change.
impl super::Engine {
    /// Ends a history tick with each gslb name's answers so far (the
    /// first [`MAX_NAMES`] with pools): the XDP program's `NAME_ANSWERS`
    /// and the slow path's, as `gslb status` reports them.
    pub(super) fn record_history(&mut self, now: SystemTime) {
        let state = self.state.load();
        let counts: Vec<(String, u64)> = self
            .cfg
            .gslb
            .iter()
            .filter(|g| !g.pools.is_empty())
            .take(MAX_NAMES)
            .map(|g| {
                let counter = state
                    .gslb_name(&LowerName::new(&g.name))
                    .and_then(|n| n.counter);
                let total = counter.map_or(0, |id| {
                    let fast = self.maps.as_ref().map_or(0, |m| m.name_answers(id));
                    fast + crate::state::counts::names().slow(id)
                });
                (g.name.to_string(), total)
            })
            .collect();
        self.history
            .tick(now, counts.iter().map(|(n, c)| (n.as_str(), *c)));
    }

    /// Records that one monitor of `server` flipped to `up`.
    pub(super) fn record_health_change(
        &mut self,
        server: String,
        monitor: &str,
        up: bool,
        message: &str,
    ) {
        let (from, to) = if up { ("down", "up") } else { ("up", "down") };
        self.history.change(Change {
            at: epoch_s(SystemTime::now()),
            server,
            kind: "health".into(),
            monitor: Some(monitor.to_owned()),
            from: from.into(),
            to: to.into(),
            message: message.to_owned(),
        });
    }

    /// Records an admin state change of `server`.
    pub(super) fn record_admin_change(
        &mut self,
        server: &str,
        from: crate::config::AdminState,
        to: crate::config::AdminState,
    ) {
        self.history.change(Change {
            at: epoch_s(SystemTime::now()),
            server: server.to_owned(),
            kind: "admin".into(),
            monitor: None,
            from: from.name().into(),
            to: to.name().into(),
            message: "set by an operator".into(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + s)
    }

    /// Counts become per-tick rates; the first reading is a baseline; a
    /// name first answered later reads zero before; a counter that went
    /// back counts whole; a name that leaves the config is forgotten.
    #[test]
    fn per_tick_rates() {
        let mut h = History::default();
        h.tick(at(0), [("a.", 500), ("b.", 0)]);
        h.tick(at(1), [("a.", 510), ("b.", 0)]);
        h.tick(at(3), [("a.", 530), ("b.", 4)]);
        h.tick(at(4), [("a.", 5), ("b.", 4)]);
        let r = h.report();
        assert_eq!(r.times.len(), 4);
        assert_eq!(r.names[0].name, "a.");
        assert_eq!(r.names[0].qps, [0.0, 10.0, 10.0, 5.0]);
        assert_eq!(r.names[0].answers, 35);
        assert_eq!(r.names[1].qps, [0.0, 0.0, 2.0, 0.0]);
        h.tick(at(5), [("b.", 6)]);
        let r = h.report();
        assert_eq!(r.names.len(), 1);
        assert_eq!(r.names[0].qps, [0.0, 0.0, 2.0, 0.0, 2.0]);
    }

    /// The ring keeps the last `TICKS` ticks and `CHANGES` changes,
    /// newest change first.
    #[test]
    fn bounded() {
        let mut h = History::default();
        for s in 0..(TICKS as u64 + 50) {
            h.tick(at(s), [("a.", s * 3)]);
        }
        let r = h.report();
        assert_eq!(r.times.len(), TICKS);
        assert_eq!(r.names[0].qps.len(), TICKS);
        assert!(r.names[0].qps.iter().all(|&q| q == 3.0));
        for i in 0..(CHANGES + 5) {
            h.change(Change {
                at: i as f64,
                server: format!("s{i}"),
                kind: "health".into(),
                monitor: Some("tcp".into()),
                from: "up".into(),
                to: "down".into(),
                message: String::new(),
            });
        }
        let r = h.report();
        assert_eq!(r.changes.len(), CHANGES);
        assert_eq!(r.changes[0].server, format!("s{}", CHANGES + 4));
    }
}
