//! gslb XDP program: answers A and AAAA queries for gslb names straight from
//! BPF maps (XDP_TX) and passes everything else, unmodified, to the stack
//! where the daemon's slow path answers it.
//!
//! Split by concern as in katran's `lib/bpf/`: [`headers`] (L2-L4),
//! [`dns`] (query parsing, response building), [`copy`] (the DNS message
//! between packet and scratch), [`csum`] (checksums), [`maps`] (map
//! definitions and counters), this file (the decision).
#![no_std]
#![no_main]

mod copy;
mod csum;
mod dns;
mod headers;
mod maps;

use aya_ebpf::{
    bindings::xdp_action::XDP_DROP,
    bindings::xdp_action::{XDP_PASS, XDP_TX},
    helpers::generated::{
        bpf_get_prandom_u32, bpf_xdp_adjust_head, bpf_xdp_adjust_tail, bpf_xdp_load_bytes,
        bpf_xdp_store_bytes,
    },
    macros::xdp,
    programs::XdpContext,
};
use gslb_common::{
    dns::{HEADER_LEN, RCODE_NXDOMAIN, TYPE_A, TYPE_AAAA},
    maps::{
        name_class, slot_fits, slot_hash, AnswerKey, Canned, Config, NameEntry, StaticKey,
        CONFIG_CLIENT_GROUPS, CONFIG_ENABLED, CONFIG_SLOT_OVERFLOW, MAX_ADDRS, NAME_CHILD_NX,
        NAME_INLINE_A, NAME_INLINE_AAAA, NAME_NEG_TTL, NAME_NODATA, NAME_STATIC, NO_ANSWER,
        SLOT_PROBES, SLOT_TOMBSTONE,
    },
    select::{self, Pick, Selection, MODE_DROP, MODE_ORDERED, MODE_SLOW_PATH, MODE_STATIC_PERSIST},
    Counter,
};

use crate::{
    dns::Query,
    headers::Layers,
    maps::{
        count, Scratch, ANSWERS_V4, ANSWERS_V6, CLIENT_GROUPS, CONFIG, MAX_QUERY, NAMES_128,
        NAMES_256, NAMES_32, NAMES_64, NAME_SLOTS, SCRATCH, SERVER_HITS, STATIC, ZONES,
    },
};

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
    let q = dns::parse(s, dns_len, |s, name_len| prefetch_slot(s, cfg, name_len))?;
    let Some(entry) = find_name(s, cfg, q.name_len, q.home)? else {
        // RFC 8020: the parent exists and lists every child that does.
        let parent = lookup_parent(s, cfg, &q)?.ok_or(Counter::PassNameNotFound)?;
        if parent.flags & NAME_CHILD_NX == 0 {
            return Err(Counter::PassNameNotFound);
        }
        let z = ZONES
            .get(u32::from(parent.zone))
            .ok_or(Counter::PassNoAnswer)?;
        return send_canned(
            ctx,
            s,
            &l,
            dns_off,
            &q,
            RCODE_NXDOMAIN,
            z,
            NO_TTL_CAP,
            cfg.edns_udp_size,
            Counter::AnsweredNxdomain,
        );
    };
    let group = if cfg.flags & CONFIG_CLIENT_GROUPS != 0 {
        client_group(ctx, &l)
    } else {
        0
    };
    let (resp_len, sum) = if q.qtype == TYPE_A && entry.flags & NAME_INLINE_A != 0 {
        // A fixed, ordered set stored in the name entry itself.
        let mut sel = Selection {
            ttl: entry.inline_ttl,
            mode: MODE_ORDERED,
            count: entry.inline_count(),
            max: entry.inline_max(),
            ..Selection::default()
        };
        let addrs = if entry.flags & NAME_INLINE_AAAA != 0 {
            entry.pair_a()
        } else {
            &entry.inline_a
        };
        respond(ctx, &l, s, &q, &mut sel, addrs, cfg.edns_udp_size, false)?
    } else if q.qtype == TYPE_A && entry.a != NO_ANSWER {
        let a = lookup(&ANSWERS_V4, entry.a, group).ok_or(Counter::PassNoAnswer)?;
        // SAFETY: a valid map value; only our own fields are touched.
        let (sel, addrs) = unsafe { (&mut (*a).sel, &(*a).addrs) };
        respond(ctx, &l, s, &q, sel, addrs, cfg.edns_udp_size, true)?
    } else if q.qtype == TYPE_AAAA && entry.flags & NAME_INLINE_AAAA != 0 {
        let mut sel = Selection {
            ttl: entry.inline_ttl,
            mode: MODE_ORDERED,
            count: 1,
            ..Selection::default()
        };
        respond(
            ctx,
            &l,
            s,
            &q,
            &mut sel,
            entry.inline_aaaa(),
            cfg.edns_udp_size,
            false,
        )?
    } else if q.qtype == TYPE_AAAA && entry.aaaa != NO_ANSWER {
        let a = lookup(&ANSWERS_V6, entry.aaaa, group).ok_or(Counter::PassNoAnswer)?;
        let (sel, addrs) = unsafe { (&mut (*a).sel, &(*a).addrs) };
        respond(ctx, &l, s, &q, sel, addrs, cfg.edns_udp_size, true)?
    } else {
        return static_or_nodata(ctx, s, &l, dns_off, &q, &entry, cfg.edns_udp_size);
    };
    send(ctx, s, &l, dns_off, q.q_end, resp_len, sum)
}

