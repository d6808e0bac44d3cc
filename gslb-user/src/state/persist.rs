//! Persistence with a TTL (pool `persistence`), the slow path's side: the
//! records of which server each client prefix was handed, read and
//! written with the XDP program's rule ([`gslb_common::select::persisted`]).
//!
//! With the XDP program loaded the records are its `PERSIST` LRU map and
//! the server generations its `SERVER_GEN` array, so both paths share
//! them; with `--no-xdp` they live here, in memory, with the same rule
//! (the least recently used record goes first when full). The times are
//! `CLOCK_MONOTONIC_COARSE` nanoseconds, the clock of
//! `bpf_ktime_get_coarse_ns`.
//!
//! A record's key names the answer set by the fast path's set id, which
//! the map writer assigns; the writer publishes it here by name
//! ([`PersistStore::publish_set`]). Without the fast path the store
//! assigns its own ids, one per answer policy as the map writer does
//! ([`PersistStore::publish_own`]): the names of one policy share their
//! records with or without XDP.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv6Addr},
    sync::{
        atomic::{AtomicU32, AtomicU64, Ordering},
        Mutex, RwLock,
    },
    time::Duration,
};

use aya::{
    maps::{Array, HashMap as BpfHashMap, MapData, MapError},
    Ebpf,
};
use gslb_common::{
    maps::{
        ClientPrefix, PersistKey, PersistRecord, MAX_SERVERS, PERSIST, SERVER_GEN, V4_MAPPED_LEN,
    },
    select::{self, Persisted, Selection},
};
use ipnet::IpNet;

use super::decision::PolicyKey;

/// `CLOCK_MONOTONIC_COARSE` in nanoseconds: `bpf_ktime_get_coarse_ns`'s
/// clock, which the XDP program stamps its records with.
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec out-pointer; the clock always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

/// The 128-bit key form of a client address (IPv4 mapped).
pub fn client_prefix(addr: IpAddr) -> (ClientPrefix, bool) {
    match addr {
        IpAddr::V4(a) => (a.to_ipv6_mapped().octets(), true),
        IpAddr::V6(a) => (a.octets(), false),
    }
}

/// The client prefix of a record key, as the user writes it.
pub fn key_prefix(key: &PersistKey) -> IpNet {
    let v6 = Ipv6Addr::from(key.addr);
    match v6.to_ipv4_mapped() {
        Some(v4) if key.prefix_len >= V4_MAPPED_LEN => {
            IpNet::new(IpAddr::V4(v4), key.prefix_len - V4_MAPPED_LEN)
                .unwrap_or_else(|_| IpNet::from(IpAddr::V4(v4)))
        }
        _ => IpNet::new(IpAddr::V6(v6), key.prefix_len.min(128))
            .unwrap_or_else(|_| IpNet::from(IpAddr::V6(v6))),
    }
}

/// The persistence context of one slow-path query of a gslb name: the
/// store, the name (its set id is looked up only for sets with
/// persistence) and the family of the answers (4: A, 6: AAAA).
#[derive(Clone, Copy, Debug)]
pub struct Sticky<'a> {
    /// The records.
    pub store: &'a PersistStore,
    /// The gslb name asked for.
    pub name: &'a hickory_proto::rr::Name,
    /// 4 for A answers, 6 for AAAA answers.
    pub family: u8,
}

impl Sticky<'_> {
    /// The first answer of `sel` for `client` with persistence
    /// ([`PersistStore::first`]); `pick()`'s alone while the fast path
    /// has not yet given the set an id.
    pub fn first(
        &self,
        sel: &Selection,
        client: IpAddr,
        pick: impl FnOnce() -> Option<usize>,
    ) -> Option<usize> {
        match self.store.set_of(&crate::dns::wire::wire_key(self.name)) {
            Some(set) => self.store.first(sel, set, self.family, client, pick),
            None => pick(),
        }
    }
}

