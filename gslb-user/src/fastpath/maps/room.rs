//! Whether the maps, sized when the object was loaded, have room for a
//! new state (a config reload): while [`Maps::sync`] runs, every hash map
//! holds its old entries and the new ones together (new ones are written
//! before the stale ones go), so the union must fit.

use std::collections::BTreeSet;

use aya::maps::IterableMap;
use gslb_common::maps::{name_class, ANSWERS_V4, ANSWERS_V6, NAME_MAPS, STATIC};

use super::{slots, Maps};
use crate::state::model::State;

/// A map too small for a reload: `(map, entries needed, capacity)`.
pub type Shortfall = (&'static str, usize, u32);

/// How many distinct keys `a` and `b` hold together.
fn union<K: Ord + Clone>(a: impl Iterator<Item = K>, b: impl Iterator<Item = K>) -> usize {
    a.chain(b).collect::<BTreeSet<K>>().len()
}

impl Maps {
    /// The maps too small for a sync to `state`, each with the entries it
    /// would hold at the sync's fullest and its capacity (empty: it fits).
    /// Short names are counted in `NAME_SLOTS`, whose overflow into
    /// `NAMES_32` is not predicted (the slot table has a third spare).
    pub fn shortfalls(&mut self, state: &State) -> Result<Vec<Shortfall>, super::MapsError> {
        let new = self.entries(state);
        let mut by_class = [
            BTreeSet::new(),
            BTreeSet::new(),
            BTreeSet::new(),
            BTreeSet::new(),
        ];
        for k in self.current.names.keys().chain(new.names.keys()) {
            if slots::fits(k.len()) && !self.overflow.contains(k) {
                continue;
            }
            if let Some(c) = name_class(k.len()) {
                by_class[c].insert(k.clone());
            }
        }
        let cap = |m: &aya::maps::MapData| m.info().map(|i| i.max_entries());
        let caps = [
            cap(self.n32.map())?,
            cap(self.n64.map())?,
            cap(self.n128.map())?,
            cap(self.n256.map())?,
        ];
        let mut need: Vec<(&'static str, usize, u32)> = NAME_MAPS
            .iter()
            .zip(&by_class)
            .zip(caps)
            .map(|((&m, keys), c)| (m, keys.len(), c))
            .collect();
        need.push((
            ANSWERS_V4,
            union(self.current.v4.keys().copied(), new.v4.keys().copied()),
            cap(self.v4.map())?,
        ));
        need.push((
            ANSWERS_V6,
            union(self.current.v6.keys().copied(), new.v6.keys().copied()),
            cap(self.v6.map())?,
        ));
        need.push((
            STATIC,
            union(
                self.current.statics.keys().copied(),
                new.statics.keys().copied(),
            ),
            cap(self.statics.map())?,
        ));
        Ok(need
            .into_iter()
            .filter(|&(_, n, c)| n > c as usize)
            .collect())
    }
}
