//! The config schema as deserialized. Every value that is checked beyond
//! its TOML type is `Spanned`, so that errors can point at it.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

pub(super) use super::duration::RawDuration;

pub(super) type Str = Spanned<String>;
pub(super) type Int = Spanned<i64>;
pub(super) type StrList = Spanned<Vec<Str>>;
pub(super) type Float = Spanned<f64>;
pub(super) type IntList = Spanned<Vec<Int>>;
pub(super) type Dur = Spanned<RawDuration>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) server: Option<RawServer>,
    #[serde(default)]
    pub(super) zone: Vec<RawZone>,
    #[serde(default)]
    pub(super) gslb: Vec<RawGslb>,
    pub(super) health: Option<RawHealth>,
    pub(super) metrics: Option<RawMetricsPolling>,
    pub(super) engine: Option<RawEngine>,
    #[serde(default)]
    pub(super) datacenter: Vec<RawDatacenter>,
    #[serde(default)]
    pub(super) monitor: Vec<RawMonitor>,
    /// Virtual servers: `[[vserver]]`, because `[server]` is the listener
    /// table and a TOML key cannot be both a table and an array of tables.
    #[serde(default)]
    pub(super) vserver: Vec<RawVirtualServer>,
    #[serde(default)]
    pub(super) pool: Vec<RawPool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    pub(super) listen: Option<StrList>,
    pub(super) interfaces: Option<StrList>,
    pub(super) edns_udp_size: Option<Int>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawZone {
    pub(super) name: Str,
    pub(super) ttl: Option<Int>,
    #[serde(default)]
    pub(super) ns: Vec<Str>,
    pub(super) soa: Option<RawSoa>,
    #[serde(default)]
    pub(super) record: Vec<RawRecord>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSoa {
    pub(super) mname: Option<Str>,
    pub(super) rname: Option<Str>,
    pub(super) serial: Option<Int>,
    pub(super) refresh: Option<Int>,
    pub(super) retry: Option<Int>,
    pub(super) expire: Option<Int>,
    pub(super) minimum: Option<Int>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRecord {
    pub(super) name: Str,
    #[serde(rename = "type")]
    pub(super) rtype: Str,
    pub(super) data: Str,
    pub(super) ttl: Option<Int>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGslb {
    pub(super) name: Str,
    pub(super) ttl: Option<Int>,
    pub(super) a: Option<StrList>,
    pub(super) aaaa: Option<StrList>,
    pub(super) pools: Option<StrList>,
    pub(super) pool_method: Option<Str>,
    pub(super) pool_ratios: Option<IntList>,
    pub(super) last_resort_pool: Option<Str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHealth {
    pub(super) initial: Option<Str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDatacenter {
    pub(super) name: Str,
    pub(super) lat: Float,
    pub(super) lon: Float,
    pub(super) region: Option<Str>,
    pub(super) country: Option<Str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMonitor {
    pub(super) name: Str,
    #[serde(rename = "type")]
    pub(super) kind: Str,
    pub(super) interval: Option<Dur>,
    pub(super) timeout: Option<Dur>,
    pub(super) rise: Option<Int>,
    pub(super) fall: Option<Int>,
    pub(super) jitter: Option<Float>,
    pub(super) port: Option<Int>,
    pub(super) method: Option<Str>,
    pub(super) path: Option<Str>,
    pub(super) host: Option<Str>,
    pub(super) expect_status: Option<IntList>,
    pub(super) expect_body: Option<Str>,
    pub(super) query: Option<Str>,
    pub(super) query_type: Option<Str>,
    pub(super) expect_rcode: Option<Str>,
    pub(super) expect_answer: Option<Str>,
    pub(super) command: Option<StrList>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVirtualServer {
    pub(super) name: Str,
    pub(super) address: Str,
    pub(super) datacenter: Str,
    pub(super) ratio: Option<Int>,
    pub(super) max_sessions: Option<Int>,
    pub(super) max_connections: Option<Int>,
    pub(super) monitors: Option<StrList>,
    pub(super) check_address: Option<Str>,
    pub(super) state: Option<Str>,
    pub(super) initial: Option<Str>,
    pub(super) metrics: Option<Spanned<RawMetrics>>,
    pub(super) metrics_url: Option<Str>,
    pub(super) metrics_labels: Option<Spanned<BTreeMap<String, Str>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetricsPolling {
    pub(super) interval: Option<Dur>,
    pub(super) timeout: Option<Dur>,
    pub(super) max_age: Option<Dur>,
    pub(super) sessions: Option<Str>,
    pub(super) connections: Option<Str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEngine {
    pub(super) fewest_selected_window: Option<Dur>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    pub(super) sessions: Option<Int>,
    pub(super) connections: Option<Int>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPool {
    pub(super) name: Str,
    pub(super) members: StrList,
    pub(super) preferred: Option<Str>,
    pub(super) alternate: Option<Str>,
    pub(super) fallback: Option<Str>,
    pub(super) ttl: Option<Int>,
    pub(super) max_answers: Option<Int>,
    pub(super) fallback_ip: Option<StrList>,
    pub(super) when_all_down: Option<Str>,
    pub(super) persist_prefix_v4: Option<Int>,
    pub(super) persist_prefix_v6: Option<Int>,
}
