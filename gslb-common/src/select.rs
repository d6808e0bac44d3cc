//! Per-query selection, shared by the XDP program and the slow path so that
//! both pick the same answers from the same [`Selection`]: a query gets the
//! same answer whichever path serves it. Every loop is bounded by
//! [`MAX_ADDRS`] for the verifier.

use crate::maps::{ClientPrefix, PersistKey, PersistRecord, MAX_ADDRS, V4_MAPPED_LEN};

/// Hand out candidates in the order the daemon computed (global
/// availability, fewest selected, least sessions, lowest latency, ...).
pub const MODE_ORDERED: u16 = 0;
/// Rotate the first answer through the candidates, one step per query.
pub const MODE_ROUND_ROBIN: u16 = 1;
/// Weighted rotation: over a full cycle of `total_weight` queries each
/// candidate comes first exactly `weights[i]` times.
pub const MODE_RATIO: u16 = 2;
/// Uniformly random first answer.
pub const MODE_RANDOM: u16 = 3;
/// Random first answer with probability `weights[i] / total_weight`.
pub const MODE_WEIGHTED_RANDOM: u16 = 4;
/// Static persist (seed 004 claims 3-4): a fixed hash of the client's LDNS
/// prefix ([`persist_key_v4`], [`persist_key_v6`]), modulo the number of
/// candidates; a candidate found down is removed and the modulus taken
/// again over the rest, so only the clients of a down server move. The
/// answers after the first skip the candidates that are down.
pub const MODE_STATIC_PERSIST: u16 = 5;
/// Send no answer at all (F5 "drop packet").
pub const MODE_DROP: u16 = 6;
/// Leave the query to the slow path (return to DNS, SERVFAIL, NODATA).
pub const MODE_SLOW_PATH: u16 = 7;

/// How to pick answers for one (answer set, client group).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// TTL of the answer records.
    pub ttl: u32,
    /// `MODE_*`.
    pub mode: u16,
    /// Number of candidates (valid entries of the address array).
    pub count: u8,
    /// Most answers in one response (`0` = all candidates).
    pub max: u8,
    /// Bit i set: candidate i is available (used by static persist; the
    /// other modes only get available candidates).
    pub up: u8,
    /// Static persist: leading bits of an IPv4 LDNS address used.
    pub persist_v4: u8,
    /// Static persist: leading bits of an IPv6 LDNS address used (≤ 64).
    pub persist_v6: u8,
    /// Padding (zero).
    pub _pad: u8,
    /// Rotation counter for round robin and ratio, advanced by the reader.
    pub counter: u32,
    /// Sum of `weights` over the candidates.
    pub total_weight: u32,
    /// Candidate weights (ratio, weighted random).
    pub weights: [u16; MAX_ADDRS],
    /// Server id of each candidate (per-server hit counters).
    pub ids: [u16; MAX_ADDRS],
    /// Persistence with a TTL (seed 004 claims 1, 5-13): seconds a client
    /// prefix keeps the server it was first handed, after its last use
    /// (`PERSIST` records); 0: off.
    pub sticky_ttl: u32,
    /// Persistence: leading bits of an IPv4 client address that make its
    /// prefix (0..=32).
    pub sticky_v4: u8,
    /// Persistence: leading bits of an IPv6 client address (0..=128).
    pub sticky_v6: u8,
    /// Persistence: bit i set: candidate i keeps the clients persisted to
    /// it. Candidates `count..` (draining servers) are there only for
    /// those clients: never picked for a new one.
    pub keep: u8,
    /// Padding (zero).
    pub _pad2: u8,
}

const _: () = assert!(core::mem::size_of::<Selection>() == 60);

/// Inputs of one pick that vary per query.
#[derive(Clone, Copy, Debug, Default)]
pub struct Pick {
    /// The set's rotation counter before this query.
    pub counter: u32,
    /// A random number.
    pub random: u32,
    /// The static persist key of the client's LDNS address
    /// ([`persist_key_v4`], [`persist_key_v6`]).
    pub client: u64,
}

/// murmur3's 64-bit finaliser (`fmix64`): a fixed, well-spread hash of a
/// 64-bit value in five ALU operations and two multiplies (cheap in BPF,
/// no loop, no table).
#[inline(always)]
pub const fn mix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// Static persist key of an IPv4 LDNS address: a hash ([`mix64`]) of its
/// first `prefix` bits, shifted down to the low bits, and of `prefix`.
/// The modulus is taken of the hash, not of the address: a masked address
/// ends in zero bits, so with a /24 and 2, 4 or 8 servers it would pick
/// the same server for every client.
#[inline(always)]
pub fn persist_key_v4(addr: [u8; 4], prefix: u8) -> u64 {
    let a = u64::from(u32::from_be_bytes(addr));
    let p = u64::from(prefix.min(32));
    // `a >> 32` is 0: a zero prefix maps every client to one key.
    mix64((a >> (32 - p)) | (p << 32))
}

