//! Authoritative lookup (RFC 1034 §4.3.2, without recursion): what goes
//! in each section of the answer to one question.
//!
//! Kept free of wire concerns (EDNS, truncation, encoding), which live in
//! [`crate::dns::responder`], so that it can also explain an answer.

use hickory_proto::{
    op::ResponseCode,
    rr::{LowerName, Name, RData, Record, RecordType},
};

use std::net::IpAddr;

use crate::{
    state::decision::Outcome,
    state::model::{Client, GslbName, State, Zone},
};

use super::wildcard;

/// Most CNAMEs followed for one question. Long chains are a misconfig;
/// the bound also makes loops harmless (RFC 1034 §3.6.2 says servers
/// should not chase forever).
pub const MAX_CNAME_CHAIN: usize = 8;

/// The result of a lookup: response code, AA flag and sections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// NOERROR, NXDOMAIN, SERVFAIL (a pool's all-down behaviour) or REFUSED.
    pub rcode: ResponseCode,
    /// Send no response at all (a pool's "drop packet" method).
    pub drop: bool,
    /// The AA flag: set for data from our zones, clear for referrals and
    /// refusals (RFC 1035 §4.1.1).
    pub authoritative: bool,
    /// The answer section.
    pub answers: Vec<Record>,
    /// The authority section (SOA of negative answers, NS of referrals).
    pub authorities: Vec<Record>,
    /// The additional section (addresses of NS/MX/SRV targets, glue).
    pub additionals: Vec<Record>,
    /// Whether the additional section must be sent in full (glue of a
    /// referral, RFC 9471 §3) or may be dropped to fit (RFC 2181 §9).
    pub additionals_required: bool,
    /// The ECS SCOPE PREFIX-LENGTH this answer calls for (RFC 7871
    /// §7.2.1), in the client address's family: the largest
    /// [`GslbName::scope`](crate::state::model::GslbName::scope) of the
    /// gslb answers it carries (answer and additional sections), 0 when
    /// it carries none (static data, NXDOMAIN, NODATA, referrals). The
    /// responder echoes it, or 0 when the query's SOURCE PREFIX-LENGTH is
    /// 0 or its ECS option is not used.
    pub ecs_scope: u8,
}

impl Answer {
    fn new(rcode: ResponseCode, authoritative: bool) -> Answer {
        Answer {
            rcode,
            drop: false,
            authoritative,
            answers: Vec::new(),
            authorities: Vec::new(),
            additionals: Vec::new(),
            additionals_required: false,
            ecs_scope: 0,
        }
    }

    /// REFUSED: we are not authoritative for the name (RFC 1035 §4.1.1).
    pub fn refused() -> Answer {
        Answer::new(ResponseCode::Refused, false)
    }
}

