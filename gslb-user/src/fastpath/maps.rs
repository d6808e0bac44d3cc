//! The daemon's side of the XDP program's maps: turns the selection state
//! into map entries and applies only the differences.
//!
//! Update order keeps the invariant "no answer is ever half-written": answer
//! sets are written before the names that point at them and removed after;
//! each entry is replaced whole (hash map update); answer-set ids are stable
//! per name for the life of the process, so an id never points at another
//! name's addresses.

use std::{
    collections::BTreeMap,
    net::{IpAddr, SocketAddr},
};

use aya::{
    maps::{Array, HashMap, MapData, PerCpuArray, PerCpuValues},
    Ebpf,
};
use gslb_common::maps::{
    name_class, AnswerKey, AnswerV4, AnswerV6, Canned, Config, LocalAddrs, NameEntry, StaticKey,
    ANSWERS_V4, ANSWERS_V6, CONFIG, CONFIG_ENABLED, CONFIG_SLOT_OVERFLOW, LOCAL_ADDRS, MAX_ADDRS,
    MAX_INLINE_A, MAX_LOCAL_ADDRS, MAX_ZONES, NAME_ANSWERS, NAME_CLIENT_AWARE, NAME_COUNTED,
    NAME_INLINE_A, NAME_INLINE_AAAA, NAME_MAPS, NAME_NEG_TTL, NAME_NODATA, NAME_SLOTS, NO_SERVER,
    STATIC, ZONES,
};
use gslb_common::select::{Selection, MODE_DROP, MODE_ORDERED, MODE_SLOW_PATH};

use crate::{
    dns::wire::wire_key,
    state::{
        decision::{Decision, Decisions, PolicyKey},
        ids::{GroupId, Registry, SetId},
        model::{GslbName, State},
    },
};

mod room;
pub use room::Shortfall;

use super::{
    negative::Negatives,
    slots::{self, Slots},
    statics, MapsError,
};

/// The [`LocalAddrs`] of the listen addresses: the destinations the XDP
/// program answers for. `0.0.0.0` (`::`) stands for every IPv4 (IPv6)
/// destination, as it does for the slow path's socket; so do more than
/// [`MAX_LOCAL_ADDRS`] addresses of a family (with a warning).
pub fn local_addrs(listen: &[SocketAddr]) -> LocalAddrs {
    let mut l = LocalAddrs::default();
    for a in listen {
        match a.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => l.any_v4 = 1,
            IpAddr::V6(ip) if ip.is_unspecified() => l.any_v6 = 1,
            IpAddr::V4(ip) => match l.v4.get_mut(usize::from(l.n_v4)) {
                Some(slot) => {
                    *slot = ip.octets();
                    l.n_v4 += 1;
                }
                None => l.any_v4 = 1,
            },
            IpAddr::V6(ip) => match l.v6.get_mut(usize::from(l.n_v6)) {
                Some(slot) => {
                    *slot = ip.octets();
                    l.n_v6 += 1;
                }
                None => l.any_v6 = 1,
            },
        }
    }
    if listen.iter().filter(|a| a.is_ipv4()).count() > MAX_LOCAL_ADDRS
        || listen.iter().filter(|a| a.is_ipv6()).count() > MAX_LOCAL_ADDRS
    {
        tracing::warn!(
            max = MAX_LOCAL_ADDRS,
            "more listen addresses of one family than the XDP program checks: \
             it answers every destination address of that family"
        );
    }
    l
}

/// Smallest capacity given to a name or answer map.
const MIN_CAPACITY: u32 = 64;

