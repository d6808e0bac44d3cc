//! `[server]`: listeners, XDP interfaces and EDNS.
//!
//! ```toml
//! [server]
//! listen = ["127.0.0.1:53", "[::1]:53"]  # IP:PORT, one port for all
//! interfaces = ["lo"]                    # where the XDP program is attached
//! edns_udp_size = 1232                   # 512..=4096
//! ecs = "all"                            # whose EDNS Client Subnet is used
//! persist_records = 65536                # capacity of the persistence records
//! nsid = "ams-1"                         # RFC 5001 NSID (or nsid_hex = "616d732d31")
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipnet::IpNet;
use serde::Deserialize;

use crate::config::{
    checks::Validator,
    raw::{Int, Str, StrList},
};

/// Default `server.edns_udp_size`: the DNS Flag Day 2020 value, which
/// avoids IP fragmentation on common paths.
pub const DEFAULT_EDNS_UDP_SIZE: u16 = 1232;

/// Whose EDNS Client Subnet option (RFC 7871) is used: its address is
/// then the client for client-dependent answers, and the reply echoes it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum EcsTrust {
    /// Every resolver's (`"all"`, the default, as PowerDNS and gdnsd do).
    #[default]
    All,
    /// No resolver's (`"none"`): the option is ignored, not echoed.
    None,
    /// Only that of resolvers whose source address is in one of these
    /// prefixes (`["198.18.0.0/24", ...]`); from others it is ignored.
    Resolvers(Vec<IpNet>),
}

impl EcsTrust {
    /// Whether the ECS option of a query from `resolver` is used (`None`:
    /// the source is not known, as in tests of the responder: only `All`).
    pub fn trusts(&self, resolver: Option<IpAddr>) -> bool {
        match self {
            EcsTrust::All => true,
            EcsTrust::None => false,
            EcsTrust::Resolvers(nets) => {
                resolver.is_some_and(|r| nets.iter().any(|n| n.contains(&r)))
            }
        }
    }
}

/// Longest interface name (IFNAMSIZ - 1).
pub const MAX_IFNAME_LEN: usize = 15;

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
    /// Whose EDNS Client Subnet is used.
    pub ecs: EcsTrust,
    /// Capacity of the persistence records (`PERSIST`); the least
    /// recently used record goes first when it is full.
    pub persist_records: u32,
    /// The name server identifier (RFC 5001) sent to queries that ask
    /// for it with an empty NSID option (`nsid` or `nsid_hex`).
    pub nsid: Option<Vec<u8>>,
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
            ecs: EcsTrust::All,
            persist_records: gslb_common::maps::DEFAULT_PERSIST_RECORDS,
            nsid: None,
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

/// `[server]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawServer {
    pub(in crate::config) listen: Option<StrList>,
    pub(in crate::config) interfaces: Option<StrList>,
    pub(in crate::config) edns_udp_size: Option<Int>,
    pub(in crate::config) ecs: Option<RawEcs>,
    pub(in crate::config) persist_records: Option<Int>,
    pub(in crate::config) nsid: Option<Str>,
    pub(in crate::config) nsid_hex: Option<Str>,
}

/// `ecs` as written: `"all"`, `"none"` or a list of prefixes.
pub(in crate::config) type RawEcs = toml::Spanned<toml::Value>;

