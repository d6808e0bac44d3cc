//! `[server]`: listeners, XDP interfaces and EDNS.
//!
//! ```toml
//! [server]
//! listen = ["127.0.0.1:53", "[::1]:53"]  # IP:PORT, one port for all
//! interfaces = ["lo"]                    # where the XDP program is attached
//! edns_udp_size = 1232                   # 512..=4096
//! ```

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::Deserialize;

use crate::config::{
    checks::Validator,
    raw::{Int, StrList},
};

/// Default `server.edns_udp_size`: the DNS Flag Day 2020 value, which
/// avoids IP fragmentation on common paths.
pub const DEFAULT_EDNS_UDP_SIZE: u16 = 1232;

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

/// `[server]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawServer {
    pub(in crate::config) listen: Option<StrList>,
    pub(in crate::config) interfaces: Option<StrList>,
    pub(in crate::config) edns_udp_size: Option<Int>,
}

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
        server
    }
}
