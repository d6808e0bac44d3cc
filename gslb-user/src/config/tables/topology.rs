//! `[[topology]]`: topology rules (F5 semantics). A rule scores a
//! candidate (a server or a pool) for the clients its `client` side
//! matches; methods `topology` (members) and `pool_method = "topology"`
//! order by that score. Precedence and scoring: docs/methods.md.
//!
//! ```toml
//! [[topology]]
//! client = "cidr:198.18.0.0/16"   # cidr:PREFIX | region:NAME ([[region]]) | country:CC |
//!                                 # continent:CC | asn:NUMBER | any
//! server = "datacenter:ams"       # datacenter:NAME | pool:NAME | region:TAG |
//!                                 # country:CC (datacenter tags) | any
//! score = 100                     # 1..=1000000
//! ```

use ipnet::IpNet;
use serde::Deserialize;

use super::{datacenter::DatacenterConfig, pool::PoolConfig, region::RegionConfig};
use crate::config::{
    checks::{Declared, Validator},
    raw::{Int, Str},
};

/// Highest topology score.
pub const MAX_TOPOLOGY_SCORE: u32 = 1_000_000;

/// Which clients a topology rule applies to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ClientMatch {
    /// Clients in this prefix (host bits zero).
    Cidr(IpNet),
    /// Clients in a `[[region]]`'s prefixes.
    Region(String),
    /// Clients the geo database places in this country (uppercase
    /// ISO 3166 alpha-2).
    Country(String),
    /// Clients the geo database places on this continent (uppercase
    /// two-letter code: AF, AN, AS, EU, NA, OC, SA).
    Continent(String),
    /// Clients in this autonomous system (the ASN database).
    Asn(u32),
    /// Every client.
    Any,
}

impl ClientMatch {
    /// Precedence rank of the client side, lower first: cidr (longer
    /// prefix first), region, asn, country, continent, any.
    pub fn precedence(&self) -> (u8, u8) {
        match self {
            ClientMatch::Cidr(net) => {
                let len = match net {
                    IpNet::V4(n) => 96 + n.prefix_len(),
                    IpNet::V6(n) => n.prefix_len(),
                };
                (0, 128 - len)
            }
            ClientMatch::Region(_) => (1, 0),
            ClientMatch::Asn(_) => (2, 0),
            ClientMatch::Country(_) => (3, 0),
            ClientMatch::Continent(_) => (4, 0),
            ClientMatch::Any => (5, 0),
        }
    }

    /// Whether matching needs the geo database (country, continent) or
    /// the ASN database (asn).
    pub fn needs_geo(&self) -> bool {
        matches!(
            self,
            ClientMatch::Country(_) | ClientMatch::Continent(_) | ClientMatch::Asn(_)
        )
    }
}

/// Which candidates a topology rule scores.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ServerMatch {
    /// Servers of this datacenter; pools with a member there.
    Datacenter(String),
    /// Servers in this pool; this pool.
    Pool(String),
    /// Servers whose datacenter has this `region` tag; pools with such a
    /// member.
    Region(String),
    /// Servers whose datacenter has this `country` tag (uppercase);
    /// pools with such a member.
    Country(String),
    /// Every candidate.
    Any,
}

impl ServerMatch {
    /// Precedence rank of the server side, lower first: datacenter and
    /// pool, country, region, any.
    pub fn precedence(&self) -> u8 {
        match self {
            ServerMatch::Datacenter(_) | ServerMatch::Pool(_) => 0,
            ServerMatch::Country(_) => 1,
            ServerMatch::Region(_) => 2,
            ServerMatch::Any => 3,
        }
    }
}

/// One `[[topology]]` rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TopologyRule {
    /// Which clients.
    pub client: ClientMatch,
    /// Which candidates.
    pub server: ServerMatch,
    /// 1..=[`MAX_TOPOLOGY_SCORE`].
    pub score: u32,
    /// The rule as written: `client -> server (score)`, for explain.
    pub text: String,
}

/// One `[[topology]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawTopology {
    pub(in crate::config) client: Str,
    pub(in crate::config) server: Str,
    pub(in crate::config) score: Int,
}

/// A two-letter code, uppercase.
fn code2(text: &str) -> Option<String> {
    (text.len() == 2 && text.bytes().all(|b| b.is_ascii_alphabetic()))
        .then(|| text.to_ascii_uppercase())
}

