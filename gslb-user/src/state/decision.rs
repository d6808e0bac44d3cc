//! What a gslb name answers for one record type right now: the output of
//! the selection engine, read by both the XDP map writer ([`crate::fastpath::maps`])
//! and the slow path ([`crate::dns::lookup`]), so that both answer alike
//! (docs/ARCHITECTURE.md, "Invariants").

use std::{
    net::IpAddr,
    sync::{
        atomic::{AtomicU32, AtomicU64, Ordering},
        Arc,
    },
};

use gslb_common::{
    maps::{MAX_ADDRS, NO_SERVER},
    select::{self, Pick, Selection, MODE_ORDERED},
};
use hickory_proto::rr::{
    rdata::{A, AAAA},
    Name, RData, Record,
};

use super::ids::{GroupId, PolicyId};
use super::persist::Sticky;
use crate::config::{GslbConfig, PoolMethod};

/// Address family of an answer set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Family {
    /// A records.
    V4,
    /// AAAA records.
    V6,
}

impl Family {
    /// Whether `a` belongs to this family.
    pub fn holds(self, a: &IpAddr) -> bool {
        matches!(
            (self, a),
            (Family::V4, IpAddr::V4(_)) | (Family::V6, IpAddr::V6(_))
        )
    }
}

/// What one decision is for: an answer policy (the gslb names that share
/// it), an address family and a client group (every client is in
/// [`GroupId::DEFAULT`] unless client-aware rules place it in another).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DecisionKey {
    /// The answer policy.
    pub policy: PolicyId,
    /// A or AAAA.
    pub family: Family,
    /// The client group.
    pub group: GroupId,
}

/// Everything in a gslb name's config that its answers depend on: names
/// with equal keys answer alike for every client, so they share one set
/// of decisions (computed once) and one answer-set id in the maps. Only
/// names with pools have one; static answer sets stay per name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PolicyKey {
    /// The pools, in config order.
    pub pools: Vec<String>,
    /// How a pool is chosen (with its ratios).
    pub pool_method: PoolMethod,
    /// The last resort pool.
    pub last_resort_pool: Option<String>,
    /// The name's TTL.
    pub ttl: u32,
}

impl PolicyKey {
    /// The key of `g`; `None` for a name without pools (static answers).
    pub fn of(g: &GslbConfig) -> Option<PolicyKey> {
        (!g.pools.is_empty()).then(|| PolicyKey {
            pools: g.pools.clone(),
            pool_method: g.pool_method.clone(),
            last_resort_pool: g.last_resort_pool.clone(),
            ttl: g.ttl,
        })
    }
}

/// The A and AAAA decisions of one client group.
#[derive(Clone, Debug, Default)]
pub struct GroupDecisions {
    /// A.
    pub a: Arc<Decision>,
    /// AAAA.
    pub aaaa: Arc<Decision>,
}

impl PartialEq for GroupDecisions {
    fn eq(&self, other: &Self) -> bool {
        *self.a == *other.a && *self.aaaa == *other.aaaa
    }
}

/// The decisions of a policy (or of one static name) for every client
/// group it has its own for. Replaced whole, so a reader sees one
/// consistent generation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decisions {
    /// The answers depend on the client's group (a method or pool method
    /// ranks by topology or geography): every group of the client map has
    /// its own decisions, and the replies' ECS scope is the matched
    /// prefix's length.
    pub client_aware: bool,
    /// By group, ascending; [`GroupId::DEFAULT`] is always there.
    groups: Vec<(GroupId, GroupDecisions)>,
}

impl Decisions {
    /// Decisions for the default group only.
    pub fn single(a: Decision, aaaa: Decision) -> Decisions {
        Decisions {
            client_aware: false,
            groups: vec![(
                GroupId::DEFAULT,
                GroupDecisions {
                    a: Arc::new(a),
                    aaaa: Arc::new(aaaa),
                },
            )],
        }
    }

    /// Builds decisions from `(group, A, AAAA)`, keeping the decisions of
    /// `old` that are unchanged (and with them their rotation counters).
    /// A missing default group gets "no set".
    pub fn build(
        client_aware: bool,
        decided: impl IntoIterator<Item = (GroupId, Decision, Decision)>,
        old: &Decisions,
    ) -> Decisions {
        let mut groups: Vec<(GroupId, GroupDecisions)> = decided
            .into_iter()
            .map(|(group, a, aaaa)| {
                let prev = old.get(group);
                let keep = |d: Decision, prev: Option<&Arc<Decision>>| match prev {
                    Some(p) if **p == d => Arc::clone(p),
                    _ => Arc::new(d),
                };
                let g = GroupDecisions {
                    a: keep(a, prev.map(|p| &p.a)),
                    aaaa: keep(aaaa, prev.map(|p| &p.aaaa)),
                };
                (group, g)
            })
            .collect();
        groups.sort_by_key(|(g, _)| *g);
        groups.dedup_by_key(|(g, _)| *g);
        if groups.first().map(|(g, _)| *g) != Some(GroupId::DEFAULT) {
            groups.insert(0, (GroupId::DEFAULT, GroupDecisions::default()));
        }
        Decisions {
            client_aware,
            groups,
        }
    }