/// Capacity of each name map and answer map for `state` (`None`: the
/// smallest): what it holds plus half again, so that the hash maps'
/// bucket arrays stay small (and in cache) but chains stay short.
pub fn capacities(state: Option<&State>) -> Vec<(&'static str, u32)> {
    let mut names = [0u32; 4];
    let mut short = 0usize;
    let (mut sets_v4, mut sets_v6) = (0u32, 0u32);
    // Room for every static RRset (most names have one or two).
    let mut static_answers = 0u32;
    if let Some(state) = state {
        for zone in &state.zones {
            for name in zone.names() {
                static_answers += zone.rrsets(name).count() as u32;
                let wire = name.iter().map(|l| l.len() + 1).sum::<usize>() + 1;
                if slots::fits(wire) {
                    short += 1;
                } else if let Some(class) = name_class(wire) {
                    names[class] += 1;
                }
            }
        }
        // Sets not stored inline, and room for every name without a set
        // yet: a pool-based name gets its sets when the engine first runs.
        let mut seen = std::collections::HashSet::new();
        for g in &state.gslb {
            if let Some(p) = &g.policy {
                if !seen.insert(p) {
                    continue;
                }
            }
            let d = g.decisions();
            let v = set_values(g.ttl, &d, 0, g.policy.is_some());
            // A client-aware policy has a set in every group; a reload of
            // the client data holds the old and the new groups' sets at
            // once, and may add groups: room for three times as many
            // (unused capacity costs only buckets, see `MIN_CAPACITY`).
            let groups = if d.client_aware {
                let n = state.group_count() as u32;
                n.saturating_mul(3).max(n + 256)
            } else {
                1
            };
            let none = |x: &Decision| *x == Decision::NoSet;
            let d0 = d.for_group(GroupId::DEFAULT);
            sets_v4 += groups * u32::from(!v.v4.is_empty() || none(&d0.a));
            sets_v6 += groups * u32::from(!v.v6.is_empty() || none(&d0.aaaa));
        }
    }
    // NAMES_32 also takes the short names that find no free slot: a few
    // percent at the slot table's load factor; a quarter is ample.
    names[0] = names[0].saturating_add((short / 4) as u32);
    let cap = |n: u32| n.saturating_add(n / 2).max(MIN_CAPACITY);
    let mut out: Vec<(&'static str, u32)> = NAME_MAPS
        .iter()
        .zip(names)
        .map(|(&map, n)| (map, cap(n)))
        .collect();
    out.push((NAME_SLOTS, slots::capacity(short)));
    out.push((ANSWERS_V4, cap(sets_v4)));
    out.push((ANSWERS_V6, cap(sets_v6)));
    out.push((STATIC, cap(static_answers)));
    out
}

/// Everything the maps should hold for one state.
#[derive(Default, Debug, PartialEq)]
pub struct Entries {
    /// Negative-answer data: zone entries, and flags per existing name.
    pub negatives: Negatives,
    /// Wire key → answer-set ids.
    pub names: BTreeMap<Vec<u8>, NameEntry>,
    /// A sets.
    pub v4: BTreeMap<AnswerKey, AnswerV4>,
    /// AAAA sets.
    pub v6: BTreeMap<AnswerKey, AnswerV6>,
    /// Static answers.
    pub statics: BTreeMap<StaticKey, Canned>,
    /// What the set and static ids in use were handed out for.
    keys: std::collections::HashSet<SetKey>,
}

/// The map value of a decision: candidates and selection for an answer
/// set, an empty set with `MODE_DROP` or `MODE_SLOW_PATH` for the
/// decisions the slow path carries out, nothing when there is no set or
/// the answer is NODATA (the program answers NODATA from `ZONES` for a
/// name without static data, with the name's TTL cap, as the slow path
/// does; it passes the others).
fn map_value<const N: usize>(
    d: &Decision,
    octets: impl Fn(&IpAddr) -> Option<[u8; N]>,
) -> Option<(Selection, [[u8; N]; MAX_ADDRS])> {
    let mut addrs = [[0u8; N]; MAX_ADDRS];
    let sel = match d {
        Decision::NoSet | Decision::Nodata => return None,
        Decision::Answer(set) => {
            for (slot, a) in addrs.iter_mut().zip(set.addrs.iter().filter_map(&octets)) {
                *slot = a;
            }
            set.sel
        }
        Decision::Drop => Selection {
            mode: MODE_DROP,
            ..Default::default()
        },
        Decision::ReturnToDns | Decision::Servfail => Selection {
            mode: MODE_SLOW_PATH,
            ..Default::default()
        },
    };
    Some((sel, addrs))
}

/// The A map value of a decision.
fn answer_v4(d: &Decision) -> Option<AnswerV4> {
    let (sel, addrs) = map_value(d, |a| match a {
        IpAddr::V4(a) => Some(a.octets()),
        IpAddr::V6(_) => None,
    })?;
    Some(AnswerV4 { sel, addrs })
}

/// The AAAA map value of a decision.
fn answer_v6(d: &Decision) -> Option<AnswerV6> {
    let (sel, addrs) = map_value(d, |a| match a {
        IpAddr::V6(a) => Some(a.octets()),
        IpAddr::V4(_) => None,
    })?;
    Some(AnswerV6 { sel, addrs })
}

/// Whether a set is fixed (no servers behind it) and ordered, so that it
/// can live in the name entry.
fn fixed(sel: &Selection) -> bool {
    sel.mode == MODE_ORDERED && sel.ids.iter().all(|&i| i == NO_SERVER)
}

/// What one set of decisions (a policy's, or a static name's) puts in the
/// maps under set id `id`: the name entry's answer fields (every name of
/// the policy gets them, with its own negative-answer flags and zone)
/// and the answer-set values per (set, group).
#[derive(Debug, PartialEq)]
struct SetValues {
    entry: NameEntry,
    v4: BTreeMap<AnswerKey, AnswerV4>,
    v6: BTreeMap<AnswerKey, AnswerV6>,
}

/// The map values of decisions `d` of names with TTL `ttl`, under set id
/// `id`.
///
/// Decisions for the default group only: a fixed, ordered A set of up to
/// four addresses is stored inline in the entry; so is a fixed AAAA set
/// of one address when the A set is inline with one address (or absent);
/// the others are written for group 0. Inline sets have the name's TTL,
/// which the entry's `inline_ttl` holds in any case: it caps the TTL of
/// the name's NODATA answers ([`NAME_NEG_TTL`]).
///
/// Client-aware decisions: nothing inline, the entry is flagged
/// [`NAME_CLIENT_AWARE`], and a family that has a set in any group has
/// one in every group the decisions name (a group whose decision has no
/// map value gets an empty `MODE_SLOW_PATH` set: the slow path answers
/// it, rather than the kernel falling back to group 0's answers).
///
/// `counted`: the names get an answer counter id ([`NAME_COUNTED`], see
/// [`NameEntry::counter`]): it takes the `a` field of an inline A set
/// (alone or in the pair form); a lone AAAA address is then not inline,
/// since its entry has no room for the id.
fn set_values(ttl: u32, d: &Decisions, id: u32, counted: bool) -> SetValues {
    let mut entry = NameEntry::EMPTY;
    entry.flags |= NAME_NEG_TTL;
    entry.inline_ttl = ttl;
    let at = |group: GroupId| AnswerKey {
        set: id,
        group: group.get(),
    };
    let mut out = SetValues {
        entry,
        v4: BTreeMap::new(),
        v6: BTreeMap::new(),
    };
    if d.client_aware {
        out.entry.flags |= NAME_CLIENT_AWARE;
        let slow = Selection {
            mode: MODE_SLOW_PATH,
            ..Default::default()
        };
        let v4: Vec<_> = d.groups().map(|(g, gd)| (g, answer_v4(&gd.a))).collect();
        if v4.iter().any(|(_, v)| v.is_some()) {
            out.entry.a = id;
            for (g, v) in v4 {
                let v = v.unwrap_or(AnswerV4 {
                    sel: slow,
                    ..Default::default()
                });
                out.v4.insert(at(g), v);
            }
        }
        let v6: Vec<_> = d.groups().map(|(g, gd)| (g, answer_v6(&gd.aaaa))).collect();
        if v6.iter().any(|(_, v)| v.is_some()) {
            out.entry.aaaa = id;
            for (g, v) in v6 {
                let v = v.unwrap_or(AnswerV6 {
                    sel: slow,
                    ..Default::default()
                });
                out.v6.insert(at(g), v);
            }
        }
        return out;
    }
    let d0 = d.for_group(GroupId::DEFAULT);
    let mut v4 = answer_v4(&d0.a);
    let mut v6 = answer_v6(&d0.aaaa);
    let entry = &mut out.entry;
    let a_inline = v4
        .filter(|v| fixed(&v.sel) && usize::from(v.sel.count) <= MAX_INLINE_A && v.sel.ttl == ttl);
    let aaaa_inline = v6.filter(|v| {
        fixed(&v.sel)
            && v.sel.count == 1
            && v.sel.ttl == ttl
            && a_inline.map_or(!counted && v4.is_none(), |a| a.sel.count == 1)
    });
    if let Some(v) = aaaa_inline {
        entry.flags |= NAME_INLINE_AAAA;
        entry.inline_a = [
            [v.addrs[0][0], v.addrs[0][1], v.addrs[0][2], v.addrs[0][3]],
            [v.addrs[0][4], v.addrs[0][5], v.addrs[0][6], v.addrs[0][7]],
            [v.addrs[0][8], v.addrs[0][9], v.addrs[0][10], v.addrs[0][11]],
            [
                v.addrs[0][12],
                v.addrs[0][13],
                v.addrs[0][14],
                v.addrs[0][15],
            ],
        ];
        v6 = None;
    }
    if let Some(v) = a_inline {
        entry.flags |= NAME_INLINE_A;
        entry.inline_n = NameEntry::pack_inline(v.sel.count, v.sel.max);
        if aaaa_inline.is_some() {
            // The one A address sits in the `aaaa` field (see `pair_a`).
            entry.aaaa = u32::from_ne_bytes(v.addrs[0]);
        } else {
            entry.inline_a.copy_from_slice(&v.addrs[..MAX_INLINE_A]);
        }
        v4 = None;
    }
    if let Some(v) = v4 {
        entry.a = id;
        out.v4.insert(at(GroupId::DEFAULT), v);
    }
    if let Some(v) = v6 {
        entry.aaaa = id;
        out.v6.insert(at(GroupId::DEFAULT), v);
    }
    out
}

/// What an answer-set id is handed out for: the sets of an answer policy
/// (shared by its names), or one name's own sets and static answers. Two
/// variants, so a policy and a name never get one id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum SetKey {
    /// A name by wire key.
    Name(Vec<u8>),
    /// An answer policy.
    Policy(PolicyKey),
}