/// Looks up `qname`/`qtype` (class IN) in `state` for a query from
/// `client`: the ECS address when the query's ECS option is used, else
/// the source address (the client map places it in its client group,
/// whose decisions answer; static persist and persistence key on it).
/// `qname` keeps the client's case: answers owned by it use it
/// (resolvers that randomize case, "0x20", compare it). `qtype` must be a
/// data type or ANY; the responder deals with the other meta types.
pub fn lookup(state: &State, qname: &Name, qtype: RecordType, client: Option<IpAddr>) -> Answer {
    let Some(mut zone) = state.zone_for(qname) else {
        return Answer::refused();
    };
    let client = client.map(|a| state.client(a));
    let client = client.as_ref();
    let mut answer = Answer::new(ResponseCode::NoError, true);
    let mut owner = qname.clone();
    let mut seen: Vec<LowerName> = Vec::new();
    loop {
        let key = LowerName::new(&owner);
        // RFC 1034 §4.3.2 step 3b: below a zone cut we only refer. A DS
        // query at the cut belongs to the parent side (RFC 4035 §3.1.4.1).
        if let Some((cut, ns)) = zone.delegation(&owner) {
            let at_cut = LowerName::new(&cut) == key;
            if !(at_cut && qtype == RecordType::DS) {
                if answer.answers.is_empty() {
                    return referral(state, zone, ns);
                }
                // A CNAME led into a delegated subzone: the resolver
                // follows the chain itself from here.
                return answer;
            }
        }
        // RFC 4592 §3.3.1: a name that does not exist takes the data of
        // the wildcard at its closest encloser, owned by the name asked.
        let data_key = if zone.exists(&key) {
            key.clone()
        } else {
            wildcard::source_of_synthesis(zone, &owner).unwrap_or_else(|| key.clone())
        };
        match rrset(
            state,
            zone,
            &owner,
            &data_key,
            qtype,
            client,
            &mut answer.ecs_scope,
        ) {
            Found::Records(records) => {
                answer.additionals =
                    additional_addresses(state, &records, client, &mut answer.ecs_scope);
                answer.answers.extend(records);
                return answer;
            }
            Found::Drop => {
                answer.drop = true;
                return answer;
            }
            Found::Servfail => {
                // An error, not data: AA clear, as Knot and NSD send it.
                answer.rcode = ResponseCode::ServFail;
                answer.authoritative = false;
                return answer;
            }
            Found::Nothing => {}
        }
        // RFC 1034 §3.6.2: a CNAME answers every type but CNAME, then the
        // lookup restarts at its target.
        let cname = zone
            .rrset(&data_key, RecordType::CNAME)
            .and_then(|rrset| rrset.first());
        if let (Some(cname), false) = (cname, qtype == RecordType::CNAME) {
            let mut cname = cname.clone();
            cname.name = owner.clone();
            let RData::CNAME(target) = &cname.data else {
                return answer;
            };
            let target = target.0.clone();
            answer.answers.push(cname);
            seen.push(key);
            let target_key = LowerName::new(&target);
            if seen.len() >= MAX_CNAME_CHAIN || seen.contains(&target_key) {
                return answer;
            }
            match state.zone_for(&target) {
                Some(z) => zone = z,
                // Not ours: the resolver continues (RFC 1034 §4.3.2 step 3a).
                None => return answer,
            }
            owner = target;
            continue;
        }
        // Negative answers carry the SOA of the zone where the chain ended
        // (RFC 2308 §2.1, §2.2); NXDOMAIN after a CNAME is reported as
        // such (RFC 6604 §2).
        // A matched wildcard exists: NODATA for a type it lacks.
        if !zone.exists(&data_key) {
            answer.rcode = ResponseCode::NXDomain;
        }
        let mut soa = zone.negative_soa();
        // The apex as `owner` spells it (the question's case, as the XDP
        // program's pointer into the question has it).
        soa.name = owner.trim_to(usize::from(zone.origin().num_labels()));
        // NODATA at a gslb name (e.g. every server down) is kept no longer
        // than its answers would be.
        if let (ResponseCode::NoError, Some(g)) = (answer.rcode, state.gslb_name(&key)) {
            soa.ttl = soa.ttl.min(g.ttl);
        }
        answer.authorities.push(soa);
        return answer;
    }
}

/// What [`rrset`] found.
enum Found {
    /// An RRset.
    Records(Vec<Record>),
    /// Nothing of this type (a CNAME or a negative answer follows).
    Nothing,
    /// The gslb name's pool says: no response.
    Drop,
    /// The gslb name's pool says: SERVFAIL.
    Servfail,
}