impl Validator<'_> {
    pub(super) fn topology(
        &mut self,
        raw: &[RawTopology],
        datacenters: &Declared<DatacenterConfig>,
        pools: &Declared<PoolConfig>,
        regions: &Declared<RegionConfig>,
        geo: bool,
        asn: bool,
    ) -> Vec<TopologyRule> {
        let mut out = Vec::new();
        for r in raw {
            let client = self.client_match(&r.client, regions, geo, asn);
            let server = self.server_match(&r.server, datacenters, pools);
            let score = self.int_in(&r.score, 1..=i64::from(MAX_TOPOLOGY_SCORE), "score");
            if let (Some(client), Some(server), Some(score)) = (client, server, score) {
                out.push(TopologyRule {
                    client,
                    server,
                    score: score as u32,
                    text: format!("{} -> {}", r.client.get_ref(), r.server.get_ref()),
                });
            }
        }
        out
    }

    fn client_match(
        &mut self,
        value: &Str,
        regions: &Declared<RegionConfig>,
        geo: bool,
        asn: bool,
    ) -> Option<ClientMatch> {
        let text = value.get_ref().trim();
        let (kind, arg) = text.split_once(':').unwrap_or((text, ""));
        let m = match kind {
            "any" if arg.is_empty() => Some(ClientMatch::Any),
            "cidr" => match arg.parse::<IpNet>() {
                Ok(net) if net.trunc() == net => Some(ClientMatch::Cidr(net)),
                Ok(net) => {
                    self.error(
                        &value.span(),
                        format!(
                            "`{arg}` has bits set past /{} (write {})",
                            net.prefix_len(),
                            net.trunc()
                        ),
                    );
                    return None;
                }
                Err(_) => {
                    self.error(
                        &value.span(),
                        format!("invalid prefix `{arg}`: expected ADDRESS/LENGTH"),
                    );
                    return None;
                }
            },
            "region" => {
                if !regions.contains(arg) {
                    self.error(
                        &value.span(),
                        format!("unknown region `{arg}` (no [[region]] has that name)"),
                    );
                    return None;
                }
                Some(ClientMatch::Region(arg.to_string()))
            }
            "country" => code2(arg).map(ClientMatch::Country),
            "continent" => code2(arg).map(ClientMatch::Continent),
            "asn" => arg.parse::<u32>().ok().map(ClientMatch::Asn),
            _ => None,
        };
        let Some(m) = m else {
            self.error(
                &value.span(),
                format!(
                    "invalid client `{text}`: one of cidr:PREFIX, region:NAME, country:CC, \
                     continent:CC, asn:NUMBER, any"
                ),
            );
            return None;
        };
        let missing = match m {
            ClientMatch::Asn(_) if !asn => Some("[geoip] asn_database"),
            ClientMatch::Country(_) | ClientMatch::Continent(_) if !geo => Some("[geoip] database"),
            _ => None,
        };
        if let Some(what) = missing {
            self.error(
                &value.span(),
                format!("client `{text}` needs geo data: no {what} is configured"),
            );
            return None;
        }
        Some(m)
    }

    fn server_match(
        &mut self,
        value: &Str,
        datacenters: &Declared<DatacenterConfig>,
        pools: &Declared<PoolConfig>,
    ) -> Option<ServerMatch> {
        let text = value.get_ref().trim();
        let (kind, arg) = text.split_once(':').unwrap_or((text, ""));
        let m = match kind {
            "any" if arg.is_empty() => Some(ServerMatch::Any),
            "datacenter" => {
                if !datacenters.contains(arg) {
                    self.error(
                        &value.span(),
                        format!("unknown datacenter `{arg}` (no [[datacenter]] has that name)"),
                    );
                    return None;
                }
                Some(ServerMatch::Datacenter(arg.to_string()))
            }
            "pool" => {
                if !pools.contains(arg) {
                    self.error(
                        &value.span(),
                        format!("unknown pool `{arg}` (no [[pool]] has that name)"),
                    );
                    return None;
                }
                Some(ServerMatch::Pool(arg.to_string()))
            }
            "region" if !arg.is_empty() => Some(ServerMatch::Region(arg.to_string())),
            "country" => code2(arg).map(ServerMatch::Country),
            _ => None,
        };
        if m.is_none() {
            self.error(
                &value.span(),
                format!(
                    "invalid server `{text}`: one of datacenter:NAME, pool:NAME, region:TAG, \
                     country:CC, any"
                ),
            );
        }
        m
    }
}