impl SetKey {
    /// The key of the answer sets of `g` (wire key `wire`).
    fn of(g: &GslbName, wire: &[u8]) -> SetKey {
        match &g.policy {
            Some(p) => SetKey::Policy(p.clone()),
            None => SetKey::Name(wire.to_vec()),
        }
    }
}

/// Every (set, group) key of set `id` in `map`.
fn of_set<V>(map: &BTreeMap<AnswerKey, V>, id: u32) -> impl Iterator<Item = (&AnswerKey, &V)> {
    map.range(
        AnswerKey { set: id, group: 0 }..=AnswerKey {
            set: id,
            group: u32::MAX,
        },
    )
}

/// Typed handles on the maps, and what was last written to them.
pub struct Maps {
    config: Array<MapData, Config>,
    /// The config last written (its overflow flag is set on its own).
    config_value: Config,
    zones: Array<MapData, Canned>,
    local: Array<MapData, LocalAddrs>,
    slots: Slots,
    /// Short names that found no free slot: they live in `NAMES_32`.
    overflow: std::collections::HashSet<Vec<u8>>,
    n32: HashMap<MapData, [u8; 32], NameEntry>,
    n64: HashMap<MapData, [u8; 64], NameEntry>,
    n128: HashMap<MapData, [u8; 128], NameEntry>,
    n256: HashMap<MapData, [u8; 256], NameEntry>,
    v4: HashMap<MapData, AnswerKey, AnswerV4>,
    v6: HashMap<MapData, AnswerKey, AnswerV6>,
    statics: HashMap<MapData, StaticKey, Canned>,
    /// Answer-set ids by policy (names of one policy share its sets) and
    /// static ids by wire key, not reused while unused ids remain (4
    /// billion): an id never points at another name's answers, not even
    /// while a sync runs.
    ids: Registry<SetKey, SetId>,
    current: Entries,
    /// Per-CPU answers per gslb name counter id (`NAME_ANSWERS`).
    answers: PerCpuArray<MapData, u64>,
    /// The counter ids this daemon has zeroed (the first time it wrote a
    /// name entry with that id): a count is this daemon's, even when the
    /// map was left by an earlier one.
    counted: std::collections::HashSet<u32>,
}