    /// The decisions of `group` itself, if it has its own.
    pub fn get(&self, group: GroupId) -> Option<&GroupDecisions> {
        self.groups
            .binary_search_by_key(&group, |(g, _)| *g)
            .ok()
            .map(|i| &self.groups[i].1)
    }

    /// The decisions a client of `group` gets: its own, else the default
    /// group's (as the XDP program falls back to group 0).
    pub fn for_group(&self, group: GroupId) -> &GroupDecisions {
        self.get(group)
            .or_else(|| self.get(GroupId::DEFAULT))
            .expect("the default group is always there")
    }

    /// Every group with its own decisions, ascending (the default first).
    pub fn groups(&self) -> impl Iterator<Item = (GroupId, &GroupDecisions)> {
        self.groups.iter().map(|(g, d)| (*g, d))
    }

    /// The decision of `family` for `group` (see [`Decisions::for_group`]).
    pub fn decision(&self, family: Family, group: GroupId) -> &Arc<Decision> {
        let d = self.for_group(group);
        match family {
            Family::V4 => &d.a,
            Family::V6 => &d.aaaa,
        }
    }
}

/// Candidates and how to pick among them.
#[derive(Clone, Debug)]
pub struct AnswerSet {
    /// Selection parameters, exactly as written to the XDP map.
    pub sel: Selection,
    /// Candidate addresses (one family), at most [`MAX_ADDRS`].
    pub addrs: Vec<IpAddr>,
    /// Rotation counter of the slow path for round robin and ratio (the XDP
    /// program keeps its own in the map value).
    pub rotation: Arc<AtomicU32>,
    /// Where the slow path counts the server it hands out first (the XDP
    /// program counts in `SERVER_HITS`); `None`: not counted.
    pub hits: Option<Arc<SlowHits>>,
}

/// The slow path's hand-out counters: how often each server id was the
/// first answer, since the engine last took them.
#[derive(Debug)]
pub struct SlowHits(Box<[AtomicU64]>);

impl SlowHits {
    /// Counters for server ids `0..servers`.
    pub fn new(servers: usize) -> SlowHits {
        SlowHits((0..servers).map(|_| AtomicU64::new(0)).collect())
    }

    /// Counts one hand-out of server `id` (ids out of range, such as
    /// `NO_SERVER` of fixed addresses, are not counted).
    pub fn count(&self, id: u16) {
        if let Some(c) = self.0.get(usize::from(id)) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counts since the last call, per server id, reset to zero.
    pub fn take(&self) -> Vec<u64> {
        self.0
            .iter()
            .map(|c| c.swap(0, Ordering::Relaxed))
            .collect()
    }
}

impl PartialEq for AnswerSet {
    fn eq(&self, other: &Self) -> bool {
        // A set that gained its hand-out counter replaces one without.
        self.sel == other.sel
            && self.addrs == other.addrs
            && self.hits.is_some() == other.hits.is_some()
    }
}

impl AnswerSet {
    /// A set that hands out `addrs` in order, all of them.
    pub fn ordered(ttl: u32, addrs: Vec<IpAddr>) -> AnswerSet {
        let count = addrs.len().min(MAX_ADDRS) as u8;
        let sel = Selection {
            ttl,
            mode: MODE_ORDERED,
            count,
            up: ((1u16 << count) - 1) as u8,
            // Fixed addresses, not servers: nothing to count.
            ids: [NO_SERVER; MAX_ADDRS],
            ..Default::default()
        };
        AnswerSet::new(sel, addrs)
    }

    /// A set with explicit selection parameters.
    pub fn new(sel: Selection, mut addrs: Vec<IpAddr>) -> AnswerSet {
        addrs.truncate(MAX_ADDRS);
        AnswerSet {
            sel,
            addrs,
            rotation: Arc::new(AtomicU32::new(0)),
            hits: None,
        }
    }

    /// The addresses to answer with for a query from `client` (the LDNS,
    /// for static persist), in answer order, with the same algorithm as
    /// the XDP program.
    pub fn pick(&self, client: Option<IpAddr>) -> Vec<IpAddr> {
        self.pick_with(client, None)
    }

