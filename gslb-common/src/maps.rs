//! BPF map names, keys and values.
//!
//! Lookup chain of the fast path (the data path of docs/ARCHITECTURE.md):
//! 1. client address (IPv6, IPv4 mapped as `::ffff:a.b.c.d`) → [`CLIENT_GROUPS`]
//!    LPM trie → client group (0 when the trie is empty or has no match);
//! 2. lowercased wire-format QNAME → `NAMES_<n>` (the name map of the
//!    smallest size class that holds it) → [`NameEntry`] (one answer-set id per
//!    type);
//! 3. ([`AnswerKey`] answer-set id, client group) → [`AnswerV4`] /
//!    [`AnswerV6`], falling back to group 0;
//! 4. [`crate::select`] picks the answers; `SERVER_HITS[id]` counts the
//!    first one.

use crate::select::Selection;

/// Name maps by key size: a name of wire length `l` lives in the map of the
/// first class with `l <= class`. Splitting keeps memory per name small.
pub const NAME_CLASSES: [usize; 4] = [32, 64, 128, 256];
/// Map names of the name maps, in [`NAME_CLASSES`] order.
pub const NAME_MAPS: [&str; 4] = ["NAMES_32", "NAMES_64", "NAMES_128", "NAMES_256"];
/// Per-CPU verdict counters, indexed by [`crate::Counter`].
pub const COUNTERS: &str = "COUNTERS";
/// Single-entry array holding the [`Config`].
pub const CONFIG: &str = "CONFIG";
/// LPM trie: client prefix → [`ClientGroup`]. The daemon writes a
/// partition (no prefix inside another, every address of a family covered
/// once the trie is in use), so the prefix that matched is the widest one
/// over which the answer is the same: the ECS scope.
pub const CLIENT_GROUPS: &str = "CLIENT_GROUPS";
/// Per-CPU array of [`CLIENT_CACHE_SLOTS`] [`ClientCacheSlot`]s: the XDP
/// program's own cache of [`CLIENT_GROUPS`] results by client block (an
/// IPv4 /24, an IPv6 /64), valid while [`CLIENT_GEN`] is unchanged. A
/// trie walk over 128-bit keys costs more than the rest of a client-aware
/// answer; a direct-mapped slot costs one hash and one read.
pub const CLIENT_CACHE: &str = "CLIENT_CACHE";
/// Slots of [`CLIENT_CACHE`] per CPU (a power of two).
pub const CLIENT_CACHE_SLOTS: u32 = 8192;
/// Single-entry array: the generation of [`CLIENT_GROUPS`]'s contents.
/// The daemon changes it after every write of the trie, which voids every
/// [`CLIENT_CACHE`] slot at once; 0 (never written) turns the cache off.
pub const CLIENT_GEN: &str = "CLIENT_GEN";
/// LPM trie: resolver prefix → 1, the resolvers whose EDNS Client Subnet
/// is used when [`CONFIG_ECS_TRUSTED`] is set (`[server] ecs = [...]`).
pub const ECS_TRUSTED: &str = "ECS_TRUSTED";
/// Most prefixes in [`ECS_TRUSTED`].
pub const MAX_ECS_TRUSTED: u32 = 1024;
/// LRU hash: [`PersistKey`] → [`PersistRecord`], the persistence records
/// with a TTL (seed 004) that the XDP program and the slow path read and
/// write. Sized by the daemon at load time.
pub const PERSIST: &str = "PERSIST";
/// Default capacity of [`PERSIST`] (records; the least recently used
/// goes first when it is full).
pub const DEFAULT_PERSIST_RECORDS: u32 = 65_536;
/// Array, [`MAX_SERVERS`] entries: each server's generation. The daemon
/// adds one when a server goes down or is disabled; a [`PersistRecord`]
/// made under another generation is void, so every client persisted to
/// that server moves at once, without a scan of [`PERSIST`].
pub const SERVER_GEN: &str = "SERVER_GEN";
/// Per-CPU count of how often each server was handed out first.
pub const SERVER_HITS: &str = "SERVER_HITS";
/// Most servers (server ids are `0..MAX_SERVERS`).
pub const MAX_SERVERS: u32 = 4096;
/// Per-CPU count of the answers handed out per gslb name (with pools),
/// indexed by the name's counter id ([`NameEntry::counter`]).
pub const NAME_ANSWERS: &str = "NAME_ANSWERS";
/// Most gslb names with an answer counter (counter ids are
/// `0..MAX_COUNTED_NAMES`); names past it are answered, not counted.
pub const MAX_COUNTED_NAMES: u32 = 65_536;
/// Answer sets for A.
pub const ANSWERS_V4: &str = "ANSWERS_V4";
/// Answer sets for AAAA.
pub const ANSWERS_V6: &str = "ANSWERS_V6";
/// Array, mmapable (its values then start on a page boundary, so each
/// 64-byte [`NameSlot`] is one cache line): an open-addressed table of
/// the names of wire length 2..=[`SLOT_NAME_MAX`], looked up before the
/// `NAMES_*` hash maps. One cache line per lookup instead of three (bucket,
/// key, value) is most of the fast path's cost at scale.
pub const NAME_SLOTS: &str = "NAME_SLOTS";
/// Longest wire name kept in [`NAME_SLOTS`]: byte 31 of a slot's key is
/// its sequence byte ([`SLOT_SEQ`]).
pub const SLOT_NAME_MAX: usize = 31;
/// Whether a name of wire length `len` belongs in [`NAME_SLOTS`].
#[inline(always)]
pub const fn slot_fits(len: usize) -> bool {
    len >= 2 && len <= SLOT_NAME_MAX
}

