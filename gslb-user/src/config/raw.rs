//! The config schema as deserialized. Every value that is checked beyond
//! its TOML type is `Spanned`, so that errors can point at it.

use serde::Deserialize;
use toml::Spanned;

pub(super) type Str = Spanned<String>;
pub(super) type Int = Spanned<i64>;
pub(super) type StrList = Spanned<Vec<Str>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) server: Option<RawServer>,
    #[serde(default)]
    pub(super) zone: Vec<RawZone>,
    #[serde(default)]
    pub(super) gslb: Vec<RawGslb>,
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
}
