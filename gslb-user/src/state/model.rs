//! The run-time state: zones and gslb names indexed for lookup.
//!
//! Built from a validated [`Config`] by [`State::from_config`] and shared,
//! read-only, by the slow-path responder and the XDP map writer (the daemon
//! swaps whole `State`s on reload, so readers never see a half-applied
//! config). Indexes are keyed by [`LowerName`]: DNS names compare
//! case-insensitively (RFC 4343).

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    net::IpAddr,
    sync::Arc,
};

use arc_swap::ArcSwap;

use hickory_proto::rr::{rdata::NS, LowerName, Name, RData, Record, RecordType};

use super::decision::{AnswerSet, Decision, Decisions, Family, Outcome, PolicyKey};
use super::ids::GroupId;
use super::persist::{PersistStore, Sticky};
use crate::config::{Config, ServerConfig};

/// A gslb name and its current decisions: per client group, one per
/// address type.
///
/// The decisions are swapped in place by the engine (whole: a reader sees
/// the old or the new generation), so a health change does not rebuild
/// the whole [`State`]. Names with the same [`PolicyKey`] share them, and
/// clones share them too.
#[derive(Clone, Debug)]
pub struct GslbName {
    /// The name: absolute, lowercase.
    pub name: Name,
    /// Default TTL of the answers.
    pub ttl: u32,
    /// The answer policy it shares with names of identical config;
    /// `None` for static answer sets.
    pub policy: Option<PolicyKey>,
    /// Its answer counter id (names with pools, see
    /// [`super::counts`]); `None`: not counted.
    pub counter: Option<u32>,
    decisions: Arc<ArcSwap<Decisions>>,
}

impl PartialEq for GslbName {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.ttl == other.ttl
            && self.policy == other.policy
            && *self.decisions() == *other.decisions()
    }
}

impl GslbName {
    /// A gslb name of its own with these decisions (default group).
    pub fn new(name: Name, ttl: u32, a: Decision, aaaa: Decision) -> GslbName {
        GslbName {
            name,
            ttl,
            policy: None,
            counter: None,
            decisions: Arc::new(ArcSwap::from_pointee(Decisions::single(a, aaaa))),
        }
    }

    /// A gslb name of `policy`, sharing the decisions of `with` (another
    /// name of the same policy) if given.
    /// Until the engine decides, it answers nothing (`client_aware`: its
    /// answers will depend on the client group).
    pub fn of_policy(
        name: Name,
        policy: PolicyKey,
        client_aware: bool,
        with: Option<&GslbName>,
    ) -> GslbName {
        let decisions = match with {
            Some(w) => Arc::clone(&w.decisions),
            None => {
                let mut d = Decisions::single(Decision::NoSet, Decision::NoSet);
                d.client_aware = client_aware;
                Arc::new(ArcSwap::from_pointee(d))
            }
        };
        GslbName {
            counter: super::counts::names().id_of(&name.to_string()),
            name,
            ttl: policy.ttl,
            policy: Some(policy),
            decisions,
        }
    }

    /// Counts one answer with addresses the slow path gave for the name.
    pub fn count_answer(&self) {
        if let Some(id) = self.counter {
            super::counts::names().count(id);
        }
    }

    /// Whether `self` and `other` share their decisions (one policy).
    pub fn shares_decisions(&self, other: &GslbName) -> bool {
        Arc::ptr_eq(&self.decisions, &other.decisions)
    }

    /// Every group's current decisions.
    pub fn decisions(&self) -> Arc<Decisions> {
        self.decisions.load_full()
    }

    /// The current A decision of the default group.
    pub fn a(&self) -> Arc<Decision> {
        Arc::clone(&self.decisions.load().for_group(GroupId::DEFAULT).a)
    }

    /// The current AAAA decision of the default group.
    pub fn aaaa(&self) -> Arc<Decision> {
        Arc::clone(&self.decisions.load().for_group(GroupId::DEFAULT).aaaa)
    }

    /// Replaces the decisions with those of the default group only;
    /// returns whether anything changed (see [`GslbName::set_groups`]).
    pub fn set(&self, a: Decision, aaaa: Decision) -> bool {
        self.set_groups(false, [(GroupId::DEFAULT, a, aaaa)])
    }

    /// Replaces the decisions of every group at once (`client_aware`: the
    /// answers depend on the group); returns whether anything changed. An
    /// unchanged decision keeps its running rotation counter.
    pub fn set_groups(
        &self,
        client_aware: bool,
        decided: impl IntoIterator<Item = (GroupId, Decision, Decision)>,
    ) -> bool {
        let old = self.decisions.load_full();
        let new = Decisions::build(client_aware, decided, &old);
        if *old == new {
            return false;
        }
        self.decisions.store(Arc::new(new));
        true
    }

