//! `[[pool]]`: ordered members (virtual servers) and the chain of
//! load-balancing methods that picks among them.
//!
//! ```toml
//! [[pool]]
//! name = "web-eu"
//! members = ["ams-web1", "ams-web2"]   # ordered, >= 1, at most 8 IPv4 and 8 IPv6
//! preferred = "round_robin"            # default "round_robin"
//! alternate = "global_availability"    # optional (default "none")
//! fallback = "fallback_ip"             # optional (default "none")
//! # methods: none | round_robin | ratio | static_persist | random |
//! # weighted_random | global_availability | fewest_selected |
//! # least_sessions | least_connections | most_capacity | lowest_latency |
//! # drop_packet | fallback_ip | return_to_dns | topology | geo_proximity
//! ttl = 30                             # optional: default the gslb name's ttl
//! max_answers = 1                      # 1..=8 (default 1)
//! fallback_ip = ["198.18.99.1", "2001:db8:99::1"]  # required by fallback_ip
//! when_all_down = "fail_open"          # fail_open | fallback_ip | return_to_dns | servfail | nodata | drop
//! persist_prefix_v4 = 24               # static persist LDNS mask, 0..=32 (default 32)
//! persist_prefix_v6 = 56               # 0..=64 (default 64)
//! # persistence with a TTL: a client prefix keeps its first server
//! persistence = { ttl = "10m", prefix_v4 = 24, prefix_v6 = 56 }
//! ```

use std::{collections::HashMap, net::IpAddr};

use serde::Deserialize;

use super::vserver::VirtualServerConfig;
use crate::config::{
    checks::{unusable_address, Declared, Validator},
    raw::{Dur, Int, Str, StrList},
    MAX_GSLB_ADDRS,
};

/// A load-balancing method of a pool's chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Nothing: go on to the next method of the chain.
    None,
    /// Per query, in XDP: rotate.
    RoundRobin,
    /// Per query, in XDP: weighted rotation by `ratio`.
    Ratio,
    /// Per query, in XDP: LDNS address modulo available servers (seed 004).
    StaticPersist,
    /// Per query, in XDP: uniform random.
    Random,
    /// Per query, in XDP: random weighted by `ratio`.
    WeightedRandom,
    /// Out of band: first available in pool order.
    GlobalAvailability,
    /// Out of band: handed out least often so far (seed 000 claim 38).
    FewestSelected,
    /// Out of band: fewest sessions.
    LeastSessions,
    /// Out of band: fewest connections.
    LeastConnections,
    /// Out of band: most free session capacity (max_sessions - sessions).
    MostCapacity,
    /// Out of band: lowest probe latency (seed 000 claim 36).
    LowestLatency,
    /// No answer at all.
    DropPacket,
    /// The pool's `fallback_ip` addresses (ignores availability).
    FallbackIp,
    /// Answer from the static zone data (slow path).
    ReturnToDns,
    /// Out of band, per client group: the members the client's topology
    /// rules score, by score descending (docs/methods.md).
    Topology,
    /// Out of band, per client group: members by their datacenter's
    /// biased distance from the client's location.
    GeoProximity,
}

names!(Method {
    None = "none",
    RoundRobin = "round_robin",
    Ratio = "ratio",
    StaticPersist = "static_persist",
    Random = "random",
    WeightedRandom = "weighted_random",
    GlobalAvailability = "global_availability",
    FewestSelected = "fewest_selected",
    LeastSessions = "least_sessions",
    LeastConnections = "least_connections",
    MostCapacity = "most_capacity",
    LowestLatency = "lowest_latency",
    DropPacket = "drop_packet",
    FallbackIp = "fallback_ip",
    ReturnToDns = "return_to_dns",
    Topology = "topology",
    GeoProximity = "geo_proximity",
});

/// What a pool answers when no method of its chain yields an available
/// server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AllDown {
    /// Answer all enabled members as if healthy (Route 53 behaviour).
    #[default]
    FailOpen,
    /// The pool's `fallback_ip` addresses.
    FallbackIp,
    /// Answer from the static zone data.
    ReturnToDns,
    /// SERVFAIL.
    Servfail,
    /// NOERROR with no answer.
    Nodata,
    /// No answer at all.
    Drop,
}

names!(AllDown {
    FailOpen = "fail_open",
    FallbackIp = "fallback_ip",
    ReturnToDns = "return_to_dns",
    Servfail = "servfail",
    Nodata = "nodata",
    Drop = "drop",
});

/// One `[[pool]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    /// Unique name.
    pub name: String,
    /// Server names in order (validated to exist).
    pub members: Vec<String>,
    /// Method chain: preferred, alternate, fallback.
    pub methods: [Method; 3],
    /// TTL override; `None` = the gslb name's ttl.
    pub ttl: Option<u32>,
    /// Answers per response, 1..=8.
    pub max_answers: u8,
    /// Addresses of the fallback_ip method / all-down behaviour.
    pub fallback_ip: Vec<IpAddr>,
    /// All-down behaviour.
    pub when_all_down: AllDown,
    /// Static persist mask for IPv4 LDNS addresses (0..=32).
    pub persist_prefix_v4: u8,
    /// Static persist mask for IPv6 LDNS addresses (0..=64).
    pub persist_prefix_v6: u8,
    /// Persistence with a TTL; `None`: off.
    pub persistence: Option<Persistence>,
}

