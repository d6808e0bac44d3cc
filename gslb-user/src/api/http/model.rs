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

/// `GET /api/v1/config`: the model and the daemon-wide settings of the
/// running config (listeners, health, metrics polling, engine, API),
/// with `--listen` and `--iface` applied; the API token only as whether
/// one is configured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConfigReport {
    /// `[server]`.
    pub server: ServerSettings,
    /// `[health]`: servers without their own `initial` start up.
    pub health_initial_up: bool,
    /// `[metrics]`.
    pub metrics: MetricsSettings,
    /// `[engine] fewest_selected_window`, seconds.
    pub fewest_selected_window_s: f64,
    /// `[api]`.
    pub api: Option<ApiSettings>,
    /// The model.
    #[serde(flatten)]
    pub model: ModelReport,
}

/// `[server]` as running.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServerSettings {
    /// Listen addresses.
    pub listen: Vec<std::net::SocketAddr>,
    /// XDP interfaces.
    pub interfaces: Vec<String>,
    /// Advertised EDNS UDP size.
    pub edns_udp_size: u16,
    /// Whose ECS is used: `"all"`, `"none"` or the resolver prefixes.
    pub ecs: serde_json::Value,
    /// Capacity of the persistence records.
    pub persist_records: u32,
}

/// `[metrics]` as running.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MetricsSettings {
    /// Between two polls, seconds.
    pub interval_s: f64,
    /// Of one poll, seconds.
    pub timeout_s: f64,
    /// Age past which a reading is unknown, seconds.
    pub max_age_s: f64,
}

/// `[api]` as running.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApiSettings {
    /// Where it listens.
    pub listen: std::net::SocketAddr,
    /// Whether a token is configured (never the token).
    pub token: bool,
    /// Reads without the token.
    pub read_only_without_token: bool,
}

impl ConfigReport {
    /// The report of `cfg`.
    pub fn of(cfg: &Config) -> ConfigReport {
        use crate::config::EcsTrust;
        let s = &cfg.server;
        ConfigReport {
            server: ServerSettings {
                listen: s.listen.clone(),
                interfaces: s.interfaces.clone(),
                edns_udp_size: s.edns_udp_size,
                ecs: match &s.ecs {
                    EcsTrust::All => "all".into(),
                    EcsTrust::None => "none".into(),
                    EcsTrust::Resolvers(nets) => nets.iter().map(ToString::to_string).collect(),
                },
                persist_records: s.persist_records,
            },
            health_initial_up: cfg.health.initial_up,
            metrics: MetricsSettings {
                interval_s: cfg.metrics.interval.as_secs_f64(),
                timeout_s: cfg.metrics.timeout.as_secs_f64(),
                max_age_s: cfg.metrics.max_age.as_secs_f64(),
            },
            fewest_selected_window_s: cfg.engine.fewest_selected_window.as_secs_f64(),
            api: cfg.api.as_ref().map(|a| ApiSettings {
                listen: a.listen,
                token: a.token.is_some(),
                read_only_without_token: a.read_only_without_token,
            }),
            model: ModelReport::of(cfg),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default config's model and settings; the token shows only as
    /// configured.
    #[test]
    fn reports_of_a_config() {
        let mut cfg = crate::config::load_default().expect("default config");
        cfg.api = Some(crate::config::ApiConfig {
            token: Some(crate::config::ApiToken::new("s3cret")),
            ..Default::default()
        });
        let m = ModelReport::of(&cfg);
        assert_eq!(m.servers.len(), cfg.servers.len());
        assert_eq!(m.names.len(), cfg.gslb.len());
        let c = serde_json::to_value(ConfigReport::of(&cfg)).unwrap();
        assert_eq!(c["api"]["token"], true);
        assert_eq!(c["api"]["listen"], "127.0.0.1:8053");
        assert_eq!(c["server"]["ecs"], "all");
        assert_eq!(c["names"], serde_json::to_value(&m.names).unwrap());
        assert!(!c.to_string().contains("s3cret"));
    }
}