/// Index of the sequence byte in [`NameSlot::key`]: even when the slot is
/// stable, odd while the daemon rewrites it. A reader that sees it odd, or
/// changed across its read, passes the query to the slow path.
pub const SLOT_SEQ: usize = 31;
/// Slots probed from a name's home slot (linear probing). A name with no
/// free slot among them goes to `NAMES_32` and [`CONFIG_SLOT_OVERFLOW`] is
/// set. A slot once taken is never emptied again (removal leaves a
/// [`SLOT_TOMBSTONE`]), so a probe that meets an empty slot proves the name
/// is in no name map: only a probe through `SLOT_PROBES` taken slots looks
/// in `NAMES_32` (an NXDOMAIN costs no hash map lookup).
pub const SLOT_PROBES: u32 = 8;
/// `key[0]` of a slot whose name was removed: probing goes on past it (a
/// label length is at most 63). A slot whose first key word is 0 is empty
/// and ends the probe.
pub const SLOT_TOMBSTONE: u8 = 0xff;

/// One slot of [`NAME_SLOTS`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameSlot {
    /// The name map key (lowercased wire name, zero padded), except byte
    /// [`SLOT_SEQ`], the sequence byte.
    pub key: [u8; 32],
    /// The name's entry.
    pub entry: NameEntry,
}

impl NameSlot {
    /// An empty slot.
    pub const EMPTY: NameSlot = NameSlot {
        key: [0; 32],
        entry: NameEntry::EMPTY,
    };
}

/// Home slot of a name: a multiply-xor hash of the four little-endian words
/// of its zero-padded key (sequence byte zero), masked by the caller.
#[inline(always)]
pub const fn slot_hash(w: [u64; 4]) -> u64 {
    let mut h = w[0].wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ w[1].wrapping_mul(0xc2b2_ae3d_27d4_eb4f)
        ^ w[2].wrapping_mul(0x1656_67b1_9e37_79f9)
        ^ w[3].wrapping_mul(0x27d4_eb2f_1656_67c5);
    h ^= h >> 32;
    h = h.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    h ^ (h >> 29)
}

/// Single-entry array: the [`LocalAddrs`] the program answers for.
pub const LOCAL_ADDRS: &str = "LOCAL_ADDRS";
/// Most local addresses per family in [`LocalAddrs`]; with more, the
/// daemon answers every destination of that family.
pub const MAX_LOCAL_ADDRS: usize = 16;

/// The destination addresses the program answers for: the daemon's listen
/// addresses (`server.listen`), so that a UDP datagram to port 53 of any
/// other address of the interface (another DNS service on the host) goes
/// up the stack untouched. A family whose `any_*` is set (a listen address
/// of `0.0.0.0` or `::`) is answered for every destination; one with no
/// listen address, for none.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LocalAddrs {
    /// IPv6 addresses, the first `n_v6` used.
    pub v6: [[u8; 16]; MAX_LOCAL_ADDRS],
    /// IPv4 addresses (network byte order), the first `n_v4` used.
    pub v4: [[u8; 4]; MAX_LOCAL_ADDRS],
    /// Number of IPv6 addresses.
    pub n_v6: u8,
    /// Number of IPv4 addresses.
    pub n_v4: u8,
    /// Non-zero: answer every IPv6 destination.
    pub any_v6: u8,
    /// Non-zero: answer every IPv4 destination.
    pub any_v4: u8,
    /// Padding (zero).
    pub _pad: u32,
}