/// Static persist key of an IPv6 LDNS address: a hash of its first
/// `prefix` bits (at most 64: a /64 is one site), shifted down, and of
/// `prefix`.
#[inline(always)]
pub fn persist_key_v6(addr: &[u8; 16], prefix: u8) -> u64 {
    let hi = u64::from_be_bytes([
        addr[0], addr[1], addr[2], addr[3], addr[4], addr[5], addr[6], addr[7],
    ]);
    let p = u64::from(prefix.min(64));
    let bits = if p == 0 { 0 } else { hi >> (64 - p) };
    mix64(mix64(bits) ^ p)
}

/// Index of the candidate whose cumulative weight first exceeds `point`.
#[inline(always)]
fn weighted(sel: &Selection, point: u32) -> usize {
    let mut acc = 0u32;
    let n = usize::from(opaque_count(sel));
    for i in 0..MAX_ADDRS {
        if i >= n {
            break;
        }
        acc += u32::from(sel.weights[i]);
        if point < acc {
            return i;
        }
    }
    0
}

/// `sel.count`, read so that the compiler cannot carry the `count <=
/// MAX_ADDRS` check of [`first`] into the loops below: it would then drop
/// their `i < MAX_ADDRS` bound, which the BPF verifier needs to see.
#[inline(always)]
fn opaque_count(sel: &Selection) -> u8 {
    // SAFETY: reading a field of a valid reference.
    unsafe { core::ptr::read_volatile(&sel.count) }
}

/// Static persist over the candidates (seed 004 claims 3-4). `launder`
/// returns its argument; the XDP program passes it through memory the
/// verifier does not track, so that the loop state converges (see
/// `Scratch::opaque` in gslb-ebpf).
#[inline(always)]
fn persist(sel: &Selection, client: u64, launder: &mut impl FnMut(u64) -> u64) -> Option<usize> {
    let count = usize::from(opaque_count(sel)).min(MAX_ADDRS);
    let mut remaining: u32 = (1u32 << count) - 1;
    for _ in 0..MAX_ADDRS {
        remaining = launder(u64::from(remaining)) as u32 & 0xff;
        let n = remaining.count_ones();
        if n == 0 {
            return None;
        }
        // The k-th (0-based) remaining candidate: "remainder plus one".
        let mut k = (client % u64::from(n)) as u32;
        let mut chosen = MAX_ADDRS;
        for i in 0..MAX_ADDRS {
            if remaining & (1 << i) != 0 {
                if k == 0 {
                    chosen = i;
                    break;
                }
                k -= 1;
            }
        }
        let chosen = launder(chosen as u64) as usize;
        if chosen >= MAX_ADDRS {
            return None;
        }
        if u32::from(sel.up) & (1 << chosen) != 0 {
            return Some(chosen);
        }
        // Claim 4: mark it unavailable, N - 1, select again.
        remaining &= !(1 << chosen);
    }
    None
}

/// Index of the first answer, or `None` when nothing can be answered.
/// `launder` must return its argument (see [`persist`]); user space passes
/// [`identity`].
#[inline(always)]
pub fn first(sel: &Selection, pick: &Pick, launder: &mut impl FnMut(u64) -> u64) -> Option<usize> {
    let count = u32::from(sel.count);
    if count == 0 || usize::from(sel.count) > MAX_ADDRS {
        return None;
    }
    let i = match sel.mode {
        MODE_ORDERED => 0,
        MODE_ROUND_ROBIN => (pick.counter % count) as usize,
        MODE_RANDOM => (pick.random % count) as usize,
        MODE_RATIO | MODE_WEIGHTED_RANDOM => {
            if sel.total_weight == 0 {
                return None;
            }
            let x = if sel.mode == MODE_RATIO {
                pick.counter
            } else {
                pick.random
            };
            weighted(sel, x % sel.total_weight)
        }
        MODE_STATIC_PERSIST => persist(sel, pick.client, launder)?,
        _ => return None,
    };
    Some(i)
}

/// The `launder` of user space: nothing to hide from a verifier.
#[inline(always)]
pub fn identity(x: u64) -> u64 {
    x
}

