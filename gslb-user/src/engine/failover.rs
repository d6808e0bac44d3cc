//! Failover log lines: when servers go down or come back (health, admin
//! state, capacity) and a gslb name's answer changes with them, one line
//! per gslb name and family says which pool and servers it answered
//! before and after, by name, and why:
//!
//! ```text
//! pool "web" of www.example.com. A: failed over from web-a1 to web-b1 (web-a1 down: monitor http)
//! pool "web" of www.example.com. A: failed back from web-b1 to web-a1 (web-a1 up)
//! www.example.com. A: failed over from pool "east" (e1) to pool "west" (w1) (e1 disabled)
//! ```
//!
//! The monitors' own "health changed" lines say which probe failed; these
//! say what it did to the answers. An answer that changes without a
//! server changing state (a config change, pool rotation, load metrics
//! reordering the servers) is not a failover and is not logged. The
//! answers compared are those of the default client group (client group
//! 0: clients no topology rule places), so a client-aware name gets one
//! line per change, not one per client group.

use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
    sync::Arc,
};

use gslb_common::select::MODE_ORDERED;
use tracing::{info, warn};

use super::{
    decide::{Availability, Family, Stage},
    Engine,
};
use crate::state::{
    decision::{answers_per_response, Decision, DecisionKey, Decisions},
    ids::{GroupId, PolicyId, ServerId},
    model::State,
};

/// What the engine answered at its last round, to compare the next with.
#[derive(Default)]
pub(super) struct Failovers {
    /// Each server's availability, by id.
    availability: HashMap<ServerId, Availability>,
    /// Each answer policy's answer per family (default client group).
    served: HashMap<(PolicyId, Family), Served>,
    /// Each policy's decisions the answers were taken from: unchanged
    /// (the same `Arc`), its answers are too, and it is skipped.
    decisions: HashMap<PolicyId, Arc<Decisions>>,
}

/// What one policy answers for one family, as the log names it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Served {
    /// The deciding pool.
    pool: Option<String>,
    /// The answered addresses, in answer order.
    addrs: Vec<IpAddr>,
    /// The server of each address (`None`: a `fallback_ip` or fixed
    /// address).
    servers: Vec<Option<String>>,
    /// Without addresses: what is answered instead (SERVFAIL, NODATA,
    /// drop, static data).
    other: Option<&'static str>,
    /// Decided by the pool's fallback method or its all-down behaviour:
    /// every member is unavailable.
    all_down: bool,
}

impl Served {
    /// The answered servers' names (addresses without a server as
    /// addresses).
    fn names(&self) -> Vec<String> {
        self.addrs
            .iter()
            .zip(&self.servers)
            .map(|(a, s)| s.clone().unwrap_or_else(|| a.to_string()))
            .collect()
    }

    /// The answer in words: the servers, or what stands in for them.
    fn describe(&self) -> String {
        let mut text = if self.addrs.is_empty() {
            self.other.unwrap_or("no answer").to_owned()
        } else {
            self.names().join(", ")
        };
        if self.all_down && !self.addrs.is_empty() {
            text.push_str(" (fallback, all down)");
        }
        text
    }
}

/// The name of a family's record type.
fn rtype(family: Family) -> &'static str {
    match family {
        Family::V4 => "A",
        Family::V6 => "AAAA",
    }
}