/// Answers a question no gslb set answers: from the name's static RRsets,
/// else NODATA when the name has no other data, else passes.
#[inline(always)]
fn static_or_nodata(
    ctx: &XdpContext,
    s: &mut Scratch,
    l: &Layers,
    dns_off: usize,
    q: &Query,
    entry: &NameEntry,
    edns_udp_size: u16,
) -> Result<(), Counter> {
    if entry.flags & NAME_STATIC != 0 {
        let key = StaticKey {
            id: entry.static_id(),
            qtype: q.qtype,
            _pad: 0,
        };
        // SAFETY: a map value, only read.
        if let Some(c) = unsafe { STATIC.get(key) } {
            let kind = Counter::AnsweredStatic;
            return send_canned(ctx, s, l, dns_off, q, 0, c, NO_TTL_CAP, edns_udp_size, kind);
        }
    }
    if entry.flags & NAME_NODATA != 0 {
        let z = ZONES
            .get(u32::from(entry.zone))
            .ok_or(Counter::PassNoAnswer)?;
        let kind = Counter::AnsweredNodata;
        let cap = if entry.flags & NAME_NEG_TTL != 0 {
            entry.inline_ttl
        } else {
            NO_TTL_CAP
        };
        // One state for both: the rest is checked once.
        let cap = s.opaque(cap as usize) as u32;
        return send_canned(ctx, s, l, dns_off, q, 0, z, cap, edns_udp_size, kind);
    }
    Err(if q.qtype == TYPE_A || q.qtype == TYPE_AAAA {
        Counter::PassNoAnswer
    } else {
        Counter::PassType
    })
}

/// `ttl_cap` of [`send_canned`] that leaves the canned TTL as it is.
const NO_TTL_CAP: u32 = u32::MAX;

/// Sends the answer with canned sections `c` (a negative answer from
/// [`ZONES`], a static one from [`STATIC`]), the first record's TTL at
/// most `ttl_cap`, and counts it in `kind`.
#[inline(always)]
#[allow(clippy::too_many_arguments, reason = "one call site per answer kind")]
fn send_canned(
    ctx: &XdpContext,
    s: &mut Scratch,
    l: &Layers,
    dns_off: usize,
    q: &Query,
    rcode: u16,
    c: &Canned,
    ttl_cap: u32,
    edns_udp_size: u16,
    kind: Counter,
) -> Result<(), Counter> {
    if dns::canned_len(q, c) > q.udp_limit {
        return Err(Counter::PassTooBig);
    }
    let (len, sum) =
        dns::build_canned(s, q, rcode, c, ttl_cap, edns_udp_size).ok_or(Counter::PassNoAnswer)?;
    // `send` rejects a length over 508.
    let len = s.opaque(len);
    send(ctx, s, l, dns_off, q.q_end, len, sum)?;
    count(kind);
    Ok(())
}

