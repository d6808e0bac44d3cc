//! Writes the client groups' partition into the `CLIENT_GROUPS` LPM trie.
//!
//! An update never leaves a gap: every new or changed entry is written
//! first, then the entries that are no longer in the partition are
//! deleted. While it runs, an address matches either its old entry or
//! its new one (a longer prefix of the new partition wins over a stale
//! shorter one; an entry replaced in place is one atomic update), so a
//! query sees the old group or the new one, never none. The caller
//! writes the answer sets of new groups before calling [`ClientTrie::write`]
//! and drops those of stale groups after it.
//!
//! The XDP program keeps its trie results per CPU by client block
//! (`CLIENT_CACHE`, tagged with `CLIENT_GEN`); a write ends by changing
//! `CLIENT_GEN`, after which no result of the old trie is used.

use std::collections::HashMap;

use aya::{
    maps::{
        lpm_trie::{Key, LpmTrie},
        Array, MapData,
    },
    Ebpf,
};
use gslb_common::maps::{
    ClientGroup, ClientPrefix, CLIENT_GEN, CLIENT_GROUPS, MAX_CLIENT_PREFIXES,
};

use super::MapsError;
use crate::clients::ClientMap;

/// Capacity of `CLIENT_GROUPS` for a partition of `entries` prefixes:
/// room for an update that replaces all of them (written before the old
/// ones go), at least the object's default. The trie allocates per
/// entry, so unused capacity costs nothing.
pub fn capacity(entries: usize) -> u32 {
    u32::try_from(entries.saturating_mul(2))
        .unwrap_or(u32::MAX)
        .max(MAX_CLIENT_PREFIXES)
}

/// The `CLIENT_GROUPS` trie and what was last written to it.
pub struct ClientTrie {
    trie: LpmTrie<MapData, ClientPrefix, ClientGroup>,
    /// (address, 128-bit length) → value, as written.
    current: HashMap<(ClientPrefix, u8), ClientGroup>,
    /// `CLIENT_GEN`: changed after every write, which voids the XDP
    /// program's per-CPU cache of trie results (`CLIENT_CACHE`).
    generation: Array<MapData, u32>,
    /// The generation last written (never 0, which turns the cache off).
    current_gen: u32,
}

/// The first generation of a daemon: from the clock, so that it differs
/// from whatever an earlier daemon left in a map this one took over.
fn first_generation() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.subsec_nanos() ^ d.as_secs() as u32);
    nanos.max(1)
}

impl ClientTrie {
    /// Takes `CLIENT_GROUPS` out of a loaded object.
    pub fn new(ebpf: &mut Ebpf) -> Result<ClientTrie, MapsError> {
        let map = ebpf
            .take_map(CLIENT_GROUPS)
            .ok_or_else(|| MapsError::Missing(CLIENT_GROUPS.to_owned()))?;
        Ok(ClientTrie {
            trie: map.try_into()?,
            current: HashMap::new(),
            generation: ebpf
                .take_map(CLIENT_GEN)
                .ok_or_else(|| MapsError::Missing(CLIENT_GEN.to_owned()))?
                .try_into()?,
            current_gen: first_generation(),
        })
    }

    /// Makes the trie hold `map`'s partition: new and changed entries
    /// first, then the stale ones deleted. Returns how many entries were
    /// written or deleted.
    pub fn write(&mut self, map: &ClientMap) -> Result<usize, MapsError> {
        let mut next: HashMap<(ClientPrefix, u8), ClientGroup> =
            HashMap::with_capacity(map.entries().len());
        let mut changes = 0;
        for e in map.entries() {
            let k = (e.addr(), e.len);
            let v = e.value();
            if self.current.get(&k) != Some(&v) {
                self.trie
                    .insert(&Key::new(u32::from(e.len), e.addr()), v, 0)?;
                changes += 1;
            }
            next.insert(k, v);
        }
        for k in self.current.keys().filter(|k| !next.contains_key(*k)) {
            self.trie.remove(&Key::new(u32::from(k.1), k.0))?;
            changes += 1;
        }
        self.current = next;
        // Every trie change is in: cached results from before are void
        // (the program reads the generation before the trie, so what it
        // caches during a write carries the old generation).
        self.current_gen = match self.current_gen.wrapping_add(1) {
            0 => 1,
            g => g,
        };
        self.generation.set(0, self.current_gen, 0)?;
        Ok(changes)
    }

    /// How many entries the trie holds.
    pub fn len(&self) -> usize {
        self.current.len()
    }

    /// The trie is empty.
    pub fn is_empty(&self) -> bool {
        self.current.is_empty()
    }
}
