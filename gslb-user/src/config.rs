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
//! ([`DEFAULT_CONFIG`]).
//!
//! Names: `zone.name` and `gslb.name` are always absolute (a trailing dot
//! is optional). `zone.ns`, `zone.soa.mname`/`rname`, `zone.record.name`
//! and names inside record data follow zone-file rules (RFC 1035 §5.1):
//! absolute with a trailing dot, otherwise relative to the zone, `@` being
//! the zone apex. All names are stored lowercase.

use std::{
    collections::HashMap,
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    ops::Range,
    path::{Path, PathBuf},
};

use hickory_proto::rr::{rdata::SOA, LowerName, Name, RData, Record, RecordType};
use serde::Deserialize;
use toml::Spanned;

use crate::rdata;

/// The embedded default configuration, used when no config file is given.
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");
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
/// Longest interface name (IFNAMSIZ - 1).
const MAX_IFNAME_LEN: usize = 15;

/// A complete, validated configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Listeners, interfaces and EDNS parameters.
    pub server: ServerConfig,
    /// The zones we are authoritative for, in config order.
    pub zones: Vec<ZoneConfig>,
    /// The gslb names, in config order.
    pub gslb: Vec<GslbConfig>,
}

/// The `[server]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// UDP and TCP addresses of the slow path. All use the same port,
    /// because the XDP program answers on a single port. Port 0 asks the
    /// kernel for an ephemeral port (tests); see [`crate::server::bind`].
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
pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
    let mut v = Validator {
        text,
        origin,
        diags: Vec::new(),
    };
    let raw: RawConfig = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            // The message alone: toml's Display adds a multi-line excerpt.
            let message = e.message().trim().replace('\n', "; ");
            v.error(&span, message);
            return Err(ConfigError::Invalid(v.diags));
        }
    };
    let config = v.config(raw);
    if v.diags.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError::Invalid(v.diags))
    }
}

// ---------------------------------------------------------------------------
// The schema, as deserialized. Every value that is checked beyond its TOML
// type is `Spanned`, so that errors can point at it.

