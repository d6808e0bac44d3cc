//! What a found name answers: its A or AAAA set (inline in the name entry,
//! or in `ANSWERS_V4` / `ANSWERS_V6` for the client's group) with the
//! answers picked as `gslb_common::select` picks them, else its static
//! RRsets, else NODATA; and NXDOMAIN for a child of a name that lists all
//! of its children. The response is built in the scratch buffer and sent.

use aya_ebpf::{
    helpers::generated::{bpf_get_prandom_u32, bpf_ktime_get_coarse_ns},
    programs::XdpContext,
};
use gslb_common::{
    dns::{RCODE_NXDOMAIN, TYPE_A, TYPE_AAAA},
    maps::{
        client_block, client_cache_index, client_cacheable, AnswerKey, Canned, ClientCacheSlot,
        ClientGroup, Config, NameEntry, PersistRecord, StaticKey, CONFIG_CLIENT_GROUPS, CONFIG_ECS,
        CONFIG_ECS_TRUSTED, MAX_ADDRS, NAME_CLIENT_AWARE, NAME_COUNTED, NAME_INLINE_A,
        NAME_INLINE_AAAA, NAME_NEG_TTL, NAME_NODATA, NAME_STATIC, NO_ANSWER,
    },
    select::{self, Pick, Selection, MODE_DROP, MODE_ORDERED, MODE_SLOW_PATH, MODE_STATIC_PERSIST},
    Counter,
};

use crate::{
    dns::{self, Query},
    headers::{self, Layers},
    maps::{
        count, Scratch, ANSWERS_V4, ANSWERS_V6, CLIENT_CACHE, CLIENT_GEN, CLIENT_GROUPS,
        ECS_TRUSTED, NAME_ANSWERS, PERSIST, PERSIST_HIT, PERSIST_NEW, SERVER_GEN, SERVER_HITS,
        STATIC, ZONES,
    },
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
    // The client group, and the ECS scope its trie prefix gives (for
    // names whose answers depend on it).
    let (group, scope) = if cfg.flags & CONFIG_CLIENT_GROUPS != 0 {
        let v4 = client(ctx, l, q, s);
        let (group, scope) = match client_group(s, v4) {
            Some(g) if entry.flags & NAME_CLIENT_AWARE != 0 => (g.group, g.scope(v4)),
            Some(g) => (g.group, 0),
            None => (0, 0),
        };
        // One state for every outcome of the lookup.
        (group, s.opaque(usize::from(scope)) as u8)
    } else {
        (0, 0)
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
        respond(
            ctx,
            l,
            s,
            q,
            &mut sel,
            addrs,
            cfg.edns_udp_size,
            INLINE,
            scope,
        )?
    } else if q.qtype == TYPE_A && entry.a != NO_ANSWER {
        let a = answer_set(&ANSWERS_V4, entry.a, group).ok_or(Counter::PassNoAnswer)?;
        // SAFETY: a valid map value; only our own fields are touched.
        let (sel, addrs) = unsafe { (&mut (*a).sel, &(*a).addrs) };
        respond(ctx, l, s, q, sel, addrs, cfg.edns_udp_size, entry.a, scope)?
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
            INLINE,
            scope,
        )?
    } else if q.qtype == TYPE_AAAA && entry.aaaa != NO_ANSWER {
        let a = answer_set(&ANSWERS_V6, entry.aaaa, group).ok_or(Counter::PassNoAnswer)?;
        // SAFETY: as above.
        let (sel, addrs) = unsafe { (&mut (*a).sel, &(*a).addrs) };
        respond(
            ctx,
            l,
            s,
            q,
            sel,
            addrs,
            cfg.edns_udp_size,
            entry.aaaa,
            scope,
        )?
    } else {
        return static_or_nodata(ctx, s, l, dns_off, q, entry, cfg.edns_udp_size);
    };
    send(ctx, s, l, dns_off, q.q_end, resp_len, sum)?;
    if q.ecs_family != 0 {
        count(Counter::AnsweredEcs);
    }
    if entry.flags & NAME_COUNTED != 0 {
        if let Some(c) = NAME_ANSWERS.get_ptr_mut(entry.counter()) {
            // SAFETY: per-CPU slot.
            unsafe { *c += 1 };
        }
    }
    persist_done(s);
    Ok(())
}