/// The RRset of `qtype` at `owner` (gslb decisions first, those of the
/// client's group), owned by `owner` as spelled. For ANY, one RRset (RFC
/// 8482 §4.1): the gslb A set, then AAAA, then the first static RRset.
/// A gslb answer raises `scope` to its ECS scope.
fn rrset(
    state: &State,
    zone: &Zone,
    owner: &Name,
    key: &LowerName,
    qtype: RecordType,
    client: Option<&Client>,
    scope: &mut u8,
) -> Found {
    let static_rrset = |t: RecordType| zone.rrset(key, t).map(<[Record]>::to_vec);
    let gslb = state.gslb_name(key);
    let mut scoped = |g: &GslbName, t: RecordType| {
        if let Some(c) = client {
            *scope = (*scope).max(g.scope(t, c));
        }
    };
    let persist = Some(&*state.persist);
    let found: Option<Vec<Record>> = match (qtype, gslb) {
        (RecordType::A | RecordType::AAAA, Some(g)) => {
            match g.outcome_with(owner, qtype, client, persist) {
                Outcome::Records(r) => {
                    scoped(g, qtype);
                    g.count_answer();
                    return Found::Records(r);
                }
                Outcome::Nodata => None,
                Outcome::Drop => return Found::Drop,
                Outcome::Servfail => return Found::Servfail,
                // "Return to DNS": the static zone data at the name.
                Outcome::ReturnToDns => static_rrset(qtype),
            }
        }
        (RecordType::ANY, Some(g)) => [RecordType::A, RecordType::AAAA]
            .into_iter()
            .find_map(|t| match g.outcome_with(owner, t, client, persist) {
                Outcome::Records(r) => {
                    scoped(g, t);
                    g.count_answer();
                    Some(r)
                }
                _ => None,
            })
            .or_else(|| zone.rrsets(key).next().map(<[Record]>::to_vec)),
        (RecordType::ANY, None) => zone.rrsets(key).next().map(<[Record]>::to_vec),
        _ => static_rrset(qtype),
    };
    match found {
        Some(mut records) => {
            for r in &mut records {
                r.name = owner.clone();
            }
            Found::Records(records)
        }
        None => Found::Nothing,
    }
}

/// A referral to the delegated subzone: NS in authority, glue addresses
/// in additional, AA clear (RFC 1034 §4.3.2 step 3b, §6.2.6).
fn referral(state: &State, zone: &Zone, ns: &[Record]) -> Answer {
    let mut answer = Answer::new(ResponseCode::NoError, false);
    answer.authorities = ns.to_vec();
    for target in ns.iter().filter_map(|r| match &r.data {
        RData::NS(ns) => Some(&ns.0),
        _ => None,
    }) {
        // Glue lives below the cut, where normal lookups do not look.
        if zone.origin().zone_of(target) {
            let key = LowerName::new(target);
            for t in [RecordType::A, RecordType::AAAA] {
                let records = match state.gslb_name(&key) {
                    Some(g) => match g.outcome(target, t, None) {
                        Outcome::Records(r) => r,
                        _ => Vec::new(),
                    },
                    None => zone
                        .rrset(&key, t)
                        .map(<[Record]>::to_vec)
                        .unwrap_or_default(),
                };
                push_unique(&mut answer.additionals, records);
            }
        }
    }
    answer.additionals_required = true;
    answer
}

/// Addresses of the hosts named by NS, MX and SRV records, when we are
/// authoritative for them (RFC 1035 §3.3.9, §3.3.11; RFC 2782).
fn additional_addresses(
    state: &State,
    records: &[Record],
    client: Option<&Client>,
    scope: &mut u8,
) -> Vec<Record> {
    let mut out = Vec::new();
    for target in records.iter().filter_map(|r| match &r.data {
        RData::NS(ns) => Some(&ns.0),
        RData::MX(mx) => Some(&mx.exchange),
        RData::SRV(srv) => Some(&srv.target),
        _ => None,
    }) {
        let Some(zone) = state.zone_for(target) else {
            continue;
        };
        if zone.delegation(target).is_some() {
            continue;
        }
        let key = LowerName::new(target);
        for t in [RecordType::A, RecordType::AAAA] {
            if let Found::Records(records) = rrset(state, zone, target, &key, t, client, scope) {
                push_unique(&mut out, records);
            }
        }
    }
    out
}

fn push_unique(out: &mut Vec<Record>, records: Vec<Record>) {
    for r in records {
        if !out.contains(&r) {
            out.push(r);
        }
    }
}