fn take(ebpf: &mut Ebpf, name: &str) -> Result<aya::maps::Map, MapsError> {
    ebpf.take_map(name)
        .ok_or_else(|| MapsError::Missing(name.to_owned()))
}

impl Maps {
    /// Takes the maps out of a loaded object.
    pub fn new(ebpf: &mut Ebpf) -> Result<Self, MapsError> {
        let [a, b, c, d] = NAME_MAPS;
        Ok(Self {
            config: take(ebpf, CONFIG)?.try_into()?,
            config_value: Config::default(),
            zones: take(ebpf, ZONES)?.try_into()?,
            local: take(ebpf, LOCAL_ADDRS)?.try_into()?,
            slots: Slots::new(take(ebpf, NAME_SLOTS)?)?,
            overflow: std::collections::HashSet::new(),
            n32: take(ebpf, a)?.try_into()?,
            n64: take(ebpf, b)?.try_into()?,
            n128: take(ebpf, c)?.try_into()?,
            n256: take(ebpf, d)?.try_into()?,
            v4: take(ebpf, ANSWERS_V4)?.try_into()?,
            v6: take(ebpf, ANSWERS_V6)?.try_into()?,
            statics: take(ebpf, STATIC)?.try_into()?,
            ids: Registry::new(),
            current: Entries::default(),
            answers: take(ebpf, NAME_ANSWERS)?.try_into()?,
            counted: Default::default(),
        })
    }

    /// The XDP program's answers of the gslb name with counter id `id`
    /// (`GslbName::counter`), summed over the CPUs.
    pub fn name_answers(&self, id: u32) -> u64 {
        self.answers
            .get(&id, 0)
            .map_or(0, |v| v.iter().copied().sum())
    }

    /// The entries `state` calls for, with ids stable per policy or name.
    fn entries(&mut self, state: &State) -> Entries {
        let mut e = Entries {
            negatives: Negatives::of(state),
            ..Entries::default()
        };
        // Every existing name, so that a name missing from the maps does
        // not exist (see `negative`); gslb names get their sets below.
        for (key, &(flags, zone)) in &e.negatives.names {
            let entry = NameEntry {
                flags,
                zone,
                ..NameEntry::EMPTY
            };
            e.names.insert(key.clone(), entry);
        }
        // Static answers (never of a gslb name): the id rides in the entry.
        for (key, answers) in statics::of(state, &e.negatives) {
            let set_key = SetKey::Name(key.clone());
            let id = self.id_of(&set_key);
            e.keys.insert(set_key);
            for (qtype, c) in answers.answers {
                e.statics.insert(StaticKey { id, qtype, _pad: 0 }, c);
            }
            let entry = e.names.entry(key).or_insert(NameEntry::EMPTY);
            entry.set_static(id);
            if answers.complete {
                entry.flags |= NAME_NODATA;
            }
        }
        // A policy's sets once, whatever its number of names.
        let mut done: std::collections::HashMap<u32, NameEntry> = Default::default();
        for g in &state.gslb {
            let key = wire_key(&g.name);
            let set_key = SetKey::of(g, &key);
            let id = self.id_of(&set_key);
            e.keys.insert(set_key);
            let mut entry = *done.entry(id).or_insert_with(|| {
                let v = set_values(g.ttl, &g.decisions(), id, g.policy.is_some());
                e.v4.extend(v.v4);
                e.v6.extend(v.v6);
                v.entry
            });
            let (flags, zone) = e.negatives.of_name(&key);
            entry.flags |= flags;
            entry.zone = zone;
            if let Some(c) = g.counter {
                entry.set_counter(c);
            }
            e.names.insert(key, entry);
        }
        e
    }

    /// The id of `key` (a new one the first time).
    fn id_of(&mut self, key: &SetKey) -> u32 {
        self.ids
            .id_of(key)
            .expect("fewer names with map entries than set ids")
            .get()
    }

    /// The answer-set id of gslb name `g` (its policy's), once
    /// [`Maps::sync`] has given it one: what the XDP program's persistence
    /// records name the set by.
    pub fn set_id(&self, g: &GslbName) -> Option<u32> {
        self.ids
            .get(&SetKey::of(g, &wire_key(&g.name)))
            .map(|id| id.get())
    }

    /// Short names kept in `NAMES_32` because their slots were all taken.
    pub fn slot_overflow(&self) -> usize {
        self.overflow.len()
    }

