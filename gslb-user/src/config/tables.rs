//! The tables of the config, one file each: its raw form (what serde
//! reads, values `Spanned` so that errors can point at them), its
//! validated form (the public `…Config` types) and its checks (methods of
//! [`Validator`]). The checks every table shares are in `checks`, the
//! diagnostics in `diagnostics`.
//!
//! | table | file |
//! | --- | --- |
//! | `[server]` | `server.rs` |
//! | `[[zone]]`, `[[zone.record]]` | `zone.rs` (whole-zone checks: `zone/consistency.rs`) |
//! | `[[gslb]]` | `gslb.rs` |
//! | `[health]` | `health.rs` |
//! | `[log]` | `log.rs` |
//! | `[metrics]` | `metrics.rs` |
//! | `[engine]` | `engine.rs` |
//! | `[[datacenter]]` | `datacenter.rs` |
//! | `[[monitor]]` | `monitor.rs` |
//! | `[[vserver]]` | `vserver.rs` |
//! | `[[pool]]` | `pool.rs` |
//! | `[[region]]` | `region.rs` |
//! | `[geoip]` | `geoip.rs` |
//! | `[api]` | `api.rs` |
//! | `[[topology]]` | `topology.rs` |
//!
//! A new table (`[[topology]]`, `[[agent]]`, `[cluster]`, `[api]`, ...)
//! is a new file here; this file gets its `mod` line, a field in
//! [`RawConfig`] and in [`Config`], and its call in [`validate`], in
//! the order of what it refers to. Unused-entry warnings are in
//! `usage.rs`.

use std::collections::HashMap;

use hickory_proto::rr::LowerName;
use serde::Deserialize;

use super::{checks::Validator, diagnostics::Diagnostic};

mod api;
mod datacenter;
mod engine;
mod geoip;
mod gslb;
mod health;
mod log;
mod metrics;
mod monitor;
mod pool;
mod region;
mod server;
mod topology;
mod vserver;
mod zone;

pub use self::api::*;
pub use self::{
    datacenter::*, engine::*, geoip::*, gslb::*, health::*, log::*, metrics::*, monitor::*,
    pool::*, region::*, server::*, topology::*, vserver::*, zone::*,
};

/// A complete, validated configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Listeners, interfaces and EDNS parameters.
    pub server: ServerConfig,
    /// The zones we are authoritative for, in config order.
    pub zones: Vec<ZoneConfig>,
    /// The gslb names, in config order.
    pub gslb: Vec<GslbConfig>,
    /// `[health]`.
    pub health: HealthConfig,
    /// `[log]`: the query log.
    pub log: LogConfig,
    /// `[metrics]`.
    pub metrics: MetricsConfig,
    /// `[engine]`.
    pub engine: EngineConfig,
    /// The `[[datacenter]]` entries, in config order.
    pub datacenters: Vec<DatacenterConfig>,
    /// The `[[monitor]]` entries, in config order.
    pub monitors: Vec<MonitorConfig>,
    /// The `[[vserver]]` entries (virtual servers), in config order.
    pub servers: Vec<VirtualServerConfig>,
    /// The `[[pool]]` entries, in config order.
    pub pools: Vec<PoolConfig>,
    /// The `[[region]]` entries (named client prefix lists), in config
    /// order.
    pub regions: Vec<RegionConfig>,
    /// `[geoip]`, if present.
    pub geoip: Option<GeoipConfig>,
    /// The `[[topology]]` rules, in config order.
    pub topology: Vec<TopologyRule>,
    /// `[api]`: the HTTP listener; `None` without the table.
    pub api: Option<ApiConfig>,
}

