//! ICMP monitor: one echo request (ICMP for IPv4, ICMPv6 for IPv6); the
//! server is up when the matching echo reply arrives.
//!
//! The request goes out over an unprivileged "ping" socket (`SOCK_DGRAM`,
//! `IPPROTO_ICMP`/`IPPROTO_ICMPV6`) when the kernel allows it
//! (`net.ipv4.ping_group_range` covers one of our groups; its default,
//! "1 0", allows nobody, root included), else over a raw socket (needs
//! `CAP_NET_RAW`). With a ping socket the kernel sets the identifier and
//! only hands us replies to it; with a raw socket we see every ICMP packet
//! and match identifier, sequence number and a random payload token. A
//! destination unreachable quoting our request fails the probe at once.

use std::{
    io,
    net::{IpAddr, SocketAddr},
};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

use super::{io_message, random_u64, Outcome};

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const UNREACHABLE_V4: u8 = 3;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;
const UNREACHABLE_V6: u8 = 1;

/// Length of our echo request: 8 bytes of header, an 8-byte token, 16
/// bytes of padding.
const REQUEST_LEN: usize = 32;

/// Sends one echo request with sequence number `seq` and waits for its
/// reply (the caller bounds the wait).
pub async fn check(address: IpAddr, seq: u16) -> Outcome {
    let (socket, raw) = open(address)?;
    let v6 = address.is_ipv6();
    let id = random_u64() as u16;
    let token = random_u64().to_be_bytes();
    let request = echo_request(v6, id, seq, &token);
    socket
        .send_to(&request, SocketAddr::new(address, 0))
        .await
        .map_err(|e| io_message(&e))?;

    let mut buf = vec![0u8; 2048];
    loop {
        let (n, _) = socket
            .recv_from(&mut buf)
            .await
            .map_err(|e| io_message(&e))?;
        match classify(&buf[..n], v6, raw, id, seq, &token) {
            Reply::Echo => return Ok(format!("echo reply seq={seq}")),
            Reply::Unreachable(code) => {
                return Err(format!("destination unreachable (code {code})"))
            }
            Reply::Other => continue,
        }
    }
}

/// Opens a ping socket, or a raw socket when ping sockets are not allowed.
/// Returns the socket and whether it is raw.
fn open(address: IpAddr) -> Result<(UdpSocket, bool), String> {
    let (domain, protocol) = match address {
        IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4),
        IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6),
    };
    let (socket, raw) = match Socket::new(domain, Type::DGRAM, Some(protocol)) {
        Ok(socket) => (socket, false),
        Err(dgram) => match Socket::new(domain, Type::RAW, Some(protocol)) {
            Ok(socket) => (socket, true),
            Err(raw) => {
                return Err(format!(
                    "cannot open an ICMP socket: ping socket: {dgram}; raw socket: {raw}"
                ))
            }
        },
    };
    let socket = into_tokio(socket).map_err(|e| format!("ICMP socket: {e}"))?;
    Ok((socket, raw))
}

/// A tokio socket over the ICMP socket: the datagram calls (send_to,
/// recv_from) are all we use, and they work on any datagram-like socket.
fn into_tokio(socket: Socket) -> io::Result<UdpSocket> {
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(std::net::UdpSocket::from(socket))
}

