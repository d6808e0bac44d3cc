//! Static answers in the fast path: which (name, type) questions the XDP
//! program answers from static zone data (the apex's SOA and NS, a host's
//! MX or TXT, a name server's address), and the bytes it sends.
//!
//! The bytes are the slow path's own: each answer is made by
//! [`crate::dns::responder::respond`] for a question of that exact name and
//! type, and the sections after the question are kept. Both paths so give
//! the same answer by construction. Compression pointers in those bytes
//! point at the question (owners, which take the query's spelling in both
//! paths) or at earlier records, at offsets that depend only on the
//! question's length, which is the same for every query of the name.
//!
//! An answer is made static only when nothing in it can change without a
//! new config: no gslb name owns or is named by any of its records (a gslb
//! name's addresses change with health and load), and no CNAME is
//! followed.

use std::collections::BTreeMap;

use gslb_common::{
    dns::{is_data_type, HEADER_LEN, OPT_LEN, TYPE_OPT},
    maps::{Canned, CANNED_MAX, NO_ZONE},
};
use hickory_proto::{
    op::{Edns, Message, MessageType, OpCode, Query, ResponseCode},
    rr::{LowerName, Name, RData, Record, RecordType},
};

use crate::{
    dns::{
        responder::{self, Transport},
        wire::wire_key,
    },
    state::model::State,
};

use super::negative::Negatives;

/// The static answers of one name.
#[derive(Debug, Default, PartialEq)]
pub struct NameAnswers {
    /// Answers by query type.
    pub answers: BTreeMap<u16, Canned>,
    /// Every RRset of the name has its answer here, so any other data type
    /// gets NODATA.
    pub complete: bool,
}

/// Every static answer the fast path gives, by wire key of the name.
pub fn of(state: &State, negatives: &Negatives) -> BTreeMap<Vec<u8>, NameAnswers> {
    let mut out = BTreeMap::new();
    for (index, zone) in state.zones.iter().enumerate() {
        // Names with static data (a million gslb names have none), not
        // gslb names, without a CNAME.
        let owners = zone.names().filter(|n| {
            zone.has_data(n)
                && state.gslb_name(n).is_none()
                && zone.rrset(n, RecordType::CNAME).is_none()
        });
        for lower in owners {
            let name = Name::from(lower);
            // Only in the zone that answers for the name, whose types
            // decide `complete` (config validation already keeps a name's
            // records out of a parent zone that is served separately).
            if state.zone_index_for(&name) != Some(index) {
                continue;
            }
            let key = wire_key(&name);
            // In a zone with fast negatives, not at or under a zone cut
            // (see `negative`).
            // (A name with a wildcard child has no NAME_CHILD_NX but its
            // own answers are static all the same.)
            let (_, zone_id) = negatives.of_name(&key);
            if zone_id == NO_ZONE {
                continue;
            }
            let types: Vec<RecordType> = zone
                .rrsets(lower)
                .filter_map(|rrset| rrset.first().map(Record::record_type))
                .collect();
            let answers: BTreeMap<u16, Canned> = types
                .iter()
                .filter_map(|&t| Some((u16::from(t), canned(state, &name, t)?)))
                .collect();
            if !answers.is_empty() {
                let complete = answers.len() == types.len();
                out.insert(key, NameAnswers { answers, complete });
            }
        }
    }
    out
}