/// Bit i set: candidate i may be handed out. Static persist marks the
/// candidates that are down in `up` (they keep their slot for the
/// modulus); every other mode gets only available candidates.
#[inline(always)]
fn usable(sel: &Selection) -> u32 {
    if sel.mode == MODE_STATIC_PERSIST {
        u32::from(sel.up)
    } else {
        u32::MAX
    }
}

/// Most answers in a response: `max` (`0` = no limit), at most the
/// candidates that may be handed out.
#[inline(always)]
pub fn answer_count(sel: &Selection) -> usize {
    let n = usize::from(sel.count).min(MAX_ADDRS);
    let n = (usable(sel) & ((1u32 << n) - 1)).count_ones() as usize;
    if sel.max != 0 && usize::from(sel.max) < n {
        usize::from(sel.max)
    } else {
        n
    }
}

/// Whether a mode advances the set's rotation counter.
#[inline(always)]
pub const fn uses_counter(mode: u16) -> bool {
    mode == MODE_ROUND_ROBIN || mode == MODE_RATIO
}

/// Writes the candidate index of each answer into `order`, in answer
/// order: `first`, then the candidates after it in pool order, wrapping
/// around, skipping those that are down (static persist), up to `max`
/// answers. A `first` at or past `count` is a candidate kept only for its
/// persistent clients (a draining server, see [`keep_index`]): it comes
/// first, then the candidates `0..count` in pool order. Returns the number
/// of answers, [`answer_count`] in either case. One loop of at most
/// [`MAX_ADDRS`] steps, the same for the XDP program and the slow path,
/// without a branch on the candidates' state: the verifier then sees one
/// state per step, not one per combination of skips.
#[inline(always)]
pub fn answer_order(sel: &Selection, first: usize, order: &mut [u8; MAX_ADDRS]) -> usize {
    answer_order_with(sel, first, order, &mut identity)
}

/// [`answer_order`], with the loop's start state passed through
/// `launder` (see [`first`]): the XDP program then checks the loop once,
/// not once for a keep-only first and once for the others.
#[inline(always)]
pub fn answer_order_with(
    sel: &Selection,
    first: usize,
    order: &mut [u8; MAX_ADDRS],
    launder: &mut impl FnMut(u64) -> u64,
) -> usize {
    let count = usize::from(opaque_count(sel)).min(MAX_ADDRS);
    let first = first & (MAX_ADDRS - 1);
    let max = if sel.max == 0 {
        MAX_ADDRS
    } else {
        usize::from(sel.max)
    };
    // A keep-only first answer takes place 0; the loop then lists the
    // candidates from 0, one answer fewer.
    let (start, n, max) = if first >= count {
        (0, 1, answer_count(sel))
    } else {
        (first, 0, max)
    };
    // One value through `launder`: each costs a store and a load.
    let v = launder((start | n << 4 | max << 8) as u64) as usize;
    let start = v & (MAX_ADDRS - 1);
    let mut n = (v >> 4) & 1;
    let max = (v >> 8) & (2 * MAX_ADDRS - 1);
    order[0] = first as u8;
    let usable = usable(sel);
    for j in 0..MAX_ADDRS {
        if j >= count || n >= max {
            break;
        }
        // `start < count`: at most one wrap, subtracted without a branch
        // (all ones when `i >= count`) or a division.
        let i = start + j;
        let wrap = ((count as i64 - 1 - i as i64) >> 63) as usize;
        let i = (i - (count & wrap)) & (MAX_ADDRS - 1);
        // Written at the next free place, kept only if usable; `n <= j + 1`.
        order[n & (MAX_ADDRS - 1)] = i as u8;
        n += ((usable >> i) & 1) as usize;
    }
    n
}

/// Nanoseconds per second ([`Selection::sticky_ttl`] is in seconds).
const NS_PER_S: u64 = 1_000_000_000;

// The persistence checks below are written without branches: BPF has no
// conditional set, so every comparison that yields a value is a branch,
// and each branch doubles the states the verifier checks after it.

/// All ones when `a == b`, else 0.
#[inline(always)]
const fn eq_mask(a: u32, b: u32) -> u64 {
    (((a ^ b) as u64).wrapping_sub(1) as i64 >> 63) as u64
}

/// All ones when `a < b` (both below 2^63), else 0.
#[inline(always)]
const fn lt_mask(a: u64, b: u64) -> u64 {
    (a.wrapping_sub(b) as i64 >> 63) as u64
}

/// `min(a, b)` of values below 2^63.
#[inline(always)]
const fn min_of(a: u64, b: u64) -> u64 {
    b ^ ((a ^ b) & lt_mask(a, b))
}