/// `set` of [`respond`] for the answers inline in a name entry: no set
/// id, no server ids, no persistence.
const INLINE: u32 = NO_ANSWER;

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
    if q.ecs_family != 0 {
        count(Counter::AnsweredEcs);
    }
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

/// The query's source address, 128 bits, IPv4 mapped, into `addr`;
/// whether it is IPv4. All zero if the header cannot be read (cannot
/// happen after `headers::parse`).
#[inline(always)]
fn source(ctx: &XdpContext, l: &Layers, addr: &mut [u8; 16]) -> bool {
    *addr = [0; 16];
    if l.v6 {
        if let Some(ip) = headers::bytes_at::<40>(ctx, l.l3) {
            // SAFETY: 40 bytes checked.
            addr.copy_from_slice(unsafe { &(&*ip)[8..24] });
        }
        false
    } else {
        addr[10] = 0xff;
        addr[11] = 0xff;
        if let Some(ip) = headers::bytes_at::<20>(ctx, l.l3) {
            // SAFETY: 20 bytes checked.
            addr[12..16].copy_from_slice(unsafe { &(&*ip)[12..16] });
        }
        true
    }
}

/// Whether the query's EDNS Client Subnet option may be used: from every
/// resolver (`CONFIG_ECS`), or from those in `ECS_TRUSTED`
/// (`CONFIG_ECS_TRUSTED`). Otherwise it is ignored and not echoed.
#[inline(always)]
pub fn ecs_trusted(ctx: &XdpContext, l: &Layers, s: &mut Scratch, cfg: &Config) -> bool {
    if cfg.flags & CONFIG_ECS != 0 {
        return true;
    }
    if cfg.flags & CONFIG_ECS_TRUSTED == 0 {
        return false;
    }
    source(ctx, l, &mut s.client);
    let key = aya_ebpf::maps::lpm_trie::Key::new(128, s.client);
    ECS_TRUSTED.get(&key).is_some()
}

/// The client the lookups see, into `s.client` (128 bits, IPv4 mapped):
/// the ECS address when the query's option is used, else the source
/// address. Whether it is IPv4.
#[inline(always)]
fn client(ctx: &XdpContext, l: &Layers, q: &Query, s: &mut Scratch) -> bool {
    match q.ecs_family {
        1 => {
            s.client = [0; 16];
            s.client[10] = 0xff;
            s.client[11] = 0xff;
            let [a, b, c, d, ..] = s.ecs;
            s.client[12..16].copy_from_slice(&[a, b, c, d]);
            true
        }
        2 => {
            s.client = s.ecs;
            false
        }
        _ => source(ctx, l, &mut s.client),
    }
}

/// The `CLIENT_GROUPS` entry of the client in `s.client` (`v4`: an IPv4
/// client): from this CPU's `CLIENT_CACHE` slot of the client's block
/// when the slot is of the current `CLIENT_GEN`, else from the trie, kept
/// in the slot when its prefix holds the whole block. The generation is
/// read before the trie: a result from a trie being rewritten is kept
/// under the generation the rewrite ends, never past it.
#[inline(always)]
fn client_group(s: &mut Scratch, v4: bool) -> Option<ClientGroup> {
    let generation = CLIENT_GEN.get(0).copied().unwrap_or(0);
    let block = client_block(&s.client, v4);
    let slot = if generation != 0 {
        CLIENT_CACHE.get_ptr_mut(client_cache_index(block))
    } else {
        None
    };
    if let Some(p) = slot {
        // SAFETY: this CPU's slot, touched only by this CPU's program.
        let c = unsafe { &*p };
        if c.generation == generation && c.block == block && c.v4 == u8::from(v4) {
            return Some(ClientGroup {
                group: c.group,
                prefix_len: c.prefix_len,
                _pad: [0; 3],
            });
        }
    }
    let key = aya_ebpf::maps::lpm_trie::Key::new(128, s.client);
    let g = *CLIENT_GROUPS.get(&key)?;
    if let Some(p) = slot {
        if client_cacheable(g.prefix_len, v4) {
            // SAFETY: as above.
            unsafe {
                *p = ClientCacheSlot {
                    block,
                    generation,
                    group: g.group,
                    prefix_len: g.prefix_len,
                    v4: u8::from(v4),
                    _pad: [0; 6],
                }
            };
        }
    }
    Some(g)
}

