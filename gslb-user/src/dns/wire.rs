//! Wire forms shared by both paths: the name key the XDP maps are keyed by,
//! and the SOA of negative answers as both paths send it (so that the slow
//! path's negative answers have the bytes of the fast path's canned ones).

use hickory_proto::rr::{
    rdata::{NULL, SOA},
    Name, RData, Record, RecordType,
};

/// Lowercased wire format of `name` (the name map key before padding).
pub fn wire_key(name: &Name) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 2);
    for label in name.iter() {
        out.push(label.len() as u8);
        out.extend(label.iter().map(u8::to_ascii_lowercase));
    }
    out.push(0);
    out
}

/// The SOA RDATA as negative answers carry it, in both paths: names
/// uncompressed (the fast path's canned copy cannot know where the record
/// lands), as the zone spells them.
pub fn soa_rdata(data: &SOA) -> Vec<u8> {
    let mut rdata = Vec::new();
    for n in [&data.mname, &data.rname] {
        for label in n.iter() {
            rdata.push(label.len() as u8);
            rdata.extend(label);
        }
        rdata.push(0);
    }
    for v in [
        data.serial,
        data.refresh as u32,
        data.retry as u32,
        data.expire as u32,
        data.minimum,
    ] {
        rdata.extend(v.to_be_bytes());
    }
    rdata
}

/// A record of the authority section as the slow path sends it: an SOA
/// gets the RDATA of [`soa_rdata`], carried opaque so that the encoder
/// does not compress its names; the owner is still compressed, into the
/// question as the fast path points it. Other records are unchanged.
/// The response then has the bytes of the fast path's negative answer.
pub fn as_sent(record: Record) -> Record {
    let RData::SOA(data) = &record.data else {
        return record;
    };
    let rdata = RData::Unknown {
        code: RecordType::SOA,
        rdata: NULL::with(soa_rdata(data)),
    };
    let mut sent = Record::from_rdata(record.name.clone(), record.ttl, rdata);
    sent.dns_class = record.dns_class;
    sent
}