/// `persistence = { ttl, prefix_v4, prefix_v6 }`: a client prefix keeps
/// the server it was first handed for `ttl` after its last query, while
/// that server stays up and enabled (draining keeps it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Persistence {
    /// How long a record lives after its last use (whole seconds, >= 1).
    pub ttl: std::time::Duration,
    /// Leading bits of an IPv4 client address that make its prefix.
    pub prefix_v4: u8,
    /// Leading bits of an IPv6 client address that make its prefix.
    pub prefix_v6: u8,
}

/// Default `persistence.prefix_v4`: a /24, the usual unit of routing.
pub const DEFAULT_PERSIST_PREFIX_V4: u8 = 24;
/// Default `persistence.prefix_v6`: a /56, a typical site.
pub const DEFAULT_PERSIST_PREFIX_V6: u8 = 56;
/// Longest `persistence.ttl`: a day.
pub const MAX_PERSIST_TTL_SECS: u64 = 86_400;

/// `persistence` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawPersistence {
    pub(in crate::config) ttl: Option<Dur>,
    pub(in crate::config) prefix_v4: Option<Int>,
    pub(in crate::config) prefix_v6: Option<Int>,
}

/// One `[[pool]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawPool {
    pub(in crate::config) name: Str,
    pub(in crate::config) members: StrList,
    pub(in crate::config) preferred: Option<Str>,
    pub(in crate::config) alternate: Option<Str>,
    pub(in crate::config) fallback: Option<Str>,
    pub(in crate::config) ttl: Option<Int>,
    pub(in crate::config) max_answers: Option<Int>,
    pub(in crate::config) fallback_ip: Option<StrList>,
    pub(in crate::config) when_all_down: Option<Str>,
    pub(in crate::config) persist_prefix_v4: Option<Int>,
    pub(in crate::config) persist_prefix_v6: Option<Int>,
    pub(in crate::config) persistence: Option<toml::Spanned<RawPersistence>>,
}

/// What the validated servers tell the pool checks.
trait Addressed {
    fn name(&self) -> &str;
    fn address(&self) -> Option<IpAddr>;
}

impl Addressed for VirtualServerConfig {
    fn name(&self) -> &str {
        &self.name
    }

    fn address(&self) -> Option<IpAddr> {
        (!unusable_address(self.address)).then_some(self.address)
    }
}

