//! The partition of the address space: every prefix source (cidr rules,
//! region lists, geo database networks) flattened into disjoint prefixes
//! covering the whole IPv4 space (as `::ffff:0:0/96`) and the whole IPv6
//! space, each with the value of its addresses, adjacent ranges with the
//! same value merged into the widest aligned prefixes.
//!
//! How: every source prefix is a range of the 128-bit key space; a sweep
//! over the sorted range boundaries visits each elementary range once
//! with the labels of every source prefix that contains it (nested
//! prefixes both count: an address inside 198.18.0.0/16 and
//! 198.18.1.0/24 matches both cidr rules). The caller maps each set of
//! labels to a value; consecutive ranges with equal values are joined,
//! and each joined range is cut into the fewest aligned prefixes. IPv4
//! (`::ffff:0:0/96`, entries of length ≥ 96) and IPv6 are partitioned
//! apart, so that a client-independent answer has scope 0 in both. This gives the same result as a binary trie whose
//! sibling halves with equal values are merged bottom-up, without a
//! node per bit.

use std::{collections::BTreeMap, hash::Hash, net::IpAddr};

use gslb_common::maps::V4_MAPPED_LEN;
use ipnet::IpNet;

/// First key of the IPv4-mapped range `::ffff:0:0/96`.
pub const V4_START: u128 = 0xffff_0000_0000;
/// Last key of the IPv4-mapped range.
pub const V4_END: u128 = 0xffff_ffff_ffff;

/// The 128-bit key of an address (IPv4 mapped).
pub fn key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => V4_START | u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The first and last key of a prefix, and its 128-bit length.
pub fn range(net: IpNet) -> (u128, u128, u8) {
    let (start, len) = match net {
        IpNet::V4(n) => (key(IpAddr::V4(n.network())), V4_MAPPED_LEN + n.prefix_len()),
        IpNet::V6(n) => (u128::from(n.network()), n.prefix_len()),
    };
    (start, last(start, len), len)
}

/// Last key of the prefix `start/len`.
fn last(start: u128, len: u8) -> u128 {
    match len {
        0 => u128::MAX,
        128.. => start,
        _ => start | (u128::MAX >> len),
    }
}

/// The prefix `start/len` (128-bit length) as an address prefix: IPv4
/// when inside `::ffff:0:0/96`.
pub fn to_net(start: u128, len: u8) -> IpNet {
    if len >= V4_MAPPED_LEN && (V4_START..=V4_END).contains(&start) {
        IpNet::new(IpAddr::V4((start as u32).into()), len - V4_MAPPED_LEN).expect("valid")
    } else {
        IpNet::new(IpAddr::V6(start.into()), len).expect("valid")
    }
}

/// One prefix of a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cell<V> {
    /// First key (IPv4 mapped).
    pub start: u128,
    /// 128-bit prefix length.
    pub len: u8,
    /// The value of its addresses.
    pub value: V,
}

/// Flattens `(prefix, label)` pairs into two partitions, one per family:
/// the IPv4 one covers `::ffff:0:0/96` (entries of length ≥ 96), the
/// IPv6 one the whole key space, IPv4 sources ignored there (so an IPv6
/// entry may contain `::ffff:0:0/96`: an IPv4 key always finds its
/// longer IPv4 entry first, in the trie as in [`find`]). `value_of` gets
/// the labels of the sources containing a range (sorted, a label once per
/// containing prefix) and returns its value. IPv6 sources inside
/// `::ffff:0:0/96` are ignored (no IPv6 client has such an address).
pub fn flatten<L, V>(
    sources: Vec<(IpNet, L)>,
    mut value_of: impl FnMut(&[L]) -> V,
) -> (Vec<Cell<V>>, Vec<Cell<V>>)
where
    L: Clone + Ord,
    V: Clone + Eq + Hash,
{
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for (net, label) in sources {
        let (start, end, _) = range(net);
        match net {
            IpNet::V4(_) => v4.push((start, end, label)),
            IpNet::V6(_) if start >= V4_START && end <= V4_END => {}
            IpNet::V6(_) => v6.push((start, end, label)),
        }
    }
    let v4 = sweep(v4, V4_START, V4_END, &mut value_of);
    let mut v6 = sweep(v6, 0, u128::MAX, &mut value_of);
    // The one IPv6 cell that could have an IPv4 cell's key.
    v6.retain(|c| !(c.start == V4_START && c.len == V4_MAPPED_LEN));
    (v4, v6)
}

