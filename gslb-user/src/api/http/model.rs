//! `GET /api/v1/model`: the model the daemon runs, from its config:
//! datacenters, monitors, servers, pools, gslb names and zones (never
//! the API token).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::config::{AdminState, AllDown, Config, Method, PoolMethod};

/// The running model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelReport {
    /// `[[datacenter]]`, in config order.
    pub datacenters: Vec<DatacenterModel>,
    /// `[[monitor]]` names with their type.
    pub monitors: Vec<MonitorModel>,
    /// `[[vserver]]`.
    pub servers: Vec<ServerModel>,
    /// `[[pool]]`.
    pub pools: Vec<PoolModel>,
    /// `[[gslb]]`.
    pub names: Vec<NameModel>,
    /// The zones' names.
    pub zones: Vec<String>,
}

/// One datacenter.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DatacenterModel {
    /// Name.
    pub name: String,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// Region tag.
    pub region: Option<String>,
    /// Country tag.
    pub country: Option<String>,
}

/// One monitor.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MonitorModel {
    /// Name.
    pub name: String,
    /// Probe interval, seconds.
    pub interval_s: f64,
    /// Probe timeout, seconds.
    pub timeout_s: f64,
    /// Successes to go up.
    pub rise: u32,
    /// Failures to go down.
    pub fall: u32,
}

/// One virtual server as configured (its run-time state is in
/// `/api/v1/status`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServerModel {
    /// Name.
    pub name: String,
    /// Address answered.
    pub address: IpAddr,
    /// Datacenter.
    pub datacenter: String,
    /// Ratio (weight).
    pub ratio: u16,
    /// Session limit.
    pub max_sessions: Option<u64>,
    /// Connection limit.
    pub max_connections: Option<u64>,
    /// Monitors.
    pub monitors: Vec<String>,
    /// Admin state in the config (at start).
    pub admin: AdminState,
}

/// One pool.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PoolModel {
    /// Name.
    pub name: String,
    /// Members, in order.
    pub members: Vec<String>,
    /// Preferred, alternate, fallback.
    pub methods: Vec<Method>,
    /// TTL of its answers (else the name's).
    pub ttl: Option<u32>,
    /// Addresses per answer.
    pub max_answers: u8,
    /// What it answers when every member is down.
    pub when_all_down: AllDown,
    /// Persistence TTL, seconds (`None`: no persistence).
    pub persistence_ttl_s: Option<f64>,
}

/// One gslb name.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NameModel {
    /// The name.
    pub name: String,
    /// TTL.
    pub ttl: u32,
    /// Pools, in order.
    pub pools: Vec<String>,
    /// How a pool is chosen.
    pub pool_method: PoolMethod,
    /// Last resort pool.
    pub last_resort_pool: Option<String>,
    /// Fixed addresses (names without pools).
    pub addresses: Vec<IpAddr>,
}

impl ModelReport {
    /// The model of `cfg`.
    pub fn of(cfg: &Config) -> ModelReport {
        ModelReport {
            datacenters: cfg
                .datacenters
                .iter()
                .map(|d| DatacenterModel {
                    name: d.name.clone(),
                    lat: d.lat,
                    lon: d.lon,
                    region: d.region.clone(),
                    country: d.country.clone(),
                })
                .collect(),
            monitors: cfg
                .monitors
                .iter()
                .map(|m| MonitorModel {
                    name: m.name.clone(),
                    interval_s: m.interval.as_secs_f64(),
                    timeout_s: m.timeout.as_secs_f64(),
                    rise: m.rise,
                    fall: m.fall,
                })
                .collect(),
            servers: cfg
                .servers
                .iter()
                .map(|s| ServerModel {
                    name: s.name.clone(),
                    address: s.address,
                    datacenter: s.datacenter.clone(),
                    ratio: s.ratio,
                    max_sessions: s.max_sessions,
                    max_connections: s.max_connections,
                    monitors: s.monitors.clone(),
                    admin: s.admin,
                })
                .collect(),
            pools: cfg
                .pools
                .iter()
                .map(|p| PoolModel {
                    name: p.name.clone(),
                    members: p.members.clone(),
                    methods: p.methods.to_vec(),
                    ttl: p.ttl,
                    max_answers: p.max_answers,
                    when_all_down: p.when_all_down,
                    persistence_ttl_s: p.persistence.as_ref().map(|x| x.ttl.as_secs_f64()),
                })
                .collect(),
            names: cfg
                .gslb
                .iter()
                .map(|g| NameModel {
                    name: g.name.to_string(),
                    ttl: g.ttl,
                    pools: g.pools.clone(),
                    pool_method: g.pool_method.clone(),
                    last_resort_pool: g.last_resort_pool.clone(),
                    addresses: g
                        .a
                        .iter()
                        .map(|&a| IpAddr::from(a))
                        .chain(g.aaaa.iter().map(|&a| IpAddr::from(a)))
                        .collect(),
                })
                .collect(),
            zones: cfg.zones.iter().map(|z| z.name.to_string()).collect(),
        }
    }
}
