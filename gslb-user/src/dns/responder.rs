//! The slow-path responder: one DNS request message in, one response
//! message out (RFC 1034, 1035, 2308, 6891, 8482).
//!
//! Everything the XDP program passes up ends here, so this must answer
//! exactly what the fast path would for the queries both handle
//! (docs/ARCHITECTURE.md, "Invariants"), and answer sensibly everything else.
//! Parsing and encoding use hickory-proto; the data lookup is
//! [`crate::dns::lookup`].

use std::net::IpAddr;

use hickory_proto::{
    op::{Edns, Header, Message, MessageType, Metadata, OpCode, Query, ResponseCode},
    rr::{
        rdata::opt::{EdnsCode, EdnsOption, NSIDPayload},
        DNSClass, RecordType,
    },
    serialize::binary::{BinDecodable, BinDecoder},
};
use tracing::debug;

use super::{
    ecs::{self, Ecs},
    lookup, wire,
};
use crate::state::model::State;

/// How the request arrived: it decides the response size limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// UDP: limited to 512 octets without EDNS (RFC 1035 §4.2.1), else to
    /// the smaller of the client's payload size and ours (RFC 6891
    /// §6.2.3-6.2.5); a larger response is truncated with TC.
    Udp,
    /// TCP: up to 65535 octets (RFC 1035 §4.2.2, RFC 7766).
    Tcp,
}

/// Largest DNS message (two-octet TCP length prefix).
const MAX_MESSAGE: usize = u16::MAX as usize;

/// Answers one request from `client` (the resolver's address; `None` in
/// tests). Returns the encoded response, or `None` when the request must
/// be dropped: shorter than a header, or itself a response (answering
/// responses invites loops, RFC 1035 §4.1.1 QR).
pub fn respond(
    state: &State,
    request: &[u8],
    transport: Transport,
    client: Option<IpAddr>,
) -> Option<Vec<u8>> {
    let raw = request;
    let header = Header::read(&mut BinDecoder::new(request)).ok()?;
    if header.metadata.message_type != MessageType::Query {
        return None;
    }
    // Same id and opcode; RD and CD copied (RFC 1035 §4.1.1, RFC 6895 §2);
    // RA, AD clear: no recursion, no validation.
    let metadata = Metadata::response_from_request(&header.metadata);
    let request = match Message::from_vec(request) {
        Ok(m) => m,
        Err(e) => {
            debug!(id = metadata.id, error = %e, "unparseable request: FORMERR");
            let mut response = Message::response(metadata.id, metadata.op_code);
            response.metadata = metadata;
            response.metadata.response_code = ResponseCode::FormErr;
            return encode(response, transport, MAX_MESSAGE, false);
        }
    };

    let mut response = Message::response(metadata.id, metadata.op_code);
    response.metadata = metadata;
    // RFC 6891 §7: a request with OPT gets a response with OPT: version
    // 0, our payload size, DO copied (RFC 3225 §3), no options.
    if let Some(req_edns) = &request.edns {
        let mut edns = Edns::new();
        edns.set_max_payload(state.server.edns_udp_size)
            .set_version(0)
            .set_dnssec_ok(req_edns.flags().dnssec_ok);
        // RFC 5001 §2.1: an NSID option in the query asks for ours.
        if let (Some(_), Some(nsid)) = (req_edns.option(EdnsCode::NSID), &state.server.nsid) {
            if let Ok(payload) = NSIDPayload::new(nsid.clone()) {
                edns.options_mut().insert(EdnsOption::NSID(payload));
            }
        }
        response.set_edns(edns);
    }
    // RFC 1035 §4.2.1: 512 without EDNS. RFC 6891 §6.2.3-6.2.5: with it,
    // the smaller of the client's size and ours (the one we advertise),
    // values below 512 counting as 512.
    let limit = match transport {
        Transport::Udp => usize::from(
            request
                .max_payload()
                .min(state.server.edns_udp_size)
                .max(512),
        ),
        Transport::Tcp => MAX_MESSAGE,
    };
    // Echo the question when there is exactly one, also in errors, so the
    // client can match the response.
    if let [query] = request.queries.as_slice() {
        response.add_query(query.clone());
    }

    // RFC 7871 §7.1.2: a malformed ECS option is a FORMERR, whoever sent
    // it; a well-formed one is used only from a trusted resolver.
    let mut ecs_used: Option<Ecs> = None;
    let mut ecs_malformed = false;
    if request
        .edns
        .as_ref()
        .is_some_and(|e| e.option(EdnsCode::Subnet).is_some())
    {
        match ecs::find(raw) {
            Ok(found) => ecs_used = found.filter(|_| state.server.ecs.trusts(client)),
            Err(e) => {
                debug!(id = metadata.id, error = %e, "malformed client subnet: FORMERR");
                ecs_malformed = true;
            }
        }
    }

    let rcode = if request.op_code != OpCode::Query {
        Some(ResponseCode::NotImp)
    } else if request.queries.len() != 1 {
        // RFC 9619: a query has exactly one question.
        Some(ResponseCode::FormErr)
    } else if request.edns.as_ref().is_some_and(|e| e.version() > 0) {
        // RFC 6891 §6.1.3: unknown EDNS version.
        Some(ResponseCode::BADVERS)
    } else if ecs_malformed {
        Some(ResponseCode::FormErr)
    } else {
        None
    };
    if let Some(rcode) = rcode {
        debug!(id = response.id, %rcode, "request rejected");
        response.metadata.response_code = rcode;
        return encode(response, transport, limit, false);
    }

    // With a trusted ECS option its address (masked to SOURCE
    // PREFIX-LENGTH; all zeros for 0) is the client the answer is for.
    let for_client = ecs_used.map(|e| e.addr).or(client);
    let answer = answer(state, &request.queries[0], for_client);
    if let (Some(e), Some(edns)) = (ecs_used, response.edns.as_mut()) {
        edns.options_mut().insert(e.reply(scope(&e, &answer)));
    }
    if answer.drop {
        debug!(id = response.id, "dropped by the pool's method");
        return None;
    }
    response.metadata.response_code = answer.rcode;
    response.metadata.authoritative = answer.authoritative;
    response.answers = answer.answers;
    // A negative answer's SOA goes out as the fast path sends it.
    response.authorities = answer.authorities.into_iter().map(wire::as_sent).collect();
    response.additionals = answer.additionals;
    encode(response, transport, limit, answer.additionals_required)
}