/// Looks up the QNAME without its first label (the root has no parent),
/// its key built from the query in `s.msg`.
#[inline(always)]
fn lookup_parent(s: &mut Scratch, cfg: &Config, q: &Query) -> Result<Option<NameEntry>, Counter> {
    let skip = q.first_label + 1;
    if q.first_label == 0 || skip >= q.name_len {
        return Ok(None);
    }
    let len = s.opaque(q.name_len - skip);
    if len == 0 || len > 255 {
        return Ok(None);
    }
    dns::build_key(s, skip, len);
    find_name(s, cfg, len, slot_home(s))
}

/// The first four words of the key in `s.key`: a `NAME_SLOTS` key.
#[inline(always)]
fn key_words(s: &Scratch) -> [u64; 4] {
    let k = s.key.as_ptr().cast::<u64>();
    // SAFETY: `key` is 256 bytes at offset 0 of the (8-byte aligned) value.
    unsafe { [k.read(), k.add(1).read(), k.add(2).read(), k.add(3).read()] }
}

/// Home slot of the key in `s.key` in `NAME_SLOTS` (unmasked).
#[inline(always)]
fn slot_home(s: &Scratch) -> u32 {
    slot_hash(key_words(s)) as u32
}

/// Returns the home slot of a QNAME that fits `NAME_SLOTS`, and starts
/// loading that slot: the load, a cache miss with many names, then runs
/// while the rest of the query is parsed instead of after it.
#[inline(always)]
fn prefetch_slot(s: &Scratch, cfg: &Config, name_len: usize) -> u32 {
    if !slot_fits(name_len) {
        return 0;
    }
    let home = slot_home(s);
    // The home slot and the next one, where a probe most often goes on.
    for i in 0..2 {
        if let Some(slot) = NAME_SLOTS.get_ptr(home.wrapping_add(i) & cfg.slot_mask) {
            // SAFETY: a valid map value; the value read is not used.
            unsafe { core::ptr::read_volatile(slot.cast::<u64>()) };
        }
    }
    home
}

/// The entry of the name whose key is in `s.key` (home slot `home`, see
/// [`slot_home`]): from `NAME_SLOTS` for a short name, else from the hash
/// map of its size class. A short name is looked for in `NAMES_32` only
/// when it may have overflowed there: the daemon puts a name there only
/// when all `SLOT_PROBES` slots from its home are taken, and a taken slot
/// never becomes empty again (removal leaves a tombstone), so a probe that
/// meets an empty slot has its answer. `Err` when the name's slot is being
/// rewritten (the query is passed).
#[inline(always)]
fn find_name(
    s: &mut Scratch,
    cfg: &Config,
    name_len: usize,
    home: u32,
) -> Result<Option<NameEntry>, Counter> {
    if slot_fits(name_len) {
        match lookup_slot(s, cfg.slot_mask, home)? {
            Probe::Found(e) => return Ok(Some(e)),
            Probe::Absent => return Ok(None),
            Probe::Full if cfg.flags & CONFIG_SLOT_OVERFLOW == 0 => return Ok(None),
            Probe::Full => {}
        }
    }
    Ok(lookup_name(s, name_len))
}

/// Outcome of a probe of `NAME_SLOTS`.
enum Probe {
    /// The name's entry.
    Found(NameEntry),
    /// An empty slot ended the probe: the name is in no name map.
    Absent,
    /// Every probed slot held another name (or a tombstone): the name may
    /// be in `NAMES_32`.
    Full,
}

/// Probes `NAME_SLOTS` from slot `home` for the key in `s.key` (see
/// `gslb_common::maps::NAME_SLOTS` for the sequence-byte protocol).
#[inline(always)]
fn lookup_slot(s: &mut Scratch, mask: u32, home: u32) -> Result<Probe, Counter> {
    let w = key_words(s);
    for i in 0..SLOT_PROBES {
        let idx = home.wrapping_add(i) & mask;
        let Some(slot) = NAME_SLOTS.get_ptr(idx) else {
            return Ok(Probe::Full);
        };
        let sk = slot.cast::<u64>();
        // SAFETY: a valid map value of 64 bytes; volatile keeps the reads
        // in this order (sequence byte first, entry, sequence byte again).
        unsafe {
            let w3 = core::ptr::read_volatile(sk.add(3));
            let w0 = core::ptr::read_volatile(sk);
            if w0 == 0 {
                return Ok(Probe::Absent);
            }
            if w0 as u8 == SLOT_TOMBSTONE || w0 != w[0] {
                continue;
            }
            let w1 = core::ptr::read_volatile(sk.add(1));
            let w2 = core::ptr::read_volatile(sk.add(2));
            if w1 != w[1] || w2 != w[2] || (w3 & 0x00ff_ffff_ffff_ffff) != w[3] {
                continue;
            }
            let seq = (w3 >> 56) as u8;
            if seq & 1 != 0 {
                return Err(Counter::PassInternal);
            }
            let e = core::ptr::read_volatile(&(*slot).entry);
            let again = core::ptr::read_volatile(&(*slot).key[31]);
            if again != seq {
                return Err(Counter::PassInternal);
            }
            return Ok(Probe::Found(e));
        }
    }
    Ok(Probe::Full)
}