/// Picks the answers (see `gslb_common::select`) and builds the response
/// in the scratch buffer if it fits the client's limit; returns its length
/// and checksum sum. `set`: the answer-set id, or [`INLINE`] (inline sets
/// have no server ids: their `sel.ids` are left zero rather than filled
/// with `NO_SERVER`, which would cost a call to a memset subprogram per
/// query; they are not counted in `SERVER_HITS`). `scope`: the ECS scope
/// of the client group's prefix (0 unless the name is client aware).
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
    set: u32,
    scope: u8,
) -> Result<(usize, u64), Counter> {
    match sel.mode {
        MODE_DROP => return Err(Counter::Dropped),
        MODE_SLOW_PATH => return Err(Counter::PassSlowPath),
        _ => {}
    }
    // With persistence, the candidate of the client prefix's live record,
    // else `MAX_ADDRS`. Laundered, like every value below that differs by
    // the way taken: the verifier then checks the rest once.
    let kept = if sel.sticky_ttl != 0 && set != INLINE {
        sticky_lookup(ctx, l, s, q, sel, set, if N == 4 { 4 } else { 6 })
    } else {
        MAX_ADDRS
    };
    // (Inline sets have no persistence: nothing to launder.)
    let kept = if set == INLINE {
        MAX_ADDRS
    } else {
        s.opaque(kept)
    };
    // The method's pick, made in any case (one copy of its code), but
    // moving the rotation only when it is used.
    let picked = pick_first(ctx, l, s, q, sel, kept >= MAX_ADDRS).unwrap_or(MAX_ADDRS);
    let first = if kept < MAX_ADDRS { kept } else { picked };
    let first = s.opaque(first);
    if first >= MAX_ADDRS {
        return Err(Counter::PassNoAnswer);
    }
    // What to do with the record once the reply is sent (`persist_done`).
    s.persist_op = if sel.sticky_ttl == 0 || set == INLINE {
        0
    } else if kept < MAX_ADDRS {
        PERSIST_HIT
    } else {
        PERSIST_NEW
    };
    s.persist_server = u32::from(sel.ids[first & (MAX_ADDRS - 1)]);
    // The answer order goes through map memory: the verifier then checks
    // `build` once rather than once per combination of `first` and `count`.
    // The count is laundered: each exit of the loop knows its own value.
    let order = &mut s.order as *mut [u8; MAX_ADDRS];
    // SAFETY: `order` is a field of `s` the launder does not touch.
    let n = select::answer_order_with(sel, first, unsafe { &mut *order }, &mut |x| {
        s.opaque(x as usize) as u64
    });
    let n = s.opaque(n);
    if n == 0 || n > MAX_ADDRS {
        return Err(Counter::PassNoAnswer);
    }
    if dns::response_len(q, n, N) > q.udp_limit {
        return Err(Counter::PassTooBig);
    }
    if set != INLINE {
        if let Some(h) = SERVER_HITS.get_ptr_mut(u32::from(sel.ids[first])) {
            // SAFETY: per-CPU slot.
            unsafe { *h += 1 };
        }
    }
    let scope = if q.ecs_family != 0 {
        let scope = select::ecs_scope(sel, q.ecs_source, q.ecs_family == 1, scope, true);
        s.opaque(usize::from(scope)) as u8
    } else {
        0
    };
    let (len, sum) = dns::build(s, q, sel, addrs, n, edns_udp_size, scope);
    Ok((s.opaque(len), sum))
}

/// The first answer as the set's method picks it; `advance`: move the
/// rotation (round robin, ratio) on.
#[inline(always)]
fn pick_first(
    ctx: &XdpContext,
    l: &Layers,
    s: &mut Scratch,
    q: &Query,
    sel: &mut Selection,
    advance: bool,
) -> Option<usize> {
    let mut pick = Pick::default();
    if select::uses_counter(sel.mode) {
        // Not atomic: concurrent CPUs may hand out the same step twice,
        // which shifts the rotation but never yields a wrong answer.
        pick.counter = sel.counter;
        sel.counter = pick.counter.wrapping_add(u32::from(advance));
    } else if sel.mode == MODE_STATIC_PERSIST {
        pick.client = persist_key(ctx, l, s, q, sel);
    } else if sel.mode != MODE_ORDERED {
        pick.random = unsafe { bpf_get_prandom_u32() };
    }
    select::first(sel, &pick, &mut |x| s.opaque(x as usize) as u64)
}

