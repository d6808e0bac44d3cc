//! Negative answers in the fast path: which names may get NXDOMAIN or
//! NODATA from XDP, and the SOA each zone puts in them.
//!
//! The rules mirror [`crate::dns::lookup::lookup`] exactly, so that both paths
//! give the same answer:
//! - every name that exists in a zone (owners, gslb names, empty
//!   non-terminals, apexes) gets a name map entry, so a name missing from
//!   the maps does not exist;
//! - a name at or below a zone cut gets no negative flags (the slow path
//!   refers instead), nor does a name of a zone without a usable SOA;
//! - [`NAME_CHILD_NX`]: the name exists in its zone, so a child that is not
//!   in the maps is NXDOMAIN (RFC 8020), unless the name has a wildcard
//!   child (`*.name`, RFC 4592): then such a child passes to the slow
//!   path, which answers it from the wildcard (below a child that does
//!   not exist, the parent lookup finds no entry and passes too);
//! - [`NAME_NODATA`]: the name exists and owns no static records, so any
//!   data type it has no gslb set for is NODATA.

use std::collections::{BTreeMap, HashSet};

use gslb_common::maps::{Canned, CANNED_MAX, MAX_ZONES, NAME_CHILD_NX, NAME_NODATA, NO_ZONE};
use hickory_proto::rr::{LowerName, Name, RData, RecordType};

use crate::{
    dns::{
        wildcard,
        wire::{soa_rdata, wire_key},
    },
    state::model::State,
    state::model::Zone,
};

/// What the maps need for negative answers.
#[derive(Debug, Default, PartialEq)]
pub struct Negatives {
    /// [`ZONES`](gslb_common::maps::ZONES) entries by zone id (the zone's
    /// index in [`State::zones`]); `None` for a zone without fast negatives.
    pub zones: Vec<Option<Canned>>,
    /// Wire key of every existing name → (`NAME_*` negative flags, zone id).
    pub names: BTreeMap<Vec<u8>, (u8, u16)>,
}

impl Negatives {
    /// Computes the negative-answer data of `state`.
    pub fn of(state: &State) -> Negatives {
        let zones: Vec<Option<Canned>> = state
            .zones
            .iter()
            .enumerate()
            .map(|(i, z)| (i < MAX_ZONES as usize).then(|| zone_entry(z)).flatten())
            .collect();
        let wildcard_parents = wildcard::parents(state.zones.iter().flat_map(Zone::names));
        let mut names = BTreeMap::new();
        for zone in &state.zones {
            for lower in zone.names() {
                let name = Name::from(lower);
                let key = wire_key(&name);
                if names.contains_key(&key) {
                    continue;
                }
                names.insert(key, flags(state, &zones, &name, &wildcard_parents));
            }
        }
        Negatives { zones, names }
    }

    /// Flags and zone id of `key` (no flags for a name not known here).
    pub fn of_name(&self, key: &[u8]) -> (u8, u16) {
        self.names.get(key).copied().unwrap_or((0, NO_ZONE))
    }
}

/// Negative flags and zone id of an existing name.
fn flags(
    state: &State,
    zones: &[Option<Canned>],
    name: &Name,
    wildcard_parents: &HashSet<LowerName>,
) -> (u8, u16) {
    let Some(index) = state.zone_index_for(name) else {
        return (0, NO_ZONE);
    };
    let zone = &state.zones[index];
    let lower: LowerName = name.into();
    if zones[index].is_none() || !zone.exists(&lower) || zone.delegation(name).is_some() {
        return (0, NO_ZONE);
    }
    // A name with a wildcard child (`*.name`, RFC 4592) has children that
    // do not exist and are answered all the same: they pass to the slow
    // path, which synthesizes from the wildcard.
    let mut flags = if !wildcard_parents.is_empty() && wildcard_parents.contains(&lower) {
        0
    } else {
        NAME_CHILD_NX
    };
    if !zone.has_data(&lower) {
        flags |= NAME_NODATA;
    }
    (flags, index as u16)
}

/// The zone's [`Canned`], or `None` when its SOA does not fit.
fn zone_entry(zone: &Zone) -> Option<Canned> {
    let soa = zone.negative_soa();
    let RData::SOA(data) = &soa.data else {
        return None;
    };
    let mut tail = Vec::with_capacity(CANNED_MAX);
    tail.extend(u16::from(RecordType::SOA).to_be_bytes());
    tail.extend(u16::from(soa.dns_class).to_be_bytes());
    tail.extend(soa.ttl.to_be_bytes());
    let rdata = soa_rdata(data);
    tail.extend((rdata.len() as u16).to_be_bytes());
    tail.extend(rdata);
    if tail.len() > CANNED_MAX {
        return None;
    }
    let apex_len = wire_key(zone.origin()).len();
    let mut entry = Canned {
        owner_len: u8::try_from(apex_len).ok()?,
        valid: 1,
        len: tail.len() as u16,
        nscount: 1,
        ..Canned::default()
    };
    entry.tail[..tail.len()].copy_from_slice(&tail);
    Some(entry)
}

#[cfg(test)]
mod tests {
    use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

    use hickory_proto::rr::Record;