/// Array: zone id → [`Canned`] negative answer (the zone's SOA).
pub const ZONES: &str = "ZONES";
/// Hash map: [`StaticKey`] → [`Canned`] answer from static zone data.
pub const STATIC: &str = "STATIC";
/// Most zones with negative answers in the fast path (zone ids
/// `0..MAX_ZONES`); the slow path answers for the others.
pub const MAX_ZONES: u32 = 1024;
/// Longest tail a [`Canned`] answer holds (its sections after the first
/// owner name); longer answers come from the slow path.
pub const CANNED_MAX: usize = 252;

/// Capacity of each name map and answer map in the object. The daemon
/// sizes them for its config at load time (a hash map's bucket array has
/// one bucket per entry of capacity); they are created with
/// `BPF_F_NO_PREALLOC`, so unused capacity costs only buckets.
pub const DEFAULT_MAX_NAMES: u32 = 1 << 20;
/// Capacity of the client group trie in the object; the daemon sizes it
/// for its client data at load time.
pub const MAX_CLIENT_PREFIXES: u32 = 65_536;

/// Most addresses in one answer set.
pub const MAX_ADDRS: usize = 8;
/// Answer-set id meaning "no answer set for this type".
pub const NO_ANSWER: u32 = u32::MAX;

/// [`Config::flags`]: the program answers queries (otherwise passes all).
pub const CONFIG_ENABLED: u32 = 1;
/// [`Config::flags`]: the client group trie is populated; look it up.
pub const CONFIG_CLIENT_GROUPS: u32 = 2;
/// [`Config::flags`]: some names that fit [`NAME_SLOTS`] are in `NAMES_32`
/// instead (no free slot within [`SLOT_PROBES`]): a probe that finds all
/// its slots taken by other names looks there.
pub const CONFIG_SLOT_OVERFLOW: u32 = 4;
/// [`Config::flags`]: use the EDNS Client Subnet of every resolver
/// (`[server] ecs = "all"`): its address, masked to its SOURCE
/// PREFIX-LENGTH, is the client for the lookup, and the reply echoes the
/// option with its scope (RFC 7871).
pub const CONFIG_ECS: u32 = 8;
/// [`Config::flags`]: use the EDNS Client Subnet only of resolvers whose
/// source address is in [`ECS_TRUSTED`]; from others the option is
/// ignored (not used, not echoed). Without [`CONFIG_ECS`] or this flag the
/// option is ignored from every resolver (`ecs = "none"`).
pub const CONFIG_ECS_TRUSTED: u32 = 16;
/// [`Config::flags`]: an NSID is configured (`[server] nsid`): a query
/// with an NSID option (RFC 5001) is passed to the slow path, which
/// answers with the identifier (the fast path does not write options).
pub const CONFIG_NSID: u32 = 32;

/// Global settings of the XDP program (`CONFIG[0]`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// `CONFIG_*` bits.
    pub flags: u32,
    /// UDP port answered, host byte order.
    pub dns_port: u16,
    /// UDP payload size advertised in our OPT record (RFC 6891 §6.2.3).
    pub edns_udp_size: u16,
    /// Number of slots of [`NAME_SLOTS`] minus one (a power of two minus
    /// one).
    pub slot_mask: u32,
    /// Padding (zero).
    pub _pad: u32,
}

