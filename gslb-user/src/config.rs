//! The TOML configuration: parsing and complete validation.
//!
//! [`parse`] either returns a [`Config`] that is fully valid (every name,
//! address, TTL and record has been checked, and the zone data is
//! consistent) or a [`ConfigError`] listing every problem as
//! `FILE:LINE:COL: what is wrong`, the position being that of the offending
//! value. `gslb check` is this function; the daemon never applies a config
//! that did not pass it (DESIGN.md, "Invariants").
//!
//! The format is documented by example in `default.toml`
//! ([`DEFAULT_CONFIG`]); the GSLB engine tables (`[health]`,
//! `[[datacenter]]`, `[[monitor]]`, `[[vserver]]`, `[[pool]]` and the pool
//! keys of `[[gslb]]`) in the `gslb` submodule (re-exported here) and in
//! `examples/gslb.toml` ([`GSLB_EXAMPLE_CONFIG`]).
//!
//! Names: `zone.name` and `gslb.name` are always absolute (a trailing dot
//! is optional). `zone.ns`, `zone.soa.mname`/`rname`, `zone.record.name`
//! and names inside record data follow zone-file rules (RFC 1035 §5.1):
//! absolute with a trailing dot, otherwise relative to the zone, `@` being
//! the zone apex. All names are stored lowercase.

use std::{
    fmt,
    net::{Ipv4Addr, Ipv6Addr, SocketAddr},
    path::{Path, PathBuf},
};

use hickory_proto::rr::{rdata::SOA, Name, Record};

pub use engine::EngineConfig;
pub use gslb::*;

/// The embedded default configuration, used when no config file is given.
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");
/// A complete example exercising every table, GSLB engine included.
pub const GSLB_EXAMPLE_CONFIG: &str = include_str!("examples/gslb.toml");
/// The origin (file name) reported in errors about [`DEFAULT_CONFIG`].
pub const DEFAULT_CONFIG_ORIGIN: &str = "<embedded default config>";

/// Default `server.edns_udp_size`: the DNS Flag Day 2020 value, which
/// avoids IP fragmentation on common paths.
pub const DEFAULT_EDNS_UDP_SIZE: u16 = 1232;
/// Default `zone.ttl`.
pub const DEFAULT_ZONE_TTL: u32 = 3600;
/// Default `gslb.ttl`: short, so that selection changes reach clients fast.
pub const DEFAULT_GSLB_TTL: u32 = 30;
/// Largest TTL (RFC 2181 §8: a TTL is an unsigned 31-bit number).
pub const MAX_TTL: u32 = 0x7fff_ffff;
/// Most addresses of one type in a gslb name (the XDP answer-set size).
pub const MAX_GSLB_ADDRS: usize = gslb_common::maps::MAX_ADDRS;
/// Most `[[vserver]]` entries: server ids index the XDP program's
/// `SERVER_HITS` counters.
pub const MAX_VSERVERS: usize = gslb_common::maps::MAX_SERVERS as usize;
/// Longest interface name (IFNAMSIZ - 1).
pub const MAX_IFNAME_LEN: usize = 15;

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
}

/// The `[server]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// UDP and TCP addresses of the slow path. All use the same port,
    /// because the XDP program answers on a single port. Port 0 asks the
    /// kernel for an ephemeral port (tests); see [`crate::dns::server::bind`].
    pub listen: Vec<SocketAddr>,
    /// Interfaces the XDP program is attached to.
    pub interfaces: Vec<String>,
    /// UDP payload size we advertise in our OPT record (RFC 6891 §6.2.5),
    /// 512..=4096.
    pub edns_udp_size: u16,
}

impl Default for ServerConfig {
    /// Loopback only, port 53, XDP on `lo`: safe to run anywhere.
    fn default() -> Self {
        ServerConfig {
            listen: vec![
                SocketAddr::from((Ipv4Addr::LOCALHOST, 53)),
                SocketAddr::from((Ipv6Addr::LOCALHOST, 53)),
            ],
            interfaces: vec!["lo".to_string()],
            edns_udp_size: DEFAULT_EDNS_UDP_SIZE,
        }
    }
}

impl ServerConfig {
    /// The DNS port: that of the listen addresses (validation guarantees
    /// they agree), 53 if there are none.
    pub fn port(&self) -> u16 {
        self.listen.first().map_or(53, SocketAddr::port)
    }
}