/// The fast path's form of the slow path's answer to `name`/`rtype`, or
/// `None` when it is not static or does not fit.
pub fn canned(state: &State, name: &Name, rtype: RecordType) -> Option<Canned> {
    if !is_data_type(u16::from(rtype)) {
        return None;
    }
    // Asked in capitals: the records' owners, which the responder spells
    // as asked, point at the question, and nothing else does (the
    // encoder's compression is case-sensitive and zone data is lower
    // case), so a name in RDATA keeps its own spelling whatever the case
    // of the query it is sent for, as in the slow path's answer.
    let asked = Name::from_labels(name.iter().map(<[u8]>::to_ascii_uppercase)).ok()?;
    let mut request = Message::query();
    request.metadata.op_code = OpCode::Query;
    request.add_query(Query::query(asked, rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(u16::MAX);
    request.set_edns(edns);
    let bytes = responder::respond(state, &request.to_vec().ok()?, Transport::Udp, None)?;
    let response = Message::from_vec(&bytes).ok()?;
    let ok = response.metadata.message_type == MessageType::Response
        && response.metadata.response_code == ResponseCode::NoError
        && response.metadata.authoritative
        && !response.metadata.truncation
        && response.edns.is_some()
        && !response.answers.is_empty()
        && response.answers.iter().all(|r| r.record_type() == rtype)
        && response
            .answers
            .iter()
            .chain(&response.authorities)
            .chain(&response.additionals)
            .all(|r| !dynamic(state, r));
    if !ok {
        return None;
    }
    // Header, question, the first owner as a pointer to QNAME (offset 12),
    // ..., OPT last (the root name, then its type).
    let name_len = wire_key(name).len();
    let q_end = HEADER_LEN + name_len + 4;
    let pointer = (0xc000 | HEADER_LEN as u16).to_be_bytes();
    if bytes.get(q_end..q_end + 2) != Some(&pointer[..]) || bytes.len() < q_end + 2 + OPT_LEN {
        return None;
    }
    let opt = &bytes[bytes.len() - OPT_LEN..];
    if opt[0] != 0 || opt[1..3] != TYPE_OPT.to_be_bytes() {
        return None;
    }
    let tail = &bytes[q_end + 2..bytes.len() - OPT_LEN];
    if !(8..=CANNED_MAX).contains(&tail.len()) {
        return None;
    }
    let mut c = Canned {
        owner_len: u8::try_from(name_len).ok()?,
        valid: 1,
        len: tail.len() as u16,
        ancount: u8::try_from(response.answers.len()).ok()?,
        nscount: u8::try_from(response.authorities.len()).ok()?,
        arcount: u8::try_from(response.additionals.len()).ok()?,
        ..Canned::default()
    };
    c.tail[..tail.len()].copy_from_slice(tail);
    Some(c)
}

/// Whether `r` depends on a gslb name: owned by one, or naming one whose
/// addresses the responder adds.
fn dynamic(state: &State, r: &Record) -> bool {
    let named = match &r.data {
        RData::NS(ns) => Some(&ns.0),
        RData::MX(mx) => Some(&mx.exchange),
        RData::SRV(srv) => Some(&srv.target),
        RData::CNAME(c) => Some(&c.0),
        _ => None,
    };
    std::iter::once(&r.name)
        .chain(named)
        .any(|n| state.gslb_name(&LowerName::new(n)).is_some())
}

#[cfg(test)]
mod tests {
    use hickory_proto::serialize::binary::BinEncodable;

    use super::*;
    use crate::config;

    fn state() -> State {
        let cfg = config::parse(
            r#"
[[zone]]
name = "example.test"
ns = ["ns1.example.test.", "ns2.example.test."]
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
name = "ns2"
type = "AAAA"
data = "2001:db8::53"
[[zone.record]]
name = "@"
type = "MX"
data = "10 mail.example.test."
[[zone.record]]
name = "@"
type = "TXT"
data = "\"v=spf1 -all\""
[[zone.record]]
name = "alias"
type = "CNAME"
data = "ns1.example.test."
[[zone.record]]
name = "sub"
type = "NS"
data = "ns.sub.example.test."
[[zone.record]]
name = "ns.sub"
type = "A"
data = "198.18.0.54"
[[zone.record]]
name = "www"
type = "TXT"
data = "\"x\""

[[gslb]]
name = "mail.example.test"
a = ["198.18.0.10"]

[[gslb]]
name = "www.example.test"
a = ["198.18.0.11"]
"#,
            "test",
        )
        .unwrap();
        State::from_config(&cfg)
    }

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    /// The response the fast path builds from `c` for a query of
    /// `qname`/`rtype` without EDNS: header, question, pointer, tail.
    fn fast_response(qname: &str, rtype: RecordType, c: &Canned) -> Message {
        let mut m = Message::response(7, OpCode::Query);
        m.metadata.authoritative = true;
        m.add_query(Query::query(name(qname), rtype));
        let mut wire = m.to_bytes().unwrap();
        wire[6..8].copy_from_slice(&u16::from(c.ancount).to_be_bytes());
        wire[8..10].copy_from_slice(&u16::from(c.nscount).to_be_bytes());
        wire[10..12].copy_from_slice(&u16::from(c.arcount).to_be_bytes());
        let owner =
            0xc000u16 | (12 + wire_key(&name(qname)).len() - usize::from(c.owner_len)) as u16;
        wire.extend(owner.to_be_bytes());
        wire.extend(&c.tail[..usize::from(c.len)]);
        Message::from_vec(&wire).unwrap()
    }

    #[test]
    fn static_answers_decode_as_the_slow_paths() {
        let state = state();
        for (qname, rtype, an, ar) in [
            ("example.test.", RecordType::SOA, 1, 0),
            ("example.test.", RecordType::NS, 2, 2),
            ("example.test.", RecordType::TXT, 1, 0),
            ("ns1.example.test.", RecordType::A, 1, 0),
            ("ns2.example.test.", RecordType::AAAA, 1, 0),
        ] {
            let c =
                canned(&state, &name(qname), rtype).unwrap_or_else(|| panic!("{qname} {rtype}"));
            assert_eq!((c.ancount, c.arcount), (an, ar), "{qname} {rtype}");
            // Spelled as asked (0x20): owners take the query's case, names
            // in RDATA keep the zone's, as the slow path has them.
            for asked in [qname.to_owned(), mixed(qname)] {
                let fast = fast_response(&asked, rtype, &c);
                let slow = crate::dns::lookup::lookup(&state, &name(&asked), rtype, None);
                let text = |r: &[Record]| r.iter().map(ToString::to_string).collect::<Vec<_>>();
                assert_eq!(text(&fast.answers), text(&slow.answers), "{asked} {rtype}");
                assert_eq!(text(&fast.authorities), text(&slow.authorities));
                assert_eq!(text(&fast.additionals), text(&slow.additionals));
            }
        }
    }

    #[test]
    fn dynamic_answers_stay_in_the_slow_path() {
        let state = state();
        // MX naming a gslb name: its address in the additional section
        // follows the gslb name's health.
        assert!(canned(&state, &name("example.test."), RecordType::MX).is_none());
        // A CNAME is followed by the responder.
        assert!(canned(&state, &name("alias.example.test."), RecordType::A).is_none());
        // At a zone cut: a referral, not an answer.
        assert!(canned(&state, &name("sub.example.test."), RecordType::NS).is_none());
        // No such data: NODATA is the negative path's.
        assert!(canned(&state, &name("ns1.example.test."), RecordType::MX).is_none());
        let all = of(&state, &Negatives::of(&state));
        let keys: Vec<Name> = all
            .keys()
            .map(|k| Name::from_labels(labels(k)).unwrap())
            .collect();
        assert!(!keys.contains(&name("www.example.test.")), "gslb name");
        assert!(!keys.contains(&name("alias.example.test.")), "CNAME");
        assert!(!keys.contains(&name("ns.sub.example.test.")), "glue");
        let apex = &all[&wire_key(&name("example.test."))];
        assert!(!apex.complete, "the MX is missing");
        assert!(all[&wire_key(&name("ns1.example.test."))].complete);
        let types: Vec<u16> = apex.answers.keys().copied().collect();
        let mut want = vec![
            u16::from(RecordType::NS),
            u16::from(RecordType::SOA),
            u16::from(RecordType::TXT),
        ];
        want.sort_unstable();
        assert_eq!(types, want, "the apex without its MX");
    }

    /// `qname` in alternating case.
    fn mixed(qname: &str) -> String {
        qname
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 2 == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect()
    }

    fn labels(wire: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut i = 0;
        while wire[i] != 0 {
            let n = usize::from(wire[i]);
            out.push(wire[i + 1..=i + n].to_vec());
            i += n + 1;
        }
        out
    }
}