/// [`NameEntry::flags`]: the A answers are the inline ones (`a` unused).
pub const NAME_INLINE_A: u8 = 1;
/// [`NameEntry::flags`]: one fixed AAAA address is stored inline (same TTL
/// as the inline A, if any; `aaaa` unused as a set id).
pub const NAME_INLINE_AAAA: u8 = 8;
/// [`NameEntry::flags`]: the name has no data but its gslb sets and its
/// [`STATIC`] answers: a query of a data type it has no answer for there
/// gets NODATA with the SOA of `zone`.
pub const NAME_NODATA: u8 = 2;
/// [`NameEntry::flags`]: every existing child of the name is in the name
/// maps (no wildcard, no zone cut at or above it): a child that is not
/// gets NXDOMAIN with the SOA of `zone`.
pub const NAME_CHILD_NX: u8 = 4;
/// [`NameEntry::flags`]: the name has static RRsets in [`STATIC`], under
/// the id [`NameEntry::static_id`] (a name without gslb sets).
pub const NAME_STATIC: u8 = 16;
/// [`NameEntry::flags`]: a gslb name: its NODATA answers carry the SOA
/// with a TTL of at most [`NameEntry::inline_ttl`], the name's TTL, so
/// that resolvers do not keep "no address" (every server down) longer
/// than they would keep an address. The inline answers, if any, have
/// that same TTL.
pub const NAME_NEG_TTL: u8 = 32;
/// [`NameEntry::flags`]: the name's answers depend on the client group
/// (topology, geography): a reply to a query with ECS carries as SCOPE
/// PREFIX-LENGTH the length of the [`CLIENT_GROUPS`] prefix that matched
/// (otherwise 0, unless the set's persistence sets a scope of its own).
pub const NAME_CLIENT_AWARE: u8 = 64;
/// [`NameEntry::flags`]: a gslb name whose address answers are counted in
/// [`NAME_ANSWERS`] at [`NameEntry::counter`]: in the `a` field when the
/// A answers are inline ([`NAME_INLINE_A`], which leaves `a` unused), else
/// in the first inline word (such an entry has no inline answers: a
/// counted name's AAAA alone is never inline).
pub const NAME_COUNTED: u8 = 128;
/// [`NameEntry::zone`] of a name without fast negative answers.
pub const NO_ZONE: u16 = u16::MAX;
/// Server id meaning "no server" (fixed addresses): not counted in
/// `SERVER_HITS` (the index is out of range).
pub const NO_SERVER: u16 = u16::MAX;

/// Most A addresses stored inline in a [`NameEntry`]; larger fixed sets
/// live in `ANSWERS_V4`.
pub const MAX_INLINE_A: usize = 4;

/// Value of the name maps: which answer set serves each type. A fixed,
/// ordered A set of up to [`MAX_INLINE_A`] addresses (the common case of a
/// static gslb name) is stored inline, which saves an `ANSWERS_V4` element
/// per name and keeps map memory per name small. 32 bytes: with its key, one
/// cache line in [`NAME_SLOTS`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameEntry {
    /// Answer-set id in [`ANSWERS_V4`], or [`NO_ANSWER`]; with
    /// [`NAME_INLINE_A`] (A answers inline, `a` unused by them) and
    /// [`NAME_COUNTED`], the name's counter id (see [`NameEntry::counter`]).
    pub a: u32,
    /// TTL of the inline answers; with [`NAME_NEG_TTL`], also the most
    /// TTL of the name's NODATA SOA.
    pub inline_ttl: u32,
    /// Number of inline A addresses (low nibble) and the most inline A
    /// answers per response (high nibble, `0` = all): see
    /// [`NameEntry::inline_count`] and [`NameEntry::inline_max`].
    pub inline_n: u8,
    /// `NAME_*` bits.
    pub flags: u8,
    /// Zone id in [`ZONES`] for negative answers, or [`NO_ZONE`].
    pub zone: u16,
    /// Answer-set id in [`ANSWERS_V6`], or [`NO_ANSWER`]; with
    /// [`NAME_INLINE_AAAA`] and [`NAME_INLINE_A`], the one inline A
    /// address (see [`NameEntry::pair_a`]).
    pub aaaa: u32,
    /// Inline A addresses, network byte order, in answer order; with
    /// [`NAME_INLINE_AAAA`], the one inline AAAA address.
    pub inline_a: [[u8; 4]; MAX_INLINE_A],
}

impl NameEntry {
    /// An entry with no answer sets.
    pub const EMPTY: NameEntry = NameEntry {
        a: NO_ANSWER,
        inline_ttl: 0,
        inline_n: 0,
        flags: 0,
        zone: NO_ZONE,
        aaaa: NO_ANSWER,
        inline_a: [[0; 4]; MAX_INLINE_A],
    };

    /// The inline A addresses of an entry with both [`NAME_INLINE_A`] and
    /// [`NAME_INLINE_AAAA`]: one address, in the `aaaa` field (bytes
    /// 12..16), viewed as an array of four so that the same code serves
    /// both inline forms; only the first is used (count 1).
    #[inline(always)]
    pub fn pair_a(&self) -> &[[u8; 4]; MAX_INLINE_A] {
        // SAFETY: bytes 12..28 of this repr(C) struct (asserted size 32),
        // byte arrays of alignment 1.
        unsafe { &*(self as *const Self).cast::<u8>().add(12).cast() }
    }