/// The partition of `[lo, hi]` (an aligned prefix) by the sources'
/// ranges.
fn sweep<L, V>(
    sources: Vec<(u128, u128, L)>,
    lo: u128,
    hi: u128,
    value_of: &mut impl FnMut(&[L]) -> V,
) -> Vec<Cell<V>>
where
    L: Clone + Ord,
    V: Clone + Eq + Hash,
{
    // Boundaries: +label at a prefix's start, -label past its end.
    let mut events: Vec<(u128, bool, L)> = Vec::with_capacity(sources.len() * 2);
    for (start, end, label) in sources {
        events.push((start, true, label.clone()));
        if end != hi {
            events.push((end + 1, false, label));
        }
    }
    events.sort_by_key(|e| e.0);
    let mut cuts: Vec<u128> = vec![lo];
    cuts.extend(events.iter().map(|e| e.0));
    cuts.sort_unstable();
    cuts.dedup();

    let mut active: BTreeMap<L, u32> = BTreeMap::new();
    let mut labels: Vec<L> = Vec::new();
    let mut ev = events.into_iter().peekable();
    // Joined ranges: (start, end, value).
    let mut joined: Vec<(u128, u128, V)> = Vec::new();
    for (i, &cut) in cuts.iter().enumerate() {
        while let Some(e) = ev.next_if(|e| e.0 == cut) {
            if e.1 {
                *active.entry(e.2).or_insert(0) += 1;
            } else if let Some(n) = active.get_mut(&e.2) {
                *n -= 1;
                if *n == 0 {
                    active.remove(&e.2);
                }
            }
        }
        let end = cuts.get(i + 1).map_or(hi, |next| next - 1);
        labels.clear();
        for (l, &n) in &active {
            labels.extend(std::iter::repeat_n(l.clone(), n as usize));
        }
        let value = value_of(&labels);
        match joined.last_mut() {
            Some(last) if last.2 == value => last.1 = end,
            _ => joined.push((cut, end, value)),
        }
    }
    let mut out = Vec::new();
    for (start, end, value) in joined {
        cut_aligned(start, end, |s, len| {
            out.push(Cell {
                start: s,
                len,
                value: value.clone(),
            })
        });
    }
    out
}

/// The cell of a sorted partition holding `key`.
pub fn find<V>(cells: &[Cell<V>], key: u128) -> Option<&Cell<V>> {
    let i = cells.partition_point(|c| c.start <= key);
    cells.get(i.checked_sub(1)?)
}