/// The first `len` (0..=64) bits of a 64-bit word set.
#[inline(always)]
const fn word_mask(len: u64) -> u64 {
    // Two shifts, each below 64.
    !((u64::MAX >> (len >> 1)) >> (len - (len >> 1)))
}

/// Key of the [`crate::maps::PERSIST`] record of a client for the answer
/// set `set` of family `family` (4: the set's A answers, 6: its AAAA):
/// the client's address (`client`, 128 bits, IPv4 mapped when `v4`)
/// masked to the set's persistence prefix, [`Selection::sticky_v4`] (as
/// `V4_MAPPED_LEN + l`) or [`Selection::sticky_v6`].
#[inline(always)]
pub fn persist_record_key(
    sel: &Selection,
    set: u32,
    family: u8,
    client: &ClientPrefix,
    v4: bool,
) -> PersistKey {
    let l4 = u64::from(V4_MAPPED_LEN) + min_of(u64::from(sel.sticky_v4), 32);
    let l6 = min_of(u64::from(sel.sticky_v6), 128);
    let len = l6 ^ ((l4 ^ l6) & 0u64.wrapping_sub(u64::from(v4)));
    let hi_len = min_of(len, 64);
    let [a0, a1, a2, a3, a4, a5, a6, a7, b0, b1, b2, b3, b4, b5, b6, b7] = *client;
    let hi = u64::from_be_bytes([a0, a1, a2, a3, a4, a5, a6, a7]) & word_mask(hi_len);
    let lo = u64::from_be_bytes([b0, b1, b2, b3, b4, b5, b6, b7]) & word_mask(len - hi_len);
    let mut addr = [0u8; 16];
    addr[..8].copy_from_slice(&hi.to_be_bytes());
    addr[8..].copy_from_slice(&lo.to_be_bytes());
    PersistKey {
        set,
        family,
        prefix_len: len as u8,
        _pad: 0,
        addr,
    }
}

/// [`keep_index`] as a number: `MAX_ADDRS` when there is none.
#[inline(always)]
pub fn keep_index_of(sel: &Selection, server: u16) -> usize {
    let mut hits = 0u64;
    for i in 0..MAX_ADDRS {
        hits |= (eq_mask(u32::from(sel.ids[i]), u32::from(server)) & 1) << i;
    }
    hits &= u64::from(sel.keep);
    // The lowest bit set, as its index: the bits below it counted (all
    // eight when none is set).
    let low = hits & hits.wrapping_neg();
    (low.wrapping_sub(1) & 0xff).count_ones() as usize
}

/// The candidate that keeps the clients persisted to `server`: the first
/// `i` with keep bit `i` ([`Selection::keep`]) and `ids[i] == server`.
/// `None`: the server is no longer a candidate of the set (down, disabled,
/// removed), so its record is void.
#[inline(always)]
pub fn keep_index(sel: &Selection, server: u16) -> Option<usize> {
    let i = keep_index_of(sel, server);
    if i < MAX_ADDRS {
        Some(i)
    } else {
        None
    }
}

/// [`record_live`] as a mask: all ones when live.
#[inline(always)]
fn record_live_mask(sel: &Selection, rec: &PersistRecord, generation: u32, now_ns: u64) -> u64 {
    // A record stamped after `now` (another CPU's clock read) is age 0.
    let age = now_ns.wrapping_sub(rec.last_used_ns) & !lt_mask(now_ns, rec.last_used_ns);
    let ttl = u64::from(sel.sticky_ttl) * NS_PER_S;
    eq_mask(generation, rec.generation) & lt_mask(age, ttl)
}

/// Whether a persistence record still holds at `now_ns` (`CLOCK_MONOTONIC_COARSE`
/// ns): used less than [`Selection::sticky_ttl`] seconds ago, and made
/// under `generation`, the current generation of its server (a server
/// that went down or was disabled since has another). Whether its server
/// is still a candidate is [`keep_index`]'s question.
#[inline(always)]
pub fn record_live(sel: &Selection, rec: &PersistRecord, generation: u32, now_ns: u64) -> bool {
    record_live_mask(sel, rec, generation, now_ns) != 0
}

/// Finest step of a record's use time, in ns: 1/64 of
/// [`Selection::sticky_ttl`]. A hit within this of the time recorded
/// leaves the record as it is ([`refresh_due`]).
#[inline(always)]
pub fn refresh_step_ns(sel: &Selection) -> u64 {
    (u64::from(sel.sticky_ttl) * NS_PER_S) >> 6
}