    /// The decision for `rtype` (A or AAAA; others have none) for a
    /// client of `group`.
    pub fn decision(&self, rtype: RecordType, group: GroupId) -> Option<Arc<Decision>> {
        let family = match rtype {
            RecordType::A => Family::V4,
            RecordType::AAAA => Family::V6,
            _ => return None,
        };
        Some(Arc::clone(self.decisions.load().decision(family, group)))
    }

    /// What a query of `rtype` from `client` gets, answers owned by `owner`
    /// (the query name as the client wrote it): the decision of the
    /// client's group, picked with the client's address.
    pub fn outcome(&self, owner: &Name, rtype: RecordType, client: Option<&Client>) -> Outcome {
        self.outcome_with(owner, rtype, client, None)
    }

    /// [`GslbName::outcome`] with persistence: a set with a persistence
    /// TTL reads and writes the client's record in `persist`.
    pub fn outcome_with(
        &self,
        owner: &Name,
        rtype: RecordType,
        client: Option<&Client>,
        persist: Option<&PersistStore>,
    ) -> Outcome {
        let group = client.map_or(GroupId::DEFAULT, |c| c.group);
        let sticky = persist.map(|store| Sticky {
            store,
            name: &self.name,
            family: if rtype == RecordType::AAAA { 6 } else { 4 },
        });
        self.decision(rtype, group).map_or(Outcome::Nodata, |d| {
            d.outcome_with(owner, client.map(|c| c.addr), sticky)
        })
    }

    /// The ECS SCOPE PREFIX-LENGTH of an answer of `rtype` to `client`
    /// (RFC 7871 §7.2.1): the length of the client-map prefix that placed
    /// the client when the name's answers depend on the client group,
    /// else 0; raised to the set's persistence prefix for the client's
    /// family (`sticky_v4`/`sticky_v6` with persistence,
    /// `persist_v4`/`persist_v6` with static persist), since the answer
    /// then depends on that much of the address. 0 when the decision has
    /// no answer set (NODATA and the like). The XDP program computes the
    /// same.
    pub fn scope(&self, rtype: RecordType, client: &Client) -> u8 {
        let decisions = self.decisions.load();
        let family = match rtype {
            RecordType::A => Family::V4,
            RecordType::AAAA => Family::V6,
            _ => return 0,
        };
        let Decision::Answer(set) = &**decisions.decision(family, client.group) else {
            return 0;
        };
        // The kernel's rule; a SOURCE PREFIX-LENGTH of 0 (scope 0) is
        // the responder's to apply.
        gslb_common::select::ecs_scope(
            &set.sel,
            1,
            client.addr.is_ipv4(),
            client.scope,
            decisions.client_aware,
        )
    }
}

/// A query's client as the answers see it: its address (the ECS address
/// when trusted, else the source) and where the client map places it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Client {
    /// The address.
    pub addr: IpAddr,
    /// Its client group.
    pub group: GroupId,
    /// Length of the client-map prefix that placed it, in the address's
    /// own family (the ECS scope of a client-aware answer).
    pub scope: u8,
}

impl Client {
    /// A client in the default group (no client map, or none needed).
    pub fn default_group(addr: IpAddr) -> Client {
        Client {
            addr,
            group: GroupId::DEFAULT,
            scope: 0,
        }
    }
}

/// The static data of one zone.
#[derive(Clone, Debug)]
pub struct Zone {
    origin: Name,
    soa: Record,
    /// RRsets by owner, then by type code (a stable order for ANY).
    nodes: HashMap<LowerName, BTreeMap<u16, Vec<Record>>>,
    /// Every name that exists: owners of records, gslb names, and their
    /// ancestors up to the apex (empty non-terminals, RFC 8020 §2).
    names: HashSet<LowerName>,
    /// Delegation points: owners of NS records below the apex.
    cuts: HashSet<LowerName>,
}

impl Zone {
    fn new(origin: Name, soa: Record) -> Zone {
        let mut zone = Zone {
            origin,
            soa: soa.clone(),
            nodes: HashMap::new(),
            names: HashSet::new(),
            cuts: HashSet::new(),
        };
        zone.insert(soa);
        zone
    }

    fn insert(&mut self, record: Record) {
        let owner = LowerName::new(&record.name);
        self.mark_exists(&record.name);
        if record.record_type() == RecordType::NS && owner != LowerName::new(&self.origin) {
            self.cuts.insert(owner.clone());
        }
        let rrset = self
            .nodes
            .entry(owner)
            .or_default()
            .entry(u16::from(record.record_type()))
            .or_default();
        if !rrset.contains(&record) {
            rrset.push(record);
        }
    }

