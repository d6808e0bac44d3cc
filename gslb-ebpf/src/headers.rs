//! Ethernet (+802.1Q/802.1ad), IPv4 and IPv6, UDP: parsing with bounds
//! checked direct packet access, and the in-place rewrite of the headers
//! into a reply.

use aya_ebpf::programs::XdpContext;
use gslb_common::Counter;

use crate::csum;

const ETH_HLEN: usize = 14;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88a8;
/// Most VLAN tags we skip (QinQ).
const MAX_VLAN_TAGS: usize = 2;
const IPPROTO_UDP: u8 = 17;
const IPV6_HLEN: usize = 40;
const UDP_HLEN: usize = 8;
/// IPv4 flags+fragment offset: MF bit and offset (RFC 791 §3.1).
const IP_MF_OFFSET: u16 = 0x3fff;
/// TTL / hop limit of our replies.
const REPLY_TTL: u8 = 64;

/// Where the layers of a UDP datagram to the DNS port start.
#[derive(Clone, Copy)]
pub struct Layers {
    /// Offset of the IP header.
    pub l3: usize,
    /// Offset of the UDP header.
    pub l4: usize,
    /// IPv6 (else IPv4).
    pub v6: bool,
    /// UDP length from the UDP header (header included), validated against
    /// the IP length and the frame.
    pub udp_len: usize,
}

/// Returns a pointer to `N` bytes at `off` if the packet holds them.
#[inline(always)]
pub fn bytes_at<const N: usize>(ctx: &XdpContext, off: usize) -> Option<*mut [u8; N]> {
    let start = ctx.data();
    let end = ctx.data_end();
    if start + off + N > end {
        return None;
    }
    Some((start + off) as *mut [u8; N])
}

#[inline(always)]
fn be16(b: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([b[i], b[i + 1]])
}

/// Parses up to the UDP header; `Err` carries the pass reason.
#[inline(always)]
pub fn parse(ctx: &XdpContext, dns_port: u16) -> Result<Layers, Counter> {
    let eth = bytes_at::<ETH_HLEN>(ctx, 0).ok_or(Counter::PassNotIp)?;
    // SAFETY: bounds checked by bytes_at.
    let mut proto = be16(unsafe { &*eth }, 12);
    let mut l3 = ETH_HLEN;
    for _ in 0..MAX_VLAN_TAGS {
        if proto != ETH_P_8021Q && proto != ETH_P_8021AD {
            break;
        }
        let tag = bytes_at::<4>(ctx, l3).ok_or(Counter::PassNotIp)?;
        proto = be16(unsafe { &*tag }, 2);
        l3 += 4;
    }
    let frame_len = ctx.data_end() - ctx.data();
    match proto {
        ETH_P_IP => parse_v4(ctx, l3, frame_len, dns_port),
        ETH_P_IPV6 => parse_v6(ctx, l3, frame_len, dns_port),
        _ => Err(Counter::PassNotIp),
    }
}

