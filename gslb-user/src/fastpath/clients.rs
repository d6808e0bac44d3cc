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

use std::collections::HashMap;

use aya::{
    maps::{
        lpm_trie::{Key, LpmTrie},
        MapData,
    },
    Ebpf,
};
use gslb_common::maps::{ClientGroup, ClientPrefix, CLIENT_GROUPS, MAX_CLIENT_PREFIXES};

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
