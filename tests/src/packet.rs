//! Building test frames (Ethernet, 802.1Q, IPv4 with options, IPv6, UDP,
//! DNS) and checking replies: addresses swapped, lengths and checksums
//! right, DNS payload parsed back with hickory.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::{
    op::{Edns, Message, MessageType, OpCode, Query},
    rr::{Name, RecordType},
};

/// Client MAC in test frames.
pub const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
/// Server MAC in test frames.
pub const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// Client IPv4 address.
pub const CLIENT_V4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// Server IPv4 address.
pub const SERVER_V4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// Client IPv6 address.
pub const CLIENT_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
/// Server IPv6 address.
pub const SERVER_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
/// Client source port.
pub const CLIENT_PORT: u16 = 40_000;

/// How to wrap a DNS payload into a frame.
#[derive(Clone, Debug)]
pub struct Frame {
    /// VLAN tags (TPID, TCI) outermost first.
    pub vlans: Vec<(u16, u16)>,
    /// IPv6 transport (else IPv4).
    pub v6: bool,
    /// IPv4 options (padded to 4 bytes by the caller).
    pub ip_options: Vec<u8>,
    /// IPv4 flags+fragment offset field.
    pub frag: u16,
    /// IP protocol / IPv6 next header.
    pub proto: u8,
    /// UDP destination port.
    pub dport: u16,
    /// Bytes appended after the IP packet (Ethernet padding).
    pub trailer: Vec<u8>,
    /// Client address instead of [`CLIENT_V4`] / [`CLIENT_V6`] (of the
    /// frame's family).
    pub client: Option<IpAddr>,
    /// Server address instead of [`SERVER_V4`] / [`SERVER_V6`].
    pub server: Option<IpAddr>,
}

impl Default for Frame {
    fn default() -> Self {
        Self {
            vlans: vec![],
            v6: false,
            ip_options: vec![],
            frag: 0,
            proto: 17,
            dport: 53,
            trailer: vec![],
            client: None,
            server: None,
        }
    }
}

/// One's complement sum of `data` as big-endian 16-bit words.
pub fn sum16(data: &[u8]) -> u32 {
    data.chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum()
}

