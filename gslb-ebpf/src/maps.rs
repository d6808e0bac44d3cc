//! The program's BPF maps. Names, keys and values come from
//! `gslb_common::maps`, the one definition shared with the daemon.

use aya_ebpf::{
    bindings::{BPF_F_MMAPABLE, BPF_F_NO_PREALLOC},
    macros::map,
    maps::{Array, HashMap, LpmTrie, LruHashMap, PerCpuArray},
};
use gslb_common::{
    maps::{
        AnswerKey, AnswerV4, AnswerV6, Canned, ClientCacheSlot, ClientGroup, ClientPrefix, Config,
        LocalAddrs, NameEntry, NameSlot, PersistKey, PersistRecord, StaticKey, CLIENT_CACHE_SLOTS,
        DEFAULT_MAX_NAMES, DEFAULT_PERSIST_RECORDS, MAX_CLIENT_PREFIXES, MAX_COUNTED_NAMES,
        MAX_ECS_TRUSTED, MAX_SERVERS, MAX_ZONES,
    },
    Counter,
};

/// Global settings (`CONFIG[0]`); all zero (disabled) until the daemon
/// writes it.
#[map]
pub static CONFIG: Array<Config> = Array::with_max_entries(1, 0);

/// Per-CPU verdict counters, indexed by [`Counter`].
#[map]
pub static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(Counter::COUNT, 0);

/// Per-CPU count of first answers per server id.
#[map]
pub static SERVER_HITS: PerCpuArray<u64> = PerCpuArray::with_max_entries(MAX_SERVERS, 0);

/// Per-CPU count of address answers per gslb name, by the name's counter
/// id (`NameEntry::counter`).
#[map]
pub static NAME_ANSWERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(MAX_COUNTED_NAMES, 0);

/// Client prefix → client group and the prefix's length (the ECS scope).
#[map]
pub static CLIENT_GROUPS: LpmTrie<ClientPrefix, ClientGroup> =
    LpmTrie::with_max_entries(MAX_CLIENT_PREFIXES, 0);

/// Per-CPU cache of `CLIENT_GROUPS` results by client block, valid while
/// `CLIENT_GEN` is unchanged (see `gslb_common::maps::CLIENT_CACHE`).
#[map]
pub static CLIENT_CACHE: PerCpuArray<ClientCacheSlot> =
    PerCpuArray::with_max_entries(CLIENT_CACHE_SLOTS, 0);

/// The generation of `CLIENT_GROUPS`'s contents (`CLIENT_GEN[0]`); 0 until
/// the daemon writes the trie: no caching.
#[map]
pub static CLIENT_GEN: Array<u32> = Array::with_max_entries(1, 0);

/// Resolver prefix → 1: whose EDNS Client Subnet is used under
/// `CONFIG_ECS_TRUSTED`.
#[map]
pub static ECS_TRUSTED: LpmTrie<ClientPrefix, u8> = LpmTrie::with_max_entries(MAX_ECS_TRUSTED, 0);

/// Persistence records: (set, family, client prefix) → the server it
/// sticks to. LRU: when full, the least recently used record goes. The
/// daemon sizes it at load time.
#[map]
pub static PERSIST: LruHashMap<PersistKey, PersistRecord> =
    LruHashMap::with_max_entries(DEFAULT_PERSIST_RECORDS, 0);

/// Server id → generation (bumped by the daemon when the server goes
/// down or is disabled: older persistence records to it are void).
#[map]
pub static SERVER_GEN: Array<u32> = Array::with_max_entries(MAX_SERVERS, 0);

/// Open-addressed table of the short names (see `gslb_common::maps::NAME_SLOTS`);
/// the daemon sets its size at load time.
#[map]
pub static NAME_SLOTS: Array<NameSlot> = Array::with_max_entries(64, BPF_F_MMAPABLE);

/// Lowercased wire names of up to 32 bytes → answer sets.
#[map]
pub static NAMES_32: HashMap<[u8; 32], NameEntry> =
    HashMap::with_max_entries(DEFAULT_MAX_NAMES, BPF_F_NO_PREALLOC);
/// Names of 33..=64 bytes.
#[map]
pub static NAMES_64: HashMap<[u8; 64], NameEntry> =
    HashMap::with_max_entries(DEFAULT_MAX_NAMES, BPF_F_NO_PREALLOC);
/// Names of 65..=128 bytes.
#[map]
pub static NAMES_128: HashMap<[u8; 128], NameEntry> =
    HashMap::with_max_entries(DEFAULT_MAX_NAMES, BPF_F_NO_PREALLOC);
/// Names of 129..=255 bytes (key padded to 256).
#[map]
pub static NAMES_256: HashMap<[u8; 256], NameEntry> =
    HashMap::with_max_entries(DEFAULT_MAX_NAMES, BPF_F_NO_PREALLOC);

/// A answer sets per (set, client group). A hash map, so that an update from
/// user space replaces the whole value at once (RCU): readers never see a
/// half-written set.
#[map]
pub static ANSWERS_V4: HashMap<AnswerKey, AnswerV4> =
    HashMap::with_max_entries(DEFAULT_MAX_NAMES, BPF_F_NO_PREALLOC);
/// AAAA answer sets per (set, client group).
#[map]
pub static ANSWERS_V6: HashMap<AnswerKey, AnswerV6> =
    HashMap::with_max_entries(DEFAULT_MAX_NAMES, BPF_F_NO_PREALLOC);