/// The document as serde reads it: one field per table, named as in
/// the TOML.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) server: Option<server::RawServer>,
    #[serde(default)]
    pub(super) zone: Vec<zone::RawZone>,
    #[serde(default)]
    pub(super) gslb: Vec<gslb::RawGslb>,
    pub(super) health: Option<health::RawHealth>,
    pub(super) log: Option<log::RawLog>,
    pub(super) metrics: Option<metrics::RawMetricsPolling>,
    pub(super) engine: Option<engine::RawEngine>,
    #[serde(default)]
    pub(super) datacenter: Vec<datacenter::RawDatacenter>,
    #[serde(default)]
    pub(super) monitor: Vec<monitor::RawMonitor>,
    /// Virtual servers: `[[vserver]]`, because `[server]` is the listener
    /// table and a TOML key cannot be both a table and an array of tables.
    #[serde(default)]
    pub(super) vserver: Vec<vserver::RawVirtualServer>,
    #[serde(default)]
    pub(super) pool: Vec<pool::RawPool>,
    #[serde(default)]
    pub(super) region: Vec<region::RawRegion>,
    pub(super) geoip: Option<geoip::RawGeoip>,
    #[serde(default)]
    pub(super) topology: Vec<topology::RawTopology>,
    pub(super) api: Option<api::RawApi>,
}

/// Validates `raw` (parsed from `text`, named `origin`): the config built
/// from the valid parts, and every problem found.
pub(super) fn validate(raw: RawConfig, text: &str, origin: &str) -> (Config, Vec<Diagnostic>) {
    let mut v = Validator::new(text, origin);
    let config = v.config(raw);
    (config, v.into_diagnostics())
}

impl Validator<'_> {
    /// Checks every table, each after those it refers to (a pool's
    /// members are vservers, a vserver's monitors and datacenter, ...).
    fn config(&mut self, raw: RawConfig) -> Config {
        let server = self.server(raw.server);
        let health = self.health(raw.health.as_ref());
        let log = self.log(raw.log.as_ref());
        let metrics = self.metrics_polling(raw.metrics.as_ref());
        let engine = self.engine(raw.engine.as_ref());
        let datacenters = self.datacenters(&raw.datacenter);
        let monitors = self.monitors(&raw.monitor);
        let servers = self.servers(&raw.vserver, &health, &datacenters, &monitors);
        let pools = self.pools(&raw.pool, &servers);
        let regions = self.regions(&raw.region);
        let geoip = self.geoip(raw.geoip.as_ref());
        let api = self.api(raw.api.as_ref());
        if raw.geoip.is_none() {
            self.geo_methods_need_geoip(&raw.pool);
        }
        let topology = self.topology(
            &raw.topology,
            &datacenters,
            &pools,
            &regions,
            raw.geoip.is_some(),
            raw.geoip.as_ref().is_some_and(|g| g.asn_database.is_some()),
        );
        let mut zones = self.zone_names(&raw.zone);
        let index: HashMap<LowerName, usize> = zones
            .iter()
            .enumerate()
            .filter_map(|(i, z)| z.as_ref().map(|z| (LowerName::new(&z.name), i)))
            .collect();
        for (draft, raw) in zones.iter_mut().zip(&raw.zone) {
            if let Some(draft) = draft {
                self.zone_body(draft, raw, &index);
            }
        }
        let gslb = self.gslb(&raw.gslb, &zones, &index, &pools);
        for (i, draft) in zones.iter().enumerate() {
            if let Some(draft) = draft {
                let names: Vec<&GslbDraft> = gslb.iter().filter(|g| g.zone == i).collect();
                self.zone_consistency(draft, &names, &index, i);
            }
        }
        Config {
            server,
            zones: zones
                .into_iter()
                .flatten()
                .filter_map(|z| z.config)
                .collect(),
            gslb: gslb.into_iter().map(|g| g.config).collect(),
            health,
            log,
            metrics,
            engine,
            datacenters: datacenters.items,
            monitors: monitors.items,
            servers: servers.items,
            pools: pools.items,
            regions: regions.items,
            geoip,
            topology,
            api,
        }
    }
}