/// Where the records live.
enum Records {
    /// `--no-xdp`: in memory, at most `capacity`; each record with the
    /// sequence number of its last write, which orders writes within one
    /// tick of the coarse clock.
    Memory {
        map: Mutex<HashMap<PersistKey, (PersistRecord, u64)>>,
        capacity: usize,
        writes: AtomicU64,
    },
    /// The XDP program's maps (boxed: they are larger than the rest).
    Bpf(Box<BpfMaps>),
}

/// The XDP program's `PERSIST` and `SERVER_GEN`.
struct BpfMaps {
    map: Mutex<BpfHashMap<MapData, PersistKey, PersistRecord>>,
    generations: Mutex<Array<MapData, u32>>,
}

/// The persistence records and the server generations.
pub struct PersistStore {
    records: Records,
    /// Each server's generation (the copy of `SERVER_GEN` the slow path
    /// reads, so a query costs no syscall for it).
    generations: Box<[AtomicU32]>,
    /// Whether each server was last seen up and not disabled.
    usable: Mutex<Vec<Option<bool>>>,
    /// Set id of each gslb name (lowercase wire key), as the fast path
    /// knows it.
    set_ids: RwLock<HashMap<Vec<u8>, u32>>,
    /// Whether ids are assigned here (no fast path).
    own_ids: bool,
    /// The ids assigned here, per answer policy (`own_ids` only).
    policy_ids: Mutex<HashMap<PolicyKey, u32>>,
    /// The next id assigned here.
    next_id: AtomicU32,
}

impl std::fmt::Debug for PersistStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersistStore")
            .field("bpf", &matches!(self.records, Records::Bpf(_)))
            .finish_non_exhaustive()
    }
}

/// Why the store could not take the XDP program's maps.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// A map is missing from the object.
    #[error("the XDP object has no map {0}")]
    Missing(&'static str),
    /// A map operation failed.
    #[error(transparent)]
    Map(#[from] MapError),
}

/// One record as `gslb persist list` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordView {
    /// The record's key.
    pub key: PersistKey,
    /// The record.
    pub record: PersistRecord,
    /// Since the record was last used.
    pub age: Duration,
    /// Whether its server's generation is still the record's.
    pub current: bool,
}

impl PersistStore {
    /// An in-memory store of at most `capacity` records (`--no-xdp`).
    pub fn memory(capacity: u32) -> PersistStore {
        PersistStore::with(
            Records::Memory {
                map: Mutex::new(HashMap::new()),
                capacity: capacity.max(1) as usize,
                writes: AtomicU64::new(0),
            },
            true,
        )
    }

    /// A store over the loaded XDP object's `PERSIST` and `SERVER_GEN`.
    pub fn bpf(ebpf: &mut Ebpf) -> Result<PersistStore, PersistError> {
        let map = ebpf
            .take_map(PERSIST)
            .ok_or(PersistError::Missing(PERSIST))?;
        let gens = ebpf
            .take_map(SERVER_GEN)
            .ok_or(PersistError::Missing(SERVER_GEN))?;
        let gens: Array<MapData, u32> = Array::try_from(gens)?;
        let store = PersistStore::with(
            Records::Bpf(Box::new(BpfMaps {
                map: Mutex::new(BpfHashMap::try_from(map)?),
                generations: Mutex::new(gens),
            })),
            false,
        );
        // A map taken over from a previous daemon (pinned) holds its
        // generations: the slow path's copy starts from them.
        if let Records::Bpf(b) = &store.records {
            let gens = b.generations.lock().unwrap_or_else(|e| e.into_inner());
            for (i, g) in store.generations.iter().enumerate() {
                if let Ok(v) = gens.get(&(i as u32), 0) {
                    g.store(v, Ordering::Relaxed);
                }
            }
        }
        Ok(store)
    }

    fn with(records: Records, own_ids: bool) -> PersistStore {
        PersistStore {
            records,
            generations: (0..MAX_SERVERS).map(|_| AtomicU32::new(0)).collect(),
            usable: Mutex::new(Vec::new()),
            set_ids: RwLock::new(HashMap::new()),
            own_ids,
            policy_ids: Mutex::new(HashMap::new()),
            next_id: AtomicU32::new(1),
        }
    }

