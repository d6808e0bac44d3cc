//! The bench's ceiling: a bare program that turns every UDP query to port
//! 53 (Ethernet, IPv4 without options or IPv6 without extension headers)
//! into its own reply in place (MACs, addresses and ports swapped, QR
//! set) and sends it back with `XDP_TX`. No maps, no parsing of the DNS
//! message: what gslb's program costs on top of this is its own work, and
//! the rate this one reaches under a generator is that generator's and
//! the link's ceiling.

use aya_ebpf::{
    bindings::xdp_action::{XDP_PASS, XDP_TX},
    macros::xdp,
    programs::XdpContext,
};

use crate::headers::bytes_at;

const ETH_HLEN: usize = 14;
const IPPROTO_UDP: u8 = 17;
const DNS_PORT: u16 = 53;

/// Bounces UDP queries to port 53, passes everything else.
#[xdp]
pub fn gslb_bounce(ctx: XdpContext) -> u32 {
    match bounce(&ctx) {
        Some(()) => XDP_TX,
        None => XDP_PASS,
    }
}

#[inline(always)]
fn bounce(ctx: &XdpContext) -> Option<()> {
    let eth = bytes_at::<ETH_HLEN>(ctx, 0)?;
    // SAFETY: every pointer below comes from bytes_at, which checked the
    // packet holds its bytes; nothing else refers to the packet meanwhile.
    let eth = unsafe { &mut *eth };
    let (l4, v6) = match u16::from_be_bytes([eth[12], eth[13]]) {
        0x0800 => {
            let ip = unsafe { &mut *bytes_at::<20>(ctx, ETH_HLEN)? };
            if ip[0] != 0x45 || ip[9] != IPPROTO_UDP {
                return None;
            }
            (ETH_HLEN + 20, false)
        }
        0x86dd => {
            let ip = unsafe { &mut *bytes_at::<40>(ctx, ETH_HLEN)? };
            if ip[6] != IPPROTO_UDP {
                return None;
            }
            (ETH_HLEN + 40, true)
        }
        _ => return None,
    };
    // UDP header and the DNS header's first 4 bytes (id, flags).
    let udp = unsafe { &mut *bytes_at::<12>(ctx, l4)? };
    if u16::from_be_bytes([udp[2], udp[3]]) != DNS_PORT || udp[10] & 0x80 != 0 {
        return None;
    }
    swap(eth, 0, 6, 6);
    if v6 {
        let ip = unsafe { &mut *bytes_at::<40>(ctx, ETH_HLEN)? };
        swap(ip, 8, 24, 16);
    } else {
        let ip = unsafe { &mut *bytes_at::<20>(ctx, ETH_HLEN)? };
        swap(ip, 12, 16, 4);
    }
    swap(udp, 0, 2, 2);
    // QR: the flags word grows by 0x8000. Over IPv4 the UDP checksum is
    // dropped (0: none), as a socket sender's may be only the partial sum
    // of checksum offload; over IPv6 (where it is mandatory; kxdpgun
    // writes it in full) it follows the change (RFC 1624 eqn. 3).
    // Swapping addresses and ports leaves it as it was.
    let old = u16::from_be_bytes([udp[10], udp[11]]);
    let new = old | 0x8000;
    udp[10] |= 0x80;
    let csum = u16::from_be_bytes([udp[6], udp[7]]);
    if !v6 {
        udp[6] = 0;
        udp[7] = 0;
    } else if csum != 0 {
        let mut sum = u32::from(!csum) + u32::from(!old) + u32::from(new);
        sum = (sum & 0xffff) + (sum >> 16);
        sum = (sum & 0xffff) + (sum >> 16);
        let c = !(sum as u16);
        let c = if c == 0 { 0xffff } else { c };
        udp[6..8].copy_from_slice(&c.to_be_bytes());
    }
    Some(())
}

/// Swaps `len` bytes at `a` with those at `b` (non-overlapping).
#[inline(always)]
fn swap<const N: usize>(buf: &mut [u8; N], a: usize, b: usize, len: usize) {
    for i in 0..len {
        buf.swap(a + i, b + i);
    }
}