    use super::*;
    use crate::{config, dns::wire::as_sent};

    fn state() -> State {
        let cfg = config::parse(
            r#"
[[zone]]
name = "example.test"
ns = ["ns1.example.test."]
[zone.soa]
mname = "ns1.example.test."
rname = "hostmaster.example.test."
serial = 7
minimum = 60
[[zone.record]]
name = "ns1"
type = "A"
data = "198.18.0.53"
[[zone.record]]
name = "a.b"
type = "TXT"
data = "\"x\""
[[zone.record]]
name = "sub"
type = "NS"
data = "ns.sub.example.test."
[[zone.record]]
name = "ns.sub"
type = "A"
data = "198.18.0.54"

[[gslb]]
name = "www.example.test"
a = ["198.18.0.10"]
"#,
            "test",
        )
        .unwrap();
        State::from_config(&cfg)
    }

    fn of(n: &Negatives, name: &str) -> (u8, u16) {
        n.of_name(&wire_key(&Name::from_ascii(name).unwrap()))
    }

    #[test]
    fn flags_follow_the_zone_data() {
        let n = Negatives::of(&state());
        let both = NAME_CHILD_NX | NAME_NODATA;
        assert_eq!(of(&n, "www.example.test."), (both, 0), "gslb name");
        assert_eq!(of(&n, "b.example.test."), (both, 0), "empty non-terminal");
        assert_eq!(
            of(&n, "a.b.example.test."),
            (NAME_CHILD_NX, 0),
            "static data"
        );
        assert_eq!(of(&n, "example.test."), (NAME_CHILD_NX, 0), "apex");
        assert_eq!(of(&n, "sub.example.test."), (0, NO_ZONE), "zone cut");
        assert_eq!(of(&n, "ns.sub.example.test."), (0, NO_ZONE), "glue");
        assert!(n.names.contains_key(&wire_key(
            &Name::from_ascii("ns.sub.example.test.").unwrap()
        )));
        assert_eq!(of(&n, "nx.example.test."), (0, NO_ZONE), "not a name");
    }

    #[test]
    fn a_wildcard_child_keeps_nxdomain_out_of_the_fast_path() {
        let cfg = config::parse(
            r#"
[[zone]]
name = "example.test"
ns = ["ns1.example.test."]
[[zone.record]]
name = "ns1"
type = "A"
data = "198.18.0.53"
[[zone.record]]
name = "*.w"
type = "A"
data = "198.18.0.7"
[[zone.record]]
name = "host.w"
type = "TXT"
data = "\"x\""
"#,
            "test",
        )
        .unwrap();
        let state = State::from_config(&cfg);
        let n = Negatives::of(&state);
        // `w` (an empty non-terminal) still gets NODATA, but its missing
        // children are for the slow path to synthesize.
        assert_eq!(of(&n, "w.example.test."), (NAME_NODATA, 0));
        assert_eq!(of(&n, "host.w.example.test."), (NAME_CHILD_NX, 0));
        assert_eq!(of(&n, "*.w.example.test."), (NAME_CHILD_NX, 0));
        assert_eq!(of(&n, "example.test."), (NAME_CHILD_NX, 0));
        // The wildcard's own RRset stays a static answer.
        let statics = crate::fastpath::statics::of(&state, &n);
        assert!(statics.contains_key(&wire_key(&Name::from_ascii("*.w.example.test.").unwrap())));
    }

    #[test]
    fn sent_soa_has_the_canned_rdata() {
        let state = state();
        let z = Negatives::of(&state).zones[0].unwrap();
        let soa = state.zones[0].negative_soa();
        let sent = as_sent(soa.clone());
        assert_eq!(sent.record_type(), RecordType::SOA);
        assert_eq!((sent.ttl, sent.dns_class), (soa.ttl, soa.dns_class));
        let RData::Unknown { rdata, .. } = &sent.data else {
            panic!("not opaque: {sent:?}");
        };
        // The RDATA after the canned tail's type, class, TTL and RDLENGTH.
        assert_eq!(rdata.anything, z.tail[10..usize::from(z.len)]);
        // Other records pass unchanged.
        let a = Record::from_rdata(
            Name::from_ascii("a.example.test.").unwrap(),
            5,
            RData::A("198.18.0.1".parse().unwrap()),
        );
        assert_eq!(as_sent(a.clone()), a);
    }

    #[test]
    fn soa_tail_decodes_as_the_negative_soa() {
        let state = state();
        let z = Negatives::of(&state).zones[0].unwrap();
        assert_eq!(
            usize::from(z.owner_len),
            wire_key(state.zones[0].origin()).len()
        );
        // Owner (root) + tail decodes as the zone's negative SOA.
        let mut wire = vec![0u8];
        wire.extend(&z.tail[..usize::from(z.len)]);
        assert_eq!((z.ancount, z.nscount, z.arcount), (0, 1, 0));
        let r = Record::read(&mut BinDecoder::new(&wire)).unwrap();
        let want = state.zones[0].negative_soa();
        assert_eq!(r.ttl, want.ttl);
        assert_eq!(r.ttl, 60);
        assert_eq!(r.data, want.data);
    }
}
