//! `[[gslb]]`: the names whose answers the engine chooses, from static
//! `a`/`aaaa` sets or from pools.
//!
//! ```toml
//! [[gslb]]
//! name = "www.example.test"             # absolute, inside a zone
//! ttl = 30                              # default 30
//! a = ["198.18.0.1"]                    # static answer sets (at most 8 each), or
//! aaaa = ["2001:db8::1"]
//! pools = ["web-eu", "web-us"]          # pools instead of a = [...] / aaaa = [...]
//! pool_method = "global_availability"   # round_robin | ratio | global_availability | topology
//! pool_ratios = [3, 1]                  # only with pool_method = "ratio" (default all 1)
//! last_resort_pool = "web-backup"       # optional
//! ```

use std::{
    collections::HashMap,
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    ops::Range,
};

use hickory_proto::rr::{LowerName, Name};
use serde::Deserialize;

use super::{
    pool::PoolConfig,
    zone::{longest_zone, ZoneDraft},
};
use crate::config::{
    checks::{absolute_name, unusable_address, Declared, Validator},
    raw::{Int, IntList, Str, StrList},
    MAX_GSLB_ADDRS,
};

/// Default `gslb.ttl`: short, so that selection changes reach clients fast.
pub const DEFAULT_GSLB_TTL: u32 = 30;

/// One `[[gslb]]` name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GslbConfig {
    /// The name: absolute, lowercase, inside one of the zones.
    pub name: Name,
    /// TTL of the answers.
    pub ttl: u32,
    /// The A answer set, in order; empty means no A set (NODATA).
    pub a: Vec<Ipv4Addr>,
    /// The AAAA answer set, in order; empty means no AAAA set (NODATA).
    pub aaaa: Vec<Ipv6Addr>,
    /// Pool names (validated to exist), in order. A gslb name has either
    /// static `a`/`aaaa` sets or pools, never both.
    pub pools: Vec<String>,
    /// How a pool is chosen among `pools`.
    pub pool_method: PoolMethod,
    /// Pool used when no pool of `pools` has an available server.
    pub last_resort_pool: Option<String>,
}

/// How a gslb name chooses among its pools.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum PoolMethod {
    /// First pool with an available server.
    #[default]
    GlobalAvailability,
    /// Rotate pools per query (computed per selection round).
    RoundRobin,
    /// Pools weighted by `pool_ratios`.
    Ratio(Vec<u16>),
    /// Placeholder until topology records exist: behaves as global
    /// availability.
    Topology,
}

impl PoolMethod {
    /// Every method (`Ratio` without its ratios, which are
    /// `pool_ratios`).
    pub fn all() -> [PoolMethod; 4] {
        [
            PoolMethod::GlobalAvailability,
            PoolMethod::RoundRobin,
            PoolMethod::Ratio(Vec::new()),
            PoolMethod::Topology,
        ]
    }

    /// The spelling (config, control protocol, CLI): the one source of
    /// the pool methods' names.
    pub fn name(&self) -> &'static str {
        match self {
            PoolMethod::GlobalAvailability => "global_availability",
            PoolMethod::RoundRobin => "round_robin",
            PoolMethod::Ratio(_) => "ratio",
            PoolMethod::Topology => "topology",
        }
    }

    /// Parses the spelling (`Ratio` without its ratios).
    pub fn from_name(name: &str) -> Option<PoolMethod> {
        PoolMethod::all().into_iter().find(|m| m.name() == name)
    }
}

impl std::fmt::Display for PoolMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// As its spelling (the ratios are not part of it).
impl serde::Serialize for PoolMethod {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// From its spelling; `ratio` comes without its ratios.
impl<'de> serde::Deserialize<'de> for PoolMethod {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        PoolMethod::from_name(&name).ok_or_else(|| {
            let names = PoolMethod::all().map(|m| m.name()).join(", ");
            serde::de::Error::custom(format!("unknown pool method `{name}` (one of: {names})"))
        })
    }
}

/// One `[[gslb]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawGslb {
    pub(in crate::config) name: Str,
    pub(in crate::config) ttl: Option<Int>,
    pub(in crate::config) a: Option<StrList>,
    pub(in crate::config) aaaa: Option<StrList>,
    pub(in crate::config) pools: Option<StrList>,
    pub(in crate::config) pool_method: Option<Str>,
    pub(in crate::config) pool_ratios: Option<IntList>,
    pub(in crate::config) last_resort_pool: Option<Str>,
}

/// A gslb name that passed the value checks, with the position of its
/// name and the index of its zone.
pub(super) struct GslbDraft {
    pub(super) config: GslbConfig,
    pub(super) span: Range<usize>,
    pub(super) zone: usize,
}

