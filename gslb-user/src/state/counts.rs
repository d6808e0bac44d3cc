//! Answers handed out per gslb name, since the daemon started.
//!
//! Every gslb name with pools gets a counter id ([`NameId`], below
//! `MAX_COUNTED_NAMES`) by its name, from one registry for the life of the
//! process: a name keeps its id through every config the daemon builds a
//! [`State`](super::model::State) from (a reload, a validation that is
//! then rejected), so its count goes on across them. The XDP program
//! counts a name's address answers in the per-CPU `NAME_ANSWERS` array at
//! that index (the id rides in the name entry, see
//! `gslb_common::maps::NameEntry::counter`); the slow path counts its
//! own here ([`NameCounts::count`]); the engine adds the two for
//! `gslb status` and the API.
//!
//! The registry is process-wide rather than part of a `State`: a `State`
//! is rebuilt whole on every config change, and the ids must outlive
//! each of them (as the kernel map they index does).

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Mutex, OnceLock,
};

use gslb_common::maps::MAX_COUNTED_NAMES;

use super::ids::{NameId, Registry};

/// The counter ids of the gslb names and the slow path's counts.
pub struct NameCounts {
    ids: Mutex<Registry<String, NameId>>,
    /// Slow-path answers per counter id.
    slow: Box<[AtomicU64]>,
}

impl NameCounts {
    fn new() -> NameCounts {
        NameCounts {
            ids: Mutex::new(Registry::new()),
            slow: (0..MAX_COUNTED_NAMES).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The counter id of the gslb name `name` (lowercase, absolute, as
    /// text), the same every time; `None` once `MAX_COUNTED_NAMES` names
    /// have one (the name is answered but not counted).
    pub fn id_of(&self, name: &str) -> Option<u32> {
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        let id = ids.id_of(name).ok()?.get();
        (id < MAX_COUNTED_NAMES).then_some(id)
    }

    /// Counts one slow-path answer of the name with counter id `id`.
    pub fn count(&self, id: u32) {
        if let Some(c) = self.slow.get(id as usize) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The slow path's answers of counter id `id` so far.
    pub fn slow(&self, id: u32) -> u64 {
        self.slow
            .get(id as usize)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }
}

/// The process's name counters.
pub fn names() -> &'static NameCounts {
    static COUNTS: OnceLock<NameCounts> = OnceLock::new();
    COUNTS.get_or_init(NameCounts::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_bounded() {
        let c = NameCounts::new();
        let a = c.id_of("a.example.").unwrap();
        let b = c.id_of("b.example.").unwrap();
        assert_ne!(a, b);
        assert_eq!(c.id_of("a.example."), Some(a));
        c.count(a);
        c.count(a);
        c.count(MAX_COUNTED_NAMES);
        assert_eq!((c.slow(a), c.slow(b)), (2, 0));
        assert_eq!(c.slow(MAX_COUNTED_NAMES), 0);
    }
}