    /// The one inline AAAA address of an entry with [`NAME_INLINE_AAAA`].
    #[inline(always)]
    pub fn inline_aaaa(&self) -> &[[u8; 16]; 1] {
        // SAFETY: the 16 bytes of `inline_a`, alignment 1.
        unsafe { &*self.inline_a.as_ptr().cast() }
    }

    /// Id of the name's answers in [`STATIC`] (with [`NAME_STATIC`]; such
    /// a name has no inline answers, whose TTL the field otherwise holds).
    pub const fn static_id(&self) -> u32 {
        self.inline_ttl
    }

    /// Marks the entry [`NAME_STATIC`] with static id `id`.
    pub fn set_static(&mut self, id: u32) {
        self.flags |= NAME_STATIC;
        self.inline_ttl = id;
    }

    /// Index of the name's answer counter in [`NAME_ANSWERS`] (with
    /// [`NAME_COUNTED`]): the `a` field of an entry with [`NAME_INLINE_A`]
    /// (inline A alone or the pair form: A queries never read `a` then),
    /// else the first inline word (unused by an entry without inline
    /// answers).
    #[inline(always)]
    pub const fn counter(&self) -> u32 {
        if self.flags & NAME_INLINE_A != 0 {
            self.a
        } else {
            u32::from_ne_bytes(self.inline_a[0])
        }
    }

    /// Marks the entry [`NAME_COUNTED`] with counter id `id`, where
    /// [`NameEntry::counter`] reads it. An entry whose only inline answer
    /// is the AAAA one ([`NAME_INLINE_AAAA`] without [`NAME_INLINE_A`]) has
    /// no room for it and must not be counted.
    pub fn set_counter(&mut self, id: u32) {
        debug_assert!(self.flags & (NAME_INLINE_A | NAME_INLINE_AAAA) != NAME_INLINE_AAAA);
        self.flags |= NAME_COUNTED;
        if self.flags & NAME_INLINE_A != 0 {
            self.a = id;
        } else {
            self.inline_a[0] = id.to_ne_bytes();
        }
    }

    /// Number of inline A addresses.
    pub const fn inline_count(&self) -> u8 {
        self.inline_n & 0x0f
    }

    /// Most inline A answers per response (`0` = all).
    pub const fn inline_max(&self) -> u8 {
        self.inline_n >> 4
    }

    /// Packs `count` and `max` (each at most 15) into
    /// [`NameEntry::inline_n`].
    pub const fn pack_inline(count: u8, max: u8) -> u8 {
        (count & 0x0f) | (max << 4)
    }
}

/// A response's sections, ready to copy after the question: the value of
/// [`ZONES`] (a negative answer: the zone's SOA in the authority section)
/// and of [`STATIC`] (a static RRset, with what the slow path adds to it).
/// The first record's owner is a compression pointer to a suffix of QNAME
/// (the zone's apex, or all of it), written per query; everything after it
/// is `tail`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Canned {
    /// Wire length of the first owner (root label included), a suffix of
    /// QNAME.
    pub owner_len: u8,
    /// Non-zero when the entry is in use.
    pub valid: u8,
    /// Bytes used in `tail`.
    pub len: u16,
    /// Records in the answer section.
    pub ancount: u8,
    /// Records in the authority section.
    pub nscount: u8,
    /// Records in the additional section (OPT not included).
    pub arcount: u8,
    /// Padding (zero).
    pub _pad: u8,
    /// The sections after the first owner: for a negative answer, the
    /// SOA's type, class, TTL (already the negative TTL of RFC 2308 §3),
    /// RDLENGTH and RDATA with uncompressed names; for a static answer,
    /// the slow path's own encoding, whose compression pointers hold for
    /// any query of this exact name (the question's length is fixed).
    pub tail: [u8; CANNED_MAX],
}

impl Default for Canned {
    fn default() -> Self {
        Canned {
            owner_len: 0,
            valid: 0,
            len: 0,
            ancount: 0,
            nscount: 0,
            arcount: 0,
            _pad: 0,
            tail: [0; CANNED_MAX],
        }
    }
}