/// The candidate that the client prefix's live persistence record keeps
/// else `MAX_ADDRS`. The record's key, the time and when its use time is
/// due to be written again are left in `s` for [`persist_done`].
#[inline(always)]
#[allow(clippy::too_many_arguments, reason = "the query and the set")]
#[allow(
    clippy::needless_borrows_for_generic_args,
    reason = "the key is passed where it lies, in scratch memory, not copied to the stack"
)]
fn sticky_lookup(
    ctx: &XdpContext,
    l: &Layers,
    s: &mut Scratch,
    q: &Query,
    sel: &Selection,
    set: u32,
    family: u8,
) -> usize {
    let v4 = client(ctx, l, q, s) as usize;
    let v4 = s.opaque(v4) != 0;
    // In map memory: the branches of the masking leave no trace there.
    s.pkey = select::persist_record_key(sel, set, family, &s.client, v4);
    let Some(r) = PERSIST.get_ptr_mut(&s.pkey) else {
        return MAX_ADDRS;
    };
    // SAFETY: a valid map value, only read.
    let rec = unsafe { &*r };
    let generation = SERVER_GEN.get(u32::from(rec.server)).copied().unwrap_or(0);
    // The coarse clock (`CLOCK_MONOTONIC_COARSE`, a tick's resolution):
    // no TSC read, which costs about 35 ns here, and ample for a TTL in
    // seconds.
    // SAFETY: a helper without arguments.
    let now = unsafe { bpf_ktime_get_coarse_ns() };
    // The use time is written in `persist_done`, and only once a step:
    // no write (to a line every CPU answering the prefix shares) on every
    // hit, and no branch here, where the verifier has much left to check.
    s.persist_now = now;
    s.persist_due_ns = select::refresh_due_ns(sel, rec);
    select::persisted_index(sel, rec, generation, now)
}

/// After a reply from a set with persistence: counts the use of a live
/// record, and writes its use time when due (a second lookup, once a
/// step: `select::refresh_step_ns`); or records the server handed out
/// (`s.persist_server`) for the client prefix of `s.pkey`, with its
/// generation and the time.
#[inline(always)]
#[allow(
    clippy::needless_borrows_for_generic_args,
    reason = "the key is passed where it lies, in scratch memory, not copied to the stack"
)]
fn persist_done(s: &mut Scratch) {
    match s.persist_op {
        PERSIST_HIT => {
            count(Counter::PersistHit);
            if s.persist_now >= s.persist_due_ns {
                if let Some(r) = PERSIST.get_ptr_mut(&s.pkey) {
                    // SAFETY: a valid map value; another CPU may write
                    // the time too: either will do.
                    unsafe { (*r).last_used_ns = s.persist_now };
                }
            }
        }
        PERSIST_NEW => {
            let server = s.persist_server;
            let rec = PersistRecord {
                server: server as u16,
                _pad: 0,
                generation: SERVER_GEN.get(server).copied().unwrap_or(0),
                // SAFETY: a helper without arguments.
                last_used_ns: unsafe { bpf_ktime_get_coarse_ns() },
            };
            // A full map drops its least recently used record; a failed
            // insert only costs this client its persistence.
            if PERSIST.insert(&s.pkey, &rec, 0).is_ok() {
                count(Counter::PersistNew);
            }
        }
        _ => {}
    }
}

/// Static persist key of the client (the LDNS, or the ECS address).
#[inline(always)]
fn persist_key(ctx: &XdpContext, l: &Layers, s: &mut Scratch, q: &Query, sel: &Selection) -> u64 {
    if client(ctx, l, q, s) {
        let [.., a, b, c, d] = s.client;
        select::persist_key_v4([a, b, c, d], sel.persist_v4)
    } else {
        select::persist_key_v6(&s.client, sel.persist_v6)
    }
}
