//! gslb XDP program: answers A and AAAA queries for gslb names straight from
//! BPF maps (XDP_TX) and passes everything else, unmodified, to the stack
//! where the daemon's slow path answers it.
//!
//! Split by concern as in katran's `lib/bpf/`: [`headers`] (L2-L4),
//! [`dns`] (query parsing, response building), [`csum`] (checksums),
//! [`maps`] (map definitions and counters), this file (the decision).
#![no_std]
#![no_main]

mod csum;
mod dns;
mod headers;
mod maps;

use aya_ebpf::{
    bindings::xdp_action::{XDP_PASS, XDP_TX},
    helpers::generated::{bpf_csum_diff, bpf_xdp_adjust_tail, bpf_xdp_load_bytes, bpf_xdp_store_bytes},
    macros::xdp,
    programs::XdpContext,
};
use gslb_common::{
    dns::TYPE_A,
    maps::{name_class, AnswerKey, NameEntry, CONFIG_CLIENT_GROUPS, CONFIG_ENABLED, MAX_ADDRS, NO_ANSWER},
    Counter,
};

use crate::{
    dns::Query,
    headers::Layers,
    maps::{
        count, Scratch, ANSWERS_V4, ANSWERS_V6, CLIENT_GROUPS, CONFIG, MAX_QUERY, NAMES_128,
        NAMES_256, NAMES_32, NAMES_64, SCRATCH,
    },
};

/// Entry point: every outcome is counted; anything not answered is passed.
#[xdp]
pub fn gslb(ctx: XdpContext) -> u32 {
    count(Counter::Packets);
    match try_gslb(&ctx) {
        Ok(()) => {
            count(Counter::Answered);
            XDP_TX
        }
        Err(reason) => {
            count(reason);
            XDP_PASS
        }
    }
}

/// Pass-through program for the far end of a veth pair: XDP_TX frames are
/// only delivered to a veth peer that runs an XDP program (NAPI on).
#[xdp]
pub fn gslb_pass(_ctx: XdpContext) -> u32 {
    XDP_PASS
}

/// Answers the query in place, or says why not. Nothing in the packet is
/// modified before every check has passed.
#[inline(always)]
fn try_gslb(ctx: &XdpContext) -> Result<(), Counter> {
    let cfg = CONFIG.get(0).ok_or(Counter::PassDisabled)?;
    if cfg.flags & CONFIG_ENABLED == 0 {
        return Err(Counter::PassDisabled);
    }
    let l = headers::parse(ctx, cfg.dns_port)?;
    let dns_off = l.l4 + 8;
    let dns_len = l.udp_len - 8;
    if dns_len > MAX_QUERY {
        return Err(Counter::PassTooBig);
    }
    if dns_len < gslb_common::dns::HEADER_LEN + 5 {
        return Err(Counter::PassMalformed);
    }
    let s = SCRATCH.get_ptr_mut(0).ok_or(Counter::PassInternal)?;
    // SAFETY: per-CPU scratch, used by this invocation only.
    let s = unsafe { &mut *s };
    let r = unsafe {
        bpf_xdp_load_bytes(ctx.ctx, dns_off as u32, s.msg.as_mut_ptr().cast(), dns_len as u32)
    };
    if r != 0 {
        return Err(Counter::PassMalformed);
    }
    let q = dns::parse(s, dns_len)?;
    let entry = lookup_name(s, q.name_len).ok_or(Counter::PassNameNotFound)?;
    let group = if cfg.flags & CONFIG_CLIENT_GROUPS != 0 {
        client_group(ctx, &l)
    } else {
        0
    };
    let resp_len = if q.qtype == TYPE_A {
        let set = answer_set(entry.a)?;
        let a = lookup(&ANSWERS_V4, set, group).ok_or(Counter::PassNoAnswer)?;
        let n = answer_count(a.count, a.max);
        respond(s, &q, a.ttl, &a.addrs, n, cfg.edns_udp_size)?
    } else {
        let set = answer_set(entry.aaaa)?;
        let a = lookup(&ANSWERS_V6, set, group).ok_or(Counter::PassNoAnswer)?;
        let n = answer_count(a.count, a.max);
        respond(s, &q, a.ttl, &a.addrs, n, cfg.edns_udp_size)?
    };
    send(ctx, s, &l, dns_off, dns_len, resp_len)
}

#[inline(always)]
fn answer_set(id: u32) -> Result<u32, Counter> {
    if id == NO_ANSWER {
        Err(Counter::PassNoAnswer)
    } else {
        Ok(id)
    }
}