/// Our echo request. The IPv4 checksum is computed here; ICMPv6 checksums
/// (which cover a pseudo-header) are always filled in by the kernel, and so
/// is the IPv4 one on ping sockets.
fn echo_request(v6: bool, id: u16, seq: u16, token: &[u8; 8]) -> [u8; REQUEST_LEN] {
    let mut p = [0u8; REQUEST_LEN];
    p[0] = if v6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST_V4 };
    p[4..6].copy_from_slice(&id.to_be_bytes());
    p[6..8].copy_from_slice(&seq.to_be_bytes());
    p[8..16].copy_from_slice(token);
    for (i, b) in p[16..].iter_mut().enumerate() {
        *b = b'a' + i as u8;
    }
    if !v6 {
        let sum = checksum(&p);
        p[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    p
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// What a received packet means for our probe.
#[derive(Debug, PartialEq, Eq)]
enum Reply {
    /// The echo reply to our request.
    Echo,
    /// A destination unreachable quoting our request, with its code.
    Unreachable(u8),
    /// Anything else.
    Other,
}

/// Classifies a received packet. On a raw IPv4 socket it starts with the IP
/// header; ICMPv6 and ping sockets deliver the ICMP message alone. Ping
/// sockets rewrite the identifier, so it is only checked on raw sockets.
fn classify(packet: &[u8], v6: bool, raw: bool, id: u16, seq: u16, token: &[u8; 8]) -> Reply {
    let icmp = if raw && !v6 {
        match strip_ipv4(packet) {
            Some(icmp) => icmp,
            None => return Reply::Other,
        }
    } else {
        packet
    };
    if icmp.len() < 8 {
        return Reply::Other;
    }
    let (echo_reply, unreachable, echo_request) = if v6 {
        (ECHO_REPLY_V6, UNREACHABLE_V6, ECHO_REQUEST_V6)
    } else {
        (ECHO_REPLY_V4, UNREACHABLE_V4, ECHO_REQUEST_V4)
    };
    let same_echo = |m: &[u8], want_type: u8, want_token: bool| {
        m.len() >= 8
            && m[0] == want_type
            && m[1] == 0
            && (!raw || m[4..6] == id.to_be_bytes())
            && m[6..8] == seq.to_be_bytes()
            && (!want_token || m.get(8..16) == Some(&token[..]))
    };
    if same_echo(icmp, echo_reply, true) {
        return Reply::Echo;
    }
    if icmp[0] == unreachable {
        // The error quotes our IP header and at least 8 bytes of our
        // request (no token guaranteed).
        let quoted = &icmp[8..];
        let quoted = if v6 {
            quoted.get(40..)
        } else {
            strip_ipv4(quoted)
        };
        if quoted.is_some_and(|q| same_echo(q, echo_request, false)) {
            return Reply::Unreachable(icmp[1]);
        }
    }
    Reply::Other
}

/// The payload of an IPv4 packet (after a header of any length).
fn strip_ipv4(packet: &[u8]) -> Option<&[u8]> {
    let first = *packet.first()?;
    if first >> 4 != 4 {
        return None;
    }
    packet.get(usize::from(first & 0x0f) * 4..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_request_verifies() {
        let p = echo_request(false, 0x1234, 7, b"tokentok");
        // A packet including its checksum sums to zero.
        assert_eq!(checksum(&p), 0);
        assert_eq!(p[0], ECHO_REQUEST_V4);
        assert_eq!(&p[4..8], &[0x12, 0x34, 0, 7]);
    }

    fn reply_of(request: &[u8], reply_type: u8) -> Vec<u8> {
        let mut r = request.to_vec();
        r[0] = reply_type;
        r
    }

    #[test]
    fn classify_matches_id_seq_token() {
        let token = *b"12345678";
        let req = echo_request(false, 9, 3, &token);
        let reply = reply_of(&req, ECHO_REPLY_V4);
        // Ping socket: no IP header, identifier not checked.
        assert_eq!(classify(&reply, false, false, 1, 3, &token), Reply::Echo);
        assert_eq!(classify(&reply, false, false, 9, 4, &token), Reply::Other);
        assert_eq!(
            classify(&reply, false, false, 9, 3, b"87654321"),
            Reply::Other
        );
        // Our own request (seen on a raw socket over loopback) is not a
        // reply.
        assert_eq!(classify(&req, false, false, 9, 3, &token), Reply::Other);
        // Raw socket: IP header first, identifier checked.
        let mut ip = vec![0x46u8; 24]; // IHL 6: a header with options
        ip.extend_from_slice(&reply);
        assert_eq!(classify(&ip, false, true, 9, 3, &token), Reply::Echo);
        assert_eq!(classify(&ip, false, true, 8, 3, &token), Reply::Other);
        // IPv6 raw: no IP header.
        let req6 = echo_request(true, 9, 3, &token);
        let reply6 = reply_of(&req6, ECHO_REPLY_V6);
        assert_eq!(classify(&reply6, true, true, 9, 3, &token), Reply::Echo);
        assert_eq!(classify(&req6, true, true, 9, 3, &token), Reply::Other);
    }

    #[test]
    fn classify_unreachable_quoting_our_request() {
        let token = *b"12345678";
        let req = echo_request(false, 9, 3, &token);
        let mut err = vec![0x45u8; 20]; // outer IP header
        err.extend_from_slice(&[UNREACHABLE_V4, 1, 0, 0, 0, 0, 0, 0]);
        err.extend_from_slice(&[0x45u8; 20]); // quoted IP header
        err.extend_from_slice(&req[..8]);
        assert_eq!(
            classify(&err, false, true, 9, 3, &token),
            Reply::Unreachable(1)
        );
        assert_eq!(classify(&err, false, true, 9, 2, &token), Reply::Other);
    }
}