/// The destination addresses answered for (`LOCAL_ADDRS[0]`); all zero
/// (none) until the daemon writes it.
#[map]
pub static LOCAL_ADDRS: Array<LocalAddrs> = Array::with_max_entries(1, 0);

/// Zone id → negative answer data (SOA).
#[map]
pub static ZONES: Array<Canned> = Array::with_max_entries(MAX_ZONES, 0);

/// (static id, QTYPE) → answer from static zone data. A hash map, so that
/// an update replaces a whole answer at once; sized by the daemon.
#[map]
pub static STATIC: HashMap<StaticKey, Canned> =
    HashMap::with_max_entries(DEFAULT_MAX_NAMES, BPF_F_NO_PREALLOC);

/// Size of the DNS message scratch buffer. Queries larger than
/// [`MAX_QUERY`] are passed; the response is built in place: up to 12 +
/// 259 + 8 × 28 + 11 = 506 bytes with answer records, 12 + 259 + 2 + 252
/// + 11 = 536 with a canned tail (`send` passes anything over 508).
pub const SCRATCH_LEN: usize = 1024;
/// Largest DNS query payload the fast path reads.
pub const MAX_QUERY: usize = 512;
/// Index mask that keeps every scratch access provably in bounds for the
/// verifier (`SCRATCH_LEN` is twice `MAX_QUERY`, so `(i & MASK) + 28` fits).
pub const MASK: usize = MAX_QUERY - 1;

/// Longest L2-L4 header stack: Ethernet, two VLAN tags, IPv4 with 40 bytes
/// of options, UDP (14 + 8 + 60 + 8 = 90), rounded up.
pub const HDR_LEN: usize = 128;

/// Per-CPU working memory: the DNS message and the lookup key.
#[repr(C)]
pub struct Scratch {
    /// Lowercased wire-format QNAME, zero padded: the name map key.
    /// First, so its 64-bit words are aligned.
    pub key: [u8; 256],
    /// Places `msg` at an offset of 4 mod 8, so that the QNAME (at offset 12
    /// of the message) starts on an 8-byte boundary and is read by words.
    pub _align: [u8; 4],
    /// The DNS message: query in, response out.
    pub msg: [u8; SCRATCH_LEN],
    /// Loop-carried state kept out of the verifier's sight (see
    /// `dns::parse` and `dns::build`).
    pub tmp: u64,
    /// See [`Scratch::opaque`].
    pub launder: u64,
    /// Candidate index of each answer, in answer order.
    pub order: [u8; 8],
    /// The query's EDNS Client Subnet ADDRESS as on the wire (IPv4: 4
    /// bytes), zero padded to 16 bytes, every bit past SOURCE
    /// PREFIX-LENGTH zero; valid while [`crate::dns::Query::ecs_family`]
    /// is not 0. Kept here: the reply overwrites the query's OPT record.
    pub ecs: [u8; 16],
    /// The client as the lookups see it: the ECS address or the source
    /// address, 128 bits, IPv4 mapped (`::ffff:a.b.c.d`).
    pub client: [u8; 16],
    /// The persistence record's key. Kept in map memory, which the
    /// verifier does not track: the branches of its masking then leave
    /// one state behind, not one per prefix length.
    pub pkey: PersistKey,
    /// What the reply's persistence does once it is sent: 0 nothing,
    /// [`PERSIST_HIT`] count a live record's use (and write its use time
    /// when due), [`PERSIST_NEW`] record `persist_server` for `pkey`.
    /// Done after the send, where the verifier has the least left to
    /// check.
    pub persist_op: u32,
    /// The server of a new record.
    pub persist_server: u32,
    /// The clock when the live record was read (`bpf_ktime_get_ns`).
    pub persist_now: u64,
    /// When the live record's use time is due to be written again (its
    /// use time plus `select::refresh_step_ns`): `persist_done` writes it
    /// once `persist_now` reaches this, not on every hit.
    pub persist_due_ns: u64,
    /// The L2-L4 headers while the frame grows at the front.
    pub hdr: [u8; HDR_LEN * 2],
}

const _: () = assert!((core::mem::offset_of!(Scratch, msg) + 12) % 8 == 0);

impl Scratch {
    /// Returns `v` through map memory, whose contents the verifier does not
    /// track. A loop that exits at many iterations leaves a different exact
    /// value behind each time, and the verifier would check the rest of the
    /// program once per value (past its 1M instruction budget); after this
    /// it sees one bounded unknown and prunes. Callers re-check bounds.
    #[inline(always)]
    pub fn opaque(&mut self, v: usize) -> usize {
        // SAFETY: plain reads and writes of our own per-CPU field.
        unsafe {
            core::ptr::write_volatile(&mut self.launder, v as u64);
            core::ptr::read_volatile(&self.launder) as usize
        }
    }
}

/// [`Scratch::persist_op`]: the first answer came from a live record.
pub const PERSIST_HIT: u32 = 1;
/// [`Scratch::persist_op`]: record the method's pick.
pub const PERSIST_NEW: u32 = 2;

/// One [`Scratch`] per CPU.
#[map]
pub static SCRATCH: PerCpuArray<Scratch> = PerCpuArray::with_max_entries(1, 0);

/// Adds one to a counter of this CPU.
#[inline(always)]
pub fn count(c: Counter) {
    if let Some(p) = COUNTERS.get_ptr_mut(c as u32) {
        // SAFETY: per-CPU slot, no concurrent writer on this CPU.
        unsafe { *p += 1 };
    }
}