/// Folds and complements a sum.
pub fn finish(mut s: u32) -> u16 {
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn pseudo(src: &[u8], dst: &[u8], len: usize) -> u32 {
    sum16(src) + sum16(dst) + 17 + len as u32
}

impl Frame {
    /// The client's IPv4 and IPv6 addresses.
    pub fn client_addrs(&self) -> (Ipv4Addr, Ipv6Addr) {
        match self.client {
            Some(IpAddr::V4(a)) => (a, CLIENT_V6),
            Some(IpAddr::V6(a)) => (CLIENT_V4, a),
            None => (CLIENT_V4, CLIENT_V6),
        }
    }

    /// The server's IPv4 and IPv6 addresses.
    pub fn server_addrs(&self) -> (Ipv4Addr, Ipv6Addr) {
        match self.server {
            Some(IpAddr::V4(a)) => (a, SERVER_V6),
            Some(IpAddr::V6(a)) => (SERVER_V4, a),
            None => (SERVER_V4, SERVER_V6),
        }
    }

    /// The client's address of the frame's family.
    pub fn client_ip(&self) -> IpAddr {
        let (c4, c6) = self.client_addrs();
        if self.v6 {
            c6.into()
        } else {
            c4.into()
        }
    }

    /// Builds the query frame (client to server) around `dns`.
    pub fn build(&self, dns: &[u8]) -> Vec<u8> {
        self.build_dir(dns, false)
    }

    /// Builds the reply frame the fast path must produce for this request:
    /// server to client, TTL/hop limit 64, IP id kept, no trailer.
    pub fn build_reply(&self, dns: &[u8]) -> Vec<u8> {
        self.build_dir(dns, true)
    }

    fn build_dir(&self, dns: &[u8], reply: bool) -> Vec<u8> {
        let (smac, dmac) = if reply {
            (SERVER_MAC, CLIENT_MAC)
        } else {
            (CLIENT_MAC, SERVER_MAC)
        };
        let (sport, dport) = if reply {
            (self.dport, CLIENT_PORT)
        } else {
            (CLIENT_PORT, self.dport)
        };
        let ((c4, c6), (sv4, sv6)) = (self.client_addrs(), self.server_addrs());
        let (s6, d6) = if reply { (sv6, c6) } else { (c6, sv6) };
        let (s4, d4) = if reply { (sv4, c4) } else { (c4, sv4) };
        // Queries arrive with some hops behind them; replies leave with 64.
        let ttl = if reply { 64 } else { 57 };
        let mut f = Vec::new();
        f.extend(dmac);
        f.extend(smac);
        for (tpid, tci) in &self.vlans {
            f.extend(tpid.to_be_bytes());
            f.extend(tci.to_be_bytes());
        }
        let udp_len = 8 + dns.len();
        let mut udp = Vec::new();
        udp.extend(sport.to_be_bytes());
        udp.extend(dport.to_be_bytes());
        udp.extend((udp_len as u16).to_be_bytes());
        udp.extend([0, 0]);
        udp.extend(dns);
        if self.v6 {
            f.extend(0x86ddu16.to_be_bytes());
            let (s, d) = (s6.octets(), d6.octets());
            let c = finish(pseudo(&s, &d, udp_len) + sum16(&udp));
            udp[6..8].copy_from_slice(&c.to_be_bytes());
            f.extend([0x60, 0, 0, 0]);
            f.extend((udp_len as u16).to_be_bytes());
            f.extend([self.proto, ttl]);
            f.extend(s);
            f.extend(d);
        } else {
            f.extend(0x0800u16.to_be_bytes());
            let ihl = 20 + self.ip_options.len();
            let (s, d) = (s4.octets(), d4.octets());
            let c = finish(pseudo(&s, &d, udp_len) + sum16(&udp));
            udp[6..8].copy_from_slice(&c.to_be_bytes());
            let mut ip = vec![0x40 | (ihl / 4) as u8, 0];
            ip.extend(((ihl + udp_len) as u16).to_be_bytes());
            ip.extend([0x12, 0x34]);
            ip.extend(self.frag.to_be_bytes());
            ip.extend([ttl, self.proto, 0, 0]);
            ip.extend(s);
            ip.extend(d);
            ip.extend(&self.ip_options);
            let c = finish(sum16(&ip));
            ip[10..12].copy_from_slice(&c.to_be_bytes());
            f.extend(ip);
        }
        f.extend(udp);
        if !reply {
            f.extend(&self.trailer);
        }
        f
    }
}

/// A query message for `name`/`rtype`, RD set, id 0x4242, with an OPT
/// record of `edns` payload size when given.
pub fn query(name: &str, rtype: RecordType, edns: Option<u16>) -> Message {
    let mut m = Message::new(0x4242, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    if let Some(size) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        e.set_version(0);
        m.set_edns(e);
    }
    m
}

/// A parsed reply frame.
#[derive(Debug)]
pub struct Reply {
    /// Source address of the reply.
    pub src: IpAddr,
    /// Destination address of the reply.
    pub dst: IpAddr,
    /// UDP source port.
    pub sport: u16,
    /// UDP destination port.
    pub dport: u16,
    /// The DNS message.
    pub msg: Message,
    /// The raw DNS payload.
    pub dns: Vec<u8>,
}

/// Parses a reply frame built from a [`Frame`] request, checking MACs,
/// lengths, the IPv4 header checksum and the UDP checksum. Panics with a
/// description on any error.
pub fn parse_reply(req: &Frame, out: &[u8]) -> Reply {
    assert_eq!(&out[0..6], &CLIENT_MAC, "destination MAC");
    assert_eq!(&out[6..12], &SERVER_MAC, "source MAC");
    let mut off = 12;
    for (tpid, tci) in &req.vlans {
        assert_eq!(
            &out[off..off + 4],
            [tpid.to_be_bytes(), tci.to_be_bytes()].concat(),
            "VLAN tag kept"
        );
        off += 4;
    }
    let ethertype = u16::from_be_bytes([out[off], out[off + 1]]);
    off += 2;
    let (src, dst, l4, udp_len_ip, pseudo_sum);
    if req.v6 {
        assert_eq!(ethertype, 0x86dd);
        let ip = &out[off..off + 40];
        let s: [u8; 16] = ip[8..24].try_into().unwrap();
        let d: [u8; 16] = ip[24..40].try_into().unwrap();
        src = IpAddr::from(s);
        dst = IpAddr::from(d);
        udp_len_ip = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
        l4 = off + 40;
        pseudo_sum = pseudo(&s, &d, udp_len_ip);
    } else {
        assert_eq!(ethertype, 0x0800);
        let ihl = usize::from(out[off] & 0xf) * 4;
        assert_eq!(ihl, 20 + req.ip_options.len(), "IHL kept");
        let ip = &out[off..off + ihl];
        assert_eq!(finish(sum16(ip)), 0, "IPv4 header checksum");
        assert_eq!(&ip[20..], &req.ip_options[..], "IP options kept");
        let s: [u8; 4] = ip[12..16].try_into().unwrap();
        let d: [u8; 4] = ip[16..20].try_into().unwrap();
        src = IpAddr::from(s);
        dst = IpAddr::from(d);
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        udp_len_ip = total - ihl;
        l4 = off + ihl;
        pseudo_sum = pseudo(&s, &d, udp_len_ip);
    }
    let udp = &out[l4..];
    let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
    assert_eq!(udp_len, udp_len_ip, "UDP length matches IP length");
    assert_eq!(l4 + udp_len, out.len(), "frame ends with the UDP payload");
    let udp = &udp[..udp_len];
    assert_ne!(
        u16::from_be_bytes([udp[6], udp[7]]),
        0,
        "UDP checksum present"
    );
    assert_eq!(finish(pseudo_sum + sum16(udp)), 0, "UDP checksum");
    let dns = udp[8..].to_vec();
    let msg = Message::from_vec(&dns).expect("reply parses as DNS");
    Reply {
        src,
        dst,
        sport: u16::from_be_bytes([udp[0], udp[1]]),
        dport: u16::from_be_bytes([udp[2], udp[3]]),
        msg,
        dns,
    }
}
