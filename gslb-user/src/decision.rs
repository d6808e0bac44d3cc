//! What a gslb name answers for one record type right now: the output of
//! the selection engine, read by both the XDP map writer ([`crate::maps`])
//! and the slow path ([`crate::lookup`]), so that both answer alike
//! (DESIGN.md, "Invariants").

use std::{
    net::IpAddr,
    sync::{
        atomic::{AtomicU32, Ordering},
        Arc,
    },
};

use gslb_common::{
    maps::{MAX_ADDRS, NO_SERVER},
    select::{self, Pick, Selection, MODE_ORDERED},
};
use hickory_proto::rr::{
    rdata::{A, AAAA},
    Name, RData, Record,
};

/// Candidates and how to pick among them.
#[derive(Clone, Debug)]
pub struct AnswerSet {
    /// Selection parameters, exactly as written to the XDP map.
    pub sel: Selection,
    /// Candidate addresses (one family), at most [`MAX_ADDRS`].
    pub addrs: Vec<IpAddr>,
    /// Rotation counter of the slow path for round robin and ratio (the XDP
    /// program keeps its own in the map value).
    pub rotation: Arc<AtomicU32>,
}

impl PartialEq for AnswerSet {
    fn eq(&self, other: &Self) -> bool {
        self.sel == other.sel && self.addrs == other.addrs
    }
}

impl AnswerSet {
    /// A set that hands out `addrs` in order, all of them.
    pub fn ordered(ttl: u32, addrs: Vec<IpAddr>) -> AnswerSet {
        let count = addrs.len().min(MAX_ADDRS) as u8;
        let sel = Selection {
            ttl,
            mode: MODE_ORDERED,
            count,
            up: ((1u16 << count) - 1) as u8,
            // Fixed addresses, not servers: nothing to count.
            ids: [NO_SERVER; MAX_ADDRS],
            ..Default::default()
        };
        AnswerSet::new(sel, addrs)
    }

    /// A set with explicit selection parameters.
    pub fn new(sel: Selection, mut addrs: Vec<IpAddr>) -> AnswerSet {
        addrs.truncate(MAX_ADDRS);
        AnswerSet {
            sel,
            addrs,
            rotation: Arc::new(AtomicU32::new(0)),
        }
    }

    /// The addresses to answer with for a query from `client` (the LDNS,
    /// for static persist), in answer order, with the same algorithm as
    /// the XDP program.
    pub fn pick(&self, client: Option<IpAddr>) -> Vec<IpAddr> {
        let mut pick = Pick::default();
        if select::uses_counter(self.sel.mode) {
            pick.counter = self.rotation.fetch_add(1, Ordering::Relaxed);
        } else {
            pick.random = rand_u32();
        }
        pick.client = match client {
            Some(IpAddr::V4(a)) => select::persist_key_v4(a.octets(), self.sel.persist_v4),
            Some(IpAddr::V6(a)) => select::persist_key_v6(&a.octets(), self.sel.persist_v6),
            None => 0,
        };
        let Some(first) = select::first(&self.sel, &pick, &mut select::identity) else {
            return Vec::new();
        };
        (0..select::answer_count(&self.sel))
            .filter_map(|k| self.addrs.get(select::nth(&self.sel, first, k)).copied())
            .collect()
    }
}

/// How many answers one response of `set` carries.
pub fn answers_per_response(set: &AnswerSet) -> usize {
    select::answer_count(&set.sel)
}

/// A cheap random number for the random methods (no crypto needed).
fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    h.finish() as u32
}

/// The decision for one (gslb name, type).
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Decision {
    /// No answer set of this type: NODATA. The XDP program passes.
    #[default]
    NoSet,
    /// Pick answers from a set.
    Answer(AnswerSet),
    /// Send no answer at all ("drop packet").
    Drop,
    /// Answer from the static zone data at the name ("return to DNS").
    ReturnToDns,
    /// SERVFAIL.
    Servfail,
    /// NOERROR with no answer.
    Nodata,
}

/// What the slow path does for one query of a gslb name.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// These records.
    Records(Vec<Record>),
    /// NOERROR, no data of this type.
    Nodata,
    /// Answer from the static zone data.
    ReturnToDns,
    /// No response.
    Drop,
    /// SERVFAIL.
    Servfail,
}

impl Decision {
    /// The slow path's outcome for a query owned by `owner` (the name as
    /// the client spelled it) from `client`.
    pub fn outcome(&self, owner: &Name, client: Option<IpAddr>) -> Outcome {
        match self {
            Decision::NoSet | Decision::Nodata => Outcome::Nodata,
            Decision::Drop => Outcome::Drop,
            Decision::ReturnToDns => Outcome::ReturnToDns,
            Decision::Servfail => Outcome::Servfail,
            Decision::Answer(set) => {
                let records: Vec<Record> = set
                    .pick(client)
                    .into_iter()
                    .map(|a| {
                        let data = match a {
                            IpAddr::V4(a) => RData::A(A(a)),
                            IpAddr::V6(a) => RData::AAAA(AAAA(a)),
                        };
                        Record::from_rdata(owner.clone(), set.sel.ttl, data)
                    })
                    .collect();
                if records.is_empty() {
                    Outcome::Nodata
                } else {
                    Outcome::Records(records)
                }
            }
        }
    }
}