/// When a hit on `rec` is due to write its use time again: once the time
/// recorded is [`refresh_step_ns`] old. A hit thus writes the record at
/// most once a step rather than on every query (a cache line every CPU
/// answering the client shares), and a record expires at most one step
/// (1/64 of the TTL) before `sticky_ttl` has passed since its very last
/// use.
#[inline(always)]
pub fn refresh_due_ns(sel: &Selection, rec: &PersistRecord) -> u64 {
    rec.last_used_ns.wrapping_add(refresh_step_ns(sel))
}

/// Whether a hit at `now_ns` on `rec` writes its use time
/// ([`refresh_due_ns`]). A record stamped after `now_ns` (another CPU's
/// clock read) is not due.
#[inline(always)]
pub fn refresh_due(sel: &Selection, rec: &PersistRecord, now_ns: u64) -> bool {
    now_ns >= refresh_due_ns(sel, rec)
}

/// [`persisted`] for a record that exists, as a number: the candidate of
/// a hit, `MAX_ADDRS` or more for a new pick.
#[inline(always)]
pub fn persisted_index(
    sel: &Selection,
    rec: &PersistRecord,
    generation: u32,
    now_ns: u64,
) -> usize {
    let i = keep_index_of(sel, rec.server);
    let live = record_live_mask(sel, rec, generation, now_ns) as usize;
    i | (MAX_ADDRS & !live)
}

/// What a query of a set with persistence ([`Selection::sticky_ttl`] not
/// 0) does with the client's record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persisted {
    /// The record is live and its server a candidate: the first answer is
    /// this candidate (possibly keep-only), and the record's `last_used_ns`
    /// is refreshed when [`refresh_due`].
    Hit(usize),
    /// No live record: the set's method picks the first answer, and a new
    /// record is written for it.
    New,
}

/// Decides [`Persisted`] from the client's record, if any, and the
/// current generation of its server (`generation`): the same rule for
/// the XDP program and the slow path.
#[inline(always)]
pub fn persisted(
    sel: &Selection,
    rec: Option<&PersistRecord>,
    generation: u32,
    now_ns: u64,
) -> Persisted {
    match rec {
        Some(r) => match persisted_index(sel, r, generation, now_ns) {
            i if i < MAX_ADDRS => Persisted::Hit(i),
            _ => Persisted::New,
        },
        None => Persisted::New,
    }
}