    /// [`AnswerSet::pick`] with persistence: a set with `sticky_ttl`
    /// hands `client` the server its record keeps ([`Sticky::first`]).
    pub fn pick_with(&self, client: Option<IpAddr>, sticky: Option<Sticky<'_>>) -> Vec<IpAddr> {
        // The method's pick; with persistence only for a client without
        // a live record (the rotation then moves only for new clients, as
        // in the XDP program).
        let by_method = || {
            let mut pick = Pick::default();
            if select::uses_counter(self.sel.mode) {
                pick.counter = self.rotation.fetch_add(1, Ordering::Relaxed);
            } else {
                pick.random = rand_u32();
            }
            pick.client = match client {
                Some(IpAddr::V4(a)) => select::persist_key_v4(a.octets(), self.sel.persist_v4),
                Some(IpAddr::V6(a)) => select::persist_key_v6(&a.octets(), self.sel.persist_v6),
                None => 0,
            };
            select::first(&self.sel, &pick, &mut select::identity)
        };
        let first = match (sticky, client) {
            (Some(st), Some(c)) if self.sel.sticky_ttl != 0 => st.first(&self.sel, c, by_method),
            _ => by_method(),
        };
        let Some(first) = first else {
            return Vec::new();
        };
        if let (Some(hits), Some(&id)) = (&self.hits, self.sel.ids.get(first)) {
            hits.count(id);
        }
        let mut order = [0u8; MAX_ADDRS];
        let n = select::answer_order(&self.sel, first, &mut order);
        order[..n]
            .iter()
            .filter_map(|&i| self.addrs.get(usize::from(i)).copied())
            .collect()
    }
}

/// How many answers one response of `set` carries.
pub fn answers_per_response(set: &AnswerSet) -> usize {
    select::answer_count(&set.sel)
}

/// A cheap random number for the random methods (no crypto needed).
fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    h.finish() as u32
}

/// The decision for one (gslb name, type).
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Decision {
    /// No answer set of this type: NODATA, which the XDP program sends
    /// itself for a name without static data (the SOA's TTL at most the
    /// name's), as it does for [`Decision::Nodata`].
    #[default]
    NoSet,
    /// Pick answers from a set.
    Answer(AnswerSet),
    /// Send no answer at all ("drop packet").
    Drop,
    /// Answer from the static zone data at the name ("return to DNS").
    ReturnToDns,
    /// SERVFAIL.
    Servfail,
    /// NOERROR with no answer.
    Nodata,
}

/// What the slow path does for one query of a gslb name.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// These records.
    Records(Vec<Record>),
    /// NOERROR, no data of this type.
    Nodata,
    /// Answer from the static zone data.
    ReturnToDns,
    /// No response.
    Drop,
    /// SERVFAIL.
    Servfail,
}

impl Decision {
    /// The slow path's outcome for a query owned by `owner` (the name as
    /// the client spelled it) from `client`.
    pub fn outcome(&self, owner: &Name, client: Option<IpAddr>) -> Outcome {
        self.outcome_with(owner, client, None)
    }