    fn mark_exists(&mut self, name: &Name) {
        let mut n = name.clone();
        while n.num_labels() >= self.origin.num_labels() && self.names.insert(LowerName::new(&n)) {
            if n.is_root() {
                break;
            }
            n = n.base_name();
        }
    }

    /// The apex (absolute, lowercase).
    pub fn origin(&self) -> &Name {
        &self.origin
    }

    /// The SOA record.
    pub fn soa(&self) -> &Record {
        &self.soa
    }

    /// The SOA for the authority section of a negative answer: its TTL is
    /// the smaller of the SOA TTL and MINIMUM (RFC 2308 §3).
    pub fn negative_soa(&self) -> Record {
        let mut soa = self.soa.clone();
        if let RData::SOA(data) = &soa.data {
            soa.ttl = soa.ttl.min(data.minimum);
        }
        soa
    }

    /// The static RRset of `rtype` at `name`.
    pub fn rrset(&self, name: &LowerName, rtype: RecordType) -> Option<&[Record]> {
        self.nodes
            .get(name)?
            .get(&u16::from(rtype))
            .map(Vec::as_slice)
    }

    /// All static RRsets at `name`, in type-code order.
    pub fn rrsets(&self, name: &LowerName) -> impl Iterator<Item = &[Record]> {
        self.nodes
            .get(name)
            .into_iter()
            .flat_map(|node| node.values().map(Vec::as_slice))
    }

    /// Every name that exists in the zone (see [`Zone::exists`]).
    pub fn names(&self) -> impl Iterator<Item = &LowerName> {
        self.names.iter()
    }

    /// Whether `name` owns static records.
    pub fn has_data(&self, name: &LowerName) -> bool {
        self.nodes.get(name).is_some_and(|node| !node.is_empty())
    }

    /// Whether `name` exists in the zone (has data, is a gslb name, or is
    /// an empty non-terminal).
    pub fn exists(&self, name: &LowerName) -> bool {
        self.names.contains(name)
    }

    /// The delegation covering `name`: the highest NS cut strictly below
    /// the apex at or above `name`, with its NS RRset (RFC 1034 §4.2.1).
    pub fn delegation(&self, name: &Name) -> Option<(Name, &[Record])> {
        if self.cuts.is_empty() {
            return None;
        }
        let depth = name.num_labels();
        for labels in (self.origin.num_labels() + 1)..=depth {
            let candidate = name.trim_to(usize::from(labels));
            let key = LowerName::new(&candidate);
            if self.cuts.contains(&key) {
                let ns = self.rrset(&key, RecordType::NS)?;
                return Some((candidate, ns));
            }
        }
        None
    }
}

/// The complete run-time state. Build it with [`State::from_config`] and
/// treat it as read-only: the indexes are derived from the public fields.
#[derive(Clone, Debug)]
pub struct State {
    /// Listener and EDNS settings.
    pub server: ServerConfig,
    /// The zones, in config order.
    pub zones: Vec<Zone>,
    /// The gslb names, in config order.
    pub gslb: Vec<GslbName>,
    /// The client groups: which group a client address is in (and the
    /// ECS scope), the groups' profiles, topology scoring.
    pub clients: Arc<crate::clients::ClientMap>,
    /// The persistence records with a TTL (in memory until the daemon
    /// puts the XDP program's map in their place).
    pub persist: Arc<PersistStore>,
    zone_index: HashMap<LowerName, usize>,
    gslb_index: HashMap<LowerName, usize>,
    /// The names of each answer policy (indexes in `gslb`, config order).
    policies: HashMap<PolicyKey, Vec<usize>>,
}

impl State {
    /// Builds the state from a config. The config is valid by construction
    /// (see [`crate::config::parse`]), so this cannot fail; a hand-made
    /// inconsistent config yields a state that answers something, never a
    /// panic (duplicates merge, gslb names outside every zone are dropped).
    pub fn from_config(cfg: &Config) -> State {
        let clients = crate::clients::ClientMap::build(cfg).unwrap_or_else(|e| {
            tracing::warn!("client groups: {e}; every client is in group 0");
            crate::clients::ClientMap::empty()
        });
        State::with_clients(cfg, clients)
    }

    /// As [`State::from_config`], but client data that cannot be built
    /// (a region file or geo database gone since validation, more client
    /// profiles than group ids) is an error rather than every client in
    /// group 0: what the daemon and `gslb check` use.
    pub fn try_from_config(cfg: &Config) -> Result<State, crate::clients::ClientsError> {
        Ok(State::with_clients(
            cfg,
            crate::clients::ClientMap::build(cfg)?,
        ))
    }