    /// Writes the current decisions of `names` (already known to the maps
    /// through [`Maps::sync`]; the names of one policy, which share their
    /// decisions, or one name without a policy): only the entries that
    /// changed, in an order that never leaves a reader without an entry:
    /// every group's answer sets first, then the name entries, then the
    /// sets no longer called for (groups the decisions no longer name,
    /// families that lost their set). Returns the number of entries
    /// written or removed.
    pub fn update(&mut self, names: &[&GslbName]) -> Result<usize, MapsError> {
        let Some(first) = names.first() else {
            return Ok(0);
        };
        let id = self.id_of(&SetKey::of(first, &wire_key(&first.name)));
        let want = set_values(first.ttl, &first.decisions(), id, first.policy.is_some());
        let mut changes = 0;
        for (k, v) in &want.v4 {
            if self.current.v4.get(k) != Some(v) {
                self.v4.insert(k, v, 0)?;
                self.current.v4.insert(*k, *v);
                changes += 1;
            }
        }
        for (k, v) in &want.v6 {
            if self.current.v6.get(k) != Some(v) {
                self.v6.insert(k, v, 0)?;
                self.current.v6.insert(*k, *v);
                changes += 1;
            }
        }
        for g in names {
            let key = wire_key(&g.name);
            let mut entry = want.entry;
            let (flags, zone) = self.current.negatives.of_name(&key);
            entry.flags |= flags;
            entry.zone = zone;
            if let Some(c) = g.counter {
                entry.set_counter(c);
            }
            if self.current.names.get(&key) != Some(&entry) {
                self.name_op(&key, Some(entry))?;
                self.current.names.insert(key, entry);
                changes += 1;
            }
        }
        let stale: Vec<AnswerKey> = of_set(&self.current.v4, id)
            .map(|(k, _)| *k)
            .filter(|k| !want.v4.contains_key(k))
            .collect();
        for k in stale {
            self.v4.remove(&k)?;
            self.current.v4.remove(&k);
            changes += 1;
        }
        let stale: Vec<AnswerKey> = of_set(&self.current.v6, id)
            .map(|(k, _)| *k)
            .filter(|k| !want.v6.contains_key(k))
            .collect();
        for k in stale {
            self.v6.remove(&k)?;
            self.current.v6.remove(&k);
            changes += 1;
        }
        Ok(changes)
    }

    /// Makes the maps hold exactly what `state` calls for, and enables the
    /// program with `dns_port`. Returns the number of entries written or
    /// removed.
    pub fn sync(&mut self, state: &State) -> Result<usize, MapsError> {
        // With an NSID configured, NSID queries go to the slow path, which
        // writes the option (RFC 5001); follows the config on reloads.
        self.set_flag(gslb_common::maps::CONFIG_NSID, state.server.nsid.is_some())?;
        let new = self.entries(state);
        let mut changes = 0;
        // Zones first: a name entry never points at a zone not yet written.
        let slots = new
            .negatives
            .zones
            .len()
            .max(self.current.negatives.zones.len())
            .min(MAX_ZONES as usize);
        for i in 0..slots {
            let want = new.negatives.zones.get(i).copied().flatten();
            let have = self.current.negatives.zones.get(i).copied().flatten();
            if want != have {
                self.zones.set(i as u32, want.unwrap_or_default(), 0)?;
                changes += 1;
            }
        }
        for (k, v) in &new.v4 {
            if self.current.v4.get(k) != Some(v) {
                self.v4.insert(k, v, 0)?;
                changes += 1;
            }
        }
        for (k, v) in &new.v6 {
            if self.current.v6.get(k) != Some(v) {
                self.v6.insert(k, v, 0)?;
                changes += 1;
            }
        }
        for (k, v) in &new.statics {
            if self.current.statics.get(k) != Some(v) {
                self.statics.insert(k, v, 0)?;
                changes += 1;
            }
        }
        for (k, v) in &new.names {
            if self.current.names.get(k) != Some(v) {
                self.name_op(k, Some(*v))?;
                changes += 1;
            }
        }
        let stale: Vec<_> = self
            .current
            .names
            .keys()
            .filter(|k| !new.names.contains_key(*k))
            .cloned()
            .collect();
        for k in &stale {
            self.name_op(k, None)?;
            changes += 1;
        }
        for k in self.current.v4.keys().filter(|k| !new.v4.contains_key(k)) {
            self.v4.remove(k)?;
            changes += 1;
        }
        for k in self.current.v6.keys().filter(|k| !new.v6.contains_key(k)) {
            self.v6.remove(k)?;
            changes += 1;
        }
        for k in self
            .current
            .statics
            .keys()
            .filter(|k| !new.statics.contains_key(k))
        {
            self.statics.remove(k)?;
            changes += 1;
        }
        for k in self.current.keys.difference(&new.keys) {
            self.ids.retire(k);
        }
        self.current = new;
        // Before the config enables the program.
        self.local.set(0, local_addrs(&state.server.listen), 0)?;
        self.config_value = Config {
            // The feature flags set with `set_flag` stay.
            flags: CONFIG_ENABLED | (self.config_value.flags & !CONFIG_ENABLED),
            dns_port: state.server.port(),
            edns_udp_size: state.server.edns_udp_size,
            slot_mask: self.slots.mask(),
            _pad: 0,
        };
        self.write_config()?;
        Ok(changes)
    }