/// One `[[zone]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneConfig {
    /// The apex: absolute, lowercase.
    pub name: Name,
    /// TTL of records without their own `ttl`, and of the SOA and `ns` NS
    /// records.
    pub ttl: u32,
    /// Name servers of the zone (NS records at the apex), absolute.
    pub ns: Vec<Name>,
    /// The SOA record data (names absolute).
    pub soa: SOA,
    /// The `[[zone.record]]` entries: owner absolute and lowercase, TTL
    /// resolved, class IN.
    pub records: Vec<Record>,
}

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

/// One problem in a config, with the position of the offending value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file name (or [`DEFAULT_CONFIG_ORIGIN`]).
    pub origin: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.origin, self.line, self.column, self.message
        )
    }
}

/// Why a config was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read config: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The config is not valid TOML, does not fit the schema, or is
    /// inconsistent. Displayed one diagnostic per line.
    #[error("{}", render(.0))]
    Invalid(Vec<Diagnostic>),
}

impl ConfigError {
    /// The diagnostics (empty for [`ConfigError::Read`]).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ConfigError::Read { .. } => &[],
            ConfigError::Invalid(d) => d,
        }
    }
}

fn render(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads and validates the config file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, &path.display().to_string())
}

/// Parses and validates the embedded [`DEFAULT_CONFIG`].
pub fn load_default() -> Result<Config, ConfigError> {
    parse(DEFAULT_CONFIG, DEFAULT_CONFIG_ORIGIN)
}

/// Parses and validates `text`; `origin` names it in error messages.
/// Every problem found is reported, in text order.
pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
    parse_with_warnings(text, origin).map(|(config, _)| config)
}

/// Reads and validates the config file at `path`, like [`load`]; also
/// returns the warnings (see [`parse_with_warnings`]).
pub fn load_with_warnings(path: &Path) -> Result<(Config, Vec<Diagnostic>), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_with_warnings(&text, &path.display().to_string())
}

/// Parses and validates `text` like [`parse`]; a valid config comes with
/// warnings about what is legal but likely a mistake: no zone at all,
/// servers, pools and monitors that nothing refers to.
///
/// Every syntax error is reported (the TOML parser recovers after each).
/// A value of the wrong type or an unknown key stops the reading of the
/// document there, so only the first of those is reported, with its key
/// path (`pool[1].max_answers`); the checks of the values then report
/// every problem.
pub fn parse_with_warnings(
    text: &str,
    origin: &str,
) -> Result<(Config, Vec<Diagnostic>), ConfigError> {
    let raw = read_raw(text, origin)?;
    let warnings = usage::warnings(&raw, text, origin);
    let (config, mut diags) = validate::validate(raw, text, origin);
    if diags.is_empty() {
        Ok((config, warnings))
    } else {
        diags.sort_by_key(|d| (d.line, d.column));
        Err(ConfigError::Invalid(diags))
    }
}

/// The document deserialized into the schema: every syntax error, or the
/// first type error with its key path.
fn read_raw(text: &str, origin: &str) -> Result<raw::RawConfig, ConfigError> {
    // toml's messages alone: its Display adds a multi-line excerpt.
    let message = |e: &toml::de::Error| e.message().trim().replace('\n', "; ");
    let (table, errors) = toml::de::DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        let mut diags: Vec<Diagnostic> = errors
            .iter()
            .map(|e| diagnostic(text, origin, e.span().map_or(0, |s| s.start), message(e)))
            .collect();
        diags.sort_by_key(|d| (d.line, d.column));
        return Err(ConfigError::Invalid(diags));
    }
    serde_path_to_error::deserialize(toml::de::Deserializer::from(table)).map_err(|e| {
        let key = key_path(e.path());
        let inner = e.inner();
        let offset = inner.span().map_or(0, |s| s.start);
        let message = if key.is_empty() {
            message(inner)
        } else {
            format!("`{key}`: {}", message(inner))
        };
        ConfigError::Invalid(vec![diagnostic(text, origin, offset, message)])
    })
}

/// A key path as written in the config (`pool[1].ratio`), without the
/// fields serde uses internally for spans.
fn key_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } if key.starts_with("$__") => {}
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    out
}

/// A diagnostic at byte `offset` of `text`.
fn diagnostic(text: &str, origin: &str, offset: usize, message: String) -> Diagnostic {
    let (line, column) = position(text, offset);
    Diagnostic {
        origin: origin.to_string(),
        line,
        column,
        message,
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

mod balancing;
mod consistency;
mod duration;
pub mod engine;
pub mod gslb;
mod metrics;
mod raw;
#[cfg(test)]
mod read_tests;
#[cfg(test)]
mod tests;
mod usage;
mod validate;
