//! Out-of-band selection (seed 001 claim 43): for each gslb name and
//! address family, run the pool choice and the pool's method chain over
//! the servers' current state, and produce a [`Decision`] plus an
//! [`Explanation`] of how it was reached.
//!
//! Chain semantics as F5 BIG-IP DNS documents them: the preferred method;
//! if it yields no available server, the alternate; then the fallback,
//! which ignores availability (it picks among all enabled members, and
//! `fallback_ip` answers its addresses whatever their state). Pools are
//! chosen first ([`decide`]): only pools with an available member take
//! part in the pool method, so a pool's fallback answers only when that
//! pool is the one chosen with every pool down. When the chosen pool's
//! whole chain yields nothing its `when_all_down` applies.

use std::{net::IpAddr, time::Duration};

use gslb_common::{
    maps::MAX_ADDRS,
    select::{
        Selection, MODE_ORDERED, MODE_RANDOM, MODE_RATIO, MODE_ROUND_ROBIN, MODE_STATIC_PERSIST,
        MODE_WEIGHTED_RANDOM,
    },
};

pub use crate::api::protocol::{
    Availability, Candidate, Decider, Explanation, PoolScore, Stage, Step,
};
pub use crate::state::decision::Family;
use crate::{
    clients::{ClientMap, Profile},
    config::{
        AdminState, AllDown, GslbConfig, Method, PoolConfig, PoolMethod, VirtualServerConfig,
    },
    state::{
        decision::{AnswerSet, Decision},
        ids::ServerId,
    },
};

/// A server as the selection sees it right now.
#[derive(Clone, Debug)]
pub struct ServerView<'a> {
    /// Its configuration.
    pub cfg: &'a VirtualServerConfig,
    /// Server id (stable across config changes; the XDP hit counter
    /// index).
    pub id: ServerId,
    /// Administrative state now.
    pub admin: AdminState,
    /// All its monitors say up (or it has none).
    pub health_up: bool,
    /// Latest probe latency (slowest of its monitors).
    pub latency: Option<Duration>,
    /// Current sessions, when known.
    pub sessions: Option<u64>,
    /// Current connections, when known.
    pub connections: Option<u64>,
    /// How often it was handed out first so far.
    pub hits: u64,
}

impl ServerView<'_> {
    /// Its availability for new clients.
    pub fn availability(&self) -> Availability {
        match self.admin {
            AdminState::Disabled => return Availability::Disabled,
            AdminState::Draining => return Availability::Draining,
            AdminState::Enabled => {}
        }
        if !self.health_up {
            return Availability::Down;
        }
        let over =
            |now: Option<u64>, max: Option<u64>| matches!((now, max), (Some(n), Some(m)) if n > m);
        if over(self.sessions, self.cfg.max_sessions)
            || over(self.connections, self.cfg.max_connections)
        {
            return Availability::OverCapacity;
        }
        Availability::Available
    }

    fn available(&self) -> bool {
        self.availability() == Availability::Available
    }

    /// Free session capacity (most capacity method); unlimited servers
    /// count as having the most; unknown when it has a limit and its
    /// sessions are unknown.
    fn capacity(&self) -> Option<u64> {
        match self.cfg.max_sessions {
            Some(max) => self.sessions.map(|n| max.saturating_sub(n)),
            None => Some(u64::MAX),
        }
    }
}

/// Inputs shared by every decision of one selection round.
#[derive(Clone, Copy)]
pub struct Round<'a> {
    /// Every server, indexed by id.
    pub servers: &'a [ServerView<'a>],
    /// Every pool.
    pub pools: &'a [PoolConfig],
    /// Selection round number (pool-level round robin / ratio rotate per
    /// round).
    pub round: u64,
    /// The client group decided for (`None`: no client data, as group 0
    /// with the default profile: no topology score, no location).
    pub client: Option<ForClient<'a>>,
}

/// The client group a decision is for: its profile, and the client map
/// that scores candidates for it.
#[derive(Clone, Copy)]
pub struct ForClient<'a> {
    /// The client groups.
    pub map: &'a ClientMap,
    /// The group's profile.
    pub profile: &'a Profile,
}

impl ForClient<'_> {
    /// Topology score of a server (member-level `topology`).
    fn score(&self, s: &ServerView<'_>, pools: &[PoolConfig]) -> Option<u32> {
        self.map.score_server(self.profile, s.cfg, pools)
    }

    /// Rank of a server's datacenter by biased distance (`geo_proximity`).
    fn proximity(&self, s: &ServerView<'_>) -> Option<usize> {
        self.map.proximity_rank(self.profile, s.cfg)
    }
}

/// Whether the answers of `g` depend on the client's group: its pool
/// method is `topology`, or a chain of its pools (last resort included)
/// has `topology` or `geo_proximity`. Such a name's decisions are made
/// for every client group.
pub fn client_aware(pools: &[PoolConfig], g: &GslbConfig) -> bool {
    g.pool_method == PoolMethod::Topology
        || g.pools
            .iter()
            .chain(&g.last_resort_pool)
            .filter_map(|name| pools.iter().find(|p| p.name == *name))
            .any(|p| {
                p.methods
                    .iter()
                    .any(|m| matches!(m, Method::Topology | Method::GeoProximity))
            })
}