/// Key of [`STATIC`]: a name's static id and a query type.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StaticKey {
    /// [`NameEntry::static_id`].
    pub id: u32,
    /// QTYPE.
    pub qtype: u16,
    /// Padding (zero).
    pub _pad: u16,
}

/// Key of the answer maps: an answer set as seen by one client group.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AnswerKey {
    /// Answer-set id from [`NameEntry`].
    pub set: u32,
    /// Client group from [`CLIENT_GROUPS`]; 0 is the default group.
    pub group: u32,
}

/// An IPv4 answer set for one (answer set, client group): how to pick,
/// and the candidates.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AnswerV4 {
    /// Selection parameters.
    pub sel: Selection,
    /// Candidate addresses in network byte order, in pool order.
    pub addrs: [[u8; 4]; MAX_ADDRS],
}

/// An IPv6 answer set for one (answer set, client group).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AnswerV6 {
    /// Selection parameters.
    pub sel: Selection,
    /// Candidate addresses in network byte order, in pool order.
    pub addrs: [[u8; 16]; MAX_ADDRS],
}

/// Data part of a [`CLIENT_GROUPS`] key: an IPv6 address (IPv4 mapped).
pub type ClientPrefix = [u8; 16];

/// Length of the IPv4-mapped prefix `::ffff:0:0/96`: an IPv4 prefix of
/// length `l` is a trie prefix of length `V4_MAPPED_LEN + l`.
pub const V4_MAPPED_LEN: u8 = 96;

/// Value of [`CLIENT_GROUPS`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientGroup {
    /// The client group ([`AnswerKey::group`]).
    pub group: u32,
    /// Length of this entry's trie prefix (128-bit key: an IPv4 prefix of
    /// length `l` has `V4_MAPPED_LEN + l`).
    pub prefix_len: u8,
    /// Padding (zero).
    pub _pad: [u8; 3],
}

impl ClientGroup {
    /// ECS SCOPE PREFIX-LENGTH of this entry for a client of the given
    /// family: the prefix length within the family's own address.
    #[inline(always)]
    pub const fn scope(&self, v4: bool) -> u8 {
        if v4 {
            self.prefix_len.saturating_sub(V4_MAPPED_LEN)
        } else {
            self.prefix_len
        }
    }
}

/// One slot of [`CLIENT_CACHE`]: the [`CLIENT_GROUPS`] entry that
/// matched an address of a client block. Only an entry whose prefix holds
/// the whole block is kept (IPv4: at most a /24, 128-bit length at most
/// `V4_MAPPED_LEN + 24`; IPv6: at most a /64): the trie is a partition,
/// so every address of the block matches that same entry, and the ECS
/// scope stays the matched prefix's length.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientCacheSlot {
    /// The block ([`client_block`]).
    pub block: u64,
    /// [`CLIENT_GEN`] when the slot was filled.
    pub generation: u32,
    /// The entry's [`ClientGroup::group`].
    pub group: u32,
    /// The entry's [`ClientGroup::prefix_len`].
    pub prefix_len: u8,
    /// 1 for an IPv4 block, 0 for IPv6.
    pub v4: u8,
    /// Padding (zero).
    pub _pad: [u8; 6],
}

/// The cache block of a client (128-bit key, IPv4 mapped): for IPv4 its
/// /24 (bytes 8..15 of the key), for IPv6 its /64 (bytes 0..8), as a
/// native-endian word.
#[inline(always)]
pub fn client_block(client: &ClientPrefix, v4: bool) -> u64 {
    if v4 {
        u64::from_ne_bytes([
            client[8], client[9], client[10], client[11], client[12], client[13], client[14], 0,
        ])
    } else {
        u64::from_ne_bytes([
            client[0], client[1], client[2], client[3], client[4], client[5], client[6], client[7],
        ])
    }
}

