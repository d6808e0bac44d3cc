//! Typed ids of the configured objects, stable across config changes.
//!
//! A server, pool, gslb name or client group is known by its id, not by
//! its position in the config: a [`Registry`] hands the ids out by the
//! object's name, so an object whose name is still there after a config
//! change keeps its id, and with it everything the daemon keys by that id
//! (health, admin state, hand-out counters, map entries). A renamed
//! object is a new object: the old name's id is retired and the new name
//! gets a new one.
//!
//! Retired ids are not reused within the daemon's life while unused ids
//! remain, so an id never names two objects one after the other (a late
//! health event or a counter read of the old object cannot be charged to
//! a new one). Only when the id space is exhausted is the lowest retired
//! id reused; whoever keeps state by id must then start that id afresh
//! (the registry reports it, see [`Assignment::fresh`]).
//!
//! On the map side the numeric form stays what `gslb-common` defines: a
//! [`ServerId`] is the `u16` index of `SERVER_HITS` and of
//! `Selection::ids`, a [`GroupId`] the `u32` value of `CLIENT_GROUPS` and
//! `AnswerKey::group`.

use std::{
    collections::{BTreeSet, HashMap},
    fmt,
    hash::Hash,
};

use gslb_common::maps::MAX_SERVERS;

/// A numeric id type a [`Registry`] can hand out.
pub trait Id: Copy + Eq + Hash + Ord + fmt::Debug {
    /// How many ids there are (`0..LIMIT`).
    const LIMIT: u64;
    /// The id with number `n` (below [`Id::LIMIT`]).
    fn from_index(n: u64) -> Self;
    /// Its number.
    fn index(self) -> usize;
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident($repr:ty), $limit:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub $repr);

        impl $name {
            /// The numeric form, as the maps hold it.
            pub fn get(self) -> $repr {
                self.0
            }

            /// Its number, as an index.
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }

        impl Id for $name {
            const LIMIT: u64 = $limit;
            fn from_index(n: u64) -> Self {
                $name(n as $repr)
            }
            fn index(self) -> usize {
                self.0 as usize
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A virtual server: its `SERVER_HITS` index and the id the answer
    /// sets carry in `Selection::ids` (below `MAX_SERVERS`).
    ServerId(u16),
    MAX_SERVERS as u64
);
id_type!(
    /// A pool.
    PoolId(u32),
    u32::MAX as u64
);
id_type!(
    /// A name with map entries (a gslb name or a static name): the id of
    /// its answer sets (`AnswerKey::set`) and static answers.
    NameId(u32),
    u32::MAX as u64
);
id_type!(
    /// An answer policy: the gslb names whose answer-relevant config is
    /// identical (see `PolicyKey`) share one set of decisions under it.
    PolicyId(u32),
    u32::MAX as u64
);
id_type!(
    /// An answer set of the maps (`AnswerKey::set`), or a name's static
    /// answers (`StaticKey::id`): one per name with map entries, kept for
    /// as long as the name has them.
    SetId(u32),
    u32::MAX as u64
);
id_type!(
    /// A client group (`CLIENT_GROUPS` value, `AnswerKey::group`); group 0
    /// is every client until client-aware rules fill the others.
    GroupId(u32),
    u32::MAX as u64
);

impl GroupId {
    /// The group of every client no rule places elsewhere.
    pub const DEFAULT: GroupId = GroupId(0);
}

/// What a new config's objects got from [`Registry::assign`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment<I> {
    /// Per object, in the config's order: its id.
    pub ids: Vec<I>,
    /// The ids that were in use and are no longer (their objects are gone).
    pub retired: Vec<I>,
    /// The ids given to objects that did not have one before (new names,
    /// including renamed objects): state kept by id starts afresh for them.
    pub fresh: Vec<I>,
}

/// Ids by name: unchanged names keep theirs across config changes.
#[derive(Clone, Debug)]
pub struct Registry<K, I> {
    live: HashMap<K, I>,
    /// The next never-used id.
    next: u64,
    /// Retired ids, reused (lowest first) only once `next` reached the limit.
    retired: BTreeSet<I>,
}