    /// Sets or clears a `Config::flags` bit (`CONFIG_CLIENT_GROUPS`,
    /// `CONFIG_ECS`, ...); kept across syncs, written at once when the
    /// program is enabled (else with the next sync).
    pub fn set_flag(&mut self, flag: u32, on: bool) -> Result<(), MapsError> {
        if on {
            self.config_value.flags |= flag;
        } else {
            self.config_value.flags &= !flag;
        }
        if self.config_value.flags & CONFIG_ENABLED != 0 {
            self.write_config()?;
        }
        Ok(())
    }

    fn write_config(&mut self) -> Result<(), MapsError> {
        let mut cfg = self.config_value;
        if !self.overflow.is_empty() {
            cfg.flags |= CONFIG_SLOT_OVERFLOW;
        }
        self.config.set(0, cfg, 0)?;
        Ok(())
    }

    /// Inserts (`Some`) or removes (`None`) a name in the map of its class.
    fn name_op(&mut self, key: &[u8], value: Option<NameEntry>) -> Result<(), MapsError> {
        // A counter starts from zero before the program first counts in it.
        if let Some(v) = value.filter(|v| v.flags & NAME_COUNTED != 0) {
            if self.counted.insert(v.counter()) {
                // (The possible CPUs were read when the object was loaded.)
                let cpus = aya::util::nr_cpus().map_or(1, |n| n.max(1));
                if let Ok(zeros) = PerCpuValues::try_from(vec![0u64; cpus]) {
                    self.answers.set(v.counter(), zeros, 0)?;
                }
            }
        }
        if slots::fits(key.len()) && !self.overflow.contains(key) {
            if self.slots.set(key, value) {
                return Ok(());
            }
            // No free slot near its home: NAMES_32 takes it, and the
            // program must look there after a slot miss.
            self.overflow.insert(key.to_vec());
            if self.overflow.len() == 1 && self.config_value.flags & CONFIG_ENABLED != 0 {
                self.write_config()?;
            }
        } else if value.is_none() {
            self.overflow.remove(key);
        }
        let class = name_class(key.len()).ok_or(MapsError::NameTooLong)?;
        match class {
            0 => name_op(&mut self.n32, key, value),
            1 => name_op(&mut self.n64, key, value),
            2 => name_op(&mut self.n128, key, value),
            _ => name_op(&mut self.n256, key, value),
        }
    }
}

