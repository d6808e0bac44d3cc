//! What a found name answers: its A or AAAA set (inline in the name entry,
//! or in `ANSWERS_V4` / `ANSWERS_V6` for the client's group) with the
//! answers picked as `gslb_common::select` picks them, else its static
//! RRsets, else NODATA; and NXDOMAIN for a child of a name that lists all
//! of its children. The response is built in the scratch buffer and sent.

use aya_ebpf::{helpers::generated::bpf_get_prandom_u32, programs::XdpContext};
use gslb_common::{
    dns::{RCODE_NXDOMAIN, TYPE_A, TYPE_AAAA},
    maps::{
        AnswerKey, Canned, Config, NameEntry, StaticKey, CONFIG_CLIENT_GROUPS, MAX_ADDRS,
        NAME_INLINE_A, NAME_INLINE_AAAA, NAME_NEG_TTL, NAME_NODATA, NAME_STATIC, NO_ANSWER,
    },
    select::{self, Pick, Selection, MODE_DROP, MODE_ORDERED, MODE_SLOW_PATH, MODE_STATIC_PERSIST},
    Counter,
};

use crate::{
    dns::{self, Query},
    headers::{self, Layers},
    maps::{count, Scratch, ANSWERS_V4, ANSWERS_V6, CLIENT_GROUPS, SERVER_HITS, STATIC, ZONES},
    send::send,
};

/// Answers the question for the name whose entry is `entry`, or says why
/// not.
#[inline(always)]
pub fn for_name(
    ctx: &XdpContext,
    s: &mut Scratch,
    l: &Layers,
    dns_off: usize,
    q: &Query,
    entry: &NameEntry,
    cfg: &Config,
) -> Result<(), Counter> {
    let group = if cfg.flags & CONFIG_CLIENT_GROUPS != 0 {
        client_group(ctx, l)
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
        respond(ctx, l, s, q, &mut sel, addrs, cfg.edns_udp_size, false)?
    } else if q.qtype == TYPE_A && entry.a != NO_ANSWER {
        let a = answer_set(&ANSWERS_V4, entry.a, group).ok_or(Counter::PassNoAnswer)?;
        // SAFETY: a valid map value; only our own fields are touched.
        let (sel, addrs) = unsafe { (&mut (*a).sel, &(*a).addrs) };
        respond(ctx, l, s, q, sel, addrs, cfg.edns_udp_size, true)?
    } else if q.qtype == TYPE_AAAA && entry.flags & NAME_INLINE_AAAA != 0 {
        let mut sel = Selection {
            ttl: entry.inline_ttl,
            mode: MODE_ORDERED,
            count: 1,
            ..Selection::default()
        };
        respond(
            ctx,
            l,
            s,
            q,
            &mut sel,
            entry.inline_aaaa(),
            cfg.edns_udp_size,
            false,
        )?
    } else if q.qtype == TYPE_AAAA && entry.aaaa != NO_ANSWER {
        let a = answer_set(&ANSWERS_V6, entry.aaaa, group).ok_or(Counter::PassNoAnswer)?;
        // SAFETY: as above.
        let (sel, addrs) = unsafe { (&mut (*a).sel, &(*a).addrs) };
        respond(ctx, l, s, q, sel, addrs, cfg.edns_udp_size, true)?
    } else {
        return static_or_nodata(ctx, s, l, dns_off, q, entry, cfg.edns_udp_size);
    };
    send(ctx, s, l, dns_off, q.q_end, resp_len, sum)
}

/// Answers NXDOMAIN with the negative answer of zone `zone` (RFC 8020: a
/// child of a name that lists every child it has).
#[inline(always)]
pub fn nxdomain(
    ctx: &XdpContext,
    s: &mut Scratch,
    l: &Layers,
    dns_off: usize,
    q: &Query,
    zone: u16,
    edns_udp_size: u16,
) -> Result<(), Counter> {
    let z = ZONES.get(u32::from(zone)).ok_or(Counter::PassNoAnswer)?;
    send_canned(
        ctx,
        s,
        l,
        dns_off,
        q,
        RCODE_NXDOMAIN,
        z,
        NO_TTL_CAP,
        edns_udp_size,
        Counter::AnsweredNxdomain,
    )
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

/// Looks an answer set up for the client's group, falling back to the
/// default group 0. User space replaces values whole (hash map RCU
/// update); the program writes only the rotation counter in place.
#[inline(always)]
fn answer_set<V>(
    map: &aya_ebpf::maps::HashMap<AnswerKey, V>,
    set: u32,
    group: u32,
) -> Option<*mut V> {
    if group != 0 {
        if let Some(v) = map.get_ptr_mut(AnswerKey { set, group }) {
            return Some(v);
        }
    }
    map.get_ptr_mut(AnswerKey { set, group: 0 })
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
    CLIENT_GROUPS.get(&key).map_or(0, |g| g.group)
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