    /// [`Decision::outcome`] with persistence ([`AnswerSet::pick_with`]).
    pub fn outcome_with(
        &self,
        owner: &Name,
        client: Option<IpAddr>,
        sticky: Option<Sticky<'_>>,
    ) -> Outcome {
        match self {
            Decision::NoSet | Decision::Nodata => Outcome::Nodata,
            Decision::Drop => Outcome::Drop,
            Decision::ReturnToDns => Outcome::ReturnToDns,
            Decision::Servfail => Outcome::Servfail,
            Decision::Answer(set) => {
                let records: Vec<Record> = set
                    .pick_with(client, sticky)
                    .into_iter()
                    .map(|a| {
                        let data = match a {
                            IpAddr::V4(a) => RData::A(A(a)),
                            IpAddr::V6(a) => RData::AAAA(AAAA(a)),
                        };
                        Record::from_rdata(owner.clone(), set.sel.ttl, data)
                    })
                    .collect();
                if records.is_empty() {
                    Outcome::Nodata
                } else {
                    Outcome::Records(records)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use gslb_common::select::MODE_ROUND_ROBIN;

    use super::*;

    /// The slow path counts the server each answer hands out first, by
    /// server id; fixed addresses and sets without counters count nothing.
    #[test]
    fn pick_counts_the_first_answer() {
        let addrs: Vec<IpAddr> = (1..=3)
            .map(|i| IpAddr::V4(Ipv4Addr::new(198, 18, 10, i)))
            .collect();
        let mut sel = Selection {
            ttl: 30,
            mode: MODE_ROUND_ROBIN,
            count: 3,
            up: 0b111,
            max: 2,
            ..Default::default()
        };
        sel.ids[..3].copy_from_slice(&[7, 3, 5]);
        sel.weights[..3].copy_from_slice(&[1, 1, 1]);
        sel.total_weight = 3;
        let hits = Arc::new(SlowHits::new(8));
        let mut set = AnswerSet::new(sel, addrs.clone());
        set.hits = Some(Arc::clone(&hits));
        let mut firsts = Vec::new();
        for _ in 0..6 {
            firsts.push(set.pick(None)[0]);
        }
        let mut want = vec![0; 8];
        for a in firsts {
            let i = addrs.iter().position(|x| *x == a).unwrap();
            want[usize::from(sel.ids[i])] += 1;
        }
        assert_eq!(want.iter().sum::<u64>(), 6);
        assert_eq!(hits.take(), want);
        assert_eq!(hits.take(), vec![0; 8]);
        // A copy without counters (explain) and fixed addresses: nothing.
        AnswerSet::new(sel, addrs.clone()).pick(None);
        let mut fixed = AnswerSet::ordered(30, addrs);
        fixed.hits = Some(Arc::clone(&hits));
        fixed.pick(None);
        assert_eq!(hits.take(), vec![0; 8]);
    }
    /// Rebuilding decisions keeps the unchanged ones (and their running
    /// rotation) and replaces the others; the default group is always
    /// there, and a group without decisions of its own gets the default's.
    #[test]
    fn decisions_per_group_keep_unchanged_ones() {
        let set = |last: u8| {
            Decision::Answer(AnswerSet::ordered(
                30,
                vec![IpAddr::V4(Ipv4Addr::new(198, 18, 10, last))],
            ))
        };
        let old = Decisions::build(
            true,
            [
                (GroupId(3), set(3), Decision::NoSet),
                (GroupId(1), set(1), Decision::NoSet),
            ],
            &Decisions::default(),
        );
        let groups: Vec<GroupId> = old.groups().map(|(g, _)| g).collect();
        assert_eq!(groups, [GroupId(0), GroupId(1), GroupId(3)]);
        assert_eq!(*old.for_group(GroupId(0)).a, Decision::NoSet);
        assert_eq!(*old.for_group(GroupId(7)).a, Decision::NoSet);
        assert_eq!(**old.decision(Family::V4, GroupId(3)), set(3));
        let new = Decisions::build(
            true,
            [
                (GroupId(0), set(9), Decision::NoSet),
                (GroupId(1), set(1), Decision::NoSet),
                (GroupId(3), set(4), Decision::NoSet),
            ],
            &old,
        );
        let same = |g| Arc::ptr_eq(&old.get(g).unwrap().a, &new.get(g).unwrap().a);
        assert!(same(GroupId(1)));
        assert!(!same(GroupId(3)) && !same(GroupId(0)));
        assert_eq!(*new.for_group(GroupId(7)).a, set(9));
    }

    /// Names share a policy exactly when pools (in order), pool method
    /// (with its ratios), last resort pool and TTL are all equal.
    #[test]
    fn policy_keys_cover_what_answers_depend_on() {
        let g = GslbConfig {
            name: Name::from_ascii("www.example.test.").unwrap(),
            ttl: 30,
            a: vec![],
            aaaa: vec![],
            pools: vec!["p1".into(), "p2".into()],
            pool_method: PoolMethod::Ratio(vec![2, 1]),
            last_resort_pool: None,
        };
        let key = PolicyKey::of(&g).unwrap();
        let mut other = g.clone();
        other.name = Name::from_ascii("api.example.test.").unwrap();
        assert_eq!(PolicyKey::of(&other), Some(key.clone()));
        let differs = |f: &dyn Fn(&mut GslbConfig)| {
            let mut o = g.clone();
            f(&mut o);
            PolicyKey::of(&o) != Some(key.clone())
        };
        assert!(differs(&|o| o.ttl = 60));
        assert!(differs(&|o| o.pools.reverse()));
        assert!(differs(&|o| o.pool_method = PoolMethod::Ratio(vec![1, 2])));
        assert!(differs(&|o| o.pool_method = PoolMethod::Topology));
        assert!(differs(&|o| o.last_resort_pool = Some("p2".into())));
        // Fixed answers: no policy.
        let mut fixed = g.clone();
        fixed.pools.clear();
        assert_eq!(PolicyKey::of(&fixed), None);
    }
}