/// The lookup result for one question, after the checks that do not need
/// zone data beyond finding the zone.
fn answer(state: &State, query: &Query, client: Option<IpAddr>) -> lookup::Answer {
    let qtype = query.query_type();
    // Only class IN is served; CHAOS and friends are refused like any
    // name outside our zones (RFC 1035 §4.1.1 REFUSED).
    if query.query_class() != DNSClass::IN || state.zone_for(query.name()).is_none() {
        return lookup::Answer::refused();
    }
    let code = u16::from(qtype);
    match qtype {
        // No zone transfers are offered (RFC 5936 §4.2 allows refusing).
        RecordType::AXFR | RecordType::IXFR => lookup::Answer::refused(),
        RecordType::ANY => lookup::lookup(state, query.name(), qtype, client),
        // OPT and the other meta/query types (RFC 6895 §3.1, 128..=255)
        // are not questions this server understands.
        _ if qtype == RecordType::OPT || (128..=255).contains(&code) => {
            let mut a = lookup::Answer::refused();
            a.rcode = ResponseCode::NotImp;
            a
        }
        _ => lookup::lookup(state, query.name(), qtype, client),
    }
}

/// SCOPE PREFIX-LENGTH of the reply to an ECS option (RFC 7871 §7.2.1):
/// how many leading bits of the client address the answer depends on,
/// as the lookup found ([`lookup::Answer::ecs_scope`]: 0 for answers the
/// same for every client), and 0 when the option's source prefix is 0
/// (§7.1.2: no client information).
fn scope(ecs: &Ecs, answer: &lookup::Answer) -> u8 {
    if ecs.source == 0 {
        0
    } else {
        answer.ecs_scope
    }
}

/// Encodes `response`; if it exceeds `limit`, first drops an optional
/// additional section (RFC 2181 §9: TC only when required data does not
/// fit), then falls back to header + question + OPT with TC set
/// (RFC 1035 §4.2.1, RFC 6891 §7). An encoding failure (a bug, never the
/// client's doing) becomes SERVFAIL.
fn encode(
    mut response: Message,
    transport: Transport,
    limit: usize,
    additionals_required: bool,
) -> Option<Vec<u8>> {
    let bytes = match response.to_vec() {
        Ok(bytes) => bytes,
        Err(e) => {
            debug!(id = response.id, error = %e, "cannot encode response: SERVFAIL");
            response.metadata.response_code = ResponseCode::ServFail;
            response.metadata.authoritative = false;
            strip(&mut response);
            return response.to_vec().ok();
        }
    };
    if bytes.len() <= limit {
        return Some(bytes);
    }
    if !additionals_required && !response.additionals.is_empty() {
        response.additionals.clear();
        if let Ok(bytes) = response.to_vec() {
            if bytes.len() <= limit {
                return Some(bytes);
            }
        }
    }
    debug!(
        id = response.id,
        size = bytes.len(),
        limit,
        ?transport,
        "response truncated"
    );
    strip(&mut response);
    response.metadata.truncation = true;
    response.to_vec().ok()
}

fn strip(response: &mut Message) {
    response.answers.clear();
    response.authorities.clear();
    response.additionals.clear();
}

#[cfg(test)]
mod tests;