/// ECS SCOPE PREFIX-LENGTH of a reply (RFC 7871 §7.2.1) with an answer
/// from `sel`: `trie_scope` (the length, in the client's family, of the
/// client-group prefix that matched; see
/// [`crate::maps::ClientGroup::scope`]) when the name's answers depend on
/// the client group, else 0; raised to the prefix that persistence keys
/// on (with a TTL: `sticky_v4/v6`; static persist: `persist_v4/v6`); 0
/// when the query's SOURCE PREFIX-LENGTH is 0. Negative and static
/// answers carry 0 (not this function's).
#[inline(always)]
pub fn ecs_scope(sel: &Selection, source: u8, v4: bool, trie_scope: u8, client_aware: bool) -> u8 {
    if source == 0 {
        return 0;
    }
    let mut scope = if client_aware { trie_scope } else { 0 };
    let persist = if sel.sticky_ttl != 0 {
        if v4 {
            sel.sticky_v4
        } else {
            sel.sticky_v6
        }
    } else if sel.mode == MODE_STATIC_PERSIST {
        if v4 {
            sel.persist_v4
        } else {
            sel.persist_v6
        }
    } else {
        0
    };
    if persist > scope {
        scope = persist;
    }
    scope.min(if v4 { 32 } else { 128 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_u(s: &Selection, p: &Pick) -> Option<usize> {
        first(s, p, &mut identity)
    }

    fn sel(mode: u16, count: u8) -> Selection {
        Selection {
            mode,
            count,
            up: (1u16 << count).wrapping_sub(1) as u8,
            ..Default::default()
        }
    }

    #[test]
    fn round_robin_cycles_exactly() {
        let s = sel(MODE_ROUND_ROBIN, 3);
        let firsts: [usize; 6] = core::array::from_fn(|c| {
            first_u(
                &s,
                &Pick {
                    counter: c as u32,
                    ..Default::default()
                },
            )
            .unwrap()
        });
        assert_eq!(firsts, [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn ratio_exact_over_a_cycle() {
        let mut s = sel(MODE_RATIO, 3);
        s.weights[..3].copy_from_slice(&[3, 1, 2]);
        s.total_weight = 6;
        let mut hits = [0; 3];
        for c in 0..600 {
            hits[first_u(
                &s,
                &Pick {
                    counter: c,
                    ..Default::default()
                },
            )
            .unwrap()] += 1;
        }
        assert_eq!(hits, [300, 100, 200]);
    }

    #[test]
    fn static_persist_moves_only_the_down_servers_clients() {
        let mut s = sel(MODE_STATIC_PERSIST, 4);
        let before: [usize; 64] = core::array::from_fn(|c| {
            first_u(
                &s,
                &Pick {
                    client: c as u64,
                    ..Default::default()
                },
            )
            .unwrap()
        });
        // Claim 3: value mod N selects the (remainder + 1)-th server.
        for (c, i) in before.iter().enumerate() {
            assert_eq!(*i, c % 4);
        }
        s.up &= !(1 << 2);
        for c in 0..64u64 {
            let now = first_u(
                &s,
                &Pick {
                    client: c,
                    ..Default::default()
                },
            )
            .unwrap();
            if before[c as usize] == 2 {
                // Claim 4: N - 1 over the remaining servers 0, 1, 3.
                assert_eq!(now, [0, 1, 3][(c % 3) as usize]);
            } else {
                assert_eq!(now, before[c as usize], "client {c} must not move");
            }
        }
        s.up = 0;
        assert_eq!(
            first_u(
                &s,
                &Pick {
                    client: 5,
                    ..Default::default()
                }
            ),
            None
        );
    }

    #[test]
    fn persist_keys_use_only_the_prefix() {
        let k = persist_key_v4([198, 18, 7, 9], 24);
        assert_eq!(k, persist_key_v4([198, 18, 7, 200], 24));
        assert_ne!(k, persist_key_v4([198, 18, 8, 9], 24));
        // The prefix length is part of the key.
        assert_ne!(
            persist_key_v4([0, 0, 0, 1], 32),
            persist_key_v4([0, 0, 1, 0], 24)
        );
        assert_eq!(
            persist_key_v4([198, 18, 7, 9], 0),
            persist_key_v4([1, 2, 3, 4], 0)
        );
        // A fixed hash: the same on every host and in the XDP program.
        assert_eq!(k, mix64((0x00c6_1207) | (24 << 32)));
        let mut a = [0u8; 16];
        a[..8].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 1, 2, 3, 4]);
        let k6 = persist_key_v6(&a, 48);
        a[6] = 9;
        a[15] = 1;
        assert_eq!(k6, persist_key_v6(&a, 48));
        a[5] = 3;
        assert_ne!(k6, persist_key_v6(&a, 48));
        assert_eq!(persist_key_v6(&a, 64), persist_key_v6(&a, 200));
    }

    /// A small deterministic generator for the distribution tests.
    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn static_persist_spreads_prefixes_evenly() {
        const CLIENTS: usize = 10_000;
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        for n in 2..=8u8 {
            let s = sel(MODE_STATIC_PERSIST, n);
            let mut hits4 = [0usize; MAX_ADDRS];
            let mut hits6 = [0usize; MAX_ADDRS];
            for _ in 0..CLIENTS {
                let r = xorshift(&mut rng);
                let v4 = (r as u32).to_be_bytes();
                let pick4 = Pick {
                    client: persist_key_v4(v4, 24),
                    ..Default::default()
                };
                hits4[first_u(&s, &pick4).unwrap()] += 1;
                let mut v6 = [0u8; 16];
                v6[..8].copy_from_slice(&xorshift(&mut rng).to_be_bytes());
                let pick6 = Pick {
                    client: persist_key_v6(&v6, 48),
                    ..Default::default()
                };
                hits6[first_u(&s, &pick6).unwrap()] += 1;
            }
            for hits in [hits4, hits6] {
                for &h in &hits[..usize::from(n)] {
                    let share = h as f64 / CLIENTS as f64;
                    let want = 1.0 / f64::from(n);
                    assert!(
                        (share - want).abs() < 0.02,
                        "{n} servers: share {share:.4}, want {want:.4} ({hits:?})"
                    );
                }
            }
        }
    }

    /// The answer order as an array and its length.
    struct Order([u8; MAX_ADDRS], usize);

    impl Order {
        fn get(&self) -> &[u8] {
            &self.0[..self.1]
        }
    }

    fn order(s: &Selection, first: usize) -> Order {
        let mut o = [0u8; MAX_ADDRS];
        let n = answer_order(s, first, &mut o);
        assert_eq!(n, answer_count(s));
        Order(o, n)
    }

    #[test]
    fn answer_order_wraps() {
        let s = sel(MODE_ROUND_ROBIN, 3);
        assert_eq!(order(&s, 2).get(), [2, 0, 1]);
        let mut s = sel(MODE_ORDERED, 5);
        s.max = 2;
        assert_eq!(order(&s, 4).get(), [4, 0]);
        // Modes other than static persist never skip (`up` is not theirs).
        s.up = 0;
        assert_eq!(order(&s, 0).get(), [0, 1]);
    }

    fn sticky(count: u8, keep: u8) -> Selection {
        let mut s = sel(MODE_ROUND_ROBIN, count);
        s.sticky_ttl = 600;
        s.sticky_v4 = 24;
        s.sticky_v6 = 56;
        s.keep = keep;
        for i in 0..MAX_ADDRS {
            s.ids[i] = 100 + i as u16;
        }
        s
    }

    #[test]
    fn a_record_use_time_is_written_once_a_step() {
        let mut s = sticky(3, 0b111);
        let rec = PersistRecord {
            server: 100,
            last_used_ns: 100 * NS_PER_S,
            ..PersistRecord::default()
        };
        // TTL 64 s: a 1 s step.
        s.sticky_ttl = 64;
        assert_eq!(refresh_step_ns(&s), NS_PER_S);
        assert!(!refresh_due(&s, &rec, 100 * NS_PER_S));
        assert!(!refresh_due(&s, &rec, 101 * NS_PER_S - 1));
        assert!(refresh_due(&s, &rec, 101 * NS_PER_S));
        // Stamped after `now` by another CPU: age 0.
        assert!(!refresh_due(&s, &rec, 99 * NS_PER_S));
        // TTL 600 s: 9.375 s.
        s.sticky_ttl = 600;
        assert_eq!(refresh_step_ns(&s), 9_375_000_000);
        assert!(!refresh_due(&s, &rec, 109 * NS_PER_S));
        assert!(refresh_due(&s, &rec, 110 * NS_PER_S));
        assert_eq!(refresh_due_ns(&s, &rec), 109_375_000_000);
    }

    #[test]
    fn answer_order_puts_a_keep_only_candidate_first() {
        // Candidates 0..3, candidate 3 draining (keep-only).
        let s = sticky(3, 0b1111);
        assert_eq!(order(&s, 3).get(), [3, 0, 1]);
        let mut s = sticky(3, 0b1111);
        s.max = 2;
        assert_eq!(order(&s, 3).get(), [3, 0]);
        s.max = 1;
        assert_eq!(order(&s, 3).get(), [3]);
        // Keep-only candidate 6 behind two: first, then 0 and 1.
        let s = sticky(2, 0b0100_0011);
        assert_eq!(order(&s, 6).get(), [6, 0]);
        // The last place (count 7, candidate 7 keep-only).
        let s = sticky(7, 0xff);
        assert_eq!(order(&s, 7).get(), [7, 0, 1, 2, 3, 4, 5]);
        // A regular first is unchanged by `keep`.
        assert_eq!(order(&s, 5).get(), [5, 6, 0, 1, 2, 3, 4]);
    }

    #[test]
    fn keep_index_finds_only_kept_candidates() {
        let s = sticky(3, 0b1011);
        assert_eq!(keep_index(&s, 100), Some(0));
        assert_eq!(keep_index(&s, 101), Some(1));
        // Candidate 2 has no keep bit: its clients move.
        assert_eq!(keep_index(&s, 102), None);
        assert_eq!(keep_index(&s, 103), Some(3));
        assert_eq!(keep_index(&s, 7), None);
    }

    #[test]
    fn records_expire_and_die_with_their_generation() {
        let s = sticky(3, 0b111);
        let rec = PersistRecord {
            server: 101,
            generation: 4,
            last_used_ns: 1_000 * NS_PER_S,
            ..Default::default()
        };
        let now = rec.last_used_ns + 599 * NS_PER_S;
        assert!(record_live(&s, &rec, 4, now));
        assert_eq!(persisted(&s, Some(&rec), 4, now), Persisted::Hit(1));
        // TTL passed since the last use.
        assert!(!record_live(&s, &rec, 4, rec.last_used_ns + 600 * NS_PER_S));
        // The server went down (or was disabled) since.
        assert_eq!(persisted(&s, Some(&rec), 5, now), Persisted::New);
        // Not a candidate any more.
        let gone = PersistRecord { server: 107, ..rec };
        assert_eq!(persisted(&s, Some(&gone), 4, now), Persisted::New);
        assert_eq!(persisted(&s, None, 4, now), Persisted::New);
        // A clock before the record (another CPU's newer stamp): live.
        assert!(record_live(&s, &rec, 4, 0));
        let off = Selection { sticky_ttl: 0, ..s };
        assert!(!record_live(&off, &rec, 4, now));
    }

    #[test]
    fn persist_record_keys_mask_to_the_sticky_prefix() {
        let s = sticky(2, 0b11);
        let mut a = [0u8; 16];
        a[10] = 0xff;
        a[11] = 0xff;
        a[12..].copy_from_slice(&[198, 18, 7, 9]);
        let k = persist_record_key(&s, 3, 4, &a, true);
        assert_eq!(k.prefix_len, 96 + 24);
        assert_eq!(k.addr[12..], [198, 18, 7, 0]);
        assert_eq!((k.set, k.family), (3, 4));
        a[15] = 200;
        assert_eq!(persist_record_key(&s, 3, 4, &a, true), k);
        assert_ne!(persist_record_key(&s, 3, 6, &a, true), k);
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 1, 2, 3, 0xff]);
        b[15] = 1;
        let k6 = persist_record_key(&s, 3, 6, &b, false);
        assert_eq!(k6.prefix_len, 56);
        assert_eq!(k6.addr[..8], [0x20, 0x01, 0x0d, 0xb8, 1, 2, 3, 0]);
        assert!(k6.addr[8..].iter().all(|&x| x == 0));
    }

    #[test]
    fn persist_record_keys_equal_mask_prefix_for_every_length() {
        let a: ClientPrefix = core::array::from_fn(|i| 0xa5 ^ (i as u8).wrapping_mul(37));
        for l in 0..=40u8 {
            let mut s = sticky(2, 0b11);
            s.sticky_v4 = l;
            let mut want = a;
            crate::maps::mask_prefix(&mut want, 96 + l.min(32));
            assert_eq!(persist_record_key(&s, 1, 4, &a, true).addr, want, "v4 /{l}");
        }
        for l in 0..=140u8 {
            let mut s = sticky(2, 0b11);
            s.sticky_v6 = l;
            let mut want = a;
            crate::maps::mask_prefix(&mut want, l.min(128));
            let k = persist_record_key(&s, 1, 6, &a, false);
            assert_eq!((k.addr, k.prefix_len), (want, l.min(128)), "v6 /{l}");
        }
    }

    #[test]
    fn ecs_scope_rule() {
        let plain = sel(MODE_ROUND_ROBIN, 2);
        assert_eq!(ecs_scope(&plain, 24, true, 16, false), 0);
        assert_eq!(ecs_scope(&plain, 24, true, 16, true), 16);
        assert_eq!(ecs_scope(&plain, 0, true, 16, true), 0);
        let st = sticky(2, 0b11);
        assert_eq!(ecs_scope(&st, 24, true, 16, true), 24);
        assert_eq!(ecs_scope(&st, 24, true, 28, true), 28);
        assert_eq!(ecs_scope(&st, 48, false, 32, false), 56);
        assert_eq!(ecs_scope(&st, 0, false, 32, true), 0);
        let mut sp = sel(MODE_STATIC_PERSIST, 2);
        sp.persist_v4 = 24;
        sp.persist_v6 = 48;
        assert_eq!(ecs_scope(&sp, 32, true, 0, false), 24);
        assert_eq!(ecs_scope(&sp, 64, false, 0, false), 48);
    }

    #[test]
    fn static_persist_answers_skip_down_servers() {
        let mut s = sel(MODE_STATIC_PERSIST, 4);
        s.max = 3;
        s.up = 0b1011; // candidate 2 down
        assert_eq!(order(&s, 1).get(), [1, 3, 0]);
        assert_eq!(order(&s, 3).get(), [3, 0, 1]);
        s.max = 0;
        assert_eq!(order(&s, 0).get(), [0, 1, 3]);
        s.up = 0b0100;
        assert_eq!(order(&s, 2).get(), [2]);
        // Every first answer over many clients is up, and so is the rest.
        s.up = 0b1010;
        for c in 0..256u64 {
            let p = Pick {
                client: persist_key_v4([198, 18, c as u8, 1], 24),
                ..Default::default()
            };
            let f = first_u(&s, &p).unwrap();
            let o = order(&s, f);
            assert_eq!(o.1, 2);
            assert!(
                o.get().iter().all(|&i| s.up & (1 << i) != 0),
                "{:?}",
                o.get()
            );
        }
    }
}