impl Validator<'_> {
    /// Parses the gslb names.
    pub(super) fn gslb(
        &mut self,
        raw: &[RawGslb],
        zones: &[Option<ZoneDraft>],
        index: &HashMap<LowerName, usize>,
        declared_pools: &Declared<PoolConfig>,
    ) -> Vec<GslbDraft> {
        let mut seen: HashMap<LowerName, Range<usize>> = HashMap::new();
        let mut out = Vec::new();
        for g in raw {
            let span = g.name.span();
            let ttl = self.ttl(g.ttl.as_ref(), DEFAULT_GSLB_TTL);
            let a = self.addresses::<Ipv4Addr>(g.a.as_ref(), "a", "IPv4");
            let aaaa = self.addresses::<Ipv6Addr>(g.aaaa.as_ref(), "aaaa", "IPv6");
            let (pools, pool_method, last_resort_pool) = self.gslb_pools(g, declared_pools);
            let name = match absolute_name(g.name.get_ref()) {
                Ok(n) => n,
                Err(e) => {
                    self.error(&span, format!("invalid gslb name: {e}"));
                    continue;
                }
            };
            let listed = |l: &Option<StrList>| l.as_ref().map_or(0, |l| l.get_ref().len());
            if listed(&g.a) + listed(&g.aaaa) == 0 && g.pools.is_none() {
                self.error(
                    &span,
                    format!("gslb name {name} has neither `a` nor `aaaa` addresses nor `pools`"),
                );
            }
            let key = LowerName::new(&name);
            if let Some(first) = seen.get(&key) {
                let msg = format!(
                    "duplicate gslb name {name} (first defined at {})",
                    self.at(first)
                );
                self.error(&span, msg);
                continue;
            }
            seen.insert(key, span.clone());
            let Some((zone, _)) = longest_zone(&name, index) else {
                self.error(
                    &span,
                    format!("gslb name {name} is not inside any configured zone"),
                );
                continue;
            };
            if zones[zone].is_none() {
                continue;
            }
            out.push(GslbDraft {
                config: GslbConfig {
                    name,
                    ttl,
                    a,
                    aaaa,
                    pools,
                    pool_method,
                    last_resort_pool,
                },
                span,
                zone,
            });
        }
        out
    }

    fn addresses<A>(&mut self, list: Option<&StrList>, key: &str, family: &str) -> Vec<A>
    where
        A: std::str::FromStr + PartialEq + Copy + fmt::Display + Into<IpAddr>,
    {
        let Some(list) = list else { return Vec::new() };
        if list.get_ref().len() > MAX_GSLB_ADDRS {
            self.error(
                &list.span(),
                format!(
                    "`{key}` has {} addresses; at most {MAX_GSLB_ADDRS} fit an answer set",
                    list.get_ref().len()
                ),
            );
        }
        let mut out = Vec::new();
        for item in list.get_ref() {
            let Ok(addr) = item.get_ref().trim().parse::<A>() else {
                self.error(
                    &item.span(),
                    format!("invalid {family} address `{}` in `{key}`", item.get_ref()),
                );
                continue;
            };
            if unusable_address(addr.into()) {
                self.error(
                    &item.span(),
                    format!(
                        "{addr} cannot be a server address (unspecified, broadcast or multicast)"
                    ),
                );
            } else if out.contains(&addr) {
                self.error(&item.span(), format!("duplicate address {addr} in `{key}`"));
            } else {
                out.push(addr);
            }
        }
        out
    }

    /// The pool keys of a `[[gslb]]` name: pools, pool method (with its
    /// ratios) and last resort pool.
    fn gslb_pools(
        &mut self,
        g: &RawGslb,
        pools: &Declared<PoolConfig>,
    ) -> (Vec<String>, PoolMethod, Option<String>) {
        let mut out: Vec<String> = Vec::new();
        if let Some(list) = &g.pools {
            if list.get_ref().is_empty() {
                self.error(&list.span(), "`pools` is empty: list at least one pool");
            }
            if g.a.is_some() || g.aaaa.is_some() {
                self.error(
                    &list.span(),
                    "a gslb name has either static `a`/`aaaa` addresses or `pools`, not both",
                );
            }
            for item in list.get_ref() {
                if out.contains(item.get_ref()) {
                    self.error(
                        &item.span(),
                        format!("pool `{}` is listed twice in `pools`", item.get_ref()),
                    );
                } else if let Some(p) = self.reference(pools, item, "pool", "pools") {
                    out.push(p);
                }
            }
        }
        let pool_count = g.pools.as_ref().map_or(0, |l| l.get_ref().len());
        let needs_pools = |key: &str| format!("`{key}` needs `pools`");

        let methods = PoolMethod::all().map(|m| {
            let name = m.name();
            (m, name)
        });
        let mut method = PoolMethod::default();
        if let Some(m) = &g.pool_method {
            if g.pools.is_none() {
                self.error(&m.span(), needs_pools("pool_method"));
            } else if let Some(parsed) = self.choice(m, "pool_method", &methods) {
                method = parsed;
            }
        }
        let mut ratios = vec![1u16; pool_count];
        if let Some(list) = &g.pool_ratios {
            if g.pools.is_none() {
                self.error(&list.span(), needs_pools("pool_ratios"));
            } else if !matches!(method, PoolMethod::Ratio(_)) {
                // Silent when pool_method itself was invalid (reported).
                let method_valid = g
                    .pool_method
                    .as_ref()
                    .is_none_or(|m| methods.iter().any(|(_, n)| *n == m.get_ref()));
                if method_valid {
                    self.error(
                        &list.span(),
                        format!(
                            "`pool_ratios` applies only to pool_method = \"ratio\" (this \
                             name uses \"{}\")",
                            method.name()
                        ),
                    );
                }
            } else if list.get_ref().len() != pool_count {
                self.error(
                    &list.span(),
                    format!(
                        "`pool_ratios` has {} entries but `pools` has {pool_count}; give one \
                         ratio per pool",
                        list.get_ref().len()
                    ),
                );
            } else {
                for (slot, item) in ratios.iter_mut().zip(list.get_ref()) {
                    if let Some(r) = self.int_in(item, 1..=65535, "pool ratio") {
                        *slot = r as u16;
                    }
                }
            }
        }
        if let PoolMethod::Ratio(r) = &mut method {
            *r = ratios;
        }

        let last_resort_pool = g.last_resort_pool.as_ref().and_then(|l| {
            if g.pools.is_none() {
                self.error(&l.span(), needs_pools("last_resort_pool"));
                None
            } else {
                self.reference(pools, l, "pool", "last_resort_pool")
            }
        });
        (out, method, last_resort_pool)
    }
}