impl Engine {
    /// After a recompute: logs each gslb name whose answer changed while
    /// some server's availability changed, then remembers this round.
    pub(super) fn log_failovers(&mut self, state: &State) {
        let views = super::views(&self.cfg, &self.servers);
        let now: HashMap<ServerId, Availability> =
            views.iter().map(|v| (v.id, v.availability())).collect();
        // A server new to the config is no change of state.
        let changed: HashMap<&str, (Availability, Availability)> = views
            .iter()
            .filter_map(|v| {
                let before = *self.failovers.availability.get(&v.id)?;
                let after = now[&v.id];
                (before != after).then_some((v.cfg.name.as_str(), (before, after)))
            })
            .collect();
        let reasons = if changed.is_empty() {
            HashMap::new()
        } else {
            self.reasons()
        };
        let mut served = HashMap::with_capacity(self.failovers.served.len());
        let mut seen = HashMap::with_capacity(self.failovers.decisions.len());
        let mut lines = Vec::new();
        for (key, _) in &self.dynamic {
            let Some(id) = self.policies.get(key) else {
                continue;
            };
            let Some(first) = state.policy_names(key).next() else {
                continue;
            };
            let decisions = first.decisions();
            if let Some(prev) = self.failovers.decisions.get(&id) {
                if Arc::ptr_eq(prev, &decisions) {
                    for family in [Family::V4, Family::V6] {
                        if let Some(s) = self.failovers.served.remove(&(id, family)) {
                            served.insert((id, family), s);
                        }
                    }
                    seen.insert(id, decisions);
                    continue;
                }
            }
            for family in [Family::V4, Family::V6] {
                let at = DecisionKey {
                    policy: id,
                    family,
                    group: GroupId::DEFAULT,
                };
                let Some(ex) = self.explanations.get(&at) else {
                    continue;
                };
                let decision = decisions.decision(family, GroupId::DEFAULT);
                let by_addr = |a: &IpAddr| {
                    ex.candidates
                        .iter()
                        .find(|c| c.address == *a)
                        .map(|c| c.server.clone())
                };
                let (addrs, other) = match &**decision {
                    // In order: only the first ones are handed out; the
                    // per-query methods hand out the whole set.
                    Decision::Answer(set) if set.sel.mode == MODE_ORDERED => (
                        set.addrs
                            .iter()
                            .take(answers_per_response(set))
                            .copied()
                            .collect(),
                        None,
                    ),
                    Decision::Answer(set) => (set.addrs.clone(), None),
                    Decision::NoSet | Decision::Nodata => (Vec::new(), Some("NODATA")),
                    Decision::Drop => (Vec::new(), Some("no response (drop)")),
                    Decision::ReturnToDns => (Vec::new(), Some("the static zone data")),
                    Decision::Servfail => (Vec::new(), Some("SERVFAIL")),
                };
                let now_served = Served {
                    pool: ex.pool.clone(),
                    servers: addrs.iter().map(by_addr).collect(),
                    addrs,
                    other,
                    all_down: matches!(ex.step.stage, Stage::Fallback | Stage::WhenAllDown),
                };
                if !changed.is_empty() {
                    if let Some(before) = self.failovers.served.get(&(id, family)) {
                        if *before != now_served {
                            for g in state.policy_names(key) {
                                let name = g.name.to_string();
                                lines.push(line(
                                    &name,
                                    family,
                                    before,
                                    &now_served,
                                    &changed,
                                    &reasons,
                                ));
                            }
                        }
                    }
                }
                served.insert((id, family), now_served);
            }
            seen.insert(id, decisions);
        }
        for (over, text) in lines {
            if over {
                warn!("{text}");
            } else {
                info!("{text}");
            }
        }
        self.failovers.availability = now;
        self.failovers.served = served;
        self.failovers.decisions = seen;
    }

    /// Why each unavailable server is: its down monitors, by server name.
    fn reasons(&self) -> HashMap<String, String> {
        super::views(&self.cfg, &self.servers)
            .iter()
            .zip(self.servers.iter())
            .filter_map(|(v, (_, _, rt))| {
                let why = match v.availability() {
                    Availability::Available => return None,
                    Availability::Down => {
                        let down: Vec<&str> = rt
                            .monitors
                            .iter()
                            .filter(|m| !m.up)
                            .map(|m| m.monitor.as_str())
                            .collect();
                        match down.as_slice() {
                            [] => "down".to_owned(),
                            [one] => format!("down: monitor {one}"),
                            many => format!("down: monitors {}", many.join(", ")),
                        }
                    }
                    Availability::Disabled => "disabled".to_owned(),
                    Availability::Draining => "draining".to_owned(),
                    Availability::OverCapacity => "over capacity".to_owned(),
                };
                Some((v.cfg.name.clone(), why))
            })
            .collect()
    }
}