impl Round<'_> {
    fn pool(&self, name: &str) -> Option<&PoolConfig> {
        self.pools.iter().find(|p| p.name == name)
    }

    fn members<'s>(&'s self, pool: &PoolConfig, family: Family) -> Vec<&'s ServerView<'s>> {
        pool.members
            .iter()
            .filter_map(|m| self.servers.iter().find(|s| s.cfg.name == *m))
            .filter(|s| family.holds(&s.cfg.address))
            .collect()
    }

    fn candidates(&self, pool: &PoolConfig, family: Family) -> Vec<Candidate> {
        self.members(pool, family)
            .into_iter()
            .map(|s| Candidate {
                server: s.cfg.name.clone(),
                address: s.cfg.address,
                availability: s.availability(),
                sessions: s.sessions,
                connections: s.connections,
                latency_ms: s.latency.map(|d| d.as_secs_f64() * 1000.0),
                hits: s.hits,
                ratio: s.cfg.ratio,
                score: self.client.and_then(|c| c.score(s, self.pools)),
                proximity: self.client.and_then(|c| c.proximity(s)),
            })
            .collect()
    }
}

/// A selection over `servers` in the given order.
fn selection(
    mode: u16,
    pool: &PoolConfig,
    ttl: u32,
    servers: &[&ServerView<'_>],
    up: impl Fn(&ServerView<'_>) -> bool,
) -> AnswerSet {
    let servers = &servers[..servers.len().min(MAX_ADDRS)];
    let mut sel = Selection {
        ttl,
        mode,
        count: servers.len() as u8,
        max: pool.max_answers,
        persist_v4: pool.persist_prefix_v4,
        persist_v6: pool.persist_prefix_v6,
        ..Default::default()
    };
    for (i, s) in servers.iter().enumerate() {
        if up(s) {
            sel.up |= 1 << i;
        }
        sel.weights[i] = s.cfg.ratio.max(1);
        sel.ids[i] = s.id.get();
        sel.total_weight += u32::from(sel.weights[i]);
    }
    AnswerSet::new(sel, servers.iter().map(|s| s.cfg.address).collect())
}

/// Runs one method over `members` (all enabled-or-draining members of the
/// family, in pool order) for the client group of `round`.
/// `ignore_health` is set for the fallback step.
fn run_method(
    round: &Round<'_>,
    method: Method,
    pool: &PoolConfig,
    ttl: u32,
    family: Family,
    members: &[&ServerView<'_>],
    ignore_health: bool,
) -> Option<Decision> {
    let usable = |s: &ServerView<'_>| {
        if ignore_health {
            s.admin == AdminState::Enabled
        } else {
            s.available()
        }
    };
    let mut avail: Vec<&ServerView<'_>> = members.iter().copied().filter(|s| usable(s)).collect();
    let per_query = |mode: u16, avail: &[&ServerView<'_>]| {
        (!avail.is_empty()).then(|| Decision::Answer(selection(mode, pool, ttl, avail, |_| true)))
    };
    let ordered = |avail: &[&ServerView<'_>]| per_query(MODE_ORDERED, avail);
    match method {
        Method::None => None,
        // The members the client's group scores, highest first (ties in
        // pool order); none scored: the chain goes on.
        Method::Topology => {
            let c = round.client?;
            let mut scored: Vec<(u32, &ServerView<'_>)> = avail
                .iter()
                .filter_map(|s| c.score(s, round.pools).map(|sc| (sc, *s)))
                .collect();
            scored.sort_by_key(|&(sc, _)| std::cmp::Reverse(sc));
            let order: Vec<&ServerView<'_>> = scored.into_iter().map(|(_, s)| s).collect();
            ordered(&order)
        }
        // Nearest datacenter first by biased distance (ties in pool
        // order); a client without a location: the chain goes on.
        Method::GeoProximity => {
            let c = round.client?;
            c.profile.ranking.as_ref()?;
            let mut ranked: Vec<(usize, &ServerView<'_>)> = avail
                .iter()
                .filter_map(|s| c.proximity(s).map(|r| (r, *s)))
                .collect();
            ranked.sort_by_key(|&(r, _)| r);
            let order: Vec<&ServerView<'_>> = ranked.into_iter().map(|(_, s)| s).collect();
            ordered(&order)
        }
        Method::RoundRobin => per_query(MODE_ROUND_ROBIN, &avail),
        Method::Ratio => per_query(MODE_RATIO, &avail),
        Method::Random => per_query(MODE_RANDOM, &avail),
        Method::WeightedRandom => per_query(MODE_WEIGHTED_RANDOM, &avail),
        Method::StaticPersist => {
            // All non-disabled members keep their slot (seed 004 claim 3:
            // N counts the servers, then down ones are skipped, claim 4);
            // draining members keep their persistent clients.
            let slots: Vec<&ServerView<'_>> = members
                .iter()
                .copied()
                .filter(|s| s.admin != AdminState::Disabled)
                .collect();
            let up =
                |s: &ServerView<'_>| usable(s) || (s.admin == AdminState::Draining && s.health_up);
            if !slots.iter().any(|s| up(s)) {
                return None;
            }
            Some(Decision::Answer(selection(
                MODE_STATIC_PERSIST,
                pool,
                ttl,
                &slots,
                up,
            )))
        }
        Method::GlobalAvailability => ordered(&avail),
        Method::FewestSelected => {
            avail.sort_by_key(|s| s.hits);
            ordered(&avail)
        }
        // The load methods rank only the servers whose metric is known
        // (unknown is neither idle nor busy); none known: the chain goes on.
        Method::LeastSessions => {
            avail.retain(|s| s.sessions.is_some());
            avail.sort_by_key(|s| s.sessions);
            ordered(&avail)
        }
        Method::LeastConnections => {
            avail.retain(|s| s.connections.is_some());
            avail.sort_by_key(|s| s.connections);
            ordered(&avail)
        }
        Method::MostCapacity => {
            avail.retain(|s| s.capacity().is_some());
            avail.sort_by_key(|s| std::cmp::Reverse(s.capacity()));
            ordered(&avail)
        }
        Method::LowestLatency => {
            avail.sort_by_key(|s| s.latency.unwrap_or(Duration::MAX));
            ordered(&avail)
        }
        Method::DropPacket => Some(Decision::Drop),
        Method::FallbackIp => fallback_ips(pool, ttl, family),
        Method::ReturnToDns => Some(Decision::ReturnToDns),
    }
}

fn fallback_ips(pool: &PoolConfig, ttl: u32, family: Family) -> Option<Decision> {
    let addrs: Vec<IpAddr> = pool
        .fallback_ip
        .iter()
        .copied()
        .filter(|a| family.holds(a))
        .collect();
    let mut set = AnswerSet::ordered(ttl, addrs);
    set.sel.max = pool.max_answers;
    (!set.addrs.is_empty()).then_some(Decision::Answer(set))
}

/// The decision of one pool, or `None` when its chain found nothing
/// available (the caller decides whether the all-down behaviour applies).
fn pool_chain(
    round: &Round<'_>,
    pool: &PoolConfig,
    ttl: u32,
    family: Family,
    ex: &mut Explanation,
) -> Option<Decision> {
    let members: Vec<&ServerView<'_>> = round
        .members(pool, family)
        .into_iter()
        .filter(|s| s.admin != AdminState::Disabled)
        .collect();
    for (stage, method) in Stage::CHAIN.into_iter().zip(pool.methods) {
        let fallback = stage == Stage::Fallback;
        if let Some(d) = run_method(round, method, pool, ttl, family, &members, fallback)
            .map(|d| persistent(d, pool, &members))
        {
            ex.step = stage.into();
            ex.method = Decider::Method(method);
            return Some(d);
        }
    }
    None
}

/// Persistence with a TTL (the pool's `persistence`): the selection's
/// sticky fields and keep bits, every candidate of a set of servers
/// keeping its persistent clients, and the draining members whose health
/// is up appended after `count` (up to [`MAX_ADDRS`] in all) as keep-only
/// candidates: they keep the clients they have and get no new ones.
/// Down and disabled members are not candidates, so their clients move.
fn persistent(d: Decision, pool: &PoolConfig, members: &[&ServerView<'_>]) -> Decision {
    let (Some(p), Decision::Answer(set)) = (pool.persistence, &d) else {
        return d;
    };
    let mut sel = set.sel;
    let count = usize::from(sel.count);
    // Fixed addresses (fallback_ip) are no servers to stick to.
    if count == 0 || sel.ids[..count].contains(&gslb_common::maps::NO_SERVER) {
        return d;
    }
    sel.sticky_ttl = p.ttl.as_secs().min(u64::from(u32::MAX)) as u32;
    sel.sticky_v4 = p.prefix_v4;
    sel.sticky_v6 = p.prefix_v6;
    // Static persist lists its down members too: only the usable keep.
    sel.keep = if sel.mode == MODE_STATIC_PERSIST {
        sel.up
    } else {
        ((1u16 << count) - 1) as u8
    };
    let mut addrs = set.addrs.clone();
    for s in members
        .iter()
        .filter(|s| s.admin == AdminState::Draining && s.health_up)
    {
        let n = addrs.len();
        if n >= MAX_ADDRS {
            break;
        }
        if sel.ids[..n].contains(&s.id.get()) {
            continue;
        }
        sel.ids[n] = s.id.get();
        sel.keep |= 1 << n;
        addrs.push(s.cfg.address);
    }
    let mut sticky = AnswerSet::new(sel, addrs);
    sticky.hits = set.hits.clone();
    Decision::Answer(sticky)
}

/// The pool's all-down behaviour.
fn all_down(
    round: &Round<'_>,
    pool: &PoolConfig,
    ttl: u32,
    family: Family,
    ex: &mut Explanation,
) -> Decision {
    ex.step = Stage::WhenAllDown.into();
    ex.method = Decider::AllDown(pool.when_all_down);
    match pool.when_all_down {
        AllDown::FailOpen => {
            let members: Vec<&ServerView<'_>> = round
                .members(pool, family)
                .into_iter()
                .filter(|s| s.admin != AdminState::Disabled)
                .collect();
            if members.is_empty() {
                return Decision::NoSet;
            }
            Decision::Answer(selection(MODE_ORDERED, pool, ttl, &members, |_| true))
        }
        AllDown::FallbackIp => fallback_ips(pool, ttl, family).unwrap_or(Decision::NoSet),
        AllDown::ReturnToDns => Decision::ReturnToDns,
        AllDown::Servfail => Decision::Servfail,
        AllDown::Nodata => Decision::Nodata,
        AllDown::Drop => Decision::Drop,
    }
}

/// Whether `pool` serves `family` at all: it has members or fallback
/// addresses of that family. A pool that does not is left out entirely.
fn serves(round: &Round<'_>, pool: &PoolConfig, family: Family) -> bool {
    !round.members(pool, family).is_empty() || pool.fallback_ip.iter().any(|a| family.holds(a))
}

/// Whether `pool` has a member of `family` that can take new clients. A
/// pool without one is unavailable: pool-level methods skip it (F5 BIG-IP
/// DNS: a pool is available when at least one member is).
fn pool_available(round: &Round<'_>, pool: &PoolConfig, family: Family) -> bool {
    round
        .members(pool, family)
        .iter()
        .any(|s| s.availability() == Availability::Available)
}

/// The available pools (`(index in g.pools, pool)`, config order) in the
/// order this round tries them: global availability and topology in
/// config order; round robin starts at the next available pool each
/// round; ratio starts at an available pool picked by the weights of the
/// available pools only, so a down pool's share goes to the others.
fn pool_order<'r>(
    round: &Round<'_>,
    g: &GslbConfig,
    available: &[(usize, &'r PoolConfig)],
) -> Vec<&'r PoolConfig> {
    if available.is_empty() {
        return Vec::new();
    }
    let start = match &g.pool_method {
        PoolMethod::Topology => {
            // Scored pools first, highest first (ties in config order),
            // then the others in config order.
            let mut order: Vec<(Option<u32>, &'r PoolConfig)> = available
                .iter()
                .map(|&(_, p)| (pool_score(round, p), p))
                .collect();
            order.sort_by_key(|&(sc, _)| std::cmp::Reverse(sc));
            return order.into_iter().map(|(_, p)| p).collect();
        }
        PoolMethod::GlobalAvailability => 0,
        PoolMethod::RoundRobin => (round.round % available.len() as u64) as usize,
        PoolMethod::Ratio(weights) => {
            let weight = |i: usize| u64::from(weights.get(i).copied().unwrap_or(1));
            let total: u64 = available.iter().map(|&(i, _)| weight(i)).sum();
            let mut point = if total == 0 { 0 } else { round.round % total };
            let mut start = 0;
            for (k, &(i, _)) in available.iter().enumerate() {
                if point < weight(i) {
                    start = k;
                    break;
                }
                point -= weight(i);
            }
            start
        }
    };
    available[start..]
        .iter()
        .chain(&available[..start])
        .map(|&(_, p)| p)
        .collect()
}

/// A pool's topology score for the client group of `round`.
fn pool_score(round: &Round<'_>, pool: &PoolConfig) -> Option<u32> {
    round.client.and_then(|c| c.map.score_pool(c.profile, pool))
}

/// Fills the explanation of a decision taken by `pool`.
fn decided(
    round: &Round<'_>,
    pool: &PoolConfig,
    family: Family,
    d: Decision,
    mut ex: Explanation,
) -> (Decision, Explanation) {
    ex.pool = Some(pool.name.clone());
    ex.candidates = round.candidates(pool, family);
    ex.decision = describe(&d);
    (d, ex)
}

/// Decides what `g` answers for `family` this round. The rules (docs/methods.md,
/// "Pool chains"), after F5 BIG-IP DNS:
///
/// 1. The pools that have an available member, in the order of the
///    `pool_method`: the first whose chain yields a decision answers.
///    Pools without an available member are skipped, whatever their
///    fallback method.
/// 2. Else the `last_resort_pool`, if it has an available member.
/// 3. Else every pool is down: the chosen pool is the `last_resort_pool`,
///    or without one the first pool in config order. Its chain runs
///    (methods that need an available server find none; the fallback
///    ignores health; `fallback_ip`, `drop_packet` and `return_to_dns`
///    answer), and if that yields nothing, its `when_all_down` applies.
pub fn decide(round: &Round<'_>, g: &GslbConfig, family: Family) -> (Decision, Explanation) {
    let mut ex = Explanation::default();
    if g.pools.is_empty() {
        // Static answer sets.
        let addrs: Vec<IpAddr> = match family {
            Family::V4 => g.a.iter().map(|&a| IpAddr::V4(a)).collect(),
            Family::V6 => g.aaaa.iter().map(|&a| IpAddr::V6(a)).collect(),
        };
        ex.step = Stage::Static.into();
        ex.method = Decider::Ordered;
        if addrs.is_empty() {
            ex.decision = "no answer set: NODATA".into();
            return (Decision::NoSet, ex);
        }
        ex.decision = format!("{addrs:?}");
        return (Decision::Answer(AnswerSet::ordered(g.ttl, addrs)), ex);
    }
    let serving: Vec<(usize, &PoolConfig)> = g
        .pools
        .iter()
        .enumerate()
        .filter_map(|(i, name)| round.pool(name).map(|p| (i, p)))
        .filter(|(_, p)| serves(round, p, family))
        .collect();
    let last = g
        .last_resort_pool
        .as_deref()
        .and_then(|p| round.pool(p))
        .filter(|p| serves(round, p, family));
    if g.pool_method == PoolMethod::Topology {
        let mut scores: Vec<PoolScore> = serving
            .iter()
            .map(|&(_, p)| PoolScore {
                pool: p.name.clone(),
                score: pool_score(round, p),
            })
            .collect();
        scores.sort_by_key(|s| std::cmp::Reverse(s.score));
        ex.pool_scores = scores;
    }
    let mut available = Vec::new();
    for &(i, pool) in &serving {
        if pool_available(round, pool, family) {
            available.push((i, pool));
        } else {
            ex.skipped_pools
                .push(format!("{}: no available member", pool.name));
        }
    }
    // 1. Available pools in pool-method order.
    for pool in pool_order(round, g, &available) {
        let ttl = pool.ttl.unwrap_or(g.ttl);
        if let Some(d) = pool_chain(round, pool, ttl, family, &mut ex) {
            return decided(round, pool, family, d, ex);
        }
        ex.skipped_pools
            .push(format!("{}: its methods found no answer", pool.name));
    }
    // 2. The last resort pool while it has an available member.
    if let Some(pool) = last.filter(|p| pool_available(round, p, family)) {
        let ttl = pool.ttl.unwrap_or(g.ttl);
        if let Some(d) = pool_chain(round, pool, ttl, family, &mut ex) {
            ex.step.last_resort = true;
            return decided(round, pool, family, d, ex);
        }
    }
    // 3. Every pool down: the chosen pool's chain, then its all-down
    // behaviour.
    let Some(pool) = last.or(serving.first().map(|&(_, p)| p)) else {
        ex.step = Stage::None.into();
        ex.decision = "no pool serves this family: NODATA".into();
        return (Decision::NoSet, ex);
    };
    let ttl = pool.ttl.unwrap_or(g.ttl);
    let d = pool_chain(round, pool, ttl, family, &mut ex)
        .unwrap_or_else(|| all_down(round, pool, ttl, family, &mut ex));
    if last.is_some() {
        ex.step.last_resort = true;
    }
    decided(round, pool, family, d, ex)
}

/// A decision in words.
pub fn describe(d: &Decision) -> String {
    match d {
        Decision::NoSet => "no answer set: NODATA".into(),
        Decision::Answer(set) => {
            let mode = match set.sel.mode {
                MODE_ORDERED => "in this order",
                MODE_ROUND_ROBIN => "round robin per query",
                MODE_RATIO => "ratio per query",
                MODE_RANDOM => "random per query",
                MODE_WEIGHTED_RANDOM => "weighted random per query",
                MODE_STATIC_PERSIST => "static persist per LDNS",
                _ => "?",
            };
            let addrs: Vec<String> = set.addrs.iter().map(ToString::to_string).collect();
            format!(
                "answer {} of [{}] {mode}, ttl {}",
                crate::state::decision::answers_per_response(set),
                addrs.join(", "),
                set.sel.ttl
            )
        }
        Decision::Drop => "drop the query (no response)".into(),
        Decision::ReturnToDns => "return to DNS: static zone data".into(),
        Decision::Servfail => "SERVFAIL".into(),
        Decision::Nodata => "NODATA".into(),
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::config::{MetricsSource, PoolConfig};

    fn server(name: &str, last: u8, ratio: u16) -> VirtualServerConfig {
        VirtualServerConfig {
            name: name.into(),
            address: IpAddr::V4(Ipv4Addr::new(198, 18, 10, last)),
            datacenter: "dc".into(),
            ratio,
            max_sessions: Some(100),
            max_connections: None,
            monitors: vec![],
            check_address: None,
            admin: AdminState::Enabled,
            initial_up: true,
            metrics: MetricsSource::None,
        }
    }

    fn pool(methods: [Method; 3], all_down: AllDown) -> PoolConfig {
        PoolConfig {
            name: "p".into(),
            members: vec!["a".into(), "b".into(), "c".into()],
            methods,
            ttl: None,
            max_answers: 1,
            fallback_ip: vec![IpAddr::V4(Ipv4Addr::new(198, 18, 99, 1))],
            when_all_down: all_down,
            persist_prefix_v4: 24,
            persist_prefix_v6: 64,
            persistence: None,
        }
    }

    fn gslb() -> GslbConfig {
        GslbConfig {
            name: hickory_proto::rr::Name::from_ascii("www.example.test.").unwrap(),
            ttl: 30,
            a: vec![],
            aaaa: vec![],
            pools: vec!["p".into()],
            pool_method: PoolMethod::GlobalAvailability,
            last_resort_pool: None,
        }
    }

    struct Fixture {
        cfgs: Vec<VirtualServerConfig>,
    }

    impl Fixture {
        fn new() -> Fixture {
            Fixture {
                cfgs: vec![server("a", 1, 3), server("b", 2, 1), server("c", 3, 2)],
            }
        }

        fn views(&self) -> Vec<ServerView<'_>> {
            self.cfgs
                .iter()
                .enumerate()
                .map(|(i, cfg)| ServerView {
                    cfg,
                    id: ServerId(i as u16),
                    admin: AdminState::Enabled,
                    health_up: true,
                    latency: Some(Duration::from_millis(10 * (3 - i as u64))),
                    sessions: Some(10 * (i as u64 + 1)),
                    connections: Some(100 - 10 * i as u64),
                    hits: [5, 1, 3][i],
                })
                .collect()
        }
    }

    fn run(p: &PoolConfig, views: &[ServerView<'_>]) -> (Decision, Explanation) {
        let pools = [p.clone()];
        let round = Round {
            servers: views,
            pools: &pools,
            round: 0,
            client: None,
        };
        decide(&round, &gslb(), Family::V4)
    }

    fn set(d: &Decision) -> &AnswerSet {
        match d {
            Decision::Answer(s) => s,
            other => panic!("answer set expected, got {other:?}"),
        }
    }

    fn last_octets(d: &Decision) -> Vec<u8> {
        set(d)
            .addrs
            .iter()
            .map(|a| match a {
                IpAddr::V4(a) => a.octets()[3],
                IpAddr::V6(_) => 0,
            })
            .collect()
    }

    const N: Method = Method::None;

    #[test]
    fn per_query_methods_carry_weights_and_ids() {
        let f = Fixture::new();
        let (d, ex) = run(&pool([Method::Ratio, N, N], AllDown::FailOpen), &f.views());
        let s = set(&d);
        assert_eq!(s.sel.mode, MODE_RATIO);
        assert_eq!(&s.sel.weights[..3], &[3, 1, 2]);
        assert_eq!(s.sel.total_weight, 6);
        assert_eq!(&s.sel.ids[..3], &[0, 1, 2]);
        assert_eq!(s.sel.max, 1);
        assert_eq!(ex.method, "ratio");
        assert_eq!(ex.step, "preferred");
    }

    #[test]
    fn down_servers_leave_per_query_sets() {
        let f = Fixture::new();
        let mut v = f.views();
        v[1].health_up = false;
        let (d, _) = run(&pool([Method::RoundRobin, N, N], AllDown::FailOpen), &v);
        assert_eq!(last_octets(&d), vec![1, 3]);
        assert_eq!(set(&d).sel.mode, MODE_ROUND_ROBIN);
    }

    #[test]
    fn out_of_band_orderings() {
        let f = Fixture::new();
        let v = f.views();
        let order = |m| last_octets(&run(&pool([m, N, N], AllDown::FailOpen), &v).0);
        assert_eq!(order(Method::GlobalAvailability), vec![1, 2, 3]);
        assert_eq!(order(Method::FewestSelected), vec![2, 3, 1]);
        assert_eq!(order(Method::LeastSessions), vec![1, 2, 3]);
        assert_eq!(order(Method::LeastConnections), vec![3, 2, 1]);
        assert_eq!(order(Method::MostCapacity), vec![1, 2, 3]);
        assert_eq!(order(Method::LowestLatency), vec![3, 2, 1]);
    }

    #[test]
    fn sessions_over_threshold_make_a_server_unavailable() {
        let f = Fixture::new();
        let mut v = f.views();
        v[0].sessions = Some(101);
        assert_eq!(v[0].availability(), Availability::OverCapacity);
        let (d, ex) = run(
            &pool([Method::GlobalAvailability, N, N], AllDown::FailOpen),
            &v,
        );
        assert_eq!(last_octets(&d), vec![2, 3]);
        assert_eq!(ex.candidates[0].availability, Availability::OverCapacity);
    }

    #[test]
    fn unknown_metrics_fall_through_the_load_methods() {
        let f = Fixture::new();
        let mut v = f.views();
        // Unknown metrics do not make a server over capacity.
        v[0].sessions = None;
        v[0].connections = None;
        assert_eq!(v[0].availability(), Availability::Available);
        let order = |m, v: &[ServerView<'_>]| {
            let (d, ex) = run(
                &pool([m, Method::GlobalAvailability, N], AllDown::Servfail),
                v,
            );
            (last_octets(&d), ex.step.to_string())
        };
        // Only the servers whose metric is known are ranked.
        assert_eq!(
            order(Method::LeastSessions, &v),
            (vec![2, 3], "preferred".into())
        );
        assert_eq!(
            order(Method::LeastConnections, &v),
            (vec![3, 2], "preferred".into())
        );
        assert_eq!(
            order(Method::MostCapacity, &v),
            (vec![2, 3], "preferred".into())
        );
        // None known: the next method of the chain decides.
        for s in &mut v {
            s.sessions = None;
            s.connections = None;
        }
        for m in [
            Method::LeastSessions,
            Method::LeastConnections,
            Method::MostCapacity,
        ] {
            assert_eq!(order(m, &v), (vec![1, 2, 3], "alternate".into()), "{m:?}");
        }
    }

    #[test]
    fn chain_goes_preferred_alternate_fallback() {
        let f = Fixture::new();
        let mut v = f.views();
        for s in &mut v {
            s.health_up = false;
        }
        // Preferred and alternate find nothing; the fallback ignores health.
        let p = pool(
            [
                Method::RoundRobin,
                Method::GlobalAvailability,
                Method::Ratio,
            ],
            AllDown::Servfail,
        );
        let (d, ex) = run(&p, &v);
        assert_eq!(ex.step, "fallback");
        assert_eq!(set(&d).sel.mode, MODE_RATIO);
        assert_eq!(last_octets(&d), vec![1, 2, 3]);
        // Alternate used when the preferred finds nothing but health allows.
        v[2].health_up = true;
        let (d, ex) = run(&p, &v);
        assert_eq!(
            (ex.step.to_string().as_str(), ex.method.name()),
            ("preferred", "round_robin")
        );
        assert_eq!(last_octets(&d), vec![3]);
        let p = pool(
            [Method::StaticPersist, Method::FallbackIp, N],
            AllDown::Servfail,
        );
        for s in &mut v {
            s.health_up = false;
        }
        let (d, ex) = run(&p, &v);
        assert_eq!(ex.step, "alternate");
        assert_eq!(last_octets(&d), vec![1]);
        assert_eq!(set(&d).addrs[0], IpAddr::V4(Ipv4Addr::new(198, 18, 99, 1)));
    }

    #[test]
    fn every_all_down_behaviour() {
        let f = Fixture::new();
        let mut v = f.views();
        for s in &mut v {
            s.health_up = false;
        }
        let d = |a| run(&pool([Method::RoundRobin, N, N], a), &v).0;
        assert_eq!(last_octets(&d(AllDown::FailOpen)), vec![1, 2, 3]);
        assert_eq!(
            set(&d(AllDown::FallbackIp)).addrs,
            vec![IpAddr::V4(Ipv4Addr::new(198, 18, 99, 1))]
        );
        assert_eq!(d(AllDown::ReturnToDns), Decision::ReturnToDns);
        assert_eq!(d(AllDown::Servfail), Decision::Servfail);
        assert_eq!(d(AllDown::Nodata), Decision::Nodata);
        assert_eq!(d(AllDown::Drop), Decision::Drop);
        let (dp, _) = run(&pool([Method::DropPacket, N, N], AllDown::FailOpen), &v);
        assert_eq!(dp, Decision::Drop);
    }

    #[test]
    fn static_persist_keeps_slots_and_draining_clients() {
        let f = Fixture::new();
        let mut v = f.views();
        v[1].health_up = false;
        v[2].admin = AdminState::Draining;
        let (d, _) = run(&pool([Method::StaticPersist, N, N], AllDown::FailOpen), &v);
        let s = set(&d);
        assert_eq!(s.sel.mode, MODE_STATIC_PERSIST);
        // Every non-disabled member keeps its slot; down ones are marked.
        assert_eq!(last_octets(&d), vec![1, 2, 3]);
        assert_eq!(s.sel.up, 0b101);
        assert_eq!((s.sel.persist_v4, s.sel.persist_v6), (24, 64));
        // Disabled members lose their slot.
        v[0].admin = AdminState::Disabled;
        let (d, _) = run(&pool([Method::StaticPersist, N, N], AllDown::FailOpen), &v);
        assert_eq!(last_octets(&d), vec![2, 3]);
    }

    #[test]
    fn draining_and_disabled_get_no_new_clients() {
        let f = Fixture::new();
        let mut v = f.views();
        v[0].admin = AdminState::Draining;
        v[1].admin = AdminState::Disabled;
        let (d, ex) = run(&pool([Method::RoundRobin, N, N], AllDown::FailOpen), &v);
        assert_eq!(last_octets(&d), vec![3]);
        assert_eq!(ex.candidates[0].availability, Availability::Draining);
        assert_eq!(ex.candidates[1].availability, Availability::Disabled);
    }

    #[test]
    fn pools_in_order_then_last_resort() {
        let f = Fixture::new();
        let mut v = f.views();
        let mut p1 = pool([Method::GlobalAvailability, N, N], AllDown::Servfail);
        p1.members = vec!["a".into()];
        let mut p2 = p1.clone();
        p2.name = "p2".into();
        p2.members = vec!["b".into()];
        let mut last = p1.clone();
        last.name = "last".into();
        last.members = vec!["c".into()];
        let pools = [p1, p2, last];
        let mut g = gslb();
        g.pools = vec!["p".into(), "p2".into()];
        g.last_resort_pool = Some("last".into());
        v[0].health_up = false;
        let round = Round {
            servers: &v,
            pools: &pools,
            round: 0,
            client: None,
        };
        let (d, ex) = decide(&round, &g, Family::V4);
        assert_eq!(last_octets(&d), vec![2]);
        assert_eq!(ex.pool.as_deref(), Some("p2"));
        assert_eq!(ex.skipped_pools.len(), 1);
        v[1].health_up = false;
        let round = Round {
            servers: &v,
            pools: &pools,
            round: 0,
            client: None,
        };
        let (d, ex) = decide(&round, &g, Family::V4);
        assert_eq!(last_octets(&d), vec![3]);
        assert!(ex.step.last_resort);
        // No AAAA members anywhere: no set for AAAA.
        let (d, _) = decide(&round, &g, Family::V6);
        assert_eq!(d, Decision::NoSet);
    }

    /// Pools p1 = [a], p2 = [b], last = [c], each `chain`, `when_all_down`
    /// servfail, fallback_ip 198.18.99.1; gslb over p1, p2.
    fn chain_pools(chain: [Method; 3]) -> Vec<PoolConfig> {
        ["p1", "p2", "last"]
            .iter()
            .zip(["a", "b", "c"])
            .map(|(name, member)| {
                let mut p = pool(chain, AllDown::Servfail);
                p.name = (*name).into();
                p.members = vec![member.into()];
                p
            })
            .collect()
    }

    fn chain_gslb(method: PoolMethod, last_resort: bool) -> GslbConfig {
        let mut g = gslb();
        g.pools = vec!["p1".into(), "p2".into()];
        g.pool_method = method;
        g.last_resort_pool = last_resort.then(|| "last".into());
        g
    }

    fn decide_at(
        v: &[ServerView<'_>],
        pools: &[PoolConfig],
        g: &GslbConfig,
        round: u64,
    ) -> (Decision, Explanation) {
        let round = Round {
            servers: v,
            pools,
            round,
            client: None,
        };
        decide(&round, g, Family::V4)
    }

    const FALLBACK_CHAIN: [Method; 3] = [Method::RoundRobin, N, Method::FallbackIp];

    /// Case 1-2: a pool with no available member is skipped even when its
    /// chain ends in a fallback method; the first available pool answers.
    #[test]
    fn a_down_pool_with_a_fallback_is_skipped() {
        let f = Fixture::new();
        let mut v = f.views();
        let pools = chain_pools(FALLBACK_CHAIN);
        let g = chain_gslb(PoolMethod::GlobalAvailability, true);
        let (d, ex) = decide_at(&v, &pools, &g, 0);
        assert_eq!((last_octets(&d), ex.pool.as_deref()), (vec![1], Some("p1")));
        v[0].health_up = false;
        let (d, ex) = decide_at(&v, &pools, &g, 0);
        assert_eq!(
            (
                last_octets(&d),
                ex.pool.as_deref(),
                ex.step.to_string().as_str()
            ),
            (vec![2], Some("p2"), "preferred")
        );
        assert_eq!(ex.skipped_pools, vec!["p1: no available member"]);
        // Disabled or draining members do not make a pool available.
        v[0].health_up = true;
        v[0].admin = AdminState::Draining;
        assert_eq!(last_octets(&decide_at(&v, &pools, &g, 0).0), vec![2]);
        v[0].admin = AdminState::Disabled;
        assert_eq!(last_octets(&decide_at(&v, &pools, &g, 0).0), vec![2]);
        v[0].admin = AdminState::Enabled;
        v[0].sessions = Some(101);
        assert_eq!(last_octets(&decide_at(&v, &pools, &g, 0).0), vec![2]);
    }

    /// Case 3-4: pool-level round robin and ratio rotate over the
    /// available pools only.
    #[test]
    fn pool_rotation_skips_down_pools() {
        let f = Fixture::new();
        let mut v = f.views();
        let pools = chain_pools(FALLBACK_CHAIN);
        let firsts = |v: &[ServerView<'_>], m: PoolMethod| -> Vec<u8> {
            let g = chain_gslb(m, false);
            (0..6)
                .map(|r| last_octets(&decide_at(v, &pools, &g, r).0)[0])
                .collect()
        };
        assert_eq!(firsts(&v, PoolMethod::RoundRobin), vec![1, 2, 1, 2, 1, 2]);
        assert_eq!(
            firsts(&v, PoolMethod::Ratio(vec![2, 1])),
            vec![1, 1, 2, 1, 1, 2]
        );
        v[1].health_up = false;
        assert_eq!(firsts(&v, PoolMethod::RoundRobin), vec![1; 6]);
        assert_eq!(firsts(&v, PoolMethod::Ratio(vec![2, 1])), vec![1; 6]);
        v[1].health_up = true;
        v[0].health_up = false;
        assert_eq!(firsts(&v, PoolMethod::RoundRobin), vec![2; 6]);
        assert_eq!(firsts(&v, PoolMethod::Ratio(vec![2, 1])), vec![2; 6]);
        assert_eq!(firsts(&v, PoolMethod::Topology), vec![2; 6]);
    }

    /// Case 5: no pool has an available member: the last resort pool
    /// answers while it has one.
    #[test]
    fn last_resort_before_any_fallback() {
        let f = Fixture::new();
        let mut v = f.views();
        let pools = chain_pools(FALLBACK_CHAIN);
        let g = chain_gslb(PoolMethod::GlobalAvailability, true);
        v[0].health_up = false;
        v[1].health_up = false;
        let (d, ex) = decide_at(&v, &pools, &g, 0);
        assert_eq!(
            (
                last_octets(&d),
                ex.pool.as_deref(),
                ex.step.to_string().as_str()
            ),
            (vec![3], Some("last"), "last_resort/preferred")
        );
        assert_eq!(ex.skipped_pools.len(), 2);
    }

    /// Case 6: every pool down: the chosen pool's fallback answers — the
    /// last resort pool's, or without one the first pool's.
    #[test]
    fn every_pool_down_the_chosen_pools_fallback_answers() {
        let f = Fixture::new();
        let mut v = f.views();
        for s in &mut v {
            s.health_up = false;
        }
        let mut pools = chain_pools(FALLBACK_CHAIN);
        pools[0].fallback_ip = vec![IpAddr::V4(Ipv4Addr::new(198, 18, 99, 11))];
        pools[2].fallback_ip = vec![IpAddr::V4(Ipv4Addr::new(198, 18, 99, 33))];
        let (d, ex) = decide_at(
            &v,
            &pools,
            &chain_gslb(PoolMethod::GlobalAvailability, true),
            0,
        );
        assert_eq!(
            (
                last_octets(&d),
                ex.pool.as_deref(),
                ex.step.to_string().as_str()
            ),
            (vec![33], Some("last"), "last_resort/fallback")
        );
        // Without a last resort pool: the first pool in config order, also
        // when the pool method would start elsewhere this round.
        for m in [PoolMethod::GlobalAvailability, PoolMethod::RoundRobin] {
            let (d, ex) = decide_at(&v, &pools, &chain_gslb(m, false), 1);
            assert_eq!(
                (
                    last_octets(&d),
                    ex.pool.as_deref(),
                    ex.step.to_string().as_str()
                ),
                (vec![11], Some("p1"), "fallback")
            );
        }
        // A fallback that ignores health answers from the chosen pool's
        // members.
        let pools = chain_pools([Method::GlobalAvailability, N, Method::RoundRobin]);
        let (d, ex) = decide_at(
            &v,
            &pools,
            &chain_gslb(PoolMethod::GlobalAvailability, false),
            0,
        );
        assert_eq!(
            (last_octets(&d), ex.step.to_string().as_str()),
            (vec![1], "fallback")
        );
    }

    /// Case 7: the chosen pool's chain yields nothing: its when_all_down.
    #[test]
    fn every_pool_down_without_fallback_uses_when_all_down() {
        let f = Fixture::new();
        let mut v = f.views();
        for s in &mut v {
            s.health_up = false;
        }
        let mut pools = chain_pools([Method::RoundRobin, N, N]);
        pools[1].when_all_down = AllDown::Nodata;
        pools[2].when_all_down = AllDown::Drop;
        let (d, ex) = decide_at(
            &v,
            &pools,
            &chain_gslb(PoolMethod::GlobalAvailability, false),
            0,
        );
        assert_eq!(d, Decision::Servfail);
        assert_eq!(
            (ex.pool.as_deref(), ex.step.to_string().as_str()),
            (Some("p1"), "when_all_down")
        );
        let (d, ex) = decide_at(
            &v,
            &pools,
            &chain_gslb(PoolMethod::GlobalAvailability, true),
            0,
        );
        assert_eq!(d, Decision::Drop);
        assert_eq!(ex.step, "last_resort/when_all_down");
        // Methods that need no server answer even when every pool is
        // down: drop_packet as the chosen pool's preferred method.
        let pools = chain_pools([Method::DropPacket, N, Method::FallbackIp]);
        let (d, _) = decide_at(
            &v,
            &pools,
            &chain_gslb(PoolMethod::GlobalAvailability, false),
            0,
        );
        assert_eq!(d, Decision::Drop);
    }

    /// Case 8-9: a pool with no member or fallback address of the family
    /// is left out; an available pool whose methods all find nothing is
    /// skipped.
    #[test]
    fn pools_that_cannot_answer_are_passed_over() {
        let f = Fixture::new();
        let v = f.views();
        let mut pools = chain_pools([N, N, N]);
        pools[1].methods = [Method::GlobalAvailability, N, N];
        let (d, ex) = decide_at(
            &v,
            &pools,
            &chain_gslb(PoolMethod::GlobalAvailability, false),
            0,
        );
        assert_eq!((last_octets(&d), ex.pool.as_deref()), (vec![2], Some("p2")));
        assert_eq!(ex.skipped_pools, vec!["p1: its methods found no answer"]);
        // AAAA: no pool has IPv6 members or fallback addresses.
        let round = Round {
            servers: &v,
            pools: &pools,
            round: 0,
            client: None,
        };
        let (d, ex) = decide(
            &round,
            &chain_gslb(PoolMethod::GlobalAvailability, true),
            Family::V6,
        );
        assert_eq!((d, ex.step.to_string().as_str()), (Decision::NoSet, "none"));
    }
}