impl<K: Eq + Hash + Clone, I: Id> Default for Registry<K, I> {
    fn default() -> Self {
        Registry {
            live: HashMap::new(),
            next: 0,
            retired: BTreeSet::new(),
        }
    }
}

/// The id space is used up (more live objects than ids).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("more than {limit} objects: no id left")]
pub struct Exhausted {
    /// How many ids there are.
    pub limit: u64,
}

impl<K: Eq + Hash + Clone, I: Id> Registry<K, I> {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Assigns ids for a config whose objects have `names`, in order:
    /// names already live keep their id, new ones get an unused id, and
    /// the ids of names no longer present are retired. On a first call the
    /// ids are `0, 1, 2, …` in order. Duplicate names share one id (the
    /// config validation rejects them).
    pub fn assign<'a>(
        &mut self,
        names: impl IntoIterator<Item = &'a K>,
    ) -> Result<Assignment<I>, Exhausted>
    where
        K: 'a,
    {
        let names: Vec<&K> = names.into_iter().collect();
        let mut live: HashMap<K, I> = HashMap::with_capacity(names.len());
        let mut ids = Vec::with_capacity(names.len());
        let mut fresh = Vec::new();
        // Kept names first, so a new name never takes an id that is
        // still being kept.
        for &k in &names {
            if let Some(&id) = self.live.get(k) {
                live.insert(k.clone(), id);
            }
        }
        let retired: Vec<I> = self
            .live
            .iter()
            .filter(|(k, _)| !live.contains_key(*k))
            .map(|(_, &id)| id)
            .collect();
        let mut pool = self.retired.clone();
        pool.extend(retired.iter().copied());
        let mut next = self.next;
        for &k in &names {
            let id = match live.get(k) {
                Some(&id) => id,
                None => {
                    let id = if next < I::LIMIT {
                        next += 1;
                        I::from_index(next - 1)
                    } else {
                        pool.pop_first().ok_or(Exhausted { limit: I::LIMIT })?
                    };
                    fresh.push(id);
                    live.insert(k.clone(), id);
                    id
                }
            };
            ids.push(id);
        }
        let mut retired = retired;
        retired.sort();
        self.live = live;
        self.next = next;
        self.retired = pool;
        Ok(Assignment {
            ids,
            retired,
            fresh,
        })
    }

    /// The id of `name`, a new one the first time (or the first time
    /// since it was retired): for objects that come and go one at a time.
    pub fn id_of<Q>(&mut self, name: &Q) -> Result<I, Exhausted>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ToOwned<Owned = K> + ?Sized,
    {
        if let Some(&id) = self.live.get(name) {
            return Ok(id);
        }
        let id = if self.next < I::LIMIT {
            self.next += 1;
            I::from_index(self.next - 1)
        } else {
            self.retired
                .pop_first()
                .ok_or(Exhausted { limit: I::LIMIT })?
        };
        self.live.insert(name.to_owned(), id);
        Ok(id)
    }

    /// Retires the id of `name` (its object is gone); whether it had one.
    pub fn retire<Q>(&mut self, name: &Q) -> bool
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        match self.live.remove(name) {
            Some(id) => {
                self.retired.insert(id);
                true
            }
            None => false,
        }
    }

    /// The id of `name`, if it is live.
    pub fn get<Q>(&self, name: &Q) -> Option<I>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.live.get(name).copied()
    }

    /// One past the highest id ever handed out: state kept in a vector
    /// indexed by id needs this many entries.
    pub fn capacity(&self) -> usize {
        self.next as usize
    }

    /// How many names are live.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// No name is live.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_first_config_gets_its_positions() {
        let mut r: Registry<String, ServerId> = Registry::new();
        let a = r.assign(&names(&["a", "b", "c"])).unwrap();
        assert_eq!(a.ids, vec![ServerId(0), ServerId(1), ServerId(2)]);
        assert_eq!(a.fresh, a.ids);
        assert!(a.retired.is_empty());
        assert_eq!(r.capacity(), 3);
        assert_eq!(r.get("b"), Some(ServerId(1)));
    }

    /// A server added before the others, one removed, one renamed: the
    /// unchanged ones keep their ids whatever their new position.
    #[test]
    fn unchanged_names_keep_their_ids() {
        let mut r: Registry<String, ServerId> = Registry::new();
        r.assign(&names(&["a", "b", "c", "d"])).unwrap();
        // "new" added first, "b" removed, "c" renamed "c2".
        let a = r.assign(&names(&["new", "a", "c2", "d"])).unwrap();
        assert_eq!(
            a.ids,
            vec![ServerId(4), ServerId(0), ServerId(5), ServerId(3)]
        );
        assert_eq!(a.fresh, vec![ServerId(4), ServerId(5)]);
        assert_eq!(a.retired, vec![ServerId(1), ServerId(2)]);
        assert_eq!(r.get("a"), Some(ServerId(0)));
        assert_eq!(r.get("b"), None);
        assert_eq!(r.get("c"), None);
        assert_eq!(r.capacity(), 6);
        assert_eq!(r.len(), 4);
        // The same config again changes nothing.
        let again = r.assign(&names(&["new", "a", "c2", "d"])).unwrap();
        assert_eq!(again.ids, a.ids);
        assert!(again.fresh.is_empty() && again.retired.is_empty());
    }

    /// A retired id is not handed out again, even to the name it had.
    #[test]
    fn retired_ids_are_not_reused_while_ids_remain() {
        let mut r: Registry<String, PoolId> = Registry::new();
        r.assign(&names(&["a", "b"])).unwrap();
        r.assign(&names(&["a"])).unwrap();
        let a = r.assign(&names(&["a", "b"])).unwrap();
        assert_eq!(a.ids, vec![PoolId(0), PoolId(2)]);
    }

    /// One at a time: a name keeps its id until it is retired, and comes
    /// back with a new one.
    #[test]
    fn ids_one_at_a_time() {
        let mut r: Registry<Vec<u8>, SetId> = Registry::new();
        let www = b"\x03www".to_vec();
        assert_eq!(r.id_of(b"\x01a".as_slice()), Ok(SetId(0)));
        assert_eq!(r.id_of(www.as_slice()), Ok(SetId(1)));
        assert_eq!(r.id_of(b"\x01a".as_slice()), Ok(SetId(0)));
        assert!(r.retire(www.as_slice()));
        assert!(!r.retire(www.as_slice()));
        assert_eq!(r.get(www.as_slice()), None);
        assert_eq!(r.id_of(www.as_slice()), Ok(SetId(2)));
        // A whole-config assignment afterwards keeps them too.
        let a = r.assign(&[www.clone(), b"\x01b".to_vec()]).unwrap();
        assert_eq!(a.ids, vec![SetId(2), SetId(3)]);
        assert_eq!(a.retired, vec![SetId(0)]);
    }

    /// With the id space used up, the lowest retired id is reused, and
    /// reported fresh.
    #[test]
    fn an_exhausted_space_reuses_the_lowest_retired_id() {
        let limit = MAX_SERVERS as usize;
        let all: Vec<String> = (0..limit).map(|i| format!("s{i}")).collect();
        let mut r: Registry<String, ServerId> = Registry::new();
        r.assign(&all).unwrap();
        let mut next = all.clone();
        next.remove(7);
        next.remove(2);
        next.push("x".into());
        let a = r.assign(&next).unwrap();
        assert_eq!(a.fresh, vec![ServerId(2)]);
        assert_eq!(r.get("x"), Some(ServerId(2)));
        assert_eq!(r.get("s3"), Some(ServerId(3)));
        // One more than the space holds.
        let mut over = all.clone();
        over.push("y".into());
        assert_eq!(
            r.assign(&over),
            Err(Exhausted {
                limit: MAX_SERVERS as u64
            })
        );
    }
}