/// The line for gslb name `name`'s `family` answer going from `before`
/// to `after` while the servers in `changed` changed state; whether it is
/// a failover (a server it answered became unavailable) rather than a
/// fail-back.
fn line(
    name: &str,
    family: Family,
    before: &Served,
    after: &Served,
    changed: &HashMap<&str, (Availability, Availability)>,
    reasons: &HashMap<String, String>,
) -> (bool, String) {
    let old: HashSet<String> = before.names().into_iter().collect();
    let new: HashSet<String> = after.names().into_iter().collect();
    let involved: Vec<String> = before
        .names()
        .into_iter()
        .chain(after.names())
        .chain(changed.keys().map(|s| (*s).to_owned()))
        .filter(|s| changed.contains_key(s.as_str()))
        .fold(Vec::new(), |mut acc, s| {
            if !acc.contains(&s) {
                acc.push(s);
            }
            acc
        });
    let lost = old
        .iter()
        .any(|s| !new.contains(s) && changed.contains_key(s.as_str()));
    let over = lost || (after.all_down && !before.all_down) || after.addrs.is_empty();
    let verb = if over { "failed over" } else { "failed back" };
    let why: Vec<String> = involved
        .iter()
        .map(|s| match (reasons.get(s), changed.get(s.as_str())) {
            (Some(r), _) => format!("{s} {r}"),
            // Available again: say from what.
            (None, Some((Availability::Disabled | Availability::Draining, _))) => {
                format!("{s} enabled")
            }
            (None, Some((Availability::OverCapacity, _))) => format!("{s} within capacity"),
            (None, _) => format!("{s} up"),
        })
        .collect();
    let why = if why.is_empty() {
        String::new()
    } else {
        format!(" ({})", why.join("; "))
    };
    let family = rtype(family);
    let text = match (&before.pool, &after.pool) {
        (Some(p), Some(q)) if p == q => format!(
            "pool \"{p}\" of {name} {family}: {verb} from {} to {}{why}",
            before.describe(),
            after.describe()
        ),
        _ => {
            let side = |s: &Served| match &s.pool {
                Some(p) => format!("pool \"{p}\" ({})", s.describe()),
                None => s.describe(),
            };
            format!(
                "{name} {family}: {verb} from {} to {}{why}",
                side(before),
                side(after)
            )
        }
    };
    (over, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(pool: &str, servers: &[(&str, &str)], all_down: bool) -> Served {
        Served {
            pool: Some(pool.to_owned()),
            addrs: servers.iter().map(|(_, a)| a.parse().unwrap()).collect(),
            servers: servers.iter().map(|(s, _)| Some((*s).to_owned())).collect(),
            other: None,
            all_down,
        }
    }

    #[test]
    fn a_server_going_down_is_a_failover_with_its_monitor() {
        let before = served("web", &[("web-a1", "198.18.0.1")], false);
        let after = served("web", &[("web-b1", "198.18.0.2")], false);
        let changed = HashMap::from([("web-a1", (Availability::Available, Availability::Down))]);
        let reasons = HashMap::from([("web-a1".to_owned(), "down: monitor http".to_owned())]);
        let (over, text) = line(
            "www.example.com.",
            Family::V4,
            &before,
            &after,
            &changed,
            &reasons,
        );
        assert!(over);
        assert_eq!(
            text,
            "pool \"web\" of www.example.com. A: failed over from web-a1 to web-b1 \
             (web-a1 down: monitor http)"
        );
        // And back.
        let changed = HashMap::from([("web-a1", (Availability::Down, Availability::Available))]);
        let (over, text) = line(
            "www.example.com.",
            Family::V4,
            &after,
            &before,
            &changed,
            &HashMap::new(),
        );
        assert!(!over);
        assert_eq!(
            text,
            "pool \"web\" of www.example.com. A: failed back from web-b1 to web-a1 (web-a1 up)"
        );
    }

    #[test]
    fn a_pool_change_names_both_pools() {
        let before = served("east", &[("e1", "198.18.0.1")], false);
        let after = served("west", &[("w1", "198.18.1.1")], false);
        let changed = HashMap::from([("e1", (Availability::Available, Availability::Disabled))]);
        let reasons = HashMap::from([("e1".to_owned(), "disabled".to_owned())]);
        let (over, text) = line("x.test.", Family::V6, &before, &after, &changed, &reasons);
        assert!(over);
        assert_eq!(
            text,
            "x.test. AAAA: failed over from pool \"east\" (e1) to pool \"west\" (w1) (e1 disabled)"
        );
        // Enabled again.
        let changed = HashMap::from([("e1", (Availability::Disabled, Availability::Available))]);
        let (over, text) = line(
            "x.test.",
            Family::V6,
            &after,
            &before,
            &changed,
            &HashMap::new(),
        );
        assert!(!over);
        assert_eq!(
            text,
            "x.test. AAAA: failed back from pool \"west\" (w1) to pool \"east\" (e1) (e1 enabled)"
        );
    }

    #[test]
    fn all_down_says_so() {
        let before = served("web", &[("a", "198.18.0.1"), ("b", "198.18.0.2")], false);
        let after = served("web", &[("a", "198.18.0.1"), ("b", "198.18.0.2")], true);
        let changed = HashMap::from([("b", (Availability::Available, Availability::Down))]);
        let reasons = HashMap::from([
            ("a".to_owned(), "down: monitor tcp".to_owned()),
            ("b".to_owned(), "down: monitor tcp".to_owned()),
        ]);
        let (over, text) = line("n.test.", Family::V4, &before, &after, &changed, &reasons);
        assert!(over);
        assert_eq!(
            text,
            "pool \"web\" of n.test. A: failed over from a, b to a, b (fallback, all down) \
             (b down: monitor tcp)"
        );
    }
}
