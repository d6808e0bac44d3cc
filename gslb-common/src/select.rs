//! Per-query selection, shared by the XDP program and the slow path so that
//! both pick the same answers from the same [`Selection`] (DESIGN.md,
//! "Invariants"). Every loop is bounded by [`MAX_ADDRS`] for the verifier.

use crate::maps::MAX_ADDRS;

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
/// Static persist (seed 004 claims 3-4): the client's LDNS address, masked
/// to a prefix, modulo the number of candidates; a candidate found down is
/// removed and the modulus taken again over the rest, so only the clients
/// of a down server move.
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
}

const _: () = assert!(core::mem::size_of::<Selection>() == 52);

/// Inputs of one pick that vary per query.
#[derive(Clone, Copy, Debug, Default)]
pub struct Pick {
    /// The set's rotation counter before this query.
    pub counter: u32,
    /// A random number.
    pub random: u32,
    /// The client's LDNS address, masked, as a number ([`persist_key_v4`],
    /// [`persist_key_v6`]).
    pub client: u64,
}

/// Static persist key of an IPv4 LDNS address: its first `prefix` bits.
#[inline(always)]
pub fn persist_key_v4(addr: [u8; 4], prefix: u8) -> u64 {
    let a = u32::from_be_bytes(addr);
    let p = u32::from(prefix.min(32));
    let masked = if p == 0 {
        0
    } else {
        a & (u32::MAX << (32 - p))
    };
    u64::from(masked)
}

/// Static persist key of an IPv6 LDNS address: its first `prefix` bits,
/// at most 64 (a /64 is one site).
#[inline(always)]
pub fn persist_key_v6(addr: &[u8; 16], prefix: u8) -> u64 {
    let hi = u64::from_be_bytes([
        addr[0], addr[1], addr[2], addr[3], addr[4], addr[5], addr[6], addr[7],
    ]);
    let p = u64::from(prefix.min(64));
    if p == 0 {
        0
    } else {
        hi & (u64::MAX << (64 - p))
    }
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

/// Number of answers in a response.
#[inline(always)]
pub fn answer_count(sel: &Selection) -> usize {
    let n = usize::from(sel.count).min(MAX_ADDRS);
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

/// Candidate index of the `k`-th answer when the first is `first`: the
/// candidates after it in order, wrapping around.
#[inline(always)]
pub fn nth(sel: &Selection, first: usize, k: usize) -> usize {
    let count = usize::from(sel.count).clamp(1, MAX_ADDRS);
    let i = first + k;
    if i >= count {
        i - count
    } else {
        i
    }
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
    fn persist_keys_mask_prefixes() {
        assert_eq!(
            persist_key_v4([198, 18, 7, 9], 24),
            u64::from(u32::from_be_bytes([198, 18, 7, 0]))
        );
        assert_eq!(persist_key_v4([198, 18, 7, 9], 0), 0);
        let mut a = [0u8; 16];
        a[..8].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 1, 2, 3, 4]);
        assert_eq!(persist_key_v6(&a, 32), 0x2001_0db8_0000_0000);
    }

    #[test]
    fn nth_wraps() {
        let s = sel(MODE_ROUND_ROBIN, 3);
        assert_eq!([nth(&s, 2, 0), nth(&s, 2, 1), nth(&s, 2, 2)], [2, 0, 1]);
    }
}
