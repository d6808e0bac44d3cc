//! gslb XDP program: answers A and AAAA queries for gslb names straight from
//! BPF maps (XDP_TX) and passes everything else, unmodified, to the stack
//! where the daemon's slow path answers it.
//!
//! Split by concern as in katran's `lib/bpf/`: [`headers`] (L2-L4),
//! [`dns`] (query parsing, response building), [`copy`] (the DNS message
//! between packet and scratch), [`names`] (the QNAME's entry in the name
//! maps), [`answer`] (what the name answers), [`send`] (the frame resized,
//! the reply written, its headers and checksums), [`csum`] (checksums),
//! [`maps`] (map definitions and counters), this file (the entry point and
//! the verdict).
//!
//! Every function on the path is `#[inline(always)]`: the program is one
//! BPF function with no BPF-to-BPF calls (see [`gslb`]).
#![no_std]
#![no_main]

mod answer;
mod bounce;
mod copy;
mod csum;
mod dns;
mod headers;
mod maps;
mod names;
mod send;

use aya_ebpf::{
    bindings::xdp_action::{XDP_DROP, XDP_PASS, XDP_TX},
    macros::xdp,
    programs::XdpContext,
};
use gslb_common::{
    dns::HEADER_LEN,
    maps::{CONFIG_ENABLED, CONFIG_NSID, NAME_CHILD_NX},
    Counter,
};

use crate::maps::{count, CONFIG, MAX_QUERY, SCRATCH};

/// Entry point: every outcome is counted; anything not answered is passed.
/// Inlined into the section's entry function that `#[xdp]` wraps around
/// it: as a BPF-to-BPF call it cost a call, a return (through the return
/// thunk on CPUs with return-stack mitigations) and a spill of the
/// callee-saved registers per packet, about 20 ns (5%) of a warm run.
#[xdp]
#[inline(always)]
pub fn gslb(ctx: XdpContext) -> u32 {
    count(Counter::Packets);
    match try_gslb(&ctx) {
        Ok(()) => {
            count(Counter::Answered);
            XDP_TX
        }
        Err(Counter::Dropped) => {
            count(Counter::Dropped);
            XDP_DROP
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
    if dns_len < HEADER_LEN + 5 {
        return Err(Counter::PassMalformed);
    }
    let s = SCRATCH.get_ptr_mut(0).ok_or(Counter::PassInternal)?;
    // SAFETY: per-CPU scratch, used by this invocation only.
    let s = unsafe { &mut *s };
    if !copy::read_query(ctx, s, dns_off, dns_len) {
        return Err(Counter::PassMalformed);
    }
    let mut q = dns::parse(s, dns_len, |s, name_len| {
        names::prefetch_slot(s, cfg, name_len)
    })?;
    // RFC 5001: the slow path answers with the configured NSID.
    if q.nsid && cfg.flags & CONFIG_NSID != 0 {
        return Err(Counter::PassNsid);
    }
    // An EDNS Client Subnet option from a resolver not trusted with it is
    // ignored: not used, not echoed.
    if q.ecs_family != 0 && !answer::ecs_trusted(ctx, &l, s, cfg) {
        q.ecs_family = 0;
    }
    // Laundered (see `Scratch::opaque`): each way here leaves other exact
    // values, and the verifier would check the rest once per way.
    let ecs = s.opaque(usize::from(q.ecs_family) | usize::from(q.ecs_source) << 8);
    q.ecs_family = ecs as u8;
    q.ecs_source = (ecs >> 8) as u8;
    let Some(entry) = names::find_name(s, cfg, q.name_len, q.home)? else {
        // RFC 8020: the parent exists and lists every child that does.
        let parent = names::lookup_parent(s, cfg, &q)?.ok_or(Counter::PassNameNotFound)?;
        if parent.flags & NAME_CHILD_NX == 0 {
            return Err(Counter::PassNameNotFound);
        }
        return answer::nxdomain(ctx, s, &l, dns_off, &q, parent.zone, cfg.edns_udp_size);
    };
    answer::for_name(ctx, s, &l, dns_off, &q, &entry, cfg)
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