    /// The state of `cfg` with the client groups `clients` (built from
    /// it): a reload passes the groups rebuilt from the running ones, so
    /// that unchanged groups keep their ids.
    pub fn with_clients(cfg: &Config, clients: crate::clients::ClientMap) -> State {
        let mut zones = Vec::with_capacity(cfg.zones.len());
        let mut zone_index = HashMap::new();
        for z in &cfg.zones {
            let key = LowerName::new(&z.name);
            if zone_index.contains_key(&key) {
                continue;
            }
            let origin = z.name.to_lowercase();
            let soa = Record::from_rdata(origin.clone(), z.soa_ttl, RData::SOA(z.soa.clone()));
            let mut zone = Zone::new(origin.clone(), soa);
            for ns in &z.ns {
                zone.insert(Record::from_rdata(
                    origin.clone(),
                    z.ttl,
                    RData::NS(NS(ns.clone())),
                ));
            }
            for r in &z.records {
                let mut r = r.clone();
                r.name = r.name.to_lowercase();
                if z.name.zone_of(&r.name) {
                    zone.insert(r);
                }
            }
            zone_index.insert(key, zones.len());
            zones.push(zone);
        }
        let mut state = State {
            server: cfg.server.clone(),
            zones,
            gslb: Vec::with_capacity(cfg.gslb.len()),
            clients: Arc::new(clients),
            persist: Arc::new(PersistStore::memory(cfg.server.persist_records)),
            zone_index,
            gslb_index: HashMap::new(),
            policies: HashMap::new(),
        };
        // A zone served inside another makes its apex and the names between
        // them exist in the outer zone (RFC 8020: NXDOMAIN there would deny
        // the inner zone), with or without a delegation record.
        for i in 0..state.zones.len() {
            let origin = state.zones[i].origin.clone();
            if origin.is_root() {
                continue;
            }
            if let Some(outer) = state.zone_index_for(&origin.base_name()) {
                state.zones[outer].mark_exists(&origin);
            }
        }
        for g in &cfg.gslb {
            let name = g.name.to_lowercase();
            let key = LowerName::new(&name);
            let Some(zi) = state.zone_index_for(&name) else {
                continue;
            };
            if state.gslb_index.contains_key(&key) {
                continue;
            }
            state.zones[zi].mark_exists(&name);
            state.gslb_index.insert(key, state.gslb.len());
            if let Some(policy) = PolicyKey::of(g) {
                let names = state.policies.entry(policy.clone()).or_default();
                let with = names.first().map(|&i| &state.gslb[i]);
                let aware = crate::engine::decide::client_aware(&cfg.pools, g);
                let named = GslbName::of_policy(name, policy, aware, with);
                names.push(state.gslb.len());
                state.gslb.push(named);
                continue;
            }
            let set = |addrs: Vec<IpAddr>| {
                if addrs.is_empty() {
                    Decision::NoSet
                } else {
                    Decision::Answer(AnswerSet::ordered(g.ttl, addrs))
                }
            };
            state.gslb.push(GslbName::new(
                name,
                g.ttl,
                set(g.a.iter().map(|&a| IpAddr::V4(a)).collect()),
                set(g.aaaa.iter().map(|&a| IpAddr::V6(a)).collect()),
            ));
        }
        state
    }

    /// Index in [`State::zones`] of the zone authoritative for `name`.
    pub fn zone_index_for(&self, name: &Name) -> Option<usize> {
        let mut n = name.clone();
        loop {
            if let Some(&i) = self.zone_index.get(&LowerName::new(&n)) {
                return Some(i);
            }
            if n.is_root() {
                return None;
            }
            n = n.base_name();
        }
    }

    /// The zone that is the longest suffix of `name` (case-insensitive),
    /// i.e. the zone authoritative for it.
    pub fn zone_for(&self, name: &Name) -> Option<&Zone> {
        self.zone_index_for(name).map(|i| &self.zones[i])
    }

    /// Index of the gslb name `name` in [`State::gslb`], if it is one.
    pub fn gslb_index_of(&self, name: &LowerName) -> Option<usize> {
        self.gslb_index.get(name).copied()
    }

    /// How many client groups the client map has (at least the default).
    pub fn group_count(&self) -> usize {
        self.clients.group_count().max(1)
    }

    /// Where the client map places a query from `addr` (the ECS address
    /// when trusted, else the source address): the same group and scope
    /// as the XDP program's `CLIENT_GROUPS` lookup.
    pub fn client(&self, addr: IpAddr) -> Client {
        let (group, scope) = self.clients.lookup(addr);
        Client { addr, group, scope }
    }

