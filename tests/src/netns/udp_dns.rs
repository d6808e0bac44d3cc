//! A UDP DNS client for many queries from one process ([`UdpDns`]).

use std::{
    net::{IpAddr, SocketAddr, UdpSocket},
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

use hickory_proto::{
    op::{Edns, Message, MessageType, OpCode, Query},
    rr::{Name, RData, RecordType},
};

use super::DNS_PORT;

/// A DNS response as the [`UdpDns`] client sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsReply {
    /// RCODE mnemonic as dig prints it (`NOERROR`, `SERVFAIL`, ...).
    pub rcode: String,
    /// Authoritative answer flag.
    pub aa: bool,
    /// A / AAAA addresses of the answer section, in order.
    pub addrs: Vec<IpAddr>,
    /// TTLs of those records.
    pub ttls: Vec<u32>,
}

/// A minimal UDP DNS client for many queries from one process (no
/// per-query process start): one socket, sequential queries, each bounded
/// by a timeout.
pub struct UdpDns {
    sock: UdpSocket,
    next_id: AtomicU32,
}

impl UdpDns {
    /// A client sending from `sock` (bound in the namespace it is for).
    pub(crate) fn new(sock: UdpSocket) -> UdpDns {
        UdpDns {
            sock,
            next_id: AtomicU32::new(1),
        }
    }

    /// Sends one query (RD clear, EDNS 1232) and waits at most `timeout`
    /// for the response with its id; `None` on timeout. Late responses to
    /// earlier queries are skipped.
    pub fn query(
        &self,
        server: IpAddr,
        name: &str,
        qtype: RecordType,
        timeout: Duration,
    ) -> Option<DnsReply> {
        let id = (self.next_id.fetch_add(1, Ordering::Relaxed) & 0xffff) as u16;
        let mut m = Message::new(id, MessageType::Query, OpCode::Query);
        m.add_query(Query::query(
            Name::from_ascii(name).unwrap_or_else(|e| panic!("bad name {name:?}: {e}")),
            qtype,
        ));
        let mut e = Edns::new();
        e.set_max_payload(1232);
        e.set_version(0);
        m.set_edns(e);
        let wire = m.to_vec().expect("encoding a query");
        self.sock
            .send_to(&wire, SocketAddr::new(server, DNS_PORT))
            .unwrap_or_else(|e| panic!("sending a query to {server}: {e}"));
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.sock
                .set_read_timeout(Some(left))
                .expect("setting the read timeout");
            let n = match self.sock.recv(&mut buf) {
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return None
                }
                Err(e) => panic!("receiving from {server}: {e}"),
            };
            let Ok(r) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            if r.metadata.id != id {
                continue;
            }
            let mut addrs = Vec::new();
            let mut ttls = Vec::new();
            for rec in &r.answers {
                match &rec.data {
                    RData::A(a) => addrs.push(IpAddr::V4(a.0)),
                    RData::AAAA(a) => addrs.push(IpAddr::V6(a.0)),
                    _ => continue,
                }
                ttls.push(rec.ttl);
            }
            return Some(DnsReply {
                rcode: match u16::from(r.metadata.response_code) {
                    0 => "NOERROR".to_string(),
                    1 => "FORMERR".to_string(),
                    2 => "SERVFAIL".to_string(),
                    3 => "NXDOMAIN".to_string(),
                    4 => "NOTIMP".to_string(),
                    5 => "REFUSED".to_string(),
                    n => format!("RCODE{n}"),
                },
                aa: r.metadata.authoritative,
                addrs,
                ttls,
            });
        }
    }
}