/// Looks an answer set up for the client's group, falling back to the
/// default group 0. User space replaces values whole (hash map RCU
/// update); the program writes only the rotation counter in place.
#[inline(always)]
fn lookup<V>(map: &aya_ebpf::maps::HashMap<AnswerKey, V>, set: u32, group: u32) -> Option<*mut V> {
    if group != 0 {
        if let Some(v) = map.get_ptr_mut(AnswerKey { set, group }) {
            return Some(v);
        }
    }
    map.get_ptr_mut(AnswerKey { set, group: 0 })
}

/// Finds the name in the map of its size class. The key is the whole
/// zero-padded class-sized prefix of `s.key`.
#[inline(always)]
#[allow(
    clippy::needless_borrows_for_generic_args,
    reason = "by value would copy up to 256 bytes of key onto the BPF stack"
)]
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

/// Picks the answers (see `gslb_common::select`) and builds the response
/// in the scratch buffer if it fits the client's limit; returns its length
/// and checksum sum. `hits`: count the first answer's server in
/// `SERVER_HITS` (inline sets have no server ids: their `sel.ids` are left
/// zero rather than filled with `NO_SERVER`, which would cost a call to a
/// memset subprogram per query).
#[inline(always)]
#[allow(clippy::too_many_arguments, reason = "one call site per answer source")]
fn respond<const N: usize, const M: usize>(
    ctx: &XdpContext,
    l: &Layers,
    s: &mut Scratch,
    q: &Query,
    sel: &mut Selection,
    addrs: &[[u8; N]; M],
    edns_udp_size: u16,
    hits: bool,
) -> Result<(usize, u64), Counter> {
    match sel.mode {
        MODE_DROP => return Err(Counter::Dropped),
        MODE_SLOW_PATH => return Err(Counter::PassSlowPath),
        _ => {}
    }
    let mut pick = Pick::default();
    if select::uses_counter(sel.mode) {
        // Not atomic: concurrent CPUs may hand out the same step twice,
        // which shifts the rotation but never yields a wrong answer.
        pick.counter = sel.counter;
        sel.counter = pick.counter.wrapping_add(1);
    } else if sel.mode == MODE_STATIC_PERSIST {
        pick.client = persist_key(ctx, l, sel);
    } else if sel.mode != MODE_ORDERED {
        pick.random = unsafe { bpf_get_prandom_u32() };
    }
    let first = select::first(sel, &pick, &mut |x| s.opaque(x as usize) as u64)
        .ok_or(Counter::PassNoAnswer)?;
    let first = s.opaque(first) & (MAX_ADDRS - 1);
    // The answer order goes through map memory: the verifier then checks
    // `build` once rather than once per combination of `first` and `count`.
    // The count is laundered: each exit of the loop knows its own value.
    let n = select::answer_order(sel, first, &mut s.order);
    let n = s.opaque(n);
    if n == 0 || n > MAX_ADDRS {
        return Err(Counter::PassNoAnswer);
    }
    if dns::response_len(q, n, N) > q.udp_limit {
        return Err(Counter::PassTooBig);
    }
    if hits {
        if let Some(h) = SERVER_HITS.get_ptr_mut(u32::from(sel.ids[first])) {
            // SAFETY: per-CPU slot.
            unsafe { *h += 1 };
        }
    }
    let (len, sum) = dns::build(s, q, sel, addrs, n, edns_udp_size);
    Ok((s.opaque(len), sum))
}

