//! Value checks: each name, address, TTL and record on its own, and the
//! assembly of the validated [`Config`].

use std::{
    collections::HashMap,
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    ops::Range,
};

use hickory_proto::rr::{
    rdata::{NS, SOA},
    LowerName, Name, RData, Record, RecordType,
};
use toml::Spanned;

use super::{
    balancing::Declared,
    diagnostic, position,
    raw::{Int, RawConfig, RawGslb, RawRecord, RawServer, RawSoa, RawZone, StrList},
    Config, Diagnostic, GslbConfig, PoolConfig, ServerConfig, ZoneConfig, DEFAULT_GSLB_TTL,
    DEFAULT_ZONE_TTL, MAX_GSLB_ADDRS, MAX_IFNAME_LEN, MAX_TTL,
};
use crate::dns::rdata;

/// Validates `raw` (parsed from `text`, named `origin`): the config built
/// from the valid parts, and every problem found.
pub(super) fn validate(raw: RawConfig, text: &str, origin: &str) -> (Config, Vec<Diagnostic>) {
    let mut v = Validator {
        text,
        origin,
        diags: Vec::new(),
    };
    let config = v.config(raw);
    (config, v.diags)
}

/// A record of a zone and where it came from, for the cross-record checks.
pub(super) struct Entry {
    pub(super) owner: LowerName,
    pub(super) rtype: RecordType,
    pub(super) ttl: u32,
    pub(super) rdata: RData,
    /// The owner name (or the `ns` list entry).
    pub(super) span: Range<usize>,
    /// The explicit TTL, if any.
    pub(super) ttl_span: Option<Range<usize>>,
}

/// A zone being validated.
pub(super) struct ZoneDraft {
    pub(super) name: Name,
    pub(super) span: Range<usize>,
    pub(super) config: Option<ZoneConfig>,
    pub(super) entries: Vec<Entry>,
}

/// A gslb name that passed the value checks, with the position of its
/// name and the index of its zone.
pub(super) struct GslbDraft {
    pub(super) config: GslbConfig,
    pub(super) span: Range<usize>,
    pub(super) zone: usize,
}

/// Collects diagnostics while building the config.
pub(super) struct Validator<'a> {
    text: &'a str,
    origin: &'a str,
    diags: Vec<Diagnostic>,
}

impl Validator<'_> {
    pub(super) fn error(&mut self, span: &Range<usize>, message: impl Into<String>) {
        let d = diagnostic(self.text, self.origin, span.start, message.into());
        self.diags.push(d);
    }

    /// `LINE:COL` of a span, to refer to another value in a message.
    pub(super) fn at(&self, span: &Range<usize>) -> String {
        let (line, column) = position(self.text, span.start);
        format!("{line}:{column}")
    }

    fn config(&mut self, raw: RawConfig) -> Config {
        let server = self.server(raw.server);
        let health = self.health(raw.health.as_ref());
        let metrics = self.metrics_polling(raw.metrics.as_ref());
        let engine = self.engine(raw.engine.as_ref());
        let datacenters = self.datacenters(&raw.datacenter);
        let monitors = self.monitors(&raw.monitor);
        let servers = self.servers(&raw.vserver, &health, &datacenters, &monitors);
        let pools = self.pools(&raw.pool, &servers);
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
            metrics,
            engine,
            datacenters: datacenters.items,
            monitors: monitors.items,
            servers: servers.items,
            pools: pools.items,
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

    pub(super) fn ttl(&mut self, value: Option<&Int>, default: u32) -> u32 {
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
                        rdata: RData::NS(NS(name.clone())),
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

    /// Parses the gslb names.
    fn gslb(
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
}

/// Whether `ip` cannot be handed out as a server address (unspecified,
/// broadcast or multicast).
pub(super) fn unusable_address(ip: IpAddr) -> bool {
    ip.is_unspecified() || ip.is_multicast() || ip == IpAddr::V4(Ipv4Addr::BROADCAST)
}

/// The index and name of the configured zone that is the longest suffix
/// of `name`.
pub(super) fn longest_zone(
    name: &Name,
    index: &HashMap<LowerName, usize>,
) -> Option<(usize, Name)> {
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
pub(super) fn absolute_name(text: &str) -> Result<Name, String> {
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