    /// Whether the records are the XDP program's.
    pub fn is_bpf(&self) -> bool {
        matches!(self.records, Records::Bpf(_))
    }

    /// Records the fast path's set id of the gslb name `wire`.
    pub fn publish_set(&self, wire: &[u8], set: u32) {
        let mut ids = self.set_ids.write().unwrap_or_else(|e| e.into_inner());
        if ids.get(wire) != Some(&set) {
            ids.insert(wire.to_vec(), set);
        }
    }

    /// The set id of the gslb name `wire` (assigned here without the fast
    /// path; `None` while the map writer has not published it).
    pub fn set_of(&self, wire: &[u8]) -> Option<u32> {
        if let Some(&id) = self
            .set_ids
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(wire)
        {
            return Some(id);
        }
        if !self.own_ids {
            return None;
        }
        let mut ids = self.set_ids.write().unwrap_or_else(|e| e.into_inner());
        Some(
            *ids.entry(wire.to_vec())
                .or_insert_with(|| self.next_id.fetch_add(1, Ordering::Relaxed)),
        )
    }

    /// Without the fast path: gives the gslb name `wire` the id of its
    /// answer policy (`None`: a name of its own), as the map writer gives
    /// its set id, so the names of one policy share their records.
    pub fn publish_own(&self, wire: &[u8], policy: Option<&PolicyKey>) {
        if !self.own_ids {
            return;
        }
        let id = match policy {
            Some(p) => *self
                .policy_ids
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(p.clone())
                .or_insert_with(|| self.next_id.fetch_add(1, Ordering::Relaxed)),
            None => match self.set_of(wire) {
                Some(id) => id,
                None => return,
            },
        };
        self.publish_set(wire, id);
    }