type Str = Spanned<String>;
type Int = Spanned<i64>;
type StrList = Spanned<Vec<Str>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    server: Option<RawServer>,
    #[serde(default)]
    zone: Vec<RawZone>,
    #[serde(default)]
    gslb: Vec<RawGslb>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<StrList>,
    interfaces: Option<StrList>,
    edns_udp_size: Option<Int>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawZone {
    name: Str,
    ttl: Option<Int>,
    #[serde(default)]
    ns: Vec<Str>,
    soa: Option<RawSoa>,
    #[serde(default)]
    record: Vec<RawRecord>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSoa {
    mname: Option<Str>,
    rname: Option<Str>,
    serial: Option<Int>,
    refresh: Option<Int>,
    retry: Option<Int>,
    expire: Option<Int>,
    minimum: Option<Int>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecord {
    name: Str,
    #[serde(rename = "type")]
    rtype: Str,
    data: Str,
    ttl: Option<Int>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGslb {
    name: Str,
    ttl: Option<Int>,
    a: Option<StrList>,
    aaaa: Option<StrList>,
}

// ---------------------------------------------------------------------------
// Validation.

/// Where a record of a zone came from, for cross-record checks.
struct Entry {
    owner: LowerName,
    rtype: RecordType,
    ttl: u32,
    rdata: RData,
    /// The owner name (or the `ns` list entry).
    span: Range<usize>,
    /// The explicit TTL, if any.
    ttl_span: Option<Range<usize>>,
}

struct ZoneDraft {
    name: Name,
    span: Range<usize>,
    config: Option<ZoneConfig>,
    entries: Vec<Entry>,
}

struct Validator<'a> {
    text: &'a str,
    origin: &'a str,
    diags: Vec<Diagnostic>,
}

impl Validator<'_> {
    fn error(&mut self, span: &Range<usize>, message: impl Into<String>) {
        let (line, column) = position(self.text, span.start);
        self.diags.push(Diagnostic {
            origin: self.origin.to_string(),
            line,
            column,
            message: message.into(),
        });
    }

    /// `LINE:COL` of a span, to refer to another value in a message.
    fn at(&self, span: &Range<usize>) -> String {
        let (line, column) = position(self.text, span.start);
        format!("{line}:{column}")
    }

    fn config(&mut self, raw: RawConfig) -> Config {
        let server = self.server(raw.server);
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
        let gslb = self.gslb(&raw.gslb, &zones, &index);
        for (i, draft) in zones.iter().enumerate() {
            if let Some(draft) = draft {
                let names: Vec<&(GslbConfig, Range<usize>)> = gslb
                    .iter()
                    .filter(|(_, z)| *z == i)
                    .map(|(g, _)| g)
                    .collect();
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
            gslb: gslb.into_iter().map(|((g, _), _)| g).collect(),
        }
    }

    fn server(&mut self, raw: Option<RawServer>) -> ServerConfig {
        let mut server = ServerConfig::default();
        let Some(raw) = raw else { return server };
        if let Some(list) = raw.listen {
            server.listen.clear();
            if list.get_ref().is_empty() {
                self.error(&list.span(), "at least one listen address is required");
            }
            for item in list.get_ref() {
                let Ok(addr) = item.get_ref().trim().parse::<SocketAddr>() else {
                    self.error(
                        &item.span(),
                        format!(
                            "invalid listen address `{}`: expected IP:PORT, \
                             IPv6 in brackets (e.g. \"[::1]:53\")",
                            item.get_ref()
                        ),
                    );
                    continue;
                };
                if server.listen.contains(&addr) {
                    self.error(&item.span(), format!("duplicate listen address {addr}"));
                    continue;
                }
                if let Some(first) = server.listen.first() {
                    if first.port() != addr.port() {
                        self.error(
                            &item.span(),
                            format!(
                                "port {} differs from port {} of the first listen address; \
                                 all listen addresses must use the same port (the XDP \
                                 program answers on one port)",
                                addr.port(),
                                first.port()
                            ),
                        );
                        continue;
                    }
                }
                server.listen.push(addr);
            }
        }
        if let Some(list) = raw.interfaces {
            server.interfaces.clear();
            for item in list.get_ref() {
                let name = item.get_ref();
                if name.is_empty()
                    || name.len() > MAX_IFNAME_LEN
                    || name.contains(['/', ':'])
                    || name.chars().any(|c| c.is_whitespace() || c.is_control())
                {
                    self.error(
                        &item.span(),
                        format!(
                            "invalid interface name `{name}`: 1 to {MAX_IFNAME_LEN} characters, \
                             no '/', ':' or whitespace"
                        ),
                    );
                } else if server.interfaces.contains(name) {
                    self.error(&item.span(), format!("duplicate interface `{name}`"));
                } else {
                    server.interfaces.push(name.clone());
                }
            }
        }
        if let Some(size) = raw.edns_udp_size {
            match u16::try_from(*size.get_ref()) {
                Ok(s) if (512..=4096).contains(&s) => server.edns_udp_size = s,
                _ => self.error(
                    &size.span(),
                    format!(
                        "edns_udp_size {} is out of range 512..=4096 (RFC 6891 §6.2.5)",
                        size.get_ref()
                    ),
                ),
            }
        }
        server
    }

    /// Parses every zone name; `None` for invalid and duplicate zones,
    /// whose contents are then not checked (one error, not a cascade).
    fn zone_names(&mut self, raw: &[RawZone]) -> Vec<Option<ZoneDraft>> {
        let mut seen: HashMap<LowerName, Range<usize>> = HashMap::new();
        let mut out = Vec::with_capacity(raw.len());
        for zone in raw {
            let span = zone.name.span();
            let draft = match absolute_name(zone.name.get_ref()) {
                Err(e) => {
                    self.error(&span, format!("invalid zone name: {e}"));
                    None
                }
                Ok(name) => {
                    let key = LowerName::new(&name);
                    if let Some(first) = seen.get(&key) {
                        let msg = format!(
                            "duplicate zone {name} (first defined at {})",
                            self.at(first)
                        );
                        self.error(&span, msg);
                        None
                    } else {
                        seen.insert(key, span.clone());
                        Some(ZoneDraft {
                            name,
                            span,
                            config: None,
                            entries: Vec::new(),
                        })
                    }
                }
            };
            out.push(draft);
        }
        out
    }

    fn ttl(&mut self, value: Option<&Int>, default: u32) -> u32 {
        let Some(value) = value else { return default };
        match u32::try_from(*value.get_ref()) {
            Ok(ttl) if ttl <= MAX_TTL => ttl,
            _ => {
                self.error(
                    &value.span(),
                    format!(
                        "TTL {} is out of range 0..={MAX_TTL} (RFC 2181 §8)",
                        value.get_ref()
                    ),
                );
                default
            }
        }
    }

    /// A 32-bit SOA field: `serial` may use all 32 bits (RFC 1982), the
    /// timers are TTL-like (RFC 2181 §8).
    fn soa_field(&mut self, value: Option<&Int>, default: u32, what: &str, max: u32) -> u32 {
        let Some(value) = value else { return default };
        match u32::try_from(*value.get_ref()) {
            Ok(v) if v <= max => v,
            _ => {
                self.error(
                    &value.span(),
                    format!("SOA {what} {} is out of range 0..={max}", value.get_ref()),
                );
                default
            }
        }
    }

    fn zone_body(
        &mut self,
        draft: &mut ZoneDraft,
        raw: &RawZone,
        index: &HashMap<LowerName, usize>,
    ) {
        let origin = draft.name.clone();
        let apex = LowerName::new(&origin);
        let zone_ttl = self.ttl(raw.ttl.as_ref(), DEFAULT_ZONE_TTL);
        let my_index = index.get(&apex).copied();

        let mut ns = Vec::new();
        for item in &raw.ns {
            match zone_file_name(item.get_ref(), &origin) {
                Ok(name) => {
                    if ns.contains(&name) {
                        self.error(&item.span(), format!("duplicate name server {name}"));
                        continue;
                    }
                    draft.entries.push(Entry {
                        owner: apex.clone(),
                        rtype: RecordType::NS,
                        ttl: zone_ttl,
                        rdata: RData::NS(hickory_proto::rr::rdata::NS(name.clone())),
                        span: item.span(),
                        ttl_span: None,
                    });
                    ns.push(name);
                }
                Err(e) => self.error(&item.span(), format!("invalid name server name: {e}")),
            }
        }

        let soa = self.soa(raw.soa.as_ref(), &origin, &ns);

        let mut records = Vec::new();
        for rec in &raw.record {
            let Some(owner) = self.record_owner(rec, &origin, index, my_index) else {
                // Still check the rest of the record.
                let _ = self.record_type_and_data(rec, &origin);
                let _ = self.ttl(rec.ttl.as_ref(), zone_ttl);
                continue;
            };
            let ttl = self.ttl(rec.ttl.as_ref(), zone_ttl);
            let Some(rdata) = self.record_type_and_data(rec, &origin) else {
                continue;
            };
            draft.entries.push(Entry {
                owner: LowerName::new(&owner),
                rtype: rdata.record_type(),
                ttl,
                rdata: rdata.clone(),
                span: rec.name.span(),
                ttl_span: rec.ttl.as_ref().map(Spanned::span),
            });
            records.push(Record::from_rdata(owner, ttl, rdata));
        }

        draft.config = Some(ZoneConfig {
            name: origin,
            ttl: zone_ttl,
            ns,
            soa,
            records,
        });
    }

    fn soa(&mut self, raw: Option<&RawSoa>, origin: &Name, ns: &[Name]) -> SOA {
        let mut mname = ns.first().cloned().unwrap_or_else(|| origin.clone());
        let mut rname = Name::from_ascii("hostmaster")
            .and_then(|n| n.append_domain(origin))
            .unwrap_or_else(|_| origin.clone());
        let Some(raw) = raw else {
            return SOA::new(mname, rname, 1, 7200, 3600, 1_209_600, 300);
        };
        if let Some(m) = &raw.mname {
            match zone_file_name(m.get_ref(), origin) {
                Ok(n) => mname = n,
                Err(e) => self.error(&m.span(), format!("invalid SOA mname: {e}")),
            }
        }
        if let Some(r) = &raw.rname {
            if r.get_ref().contains('@') {
                self.error(
                    &r.span(),
                    "SOA rname is a mailbox written as a name: hostmaster.example.com., \
                     not hostmaster@example.com (RFC 1035 §8)",
                );
            } else {
                match zone_file_name(r.get_ref(), origin) {
                    Ok(n) => rname = n,
                    Err(e) => self.error(&r.span(), format!("invalid SOA rname: {e}")),
                }
            }
        }
        let serial = self.soa_field(raw.serial.as_ref(), 1, "serial", u32::MAX);
        let refresh = self.soa_field(raw.refresh.as_ref(), 7200, "refresh", MAX_TTL);
        let retry = self.soa_field(raw.retry.as_ref(), 3600, "retry", MAX_TTL);
        let expire = self.soa_field(raw.expire.as_ref(), 1_209_600, "expire", MAX_TTL);
        let minimum = self.soa_field(raw.minimum.as_ref(), 300, "minimum", MAX_TTL);
        // The timers are <= MAX_TTL = i32::MAX, so the casts are exact.
        SOA::new(
            mname,
            rname,
            serial,
            refresh as i32,
            retry as i32,
            expire as i32,
            minimum,
        )
    }

    /// The absolute owner name of a record, checked to be in this zone and
    /// not in a more specific zone of the config.
    fn record_owner(
        &mut self,
        rec: &RawRecord,
        origin: &Name,
        index: &HashMap<LowerName, usize>,
        my_index: Option<usize>,
    ) -> Option<Name> {
        let span = rec.name.span();
        let owner = match zone_file_name(rec.name.get_ref(), origin) {
            Ok(n) => n,
            Err(e) => {
                self.error(&span, format!("invalid record name: {e}"));
                return None;
            }
        };
        if !origin.zone_of(&owner) {
            self.error(&span, format!("{owner} is outside zone {origin}"));
            return None;
        }
        if let Some((z, zone)) = longest_zone(&owner, index) {
            if Some(z) != my_index {
                self.error(
                    &span,
                    format!("{owner} belongs to zone {zone}, which is configured separately; move the record there"),
                );
                return None;
            }
        }
        Some(owner)
    }

    fn record_type_and_data(&mut self, rec: &RawRecord, origin: &Name) -> Option<RData> {
        let rtype = match rdata::parse_type(rec.rtype.get_ref()) {
            Ok(t) => t,
            Err(e) => {
                self.error(&rec.rtype.span(), e);
                return None;
            }
        };
        match rdata::parse_rdata(rtype, rec.data.get_ref(), origin) {
            Ok(d) => Some(d),
            Err(e) => {
                self.error(&rec.data.span(), format!("invalid {rtype} data: {e}"));
                None
            }
        }
    }

    /// Parses the gslb names. Each result carries the name span and the
    /// index of its zone.
    #[allow(clippy::type_complexity)]
    fn gslb(
        &mut self,
        raw: &[RawGslb],
        zones: &[Option<ZoneDraft>],
        index: &HashMap<LowerName, usize>,
    ) -> Vec<((GslbConfig, Range<usize>), usize)> {
        let mut seen: HashMap<LowerName, Range<usize>> = HashMap::new();
        let mut out = Vec::new();
        for g in raw {
            let span = g.name.span();
            let ttl = self.ttl(g.ttl.as_ref(), DEFAULT_GSLB_TTL);
            let a = self.addresses::<Ipv4Addr>(g.a.as_ref(), "a", "IPv4");
            let aaaa = self.addresses::<Ipv6Addr>(g.aaaa.as_ref(), "aaaa", "IPv6");
            let name = match absolute_name(g.name.get_ref()) {
                Ok(n) => n,
                Err(e) => {
                    self.error(&span, format!("invalid gslb name: {e}"));
                    continue;
                }
            };
            let listed = |l: &Option<StrList>| l.as_ref().map_or(0, |l| l.get_ref().len());
            if listed(&g.a) + listed(&g.aaaa) == 0 {
                self.error(
                    &span,
                    format!("gslb name {name} has neither `a` nor `aaaa` addresses"),
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
            out.push(((GslbConfig { name, ttl, a, aaaa }, span), zone));
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
            let ip: IpAddr = addr.into();
            if ip.is_unspecified() || ip.is_multicast() || ip == IpAddr::V4(Ipv4Addr::BROADCAST) {
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

    /// Checks that need all the data of one zone: NS at the apex, CNAME
    /// exclusivity, gslb names vs static records, RRset TTLs, duplicates,
    /// delegations and glue.
    fn zone_consistency(
        &mut self,
        draft: &ZoneDraft,
        gslb: &[&(GslbConfig, Range<usize>)],
        index: &HashMap<LowerName, usize>,
        my_index: usize,
    ) {
        let apex = LowerName::new(&draft.name);
        let entries = &draft.entries;
        let gslb_at: HashMap<LowerName, &(GslbConfig, Range<usize>)> = gslb
            .iter()
            .map(|g| (LowerName::new(&g.0.name), *g))
            .collect();

        // RFC 1034 §4.2.1: every zone has NS records at its apex.
        if !entries
            .iter()
            .any(|e| e.owner == apex && e.rtype == RecordType::NS)
        {
            self.error(
                &draft.span,
                format!(
                    "zone {} has no name servers: set `ns` or add NS records at \"@\" (RFC 1034 §4.2.1)",
                    draft.name
                ),
            );
        }

        // Delegation points: NS below the apex (RFC 1034 §4.2.1, §4.3.2).
        let cuts: HashMap<LowerName, &Entry> = entries
            .iter()
            .filter(|e| e.rtype == RecordType::NS && e.owner != apex)
            .map(|e| (e.owner.clone(), e))
            .collect();
        let cut_of = |name: &LowerName| -> Option<(LowerName, bool)> {
            // The highest cut at or above `name`, and whether it is `name`.
            let mut n: Name = (**name).clone();
            let mut found = None;
            while n.num_labels() > apex.num_labels() {
                let key = LowerName::new(&n);
                if cuts.contains_key(&key) {
                    found = Some((key.clone(), &key == name));
                }
                n = n.base_name();
            }
            found
        };

        for (i, e) in entries.iter().enumerate() {
            let earlier = &entries[..i];
            let same_owner = || entries.iter().filter(|o| o.owner == e.owner);

            if e.rtype == RecordType::CNAME {
                if e.owner == apex {
                    self.error(
                        &e.span,
                        "CNAME at the zone apex: the apex has SOA and NS records and a CNAME \
                         cannot coexist with other data (RFC 1034 §3.6.2)",
                    );
                } else if let Some(first) = earlier
                    .iter()
                    .find(|o| o.owner == e.owner && o.rtype == RecordType::CNAME)
                {
                    let msg = format!(
                        "second CNAME at {} (first at {}); a name has at most one CNAME (RFC 2181 §10.1)",
                        *e.owner,
                        self.at(&first.span)
                    );
                    self.error(&e.span, msg);
                } else if let Some(other) = same_owner().find(|o| o.rtype != RecordType::CNAME) {
                    let msg = format!(
                        "CNAME at {} beside other data ({} at {}); a CNAME cannot coexist \
                         with other records (RFC 1034 §3.6.2, RFC 2181 §10.1)",
                        *e.owner,
                        other.rtype,
                        self.at(&other.span)
                    );
                    self.error(&e.span, msg);
                }
            }

            if let Some((g, gspan)) = gslb_at.get(&e.owner).map(|g| (&g.0, &g.1)) {
                if matches!(
                    e.rtype,
                    RecordType::A | RecordType::AAAA | RecordType::CNAME
                ) {
                    let msg = format!(
                        "static {} record on gslb name {} (defined at {}); the gslb name \
                         answers A and AAAA, and a CNAME cannot coexist with it",
                        e.rtype,
                        g.name,
                        self.at(gspan)
                    );
                    self.error(&e.span, msg);
                    continue;
                }
            }

            if let Some(first) = earlier
                .iter()
                .find(|o| o.owner == e.owner && o.rtype == e.rtype && o.rdata == e.rdata)
            {
                let msg = format!(
                    "duplicate {} record (first at {})",
                    e.rtype,
                    self.at(&first.span)
                );
                self.error(&e.span, msg);
                continue;
            }
            if let Some(first) = earlier
                .iter()
                .find(|o| o.owner == e.owner && o.rtype == e.rtype && o.ttl != e.ttl)
            {
                let msg = format!(
                    "TTL {} differs from TTL {} of the {} record at {}; all records of an \
                     RRset have the same TTL (RFC 2181 §5.2)",
                    e.ttl,
                    first.ttl,
                    e.rtype,
                    self.at(&first.span)
                );
                let span = e.ttl_span.clone().unwrap_or_else(|| e.span.clone());
                self.error(&span, msg);
            }

            if let Some((cut, at_cut)) = cut_of(&e.owner) {
                let glue = matches!(e.rtype, RecordType::A | RecordType::AAAA);
                let allowed = glue || (at_cut && e.rtype == RecordType::NS);
                if !allowed {
                    let msg = format!(
                        "{} record at {} is {} the delegation to {} (NS at {}); only NS and glue \
                         addresses are served there (RFC 1034 §4.2.1)",
                        e.rtype,
                        *e.owner,
                        if at_cut { "at" } else { "below" },
                        *cut,
                        self.at(&cuts[&cut].span)
                    );
                    self.error(&e.span, msg);
                }
            }

            // In-zone name servers need addresses, else nobody can reach
            // them (BIND refuses such zones too).
            if let RData::NS(target) = &e.rdata {
                let target = LowerName::new(&target.0);
                if longest_zone(&target, index).map(|z| z.0) == Some(my_index)
                    && !gslb_at.contains_key(&target)
                    && !entries.iter().any(|o| {
                        o.owner == target && matches!(o.rtype, RecordType::A | RecordType::AAAA)
                    })
                {
                    let msg = format!(
                        "name server {} is inside zone {} but has no A or AAAA record",
                        *target, draft.name
                    );
                    self.error(&e.span, msg);
                }
            }
        }

        for (g, span) in gslb.iter().map(|g| (&g.0, &g.1)) {
            if let Some((cut, _)) = cut_of(&LowerName::new(&g.name)) {
                let msg = format!(
                    "gslb name {} is inside the delegation to {} (NS at {}); it would never be answered",
                    g.name,
                    *cut,
                    self.at(&cuts[&cut].span)
                );
                self.error(span, msg);
            }
        }
    }
}

/// The index and name of the configured zone that is the longest suffix
/// of `name`.
fn longest_zone(name: &Name, index: &HashMap<LowerName, usize>) -> Option<(usize, Name)> {
    let mut n = name.clone();
    loop {
        if let Some(&i) = index.get(&LowerName::new(&n)) {
            return Some((i, n));
        }
        if n.is_root() {
            return None;
        }
        n = n.base_name();
    }
}

/// A name that is absolute whether or not it ends with a dot (zone and
/// gslb names), lowercase.
fn absolute_name(text: &str) -> Result<Name, String> {
    zone_file_name(text, &Name::root())
}

/// A name in zone-file syntax relative to `origin` (RFC 1035 §5.1),
/// lowercase. Wildcards are rejected: this server does not synthesize
/// (RFC 4592), so a `*` label would be served literally, surprising
/// everyone.
fn zone_file_name(text: &str, origin: &Name) -> Result<Name, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty name".to_string());
    }
    let name = if text == "@" {
        origin.clone()
    } else {
        Name::parse(text, Some(origin)).map_err(|e| format!("`{text}`: {e}"))?
    };
    if name.iter().any(|label| label == b"*") {
        return Err(format!("`{text}`: wildcard names are not supported"));
    }
    Ok(name.to_lowercase())
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

#[cfg(test)]
mod tests;