impl Validator<'_> {
    pub(super) fn server(&mut self, raw: Option<RawServer>) -> ServerConfig {
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
        if let Some(ecs) = raw.ecs {
            server.ecs = self.ecs(ecs);
        }
        if let Some(n) = raw.persist_records {
            match u32::try_from(*n.get_ref()) {
                Ok(v) if (1..=MAX_PERSIST_RECORDS).contains(&v) => server.persist_records = v,
                _ => self.error(
                    &n.span(),
                    format!(
                        "persist_records {} is out of range 1..={MAX_PERSIST_RECORDS}",
                        n.get_ref()
                    ),
                ),
            }
        }
        server.nsid = self.nsid(raw.nsid.as_ref(), raw.nsid_hex.as_ref());
        server
    }

    /// `nsid` (text) or `nsid_hex` (its bytes in hex), at most one.
    fn nsid(&mut self, text: Option<&Str>, hex: Option<&Str>) -> Option<Vec<u8>> {
        let (bytes, span) = match (text, hex) {
            (None, None) => return None,
            (Some(_), Some(h)) => {
                self.error(
                    &h.span(),
                    "nsid and nsid_hex are both set: the identifier is given once, as text \
                     (nsid) or as hex (nsid_hex)",
                );
                return None;
            }
            (Some(t), None) => (t.get_ref().as_bytes().to_vec(), t.span()),
            (None, Some(h)) => match nsid_from_hex(h.get_ref()) {
                Ok(b) => (b, h.span()),
                Err(e) => {
                    self.error(&h.span(), format!("invalid nsid_hex: {e}"));
                    return None;
                }
            },
        };
        if bytes.is_empty() || bytes.len() > MAX_NSID_LEN {
            self.error(
                &span,
                format!(
                    "the nsid is {} bytes: 1..={MAX_NSID_LEN} (leave the key out for none)",
                    bytes.len()
                ),
            );
            return None;
        }
        Some(bytes)
    }

    fn ecs(&mut self, raw: RawEcs) -> EcsTrust {
        let span = raw.span();
        match raw.into_inner() {
            toml::Value::String(w) if w == "all" => EcsTrust::All,
            toml::Value::String(w) if w == "none" => EcsTrust::None,
            toml::Value::Array(items) => {
                if items.len() > gslb_common::maps::MAX_ECS_TRUSTED as usize {
                    self.error(
                        &span,
                        format!(
                            "at most {} trusted resolver prefixes",
                            gslb_common::maps::MAX_ECS_TRUSTED
                        ),
                    );
                }
                let mut nets = Vec::new();
                for item in items {
                    let text = item.as_str().map(str::trim).unwrap_or_default();
                    // A bare address is a host prefix.
                    let net = text
                        .parse::<IpNet>()
                        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from));
                    match net {
                        Ok(n) if n.trunc() == n => nets.push(n),
                        Ok(n) => self.error(
                            &span,
                            format!(
                                "ecs prefix `{text}` has bits set past its length \
                                 (did you mean {}?)",
                                n.trunc()
                            ),
                        ),
                        Err(_) => self.error(
                            &span,
                            format!(
                                "invalid ecs resolver prefix `{item}`: expected ADDRESS/LENGTH"
                            ),
                        ),
                    }
                }
                EcsTrust::Resolvers(nets)
            }
            other => {
                self.error(
                    &span,
                    format!(
                        "invalid ecs {other}: expected \"all\", \"none\" or a list of resolver \
                         prefixes (e.g. [\"198.18.0.0/24\"])"
                    ),
                );
                EcsTrust::All
            }
        }
    }
}

/// Longest NSID: RFC 5001 sets no limit below the option's 65535 bytes;
/// 128 keeps every reply small (operators use a host or site name).
pub const MAX_NSID_LEN: usize = 128;

/// The bytes of `nsid_hex`: an even number of hex digits (no `0x`, no
/// separators).
fn nsid_from_hex(text: &str) -> Result<Vec<u8>, String> {
    let text = text.trim();
    if !text.len().is_multiple_of(2) {
        return Err(format!(
            "`{text}` has an odd number of hex digits ({})",
            text.len()
        ));
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|d| u8::from_str_radix(d, 16).ok())
                .ok_or_else(|| format!("`{text}` is not hex digits (0-9, a-f)"))
        })
        .collect()
}

/// Most `persist_records`: 16 Mi records (24 bytes of key and 16 of
/// value each, 640 MiB of map).
pub const MAX_PERSIST_RECORDS: u32 = 1 << 24;