impl Validator<'_> {
    pub(super) fn pools(
        &mut self,
        raw: &[RawPool],
        servers: &Declared<VirtualServerConfig>,
    ) -> Declared<PoolConfig> {
        let mut decl = Declared::new();
        for p in raw {
            let name = self.declare(&mut decl, &p.name, "pool");
            let members = self.members(&p.members, servers);
            let mut methods = [Method::RoundRobin, Method::None, Method::None];
            let keys = [&p.preferred, &p.alternate, &p.fallback];
            for (slot, key) in methods.iter_mut().zip(keys) {
                if let Some(m) = key
                    .as_ref()
                    .and_then(|k| self.choice(k, "method", Method::ALL))
                {
                    *slot = m;
                }
            }
            let ttl = p.ttl.as_ref().map(|t| self.ttl(Some(t), 0));
            let max_answers = self.opt_int_in(
                p.max_answers.as_ref(),
                1..=MAX_GSLB_ADDRS as i64,
                1,
                "max_answers",
            ) as u8;
            let fallback_ip = self.fallback_ip(p.fallback_ip.as_ref());
            let when_all_down = p
                .when_all_down
                .as_ref()
                .and_then(|w| self.choice(w, "when_all_down behaviour", AllDown::ALL))
                .unwrap_or_default();
            let has_fallback = p
                .fallback_ip
                .as_ref()
                .is_some_and(|l| !l.get_ref().is_empty());
            if !has_fallback {
                for (method, key) in methods.iter().zip(keys) {
                    if let (Method::FallbackIp, Some(key)) = (method, key) {
                        self.error(
                            &key.span(),
                            "method fallback_ip needs the pool's `fallback_ip` addresses",
                        );
                    }
                }
                if let (AllDown::FallbackIp, Some(w)) = (when_all_down, &p.when_all_down) {
                    self.error(
                        &w.span(),
                        "when_all_down = \"fallback_ip\" needs the pool's `fallback_ip` addresses",
                    );
                }
            }
            let persist_prefix_v4 = self.opt_int_in(
                p.persist_prefix_v4.as_ref(),
                0..=32,
                32,
                "persist_prefix_v4",
            ) as u8;
            let persist_prefix_v6 = self.opt_int_in(
                p.persist_prefix_v6.as_ref(),
                0..=64,
                64,
                "persist_prefix_v6",
            ) as u8;
            let persistence = p.persistence.as_ref().and_then(|r| self.persistence(r));
            if let Some(name) = name {
                decl.items.push(PoolConfig {
                    name,
                    members,
                    methods,
                    ttl,
                    max_answers,
                    fallback_ip,
                    when_all_down,
                    persist_prefix_v4,
                    persist_prefix_v6,
                    persistence,
                });
            }
        }
        decl
    }

    /// A pool's members: declared servers, each once, no address twice,
    /// at most [`MAX_GSLB_ADDRS`] per address family.
    fn members<S: Addressed>(&mut self, list: &StrList, servers: &Declared<S>) -> Vec<String> {
        if list.get_ref().is_empty() {
            self.error(&list.span(), "a pool needs at least one member");
        }
        let by_name: HashMap<&str, Option<IpAddr>> = servers
            .items
            .iter()
            .map(|s| (s.name(), s.address()))
            .collect();
        let mut out: Vec<String> = Vec::new();
        let mut addresses: Vec<(IpAddr, &str)> = Vec::new();
        let (mut v4, mut v6) = (0, 0);
        for item in list.get_ref() {
            let text = item.get_ref();
            if out.contains(text) {
                self.error(
                    &item.span(),
                    format!("server `{text}` is listed twice in `members`"),
                );
                continue;
            }
            let Some(name) = self.reference(servers, item, "vserver", "members") else {
                continue;
            };
            if let Some(Some(ip)) = by_name.get(text.as_str()) {
                if let Some((_, other)) = addresses.iter().find(|(a, _)| a == ip) {
                    self.error(
                        &item.span(),
                        format!(
                            "server `{text}` has address {ip}, like member `{other}`; an \
                             answer would repeat it"
                        ),
                    );
                    continue;
                }
                addresses.push((*ip, text));
                let (count, family) = if ip.is_ipv4() {
                    (&mut v4, "IPv4")
                } else {
                    (&mut v6, "IPv6")
                };
                *count += 1;
                if *count > MAX_GSLB_ADDRS {
                    self.error(
                        &item.span(),
                        format!(
                            "server `{text}` is the pool's {}th {family} member; an answer \
                             set holds at most {MAX_GSLB_ADDRS} addresses per family",
                            *count
                        ),
                    );
                    continue;
                }
            }
            out.push(name);
        }
        out
    }

    fn persistence(&mut self, raw: &toml::Spanned<RawPersistence>) -> Option<Persistence> {
        let r = raw.get_ref();
        let prefix_v4 = self.opt_int_in(
            r.prefix_v4.as_ref(),
            0..=32,
            i64::from(DEFAULT_PERSIST_PREFIX_V4),
            "persistence.prefix_v4",
        ) as u8;
        let prefix_v6 = self.opt_int_in(
            r.prefix_v6.as_ref(),
            0..=128,
            i64::from(DEFAULT_PERSIST_PREFIX_V6),
            "persistence.prefix_v6",
        ) as u8;
        let Some(ttl) = &r.ttl else {
            self.error(
                &raw.span(),
                "persistence needs a `ttl` (e.g. persistence = { ttl = \"10m\" })",
            );
            return None;
        };
        let d = self.duration(ttl, "persistence.ttl")?;
        if d.subsec_nanos() != 0 || d.as_secs() == 0 || d.as_secs() > MAX_PERSIST_TTL_SECS {
            self.error(
                &ttl.span(),
                format!(
                    "persistence.ttl {} must be whole seconds from 1s to {}",
                    humantime::format_duration(d),
                    humantime::format_duration(std::time::Duration::from_secs(
                        MAX_PERSIST_TTL_SECS
                    ))
                ),
            );
            return None;
        }
        Some(Persistence {
            ttl: d,
            prefix_v4,
            prefix_v6,
        })
    }

    fn fallback_ip(&mut self, list: Option<&StrList>) -> Vec<IpAddr> {
        let mut out: Vec<IpAddr> = Vec::new();
        for item in list.map_or(&[][..], |l| l.get_ref()) {
            let Some(ip) = self.ip(item, "fallback_ip address") else {
                continue;
            };
            if out.contains(&ip) {
                self.error(
                    &item.span(),
                    format!("duplicate address {ip} in `fallback_ip`"),
                );
            } else if out.iter().filter(|a| a.is_ipv4() == ip.is_ipv4()).count() >= MAX_GSLB_ADDRS {
                self.error(
                    &item.span(),
                    format!(
                        "`fallback_ip` has more than {MAX_GSLB_ADDRS} {} addresses; an answer \
                         set holds at most {MAX_GSLB_ADDRS}",
                        if ip.is_ipv4() { "IPv4" } else { "IPv6" }
                    ),
                );
            } else {
                out.push(ip);
            }
        }
        out
    }
}