/// Cuts `[start, end]` into the fewest aligned prefixes, in order.
fn cut_aligned(mut start: u128, end: u128, mut f: impl FnMut(u128, u8)) {
    loop {
        // Largest k with start aligned to 2^k and start + 2^k - 1 <= end.
        let align = start.trailing_zeros(); // 128 for 0
        let span = end - start; // size - 1
        let fit = if span == u128::MAX {
            128
        } else {
            127 - (span + 1).leading_zeros()
        };
        let k = align.min(fit);
        f(start, (128 - k) as u8);
        if k == 128 {
            return;
        }
        let next = start + ((1u128 << k) - 1);
        if next >= end {
            return;
        }
        start = next + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn cells(sources: Vec<(IpNet, u32)>) -> Vec<(String, Vec<u32>)> {
        let (v4, v6) = flatten(sources, |l| l.to_vec());
        v4.into_iter()
            .chain(v6)
            .map(|c| (to_net(c.start, c.len).to_string(), c.value))
            .collect()
    }

    fn find<'a>(c: &'a [(String, Vec<u32>)], p: &str) -> &'a [u32] {
        &c.iter()
            .find(|(n, _)| n == p)
            .unwrap_or_else(|| panic!("{p} not in {c:?}"))
            .1
    }

    #[test]
    fn empty_sources_cover_each_family_with_one_cell() {
        let c = cells(vec![]);
        assert_eq!(
            c,
            vec![
                ("0.0.0.0/0".to_string(), vec![]),
                ("::/0".to_string(), vec![])
            ]
        );
    }

    /// The cells of one family are disjoint and cover its space.
    fn covers(cells: &[Cell<Vec<u32>>], lo: u128, hi: u128) {
        let mut next = lo;
        for c in cells {
            assert_eq!(c.start, next, "gap or overlap at {:x}", c.start);
            let end = last(c.start, c.len);
            if end == hi {
                return;
            }
            next = end + 1;
        }
        panic!("cells end before {hi:x}");
    }

    #[test]
    fn nested_prefixes_carry_both_labels_and_scope_is_the_cell() {
        let c = cells(vec![(net("198.18.0.0/16"), 1), (net("198.18.1.0/24"), 2)]);
        assert_eq!(find(&c, "198.18.1.0/24"), &[1, 2]);
        assert_eq!(find(&c, "198.18.0.0/24"), &[1]);
        assert_eq!(find(&c, "198.18.2.0/23"), &[1]);
        assert_eq!(find(&c, "198.18.128.0/17"), &[1]);
        assert_eq!(find(&c, "198.19.0.0/16"), &[] as &[u32]);
    }

    #[test]
    fn equal_adjacent_halves_merge() {
        let c = cells(vec![(net("198.18.0.0/24"), 1), (net("198.18.1.0/24"), 1)]);
        assert_eq!(find(&c, "198.18.0.0/23"), &[1]);
        assert!(!c.iter().any(|(n, _)| n == "198.18.0.0/24"));
        // Not aligned: two cells.
        let c = cells(vec![(net("198.18.1.0/24"), 1), (net("198.18.2.0/24"), 1)]);
        assert_eq!(find(&c, "198.18.1.0/24"), &[1]);
        assert_eq!(find(&c, "198.18.2.0/24"), &[1]);
    }

    #[test]
    fn v4_and_v6_stay_apart() {
        let sources = vec![
            (net("2001:db8::/32"), 7),
            (net("::/0"), 3),
            (net("198.18.0.0/15"), 7),
            (net("::ffff:198.18.0.0/112"), 9),
        ];
        let (v4, v6) = flatten(sources.clone(), |l| l.to_vec());
        covers(&v4, V4_START, V4_END);
        covers(&v6, 0, u128::MAX);
        assert!(v4.iter().all(|c| c.len >= V4_MAPPED_LEN));
        let c = cells(sources);
        // IPv6 sources do not reach IPv4 clients, nor IPv4 sources IPv6.
        assert_eq!(find(&c, "198.18.0.0/15"), &[7]);
        assert_eq!(find(&c, "0.0.0.0/1"), &[] as &[u32]);
        assert_eq!(find(&c, "2001:db8::/32"), &[3, 7]);
        assert_eq!(find(&c, "8000::/1"), &[3]);
        // Without IPv6 sources the IPv6 space is one cell, scope 0.
        let (_, v6) = flatten(vec![(net("198.18.0.0/15"), 1u32)], |l| l.to_vec());
        assert_eq!(v6.len(), 1);
        assert_eq!(v6[0].len, 0);
    }

    #[test]
    fn host_routes_and_the_top_of_the_space() {
        let c = cells(vec![
            (net("255.255.255.255/32"), 1),
            (net("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"), 2),
        ]);
        assert_eq!(find(&c, "255.255.255.255/32"), &[1]);
        assert_eq!(
            find(&c, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"),
            &[2]
        );
        assert_eq!(find(&c, "255.255.255.254/32"), &[] as &[u32]);
    }
}