/// Static persist key of the query's source (the LDNS).
#[inline(always)]
fn persist_key(ctx: &XdpContext, l: &Layers, sel: &Selection) -> u64 {
    if l.v6 {
        match headers::bytes_at::<40>(ctx, l.l3) {
            Some(ip) => {
                let ip = unsafe { &*ip };
                let mut a = [0u8; 16];
                a.copy_from_slice(&ip[8..24]);
                select::persist_key_v6(&a, sel.persist_v6)
            }
            None => 0,
        }
    } else {
        match headers::bytes_at::<20>(ctx, l.l3) {
            Some(ip) => {
                let ip = unsafe { &*ip };
                select::persist_key_v4([ip[12], ip[13], ip[14], ip[15]], sel.persist_v4)
            }
            None => 0,
        }
    }
}

/// Resizes the packet, writes the response (whose checksum sum is
/// `payload_sum`; its question, up to `q_end`, is the query's) in, rewrites
/// the headers. On a helper failure the packet is restored to its original
/// length and passed (its content below the DNS payload is untouched until
/// the write).
#[inline(always)]
fn send(
    ctx: &XdpContext,
    s: &mut Scratch,
    l: &Layers,
    dns_off: usize,
    q_end: usize,
    resp_len: usize,
    payload_sum: u64,
) -> Result<(), Counter> {
    // Longer responses (a canned tail after a long question) go to the slow
    // path; the bound also lets the verifier prove the helper arguments.
    if resp_len == 0 || resp_len > 508 {
        return Err(Counter::PassTooBig);
    }
    let frame_len = (ctx.data_end() - ctx.data()) as i32;
    let delta = (dns_off + resp_len) as i32 - frame_len;
    let grown = resize(ctx, s, dns_off, delta)?;
    let written = match grown {
        // The query is still in place: write what differs.
        Grown::Tail => copy::write_changes(ctx, s, dns_off, q_end, resp_len),
        // The query moved with the front: write the whole response.
        Grown::Head => unsafe {
            bpf_xdp_store_bytes(
                ctx.ctx,
                dns_off as u32,
                s.msg.as_mut_ptr().cast(),
                (resp_len & 0x1ff) as u32,
            ) == 0
        },
    };
    if !written || !headers::rewrite(ctx, l, resp_len, payload_sum) {
        // Cannot happen after the checks above; undo the resize.
        unsafe {
            match grown {
                Grown::Tail => bpf_xdp_adjust_tail(ctx.ctx, -delta),
                Grown::Head => bpf_xdp_adjust_head(ctx.ctx, delta),
            }
        };
        return Err(Counter::PassInternal);
    }
    Ok(())
}

/// Which end of the frame [`resize`] moved.
enum Grown {
    Tail,
    Head,
}

/// Makes the frame `delta` bytes longer (or shorter). The tail is tried
/// first; drivers that leave little tailroom (veth copies frames into
/// buffers with only alignment slack at the end) get the room at the front
/// instead, where XDP guarantees 256 bytes of headroom: the L2-L4 headers
/// (`dns_off` bytes) are then moved to the new start. Either way the bytes
/// from `dns_off` on are to be overwritten by the response.
#[inline(always)]
fn resize(ctx: &XdpContext, s: &mut Scratch, dns_off: usize, delta: i32) -> Result<Grown, Counter> {
    if unsafe { bpf_xdp_adjust_tail(ctx.ctx, delta) } == 0 {
        return Ok(Grown::Tail);
    }
    if delta <= 0 || dns_off == 0 || dns_off > maps::HDR_LEN {
        return Err(Counter::PassInternal);
    }
    let hdr = s.hdr.as_mut_ptr().cast();
    // Opaque, then masked: the mask must survive for the verifier.
    let n = (s.opaque(dns_off) & (maps::HDR_LEN * 2 - 1)) as u32;
    if n == 0 {
        return Err(Counter::PassInternal);
    }
    if unsafe { bpf_xdp_load_bytes(ctx.ctx, 0, hdr, n) } != 0 {
        return Err(Counter::PassInternal);
    }
    if unsafe { bpf_xdp_adjust_head(ctx.ctx, -delta) } != 0 {
        return Err(Counter::PassInternal);
    }
    if unsafe { bpf_xdp_store_bytes(ctx.ctx, 0, hdr, n) } != 0 {
        unsafe { bpf_xdp_adjust_head(ctx.ctx, delta) };
        return Err(Counter::PassInternal);
    }
    Ok(Grown::Head)
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