/// Looks an answer set up for the client's group, falling back to the
/// default group 0.
#[inline(always)]
fn lookup<V>(map: &aya_ebpf::maps::HashMap<AnswerKey, V>, set: u32, group: u32) -> Option<&V> {
    // SAFETY: values are replaced whole by user space (hash map RCU update);
    // we only read.
    unsafe {
        if group != 0 {
            if let Some(v) = map.get(AnswerKey { set, group }) {
                return Some(v);
            }
        }
        map.get(AnswerKey { set, group: 0 })
    }
}

#[inline(always)]
fn answer_count(count: u8, max: u8) -> usize {
    let mut n = usize::from(count);
    if max != 0 && usize::from(max) < n {
        n = usize::from(max);
    }
    n.min(MAX_ADDRS)
}

/// Finds the name in the map of its size class. The key is the whole
/// zero-padded class-sized prefix of `s.key`.
#[inline(always)]
fn lookup_name(s: &Scratch, name_len: usize) -> Option<NameEntry> {
    let k = s.key.as_ptr();
    // SAFETY: `key` is 256 bytes, every class is at most 256 bytes.
    unsafe {
        match name_class(name_len)? {
            0 => NAMES_32.get(&*k.cast::<[u8; 32]>()).copied(),
            1 => NAMES_64.get(&*k.cast::<[u8; 64]>()).copied(),
            2 => NAMES_128.get(&*k.cast::<[u8; 128]>()).copied(),
            _ => NAMES_256.get(&*k.cast::<[u8; 256]>()).copied(),
        }
    }
}

/// Client group of the source address (ECS comes in a later version).
#[inline(always)]
fn client_group(ctx: &XdpContext, l: &Layers) -> u32 {
    let mut addr = [0u8; 16];
    if l.v6 {
        let Some(ip) = headers::bytes_at::<40>(ctx, l.l3) else {
            return 0;
        };
        addr.copy_from_slice(unsafe { &(&*ip)[8..24] });
    } else {
        let Some(ip) = headers::bytes_at::<20>(ctx, l.l3) else {
            return 0;
        };
        addr[10] = 0xff;
        addr[11] = 0xff;
        addr[12..16].copy_from_slice(unsafe { &(&*ip)[12..16] });
    }
    let key = aya_ebpf::maps::lpm_trie::Key::new(128, addr);
    CLIENT_GROUPS.get(&key).copied().unwrap_or(0)
}

/// Builds the response in the scratch buffer if it fits the client's limit.
#[inline(always)]
fn respond<const N: usize>(
    s: &mut Scratch,
    q: &Query,
    ttl: u32,
    addrs: &[[u8; N]; MAX_ADDRS],
    n: usize,
    edns_udp_size: u16,
) -> Result<usize, Counter> {
    if n == 0 {
        return Err(Counter::PassNoAnswer);
    }
    if dns::response_len(q, n, N) > q.udp_limit {
        return Err(Counter::PassTooBig);
    }
    let len = dns::build(s, q, ttl, addrs, n, edns_udp_size);
    Ok(s.opaque(len))
}

/// Resizes the packet, copies the response in, rewrites the headers. On a
/// helper failure the packet is restored to its original length and passed
/// (its content below the DNS payload is untouched until the store).
#[inline(always)]
fn send(
    ctx: &XdpContext,
    s: &mut Scratch,
    l: &Layers,
    dns_off: usize,
    dns_len: usize,
    resp_len: usize,
) -> Result<(), Counter> {
    // The response never exceeds 506 bytes; the bound also lets the verifier
    // prove the helper arguments.
    if resp_len == 0 || resp_len > 508 {
        return Err(Counter::PassTooBig);
    }
    // Zero padding so the checksum can read whole 32-bit words.
    for i in 0..3 {
        s.msg[(resp_len + i) & maps::MASK] = 0;
    }
    let csum_len = ((resp_len + 3) & !3) & 0x1fc;
    let payload_sum = unsafe {
        bpf_csum_diff(
            core::ptr::null_mut(),
            0,
            s.msg.as_mut_ptr().cast(),
            csum_len as u32,
            0,
        )
    };
    if payload_sum < 0 {
        return Err(Counter::PassInternal);
    }
    let frame_len = (ctx.data_end() - ctx.data()) as i32;
    let delta = (dns_off + resp_len) as i32 - frame_len;
    if unsafe { bpf_xdp_adjust_tail(ctx.ctx, delta) } != 0 {
        return Err(Counter::PassInternal);
    }
    let stored = unsafe {
        bpf_xdp_store_bytes(ctx.ctx, dns_off as u32, s.msg.as_mut_ptr().cast(), (resp_len & 0x1ff) as u32)
    };
    if stored != 0 || !headers::rewrite(ctx, l, resp_len, payload_sum as u64) {
        // Cannot happen after the checks above; restore what we can.
        let _ = dns_len;
        unsafe { bpf_xdp_adjust_tail(ctx.ctx, -delta) };
        return Err(Counter::PassInternal);
    }
    Ok(())
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