    /// The names (wire keys) of set `set`.
    pub fn names_of(&self, set: u32) -> Vec<Vec<u8>> {
        let mut names: Vec<Vec<u8>> = self
            .set_ids
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, &id)| id == set)
            .map(|(k, _)| k.clone())
            .collect();
        names.sort();
        names
    }

    /// The current generation of server `id`.
    pub fn generation(&self, id: u16) -> u32 {
        self.generations
            .get(usize::from(id))
            .map_or(0, |g| g.load(Ordering::Relaxed))
    }

    /// Notes whether server `id` can keep its persistent clients (up and
    /// not disabled; draining keeps them). When it could and no longer
    /// can, its generation moves on: every record made for it is void at
    /// once, in both paths, without a scan.
    pub fn observe(&self, id: u16, usable: bool) -> Result<(), PersistError> {
        let i = usize::from(id);
        let was = {
            let mut seen = self.usable.lock().unwrap_or_else(|e| e.into_inner());
            if seen.len() <= i {
                seen.resize(i + 1, None);
            }
            seen[i].replace(usable)
        };
        if was == Some(true) && !usable {
            self.bump(id)?;
        }
        Ok(())
    }

    /// Moves server `id` to its next generation.
    pub fn bump(&self, id: u16) -> Result<(), PersistError> {
        let Some(g) = self.generations.get(usize::from(id)) else {
            return Ok(());
        };
        let next = g.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        if let Records::Bpf(b) = &self.records {
            b.generations
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .set(u32::from(id), next, 0)?;
        }
        Ok(())
    }

    fn get(&self, key: &PersistKey) -> Option<PersistRecord> {
        match &self.records {
            Records::Memory { map, .. } => map
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(key)
                .map(|(r, _)| *r),
            Records::Bpf(b) => b
                .map
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(key, 0)
                .ok(),
        }
    }

    fn put(&self, key: PersistKey, rec: PersistRecord) {
        match &self.records {
            Records::Memory {
                map,
                capacity,
                writes,
            } => {
                let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
                if map.len() >= *capacity && !map.contains_key(&key) {
                    // As the LRU map does: the least recently used goes.
                    if let Some(oldest) = map
                        .iter()
                        .min_by_key(|(_, (r, seq))| (r.last_used_ns, *seq))
                        .map(|(k, _)| *k)
                    {
                        map.remove(&oldest);
                    }
                }
                map.insert(key, (rec, writes.fetch_add(1, Ordering::Relaxed)));
            }
            Records::Bpf(b) => {
                let map = &b.map;
                // A full LRU map evicts on its own; a failed write only
                // costs this client its persistence.
                let _ = map
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key, rec, 0);
            }
        }
    }

    /// The first answer of a set with persistence (`sel.sticky_ttl` not
    /// 0) for `client`: the candidate its live record keeps (the record's
    /// use time refreshed), else `pick()`'s, recorded. `set` is the set's
    /// id, `family` 4 for its A answers and 6 for its AAAA answers.
    pub fn first(
        &self,
        sel: &Selection,
        set: u32,
        family: u8,
        client: IpAddr,
        pick: impl FnOnce() -> Option<usize>,
    ) -> Option<usize> {
        let (addr, v4) = client_prefix(client);
        let key = select::persist_record_key(sel, set, family, &addr, v4);
        let rec = self.get(&key);
        let now = now_ns();
        let generation = rec.map_or(0, |r| self.generation(r.server));
        match select::persisted(sel, rec.as_ref(), generation, now) {
            Persisted::Hit(i) => {
                // Once a step, as the XDP program does.
                if let Some(mut r) = rec.filter(|r| select::refresh_due(sel, r, now)) {
                    r.last_used_ns = now;
                    self.put(key, r);
                }
                Some(i)
            }
            Persisted::New => {
                let i = pick()?;
                let server = *sel.ids.get(i)?;
                self.put(
                    key,
                    PersistRecord {
                        server,
                        _pad: 0,
                        generation: self.generation(server),
                        last_used_ns: now,
                    },
                );
                Some(i)
            }
        }
    }

    /// Every record, with its age and whether its generation is current.
    pub fn list(&self) -> Vec<RecordView> {
        let now = now_ns();
        let all: Vec<(PersistKey, PersistRecord)> = match &self.records {
            Records::Memory { map, .. } => map
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .map(|(k, (v, _))| (*k, *v))
                .collect(),
            Records::Bpf(b) => b
                .map
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .filter_map(Result::ok)
                .collect(),
        };
        let mut out: Vec<RecordView> = all
            .into_iter()
            .map(|(key, record)| RecordView {
                key,
                record,
                age: Duration::from_nanos(now.saturating_sub(record.last_used_ns)),
                current: record.generation == self.generation(record.server),
            })
            .collect();
        out.sort_by_key(|r| (r.key.set, r.key.family, r.key.addr, r.key.prefix_len));
        out
    }

    /// Removes the records with these keys; returns how many were there.
    pub fn remove(&self, keys: &[PersistKey]) -> usize {
        match &self.records {
            Records::Memory { map, .. } => {
                let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
                keys.iter().filter(|k| map.remove(k).is_some()).count()
            }
            Records::Bpf(b) => {
                let map = &b.map;
                let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
                keys.iter().filter(|k| map.remove(k).is_ok()).count()
            }
        }
    }

    /// The record of `client` for set `set`/`family` under `sel`, if live:
    /// (server id, since last use). For `gslb explain`.
    pub fn lookup(
        &self,
        sel: &Selection,
        set: u32,
        family: u8,
        client: IpAddr,
    ) -> Option<(u16, Duration)> {
        if sel.sticky_ttl == 0 {
            return None;
        }
        let (addr, v4) = client_prefix(client);
        let key = select::persist_record_key(sel, set, family, &addr, v4);
        let rec = self.get(&key)?;
        let now = now_ns();
        match select::persisted(sel, Some(&rec), self.generation(rec.server), now) {
            Persisted::Hit(_) => Some((
                rec.server,
                Duration::from_nanos(now.saturating_sub(rec.last_used_ns)),
            )),
            Persisted::New => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use gslb_common::select::MODE_ROUND_ROBIN;

    use super::*;

    fn sticky(count: u8) -> Selection {
        let mut s = Selection {
            ttl: 30,
            mode: MODE_ROUND_ROBIN,
            count,
            up: (1u16 << count) as u8 - 1,
            sticky_ttl: 600,
            sticky_v4: 24,
            sticky_v6: 56,
            keep: ((1u16 << count) - 1) as u8,
            ..Default::default()
        };
        for i in 0..usize::from(count) {
            s.ids[i] = 10 + i as u16;
            s.weights[i] = 1;
        }
        s.total_weight = u32::from(count);
        s
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_client_prefix_keeps_its_first_server() {
        let store = PersistStore::memory(100);
        let s = sticky(3);
        let mut rr = 0usize;
        let mut next = || {
            rr += 1;
            Some(rr % 3)
        };
        let first = store.first(&s, 1, 4, ip("198.18.1.1"), &mut next).unwrap();
        for host in 2..50u8 {
            let a = IpAddr::from([198, 18, 1, host]);
            assert_eq!(store.first(&s, 1, 4, a, &mut next), Some(first));
        }
        // Another prefix, another record; the other family of the set too.
        let other = store.first(&s, 1, 4, ip("198.18.2.1"), &mut next).unwrap();
        assert_ne!(other, first);
        assert_eq!(store.list().len(), 2);
        let v = &store.list()[0];
        assert_eq!(key_prefix(&v.key).to_string(), "198.18.1.0/24");
        assert!(v.current);
        store
            .first(&s, 1, 6, ip("2001:db8:1:2::1"), &mut next)
            .unwrap();
        let v6 = store
            .list()
            .into_iter()
            .find(|r| r.key.family == 6)
            .unwrap();
        assert_eq!(key_prefix(&v6.key).to_string(), "2001:db8:1::/56");
        // explain's view.
        let (server, age) = store.lookup(&s, 1, 4, ip("198.18.1.9")).unwrap();
        assert_eq!(server, s.ids[first]);
        assert!(age < Duration::from_secs(5));
    }

    #[test]
    fn a_server_going_down_voids_only_its_records() {
        let store = PersistStore::memory(100);
        let s = sticky(2);
        let a = store.first(&s, 1, 4, ip("198.18.1.1"), || Some(0)).unwrap();
        let b = store.first(&s, 1, 4, ip("198.18.2.1"), || Some(1)).unwrap();
        assert_eq!((a, b), (0, 1));
        for id in [10, 11] {
            store.observe(id, true).unwrap();
        }
        // Draining is still usable: nothing moves. Down: its generation.
        store.observe(10, true).unwrap();
        store.observe(10, false).unwrap();
        assert_eq!(store.generation(10), 1);
        assert_eq!(store.generation(11), 0);
        assert_eq!(store.first(&s, 1, 4, ip("198.18.1.1"), || Some(1)), Some(1));
        assert_eq!(store.first(&s, 1, 4, ip("198.18.2.1"), || Some(0)), Some(1));
        // Back up: the old record stays void, the new one holds.
        store.observe(10, true).unwrap();
        assert_eq!(store.first(&s, 1, 4, ip("198.18.1.1"), || Some(0)), Some(1));
    }

    #[test]
    fn records_expire_and_keep_only_candidates_keep_theirs() {
        let store = PersistStore::memory(100);
        let mut s = sticky(2);
        store.first(&s, 1, 4, ip("198.18.1.1"), || Some(1)).unwrap();
        // Candidate 1 drains: now keep-only at index 2, after `count` 1.
        let mut d = sticky(1);
        d.ids[1] = s.ids[1];
        d.keep = 0b11;
        assert_eq!(store.first(&d, 1, 4, ip("198.18.1.1"), || Some(0)), Some(1));
        // A new client never gets it.
        assert_eq!(store.first(&d, 1, 4, ip("198.18.3.1"), || Some(0)), Some(0));
        // A record older than the TTL is void.
        s.sticky_ttl = 1;
        let key = select::persist_record_key(&s, 1, 4, &client_prefix(ip("198.18.1.1")).0, true);
        let mut rec = store.get(&key).unwrap();
        rec.last_used_ns = now_ns() - 2_000_000_000;
        store.put(key, rec);
        assert_eq!(store.first(&s, 1, 4, ip("198.18.1.1"), || Some(0)), Some(0));
        assert_eq!(store.remove(&[key]), 1);
        assert_eq!(store.remove(&[key]), 0);
    }

    #[test]
    fn a_hit_writes_the_use_time_once_a_step() {
        let store = PersistStore::memory(100);
        let s = sticky(2);
        store.first(&s, 1, 4, ip("198.18.1.1"), || Some(1)).unwrap();
        let key = select::persist_record_key(&s, 1, 4, &client_prefix(ip("198.18.1.1")).0, true);
        // Used 5 s ago (the step is 600 s / 64, 9.375 s): kept as is.
        let mut rec = store.get(&key).unwrap();
        rec.last_used_ns = now_ns() - 5_000_000_000;
        store.put(key, rec);
        assert_eq!(store.first(&s, 1, 4, ip("198.18.1.2"), || Some(0)), Some(1));
        assert_eq!(store.get(&key).unwrap().last_used_ns, rec.last_used_ns);
        // Used 10 s ago: written.
        rec.last_used_ns = now_ns() - 10_000_000_000;
        store.put(key, rec);
        let before = now_ns();
        assert_eq!(store.first(&s, 1, 4, ip("198.18.1.3"), || Some(0)), Some(1));
        assert!(store.get(&key).unwrap().last_used_ns >= before);
    }

    #[test]
    fn a_full_memory_store_drops_the_least_recently_used() {
        let store = PersistStore::memory(2);
        let s = sticky(2);
        for c in 1..=3u8 {
            store.first(&s, 1, 4, IpAddr::from([198, 18, c, 1]), || Some(0));
        }
        let left: Vec<String> = store
            .list()
            .iter()
            .map(|r| key_prefix(&r.key).to_string())
            .collect();
        assert_eq!(left, ["198.18.2.0/24", "198.18.3.0/24"]);
    }

    #[test]
    fn own_set_ids_without_the_fast_path() {
        let store = PersistStore::memory(2);
        let a = store.set_of(b"\x01a\x00").unwrap();
        let b = store.set_of(b"\x01b\x00").unwrap();
        assert_ne!(a, b);
        assert_eq!(store.set_of(b"\x01a\x00"), Some(a));
        assert_eq!(store.names_of(b), vec![b"\x01b\x00".to_vec()]);
    }

    #[test]
    fn names_of_one_policy_share_their_own_id() {
        let store = PersistStore::memory(2);
        let policy = |pool: &str| PolicyKey {
            pools: vec![pool.to_string()],
            pool_method: Default::default(),
            last_resort_pool: None,
            ttl: 30,
        };
        store.publish_own(b"\x01a\x00", Some(&policy("p")));
        store.publish_own(b"\x01b\x00", Some(&policy("p")));
        store.publish_own(b"\x01c\x00", Some(&policy("q")));
        store.publish_own(b"\x01d\x00", None);
        let id = |w: &[u8]| store.set_of(w).unwrap();
        assert_eq!(id(b"\x01a\x00"), id(b"\x01b\x00"));
        assert_ne!(id(b"\x01a\x00"), id(b"\x01c\x00"));
        assert_ne!(id(b"\x01d\x00"), id(b"\x01a\x00"));
        assert_ne!(id(b"\x01d\x00"), id(b"\x01c\x00"));
        assert_eq!(
            store.names_of(id(b"\x01a\x00")),
            vec![b"\x01a\x00".to_vec(), b"\x01b\x00".to_vec()]
        );
    }
}
