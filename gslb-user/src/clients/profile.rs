//! Client profiles and topology scoring.

use std::collections::HashMap;

use crate::config::{
    ClientMatch, Config, DatacenterConfig, PoolConfig, ServerMatch, TopologyRule,
    VirtualServerConfig,
};

use super::geo::{biased, distance_km, GeoData};

/// What every rule can see of a client; equal profiles, equal answers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Profile {
    /// Indexes into `Config::topology` of the rules whose client side
    /// matches, in precedence order (client side most specific first,
    /// then server side, then config order): the score of a candidate is
    /// that of the first of these whose server side matches it.
    pub rules: Vec<u32>,
    /// Only when some pool uses `geo_proximity` and the geo database has
    /// the client's location: indexes into `Config::datacenters` of the
    /// datacenters of those pools' members, nearest first by biased
    /// distance (ties in config order). `None`: the
    /// method passes to the next of the chain.
    pub ranking: Option<Vec<u16>>,
}

impl Profile {
    /// The profile of group 0: no rule matches, no location.
    pub fn is_default(&self) -> bool {
        self.rules.is_empty() && self.ranking.is_none()
    }
}

/// What scoring needs of the config, kept with the client map.
#[derive(Clone, Debug, Default)]
pub(super) struct Topology {
    pub(super) rules: Vec<TopologyRule>,
    /// Every rule index in precedence order.
    pub(super) order: Vec<u32>,
    pub(super) datacenters: Vec<DatacenterConfig>,
    /// Server name → index in `datacenters`.
    pub(super) server_dc: HashMap<String, usize>,
    /// Some pool's chain has `geo_proximity`.
    pub(super) geo_proximity: bool,
    /// The datacenters (indexes) of the members of pools with
    /// `geo_proximity`: only their order matters, so the ranking holds
    /// only them (fewer distinct rankings, fewer client groups).
    pub(super) ranked: Vec<usize>,
}

impl Topology {
    pub(super) fn new(cfg: &Config) -> Topology {
        let mut order: Vec<u32> = (0..cfg.topology.len() as u32).collect();
        order.sort_by_key(|&i| {
            let r = &cfg.topology[i as usize];
            (r.client.precedence(), r.server.precedence(), i)
        });
        let dc_index: HashMap<&str, usize> = cfg
            .datacenters
            .iter()
            .enumerate()
            .map(|(i, d)| (d.name.as_str(), i))
            .collect();
        Topology {
            rules: cfg.topology.clone(),
            order,
            datacenters: cfg.datacenters.clone(),
            server_dc: cfg
                .servers
                .iter()
                .filter_map(|s| Some((s.name.clone(), *dc_index.get(s.datacenter.as_str())?)))
                .collect(),
            geo_proximity: cfg
                .pools
                .iter()
                .any(|p| p.methods.contains(&crate::config::Method::GeoProximity)),
            ranked: {
                let mut ranked: Vec<usize> = cfg
                    .pools
                    .iter()
                    .filter(|p| p.methods.contains(&crate::config::Method::GeoProximity))
                    .flat_map(|p| &p.members)
                    .filter_map(|m| cfg.servers.iter().find(|s| s.name == *m))
                    .filter_map(|s| dc_index.get(s.datacenter.as_str()).copied())
                    .collect();
                ranked.sort_unstable();
                ranked.dedup();
                ranked
            },
        }
    }

    /// The profile of a client: `cidr(i)` whether rule `i`'s prefix
    /// contains it, `region(name)` whether that region does.
    pub(super) fn profile(
        &self,
        cidr: impl Fn(u32) -> bool,
        region: impl Fn(&str) -> bool,
        geo: &GeoData,
    ) -> Profile {
        let rules = self
            .order
            .iter()
            .copied()
            .filter(|&i| match &self.rules[i as usize].client {
                ClientMatch::Cidr(_) => cidr(i),
                ClientMatch::Region(r) => region(r),
                ClientMatch::Country(c) => geo.country.as_deref() == Some(c),
                ClientMatch::Continent(c) => geo.continent.as_deref() == Some(c),
                ClientMatch::Asn(a) => geo.asn == Some(*a),
                ClientMatch::Any => true,
            })
            .collect();
        let ranking = match (self.geo_proximity, geo.location) {
            (true, Some(at)) if !self.ranked.is_empty() => {
                let mut d: Vec<(f64, u16)> = self
                    .ranked
                    .iter()
                    .map(|&i| {
                        let dc = &self.datacenters[i];
                        let km = biased(distance_km(at, (dc.lat, dc.lon)), dc.bias);
                        (km, i as u16)
                    })
                    .collect();
                d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                Some(d.into_iter().map(|(_, i)| i).collect())
            }
            _ => None,
        };
        Profile { rules, ranking }
    }

    fn dc_of(&self, server: &str) -> Option<&DatacenterConfig> {
        self.server_dc.get(server).map(|&i| &self.datacenters[i])
    }

    /// Whether rule `rule`'s server side matches a server in `pools`
    /// (every pool; membership is looked up).
    pub(super) fn matches_server(
        &self,
        rule: &TopologyRule,
        server: &VirtualServerConfig,
        pools: &[PoolConfig],
    ) -> bool {
        let dc = self.dc_of(&server.name);
        match &rule.server {
            ServerMatch::Any => true,
            ServerMatch::Datacenter(d) => server.datacenter == *d,
            ServerMatch::Pool(p) => pools
                .iter()
                .any(|pool| pool.name == *p && pool.members.contains(&server.name)),
            ServerMatch::Region(t) => dc.is_some_and(|dc| dc.region.as_deref() == Some(t)),
            ServerMatch::Country(c) => dc.is_some_and(|dc| dc.country.as_deref() == Some(c)),
        }
    }

    /// Whether rule `rule`'s server side matches a pool: `pool:` its
    /// name, the others if any member matches.
    pub(super) fn matches_pool(&self, rule: &TopologyRule, pool: &PoolConfig) -> bool {
        match &rule.server {
            ServerMatch::Any => true,
            ServerMatch::Pool(p) => pool.name == *p,
            other => pool.members.iter().any(|m| {
                let Some(dc) = self.dc_of(m) else {
                    return false;
                };
                match other {
                    ServerMatch::Datacenter(d) => dc.name == *d,
                    ServerMatch::Region(t) => dc.region.as_deref() == Some(t),
                    ServerMatch::Country(c) => dc.country.as_deref() == Some(c),
                    _ => false,
                }
            }),
        }
    }
}