#[inline(always)]
fn parse_v4(ctx: &XdpContext, l3: usize, frame_len: usize, port: u16) -> Result<Layers, Counter> {
    let ip = unsafe { &*bytes_at::<20>(ctx, l3).ok_or(Counter::PassMalformed)? };
    if ip[0] >> 4 != 4 {
        return Err(Counter::PassMalformed);
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    if ihl < 20 {
        return Err(Counter::PassMalformed);
    }
    if be16(ip, 6) & IP_MF_OFFSET != 0 {
        return Err(Counter::PassFragment);
    }
    if ip[9] != IPPROTO_UDP {
        return Err(Counter::PassNotUdp);
    }
    let total = usize::from(be16(ip, 2));
    let l4 = l3 + ihl;
    let udp_len = udp_to_port(ctx, l4, port)?;
    if total < ihl + UDP_HLEN || l3 + total > frame_len || udp_len != total - ihl {
        return Err(Counter::PassMalformed);
    }
    Ok(Layers {
        l3,
        l4,
        v6: false,
        udp_len,
    })
}

#[inline(always)]
fn parse_v6(ctx: &XdpContext, l3: usize, frame_len: usize, port: u16) -> Result<Layers, Counter> {
    let ip = unsafe { &*bytes_at::<IPV6_HLEN>(ctx, l3).ok_or(Counter::PassMalformed)? };
    if ip[0] >> 4 != 6 {
        return Err(Counter::PassMalformed);
    }
    // Extension headers (next header other than UDP) are left to the stack.
    if ip[6] != IPPROTO_UDP {
        return Err(Counter::PassNotUdp);
    }
    let payload = usize::from(be16(ip, 4));
    let l4 = l3 + IPV6_HLEN;
    let udp_len = udp_to_port(ctx, l4, port)?;
    if l4 + payload > frame_len || udp_len != payload {
        return Err(Counter::PassMalformed);
    }
    Ok(Layers {
        l3,
        l4,
        v6: true,
        udp_len,
    })
}

/// Checks the UDP destination port, counts a DNS query, returns the UDP
/// length.
#[inline(always)]
fn udp_to_port(ctx: &XdpContext, l4: usize, port: u16) -> Result<usize, Counter> {
    let udp = unsafe { &*bytes_at::<UDP_HLEN>(ctx, l4).ok_or(Counter::PassMalformed)? };
    if be16(udp, 2) != port {
        return Err(Counter::PassNotDnsPort);
    }
    crate::maps::count(Counter::DnsQueries);
    let len = usize::from(be16(udp, 4));
    if len < UDP_HLEN {
        return Err(Counter::PassMalformed);
    }
    Ok(len)
}

/// Swaps addresses and ports, sets lengths, TTL and checksums for a reply
/// whose DNS payload (`dns_len` bytes, summed into `payload_sum`) is
/// already in place. Returns false if the packet is shorter than the
/// layers (cannot happen after a successful parse; checked for the
/// verifier).
#[inline(always)]
pub fn rewrite(ctx: &XdpContext, l: &Layers, dns_len: usize, payload_sum: u64) -> bool {
    let Some(eth) = bytes_at::<12>(ctx, 0) else {
        return false;
    };
    // SAFETY: bounds checked by bytes_at; no other reference is live.
    let eth = unsafe { &mut *eth };
    for i in 0..6 {
        eth.swap(i, i + 6);
    }
    let udp_len = (UDP_HLEN + dns_len) as u16;
    // Pseudo-header sum (RFC 768; RFC 8200 §8.1) in memory order.
    let mut sum: u64 = payload_sum;
    if l.v6 {
        let Some(ip) = bytes_at::<IPV6_HLEN>(ctx, l.l3) else {
            return false;
        };
        let ip = unsafe { &mut *ip };
        for i in 0..16 {
            ip.swap(8 + i, 24 + i);
        }
        ip[4..6].copy_from_slice(&udp_len.to_be_bytes());
        ip[7] = REPLY_TTL;
        for i in 0..8 {
            sum += u64::from(u32::from_ne_bytes([
                ip[8 + 4 * i],
                ip[9 + 4 * i],
                ip[10 + 4 * i],
                ip[11 + 4 * i],
            ]));
        }
    } else {
        let Some(ip) = bytes_at::<20>(ctx, l.l3) else {
            return false;
        };
        let ip = unsafe { &mut *ip };
        for i in 0..4 {
            ip.swap(12 + i, 16 + i);
        }
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let old_total = u16::from_ne_bytes([ip[2], ip[3]]);
        let new_total = ((ihl + usize::from(udp_len)) as u16).to_be();
        let old_ttl = u16::from_ne_bytes([ip[8], ip[9]]);
        ip[8] = REPLY_TTL;
        let new_ttl = u16::from_ne_bytes([ip[8], ip[9]]);
        let mut check = u16::from_ne_bytes([ip[10], ip[11]]);
        check = csum::update16(check, old_total, new_total);
        check = csum::update16(check, old_ttl, new_ttl);
        ip[2..4].copy_from_slice(&new_total.to_ne_bytes());
        ip[10..12].copy_from_slice(&check.to_ne_bytes());
        for i in 0..2 {
            sum += u64::from(u32::from_ne_bytes([
                ip[12 + 4 * i],
                ip[13 + 4 * i],
                ip[14 + 4 * i],
                ip[15 + 4 * i],
            ]));
        }
    }
    sum += u64::from(u16::from_ne_bytes(udp_len.to_be_bytes()));
    sum += u64::from(u16::from_ne_bytes([0, IPPROTO_UDP]));
    let Some(udp) = bytes_at::<UDP_HLEN>(ctx, l.l4) else {
        return false;
    };
    let udp = unsafe { &mut *udp };
    for i in 0..2 {
        udp.swap(i, i + 2);
    }
    udp[4..6].copy_from_slice(&udp_len.to_be_bytes());
    // UDP header words: ports and length (checksum field counts as zero).
    sum += u64::from(u32::from_ne_bytes([udp[0], udp[1], udp[2], udp[3]]));
    sum += u64::from(u16::from_ne_bytes([udp[4], udp[5]]));
    let mut check = !csum::fold(sum);
    if check == 0 {
        // RFC 768: a computed zero is sent as all ones.
        check = 0xffff;
    }
    udp[6..8].copy_from_slice(&check.to_ne_bytes());
    true
}
