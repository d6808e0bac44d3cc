//! Ethernet (+802.1Q/802.1ad), IPv4 and IPv6, UDP: parsing with bounds
//! checked direct packet access, and the in-place rewrite of the headers
//! into a reply.

use aya_ebpf::programs::XdpContext;
use gslb_common::{maps::MAX_LOCAL_ADDRS, Counter};

use crate::{csum, maps::LOCAL_ADDRS};

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
    // SAFETY: bytes 16..20 of the 20 bounds-checked ones.
    if !local_v4(unsafe { rd(ip.as_ptr(), 16) }) {
        return Err(Counter::PassNotLocal);
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
    // SAFETY: bytes 24..40 of the 40 bounds-checked ones.
    let dst: [u64; 2] = unsafe { [rd(ip.as_ptr(), 24), rd(ip.as_ptr(), 32)] };
    if !local_v6(dst) {
        return Err(Counter::PassNotLocal);
    }
    Ok(Layers {
        l3,
        l4,
        v6: true,
        udp_len,
    })
}

/// Whether the program answers for the IPv4 destination `dst` (as it
/// lies in the packet): a listen address, or any with `any_v4`.
#[inline(always)]
fn local_v4(dst: u32) -> bool {
    let Some(loc) = LOCAL_ADDRS.get(0) else {
        return false;
    };
    if loc.any_v4 != 0 {
        return true;
    }
    let n = usize::from(loc.n_v4);
    for i in 0..MAX_LOCAL_ADDRS {
        if i >= n {
            break;
        }
        if u32::from_ne_bytes(loc.v4[i]) == dst {
            return true;
        }
    }
    false
}

/// Whether the program answers for the IPv6 destination `dst` (its two
/// halves as they lie in the packet).
#[inline(always)]
fn local_v6(dst: [u64; 2]) -> bool {
    let Some(loc) = LOCAL_ADDRS.get(0) else {
        return false;
    };
    if loc.any_v6 != 0 {
        return true;
    }
    let n = usize::from(loc.n_v6);
    for i in 0..MAX_LOCAL_ADDRS {
        if i >= n {
            break;
        }
        let a = loc.v6[i].as_ptr();
        // SAFETY: 16 bytes of a map value; `v6` is at offset 0 of the
        // 8-byte aligned value, each address 16 bytes.
        let (lo, hi) = unsafe { (rd::<u64>(a, 0), rd::<u64>(a, 8)) };
        if lo == dst[0] && hi == dst[1] {
            return true;
        }
    }
    false
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

/// Reads a `T` at byte offset `off` of `p` (packets are only 2-byte
/// aligned; see `.cargo/config.toml` for why this is one load).
#[inline(always)]
unsafe fn rd<T>(p: *const u8, off: usize) -> T {
    unsafe { p.add(off).cast::<T>().read_unaligned() }
}

/// Writes a `T` at byte offset `off` of `p`.
#[inline(always)]
unsafe fn wr<T>(p: *mut u8, off: usize, v: T) {
    unsafe { p.add(off).cast::<T>().write_unaligned(v) }
}

/// Swaps addresses and ports, sets lengths, TTL and checksums for a reply
/// whose DNS payload (`dns_len` bytes, summed into `payload_sum`) is
/// already in place. Returns false if the packet is shorter than the
/// layers (cannot happen after a successful parse; checked for the
/// verifier). Fields move as whole words, in memory order.
#[inline(always)]
pub fn rewrite(ctx: &XdpContext, l: &Layers, dns_len: usize, payload_sum: u64) -> bool {
    let Some(eth) = bytes_at::<12>(ctx, 0) else {
        return false;
    };
    let e = eth.cast::<u8>();
    // SAFETY (all accesses below): within the bytes bounds checked by
    // `bytes_at`; no reference to the packet is live.
    unsafe {
        let (d0, d1): (u32, u16) = (rd(e, 0), rd(e, 4));
        let (s0, s1): (u32, u16) = (rd(e, 6), rd(e, 10));
        wr(e, 0, s0);
        wr(e, 4, s1);
        wr(e, 6, d0);
        wr(e, 10, d1);
    }
    let udp_len = (UDP_HLEN + dns_len) as u16;
    // Pseudo-header sum (RFC 768; RFC 8200 §8.1) in memory order.
    let mut sum: u64 = payload_sum;
    if l.v6 {
        let Some(ip) = bytes_at::<IPV6_HLEN>(ctx, l.l3) else {
            return false;
        };
        let ip = ip.cast::<u8>();
        unsafe {
            let a: [u64; 4] = [rd(ip, 8), rd(ip, 16), rd(ip, 24), rd(ip, 32)];
            wr(ip, 8, a[2]);
            wr(ip, 16, a[3]);
            wr(ip, 24, a[0]);
            wr(ip, 32, a[1]);
            wr(ip, 4, udp_len.to_be());
            *ip.add(7) = REPLY_TTL;
            for w in a {
                sum += csum::word(w);
            }
        }
    } else {
        let Some(ip) = bytes_at::<20>(ctx, l.l3) else {
            return false;
        };
        let ip = ip.cast::<u8>();
        unsafe {
            let ihl = usize::from(*ip & 0x0f) * 4;
            let (src, dst): (u32, u32) = (rd(ip, 12), rd(ip, 16));
            wr(ip, 12, dst);
            wr(ip, 16, src);
            let old_total: u16 = rd(ip, 2);
            let new_total = ((ihl + usize::from(udp_len)) as u16).to_be();
            let old_ttl: u16 = rd(ip, 8);
            // TTL is the first byte of its 16-bit word (TTL, protocol).
            let new_ttl = u16::from_ne_bytes([REPLY_TTL, IPPROTO_UDP]);
            let mut check: u16 = rd(ip, 10);
            check = csum::update16(check, old_total, new_total);
            check = csum::update16(check, old_ttl, new_ttl);
            wr(ip, 2, new_total);
            wr(ip, 8, new_ttl);
            wr(ip, 10, check);
            sum += u64::from(src) + u64::from(dst);
        }
    }
    sum += csum::be(udp_len) + csum::be(u16::from(IPPROTO_UDP));
    let Some(udp) = bytes_at::<UDP_HLEN>(ctx, l.l4) else {
        return false;
    };
    let u = udp.cast::<u8>();
    unsafe {
        let ports: u32 = rd(u, 0);
        let ports = ports.rotate_left(16);
        wr(u, 0, ports);
        wr(u, 4, udp_len.to_be());
        // UDP header words: ports and length (checksum field counts as zero).
        sum += u64::from(ports) + csum::be(udp_len);
        let mut check = !csum::fold(sum);
        if check == 0 {
            // RFC 768: a computed zero is sent as all ones.
            check = 0xffff;
        }
        wr(u, 6, check);
    }
    true
}