    /// The gslb names of `policy`, in config order.
    pub fn policy_names(&self, policy: &PolicyKey) -> impl Iterator<Item = &GslbName> {
        self.policies
            .get(policy)
            .into_iter()
            .flatten()
            .map(|&i| &self.gslb[i])
    }

    /// Every answer policy with its names (indexes in [`State::gslb`]).
    pub fn policies(&self) -> impl Iterator<Item = (&PolicyKey, &[usize])> {
        self.policies.iter().map(|(k, v)| (k, v.as_slice()))
    }

    /// The gslb name `name`, if it is one.
    pub fn gslb_name(&self, name: &LowerName) -> Option<&GslbName> {
        self.gslb_index.get(name).map(|&i| &self.gslb[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    fn state() -> State {
        State::from_config(&config::load_default().unwrap())
    }

    fn lower(s: &str) -> LowerName {
        LowerName::new(&Name::from_ascii(s).unwrap())
    }

    #[test]
    fn indexes_the_default_config() {
        let s = state();
        let www = s.gslb_name(&lower("WWW.Example.Test.")).unwrap();
        let Decision::Answer(a) = &*www.a() else {
            panic!("A set expected")
        };
        assert_eq!(a.addrs.len(), 2);
        let zone = s
            .zone_for(&Name::from_ascii("x.y.example.test.").unwrap())
            .unwrap();
        assert_eq!(zone.origin().to_string(), "example.test.");
        assert!(s
            .zone_for(&Name::from_ascii("example.org.").unwrap())
            .is_none());
        assert!(zone
            .rrset(&lower("example.test."), RecordType::NS)
            .is_some());
        assert!(zone
            .rrset(&lower("example.test."), RecordType::SOA)
            .is_some());
        // `_sip._udp` makes `_udp` an empty non-terminal.
        assert!(zone.exists(&lower("_udp.example.test.")));
        assert!(zone.exists(&lower("www.example.test.")));
        assert!(!zone.exists(&lower("nope.example.test.")));
        assert_eq!(zone.negative_soa().ttl, 300);
    }

    #[test]
    fn an_inner_zone_exists_in_the_outer_one() {
        let cfg = config::parse(
            r#"
[[zone]]
name = "example.test"
ns = ["ns1.example.net."]
[zone.soa]
mname = "ns1.example.net."
rname = "hostmaster.example.test."
serial = 1

[[zone]]
name = "a.gap.example.test"
ns = ["ns1.example.net."]
[zone.soa]
mname = "ns1.example.net."
rname = "hostmaster.example.test."
serial = 1
"#,
            "test",
        )
        .unwrap();
        let s = State::from_config(&cfg);
        let outer = s
            .zone_for(&Name::from_ascii("gap.example.test.").unwrap())
            .unwrap();
        assert_eq!(outer.origin().to_string(), "example.test.");
        assert!(outer.exists(&lower("gap.example.test.")));
        assert!(!outer.exists(&lower("other.example.test.")));
    }

    #[test]
    fn gslb_records_keep_order_and_owner_case() {
        let s = state();
        let owner = Name::from_ascii("wWw.example.TEST.").unwrap();
        let www = s.gslb_name(&LowerName::new(&owner)).unwrap();
        let Outcome::Records(recs) = www.outcome(&owner, RecordType::A, None) else {
            panic!("records expected")
        };
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].data.to_string(), "198.18.0.10");
        assert_eq!(recs[1].data.to_string(), "198.18.0.11");
        assert!(recs[0].name.eq_case(&owner));
        assert_eq!(recs[0].ttl, 30);
        assert_eq!(www.outcome(&owner, RecordType::TXT, None), Outcome::Nodata);
    }

    #[test]
    fn finds_the_highest_delegation() {
        let text = format!(
            "{}\n[[zone.record]]\nname = \"sub\"\ntype = \"NS\"\ndata = \"ns.sub\"\n\
             [[zone.record]]\nname = \"ns.sub\"\ntype = \"A\"\ndata = \"192.0.2.1\"\n",
            config::DEFAULT_CONFIG
        );
        let s = State::from_config(&config::parse(&text, "t").unwrap());
        let zone = &s.zones[0];
        let (cut, ns) = zone
            .delegation(&Name::from_ascii("a.b.sub.example.test.").unwrap())
            .unwrap();
        assert_eq!(cut.to_string(), "sub.example.test.");
        assert_eq!(ns.len(), 1);
        assert!(zone
            .delegation(&Name::from_ascii("www.example.test.").unwrap())
            .is_none());
    }
}