/// The [`CLIENT_CACHE`] slot of a block: the top bits of a multiplicative
/// hash of the block with its high half folded onto its low half (the
/// bits that vary between IPv4 /24s are in the high half, and a product's
/// top bits mix only the bits below them).
#[inline(always)]
pub const fn client_cache_index(block: u64) -> u32 {
    let h = (block ^ (block >> 32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h >> (64 - CLIENT_CACHE_SLOTS.trailing_zeros())) as u32
}

/// Whether a [`CLIENT_GROUPS`] entry of 128-bit length `prefix_len` holds
/// the whole cache block of a client of the family.
#[inline(always)]
pub const fn client_cacheable(prefix_len: u8, v4: bool) -> bool {
    if v4 {
        prefix_len <= V4_MAPPED_LEN + 24
    } else {
        prefix_len <= 64
    }
}

/// Key of [`PERSIST`]: a client prefix as one answer set sees it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PersistKey {
    /// Answer-set id ([`AnswerKey::set`]).
    pub set: u32,
    /// 4 for the set's A answers, 6 for its AAAA answers.
    pub family: u8,
    /// Length of `addr`'s prefix in the 128-bit key (an IPv4 client
    /// prefix of length `l`: `V4_MAPPED_LEN + l`).
    pub prefix_len: u8,
    /// Padding (zero).
    pub _pad: u16,
    /// The client's address (IPv4 mapped), every bit past `prefix_len`
    /// zero.
    pub addr: ClientPrefix,
}

/// Value of [`PERSIST`]: the server a client prefix sticks to.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PersistRecord {
    /// Server id ([`crate::select::Selection::ids`]).
    pub server: u16,
    /// Padding (zero).
    pub _pad: u16,
    /// The server's [`SERVER_GEN`] when the record was made.
    pub generation: u32,
    /// When the record was last used: `CLOCK_MONOTONIC_COARSE`
    /// nanoseconds (`bpf_ktime_get_coarse_ns`). Void once `sticky_ttl`
    /// seconds have passed.
    pub last_used_ns: u64,
}

/// Masks `addr` (a 128-bit key, IPv4 mapped) to its first `len` bits.
#[inline(always)]
pub fn mask_prefix(addr: &mut ClientPrefix, len: u8) {
    let len = len.min(128) as usize;
    let mut i = 0;
    while i < 16 {
        let keep = if len >= (i + 1) * 8 {
            8
        } else {
            len.saturating_sub(i * 8)
        };
        addr[i] &= if keep == 0 { 0 } else { 0xffu8 << (8 - keep) };
        i += 1;
    }
}

/// Index of the first name class that holds a wire name of `len` bytes.
pub const fn name_class(len: usize) -> Option<usize> {
    let mut i = 0;
    while i < NAME_CLASSES.len() {
        if len <= NAME_CLASSES[i] {
            return Some(i);
        }
        i += 1;
    }
    None
}

const _: () = assert!(core::mem::size_of::<Config>() == 16);
const _: () = assert!(core::mem::size_of::<NameEntry>() == 32);
const _: () = assert!(core::mem::offset_of!(NameEntry, aaaa) == 12);
const _: () = assert!(core::mem::size_of::<NameSlot>() == 64);
const _: () = assert!(core::mem::size_of::<AnswerKey>() == 8);
const _: () = assert!(core::mem::size_of::<AnswerV4>() == 92);
const _: () = assert!(core::mem::size_of::<AnswerV6>() == 188);
const _: () = assert!(core::mem::size_of::<ClientGroup>() == 8);
const _: () = assert!(core::mem::size_of::<ClientCacheSlot>() == 24);
const _: () = assert!(CLIENT_CACHE_SLOTS.is_power_of_two());
const _: () = assert!(core::mem::size_of::<PersistKey>() == 24);
const _: () = assert!(core::mem::size_of::<PersistRecord>() == 16);
const _: () = assert!(core::mem::size_of::<Canned>() == 260);
const _: () = assert!(core::mem::size_of::<StaticKey>() == 8);
const _: () = assert!(core::mem::size_of::<LocalAddrs>() == 20 * MAX_LOCAL_ADDRS + 8);

#[cfg(feature = "user")]
mod pod {
    // SAFETY: all are repr(C), Copy, without padding (sizes asserted above).
    unsafe impl aya::Pod for super::Config {}
    unsafe impl aya::Pod for super::NameEntry {}
    unsafe impl aya::Pod for super::NameSlot {}
    unsafe impl aya::Pod for super::AnswerKey {}
    unsafe impl aya::Pod for super::AnswerV4 {}
    unsafe impl aya::Pod for super::AnswerV6 {}
    unsafe impl aya::Pod for super::Canned {}
    unsafe impl aya::Pod for super::StaticKey {}
    unsafe impl aya::Pod for super::LocalAddrs {}
    unsafe impl aya::Pod for super::ClientGroup {}
    unsafe impl aya::Pod for super::ClientCacheSlot {}
    unsafe impl aya::Pod for super::PersistKey {}
    unsafe impl aya::Pod for super::PersistRecord {}
}