/// Pads `key` with zeros to the class size `N`, as the XDP program does.
fn name_op<const N: usize>(
    map: &mut HashMap<MapData, [u8; N], NameEntry>,
    key: &[u8],
    value: Option<NameEntry>,
) -> Result<(), MapsError> {
    let mut k = [0u8; N];
    k[..key.len()].copy_from_slice(key);
    match value {
        Some(v) => map.insert(k, v, 0)?,
        None => map.remove(&k)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use gslb_common::{maps::NO_ANSWER, select::MODE_ROUND_ROBIN};
    use hickory_proto::rr::Name;

    use super::*;
    use crate::state::decision::AnswerSet;

    /// The entry and group-0 sets of `g` under set id `id`.
    fn name_values(g: &GslbName, id: u32) -> (NameEntry, Option<AnswerV4>, Option<AnswerV6>) {
        let v = set_values(g.ttl, &g.decisions(), id, false);
        let at = AnswerKey { set: id, group: 0 };
        (v.entry, v.v4.get(&at).copied(), v.v6.get(&at).copied())
    }

    fn name(a: Decision) -> GslbName {
        GslbName::new(
            Name::from_ascii("www.example.test.").unwrap(),
            30,
            a,
            Decision::NoSet,
        )
    }

    /// The values of a name with these A and AAAA addresses (fixed,
    /// ordered, TTL 30) under set id 9; `counted`: with counter id 77.
    fn fixed_values(a: &[&str], aaaa: &[&str], counted: bool) -> SetValues {
        let set = |addrs: &[&str]| match addrs {
            [] => Decision::NoSet,
            _ => Decision::Answer(AnswerSet::ordered(
                30,
                addrs.iter().map(|a| a.parse().unwrap()).collect(),
            )),
        };
        let g = GslbName::new(
            Name::from_ascii("www.example.test.").unwrap(),
            30,
            set(a),
            set(aaaa),
        );
        let mut v = set_values(30, &g.decisions(), 9, counted);
        if counted {
            v.entry.set_counter(77);
        }
        v
    }

    const BOTH: u8 = NAME_INLINE_A | NAME_INLINE_AAAA;

    #[test]
    fn counted_inline_a_keeps_the_counter_in_a() {
        let v = fixed_values(&["198.18.0.1", "198.18.0.2"], &[], true);
        let e = v.entry;
        assert_eq!(
            e.flags & (BOTH | NAME_COUNTED),
            NAME_INLINE_A | NAME_COUNTED
        );
        assert_eq!((e.a, e.counter(), e.aaaa), (77, 77, NO_ANSWER));
        // The inline addresses are untouched by the counter id.
        assert_eq!(e.inline_count(), 2);
        assert_eq!(e.inline_a[..2], [[198, 18, 0, 1], [198, 18, 0, 2]]);
        assert!(v.v4.is_empty() && v.v6.is_empty());
        // With an AAAA set in the map: `aaaa` is its id, the counter in `a`.
        let v = fixed_values(&["198.18.0.1", "198.18.0.2"], &["2001:db8::1"], true);
        let e = v.entry;
        assert_eq!(e.flags & BOTH, NAME_INLINE_A);
        assert_eq!((e.a, e.counter(), e.aaaa), (77, 77, 9));
        assert!(v.v4.is_empty() && v.v6.len() == 1);
    }

    #[test]
    fn counted_pair_form_keeps_the_counter_in_a() {
        let v = fixed_values(&["198.18.0.1"], &["2001:db8::1"], true);
        let e = v.entry;
        assert_eq!(e.flags & (BOTH | NAME_COUNTED), BOTH | NAME_COUNTED);
        assert_eq!((e.a, e.counter()), (77, 77));
        assert_eq!(e.pair_a()[0], [198, 18, 0, 1]);
        let aaaa: std::net::Ipv6Addr = "2001:db8::1".parse().unwrap();
        assert_eq!(e.inline_aaaa()[0], aaaa.octets());
        assert!(v.v4.is_empty() && v.v6.is_empty());
    }

    #[test]
    fn counted_aaaa_alone_is_not_inline() {
        // `a` stays NO_ANSWER (NODATA to A), so the counter takes the
        // first inline word and the AAAA address goes to the map.
        let v = fixed_values(&[], &["2001:db8::1"], true);
        let e = v.entry;
        assert_eq!(e.flags & (BOTH | NAME_COUNTED), NAME_COUNTED);
        assert_eq!((e.a, e.aaaa, e.counter()), (NO_ANSWER, 9, 77));
        assert_eq!(e.inline_a[0], 77u32.to_ne_bytes());
        assert!(v.v4.is_empty());
        assert_eq!(v.v6[&AnswerKey { set: 9, group: 0 }].addrs[0][15], 1);
        // Uncounted, the same AAAA address is inline.
        let v = fixed_values(&[], &["2001:db8::1"], false);
        assert_eq!(v.entry.flags & BOTH, NAME_INLINE_AAAA);
        assert_eq!((v.entry.a, v.entry.aaaa), (NO_ANSWER, NO_ANSWER));
        assert!(v.v6.is_empty());
    }

    #[test]
    fn counted_sets_in_the_maps_keep_the_counter_inline() {
        // A pool's answers carry server ids: in the map, the counter in
        // the first inline word.
        let mut set = AnswerSet::ordered(30, vec!["198.18.0.1".parse().unwrap()]);
        set.sel.ids[0] = 3;
        let g = name(Decision::Answer(set));
        let mut e = set_values(30, &g.decisions(), 9, true).entry;
        e.set_counter(77);
        assert_eq!(e.flags & (BOTH | NAME_COUNTED), NAME_COUNTED);
        assert_eq!(
            (e.a, e.counter(), e.inline_a[0]),
            (9, 77, 77u32.to_ne_bytes())
        );
    }

    #[test]
    fn uncounted_entries_are_unchanged() {
        for (a, aaaa) in [
            (&["198.18.0.1", "198.18.0.2"][..], &[][..]),
            (&["198.18.0.1"][..], &["2001:db8::1"][..]),
            (&[][..], &["2001:db8::1"][..]),
        ] {
            let v = fixed_values(a, aaaa, false);
            assert_eq!(v.entry.flags & NAME_COUNTED, 0);
            assert_eq!(v.entry.a, NO_ANSWER, "{a:?} {aaaa:?}");
            assert!(v.v4.is_empty() && v.v6.is_empty(), "{a:?} {aaaa:?}");
        }
    }

    #[test]
    fn fixed_ordered_a_sets_are_inline() {
        let addrs = vec!["198.18.0.1".parse().unwrap(), "198.18.0.2".parse().unwrap()];
        let (e, v4, v6) = name_values(&name(Decision::Answer(AnswerSet::ordered(30, addrs))), 7);
        assert_eq!(e.flags & NAME_INLINE_A, NAME_INLINE_A);
        assert_eq!((e.inline_ttl, e.inline_count()), (30, 2));
        assert_eq!(e.inline_a[1], [198, 18, 0, 2]);
        assert_eq!((e.a, e.aaaa), (NO_ANSWER, NO_ANSWER));
        assert!(v4.is_none() && v6.is_none());
    }

    #[test]
    fn one_a_and_one_aaaa_are_both_inline() {
        let g = GslbName::new(
            Name::from_ascii("www.example.test.").unwrap(),
            30,
            Decision::Answer(AnswerSet::ordered(30, vec!["198.18.0.1".parse().unwrap()])),
            Decision::Answer(AnswerSet::ordered(30, vec!["2001:db8::1".parse().unwrap()])),
        );
        let (e, v4, v6) = name_values(&g, 7);
        assert_eq!(
            e.flags & (NAME_INLINE_A | NAME_INLINE_AAAA),
            NAME_INLINE_A | NAME_INLINE_AAAA
        );
        assert_eq!(e.pair_a()[0], [198, 18, 0, 1]);
        assert_eq!(
            e.inline_aaaa()[0],
            "2001:db8::1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets()
        );
        assert_eq!((e.inline_ttl, e.inline_count(), e.a), (30, 1, NO_ANSWER));
        assert!(v4.is_none() && v6.is_none());
        // Two A addresses: the A set stays inline, the AAAA goes to the map.
        let g = GslbName::new(
            Name::from_ascii("www.example.test.").unwrap(),
            30,
            Decision::Answer(AnswerSet::ordered(
                30,
                vec!["198.18.0.1".parse().unwrap(), "198.18.0.2".parse().unwrap()],
            )),
            Decision::Answer(AnswerSet::ordered(30, vec!["2001:db8::1".parse().unwrap()])),
        );
        let (e, _, v6) = name_values(&g, 7);
        assert_eq!(e.flags & NAME_INLINE_AAAA, 0);
        assert_eq!(e.aaaa, 7);
        assert!(v6.is_some());
    }

    #[test]
    fn server_sets_use_the_answer_map() {
        let mut set = AnswerSet::ordered(30, vec!["198.18.0.1".parse().unwrap()]);
        set.sel.mode = MODE_ROUND_ROBIN;
        set.sel.ids[0] = 3;
        let (e, v4, _) = name_values(&name(Decision::Answer(set)), 7);
        assert_eq!(e.flags & NAME_INLINE_A, 0);
        assert_eq!(e.a, 7);
        assert_eq!(v4.unwrap().sel.ids[0], 3);
    }

    /// Client-aware decisions: a set for every group the decisions name
    /// (no inline set, even a fixed one), the name flagged; a group
    /// without a map value of a family that others have gets an empty
    /// slow-path set instead of falling back to group 0's answers.
    #[test]
    fn client_aware_sets_cover_every_group() {
        let fixed = |a: &str| Decision::Answer(AnswerSet::ordered(30, vec![a.parse().unwrap()]));
        let g = name(Decision::NoSet);
        g.set_groups(
            true,
            [
                (GroupId(0), fixed("198.18.0.1"), Decision::NoSet),
                (GroupId(3), fixed("198.18.0.3"), Decision::NoSet),
                (GroupId(5), Decision::Nodata, Decision::NoSet),
            ],
        );
        let v = set_values(30, &g.decisions(), 9, false);
        assert_eq!(v.entry.flags & NAME_CLIENT_AWARE, NAME_CLIENT_AWARE);
        assert_eq!(v.entry.flags & (NAME_INLINE_A | NAME_INLINE_AAAA), 0);
        assert_eq!((v.entry.a, v.entry.aaaa), (9, NO_ANSWER));
        let at = |group| AnswerKey { set: 9, group };
        assert_eq!(
            v.v4.keys().copied().collect::<Vec<_>>(),
            [at(0), at(3), at(5)]
        );
        assert_eq!(v.v4[&at(3)].addrs[0], [198, 18, 0, 3]);
        assert_eq!(v.v4[&at(5)].sel.mode, MODE_SLOW_PATH);
        assert!(v.v6.is_empty());
        // The same decisions for the default group only: inline, no flag.
        g.set(fixed("198.18.0.1"), Decision::NoSet);
        let v = set_values(30, &g.decisions(), 9, false);
        assert_eq!(v.entry.flags & NAME_CLIENT_AWARE, 0);
        assert!(v.v4.is_empty());
    }

    /// Set ids: a policy's names share one, a static name has its own,
    /// and a policy key never meets a wire key (distinct variants).
    #[test]
    fn names_of_a_policy_share_a_set_id() {
        let mut text = String::from(
            "[[zone]]\nname = \"example.test\"\nns = [\"ns1.example.test.\"]\n\
             [zone.soa]\nrname = \"hostmaster.example.test.\"\n\
             [[zone.record]]\nname = \"ns1\"\ntype = \"A\"\ndata = \"198.18.0.53\"\n\
             [[datacenter]]\nname = \"ams\"\nlat = 52.37\nlon = 4.9\n\
             [[vserver]]\nname = \"a\"\ndatacenter = \"ams\"\naddress = \"198.18.20.1\"\n\
             [[pool]]\nname = \"p\"\nmembers = [\"a\"]\npreferred = \"round_robin\"\n\
             [[gslb]]\nname = \"static.example.test\"\nttl = 30\na = [\"198.18.0.9\"]\n",
        );
        for (n, ttl) in [("www", 30), ("api", 30), ("img", 60)] {
            text +=
                &format!("[[gslb]]\nname = \"{n}.example.test\"\nttl = {ttl}\npools = [\"p\"]\n");
        }
        let cfg = crate::config::parse(&text, "t").unwrap_or_else(|e| panic!("{e}"));
        let state = State::from_config(&cfg);
        let mut ids: Registry<SetKey, SetId> = Registry::new();
        let mut by_name = std::collections::BTreeMap::new();
        for g in &state.gslb {
            let wire = wire_key(&g.name);
            let id = ids.id_of(&SetKey::of(g, &wire)).unwrap();
            by_name.insert(g.name.to_string(), (id, g.policy.is_some()));
        }
        let www = by_name["www.example.test."];
        assert!(www.1, "{by_name:?}");
        assert_eq!(by_name["api.example.test."], www);
        assert_ne!(by_name["img.example.test."].0, www.0);
        assert!(!by_name["static.example.test."].1);
        assert_eq!(ids.len(), 3);
    }
}
