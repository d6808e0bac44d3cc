use hickory_proto::{
    op::{Edns, Message, MessageType, OpCode, Query, ResponseCode},
    rr::{DNSClass, Name, RData, Record, RecordType},
};

use super::*;
use crate::config;

const TEST_CONFIG: &str = r#"
[server]
listen = ["127.0.0.1:0"]
edns_udp_size = 1400

[[zone]]
name = "example.test"
ttl = 3600
ns = ["ns1", "ns2.example.net."]
[zone.soa]
mname = "ns1"
rname = "hostmaster"
serial = 7
minimum = 300

[[zone.record]]
name = "ns1"
type = "A"
data = "192.0.2.53"
[[zone.record]]
name = "ns1"
type = "AAAA"
data = "2001:db8::53"
[[zone.record]]
name = "@"
type = "MX"
data = "10 mail"
[[zone.record]]
name = "mail"
type = "A"
data = "192.0.2.25"
ttl = 600
[[zone.record]]
name = "_sip._udp"
type = "SRV"
data = "10 60 5060 www"
[[zone.record]]
name = "app"
type = "CNAME"
data = "www"
[[zone.record]]
name = "chain"
type = "CNAME"
data = "app"
[[zone.record]]
name = "v4"
type = "CNAME"
data = "v4only"
[[zone.record]]
name = "loop1"
type = "CNAME"
data = "loop2"
[[zone.record]]
name = "loop2"
type = "CNAME"
data = "loop1"
[[zone.record]]
name = "away"
type = "CNAME"
data = "www.example.net."
[[zone.record]]
name = "dangling"
type = "CNAME"
data = "missing"
[[zone.record]]
name = "www"
type = "TXT"
data = '"gslb name with a TXT"'
[[zone.record]]
name = "big"
type = "TXT"
data = '"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789" "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789" "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"'
[[zone.record]]
name = "sub"
type = "NS"
data = "ns.sub"
[[zone.record]]
name = "ns.sub"
type = "A"
data = "192.0.2.100"

[[zone]]
name = "other.test"
ns = ["ns1.example.test."]
[[zone.record]]
name = "alias"
type = "CNAME"
data = "www.example.test."

[[gslb]]
name = "www.example.test"
ttl = 30
a = ["198.18.0.10", "198.18.0.11", "198.18.0.12"]
aaaa = ["2001:db8::10", "2001:db8::11"]

[[gslb]]
name = "v4only.example.test"
ttl = 20
a = ["198.18.1.1"]
"#;

fn state() -> State {
    State::from_config(&config::parse(TEST_CONFIG, "test").unwrap())
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn request(qname: &str, qtype: RecordType) -> Message {
    let mut msg = Message::query();
    msg.metadata.id = 0x4242;
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(name(qname), qtype));
    msg
}

fn with_edns(mut msg: Message, payload: u16, version: u8, dnssec_ok: bool) -> Message {
    let mut edns = Edns::new();
    edns.set_max_payload(payload)
        .set_version(version)
        .set_dnssec_ok(dnssec_ok);
    msg.set_edns(edns);
    msg
}

fn ask_raw(state: &State, request: &[u8], transport: Transport) -> Message {
    let bytes = respond(state, request, transport, None).expect("a response");
    Message::from_vec(&bytes).expect("a parseable response")
}

fn ask_via(msg: &Message, transport: Transport) -> Message {
    ask_raw(&state(), &msg.to_vec().unwrap(), transport)
}

fn ask(qname: &str, qtype: RecordType) -> Message {
    ask_via(&request(qname, qtype), Transport::Udp)
}

fn data(records: &[Record]) -> Vec<String> {
    records.iter().map(|r| r.data.to_string()).collect()
}

/// The header bits every response shares.
#[track_caller]
fn assert_header(resp: &Message, rcode: ResponseCode, aa: bool) {
    assert_eq!(resp.id, 0x4242);
    assert_eq!(resp.message_type, MessageType::Response);
    assert_eq!(resp.op_code, OpCode::Query);
    assert_eq!(resp.response_code, rcode, "{resp:?}");
    assert_eq!(resp.authoritative, aa, "AA");
    assert!(resp.recursion_desired, "RD copied");
    assert!(!resp.recursion_available, "RA clear");
    assert!(!resp.authentic_data, "AD clear");
    assert!(!resp.truncation, "TC clear");
}

#[track_caller]
fn assert_negative_soa(resp: &Message, zone: &str) {
    // RFC 2308 §3: min(SOA TTL 3600, MINIMUM 300).
    assert_negative_soa_ttl(resp, zone, 300);
}

/// A negative answer with the SOA of `zone`, TTL `ttl` (a NODATA at a
/// gslb name: at most the name's TTL).
#[track_caller]
fn assert_negative_soa_ttl(resp: &Message, zone: &str, ttl: u32) {
    assert!(
        resp.answers.is_empty()
            || resp
                .answers
                .iter()
                .all(|r| r.record_type() == RecordType::CNAME)
    );
    assert_eq!(resp.authorities.len(), 1);
    let soa = &resp.authorities[0];
    assert_eq!(soa.record_type(), RecordType::SOA);
    assert_eq!(soa.name, name(zone));
    assert_eq!(soa.ttl, ttl);
}

#[test]
fn gslb_a_answers_in_order_with_the_query_case() {
    let resp = ask("wWw.ExAmPlE.tEsT.", RecordType::A);
    assert_header(&resp, ResponseCode::NoError, true);
    assert!(resp.queries[0].name().eq_case(&name("wWw.ExAmPlE.tEsT.")));
    assert_eq!(resp.queries[0].query_type(), RecordType::A);
    assert_eq!(
        data(&resp.answers),
        ["198.18.0.10", "198.18.0.11", "198.18.0.12"]
    );
    for r in &resp.answers {
        assert!(
            r.name.eq_case(&name("wWw.ExAmPlE.tEsT.")),
            "owner {}",
            r.name
        );
        assert_eq!(r.ttl, 30);
        assert_eq!(r.dns_class, DNSClass::IN);
    }
    assert!(resp.authorities.is_empty());
    assert!(resp.additionals.is_empty());
    assert!(resp.edns.is_none(), "no OPT without OPT in the request");
}

#[test]
fn gslb_aaaa_answers_in_order() {
    let resp = ask("www.example.test.", RecordType::AAAA);
    assert_header(&resp, ResponseCode::NoError, true);
    assert_eq!(data(&resp.answers), ["2001:db8::10", "2001:db8::11"]);
}

#[test]
fn gslb_name_without_a_set_is_nodata() {
    let resp = ask("v4only.example.test.", RecordType::AAAA);
    assert_header(&resp, ResponseCode::NoError, true);
    assert!(resp.answers.is_empty());
    // The name's TTL, 20, below the zone's negative TTL.
    assert_negative_soa_ttl(&resp, "example.test.", 20);
}

#[test]
fn negative_soa_owner_keeps_the_question_case_and_names_uncompressed() {
    let request = request("Nx.ExAmPlE.TeSt.", RecordType::A).to_vec().unwrap();
    let bytes = respond(&state(), &request, Transport::Udp, None).expect("a response");
    let resp = Message::from_vec(&bytes).unwrap();
    assert_header(&resp, ResponseCode::NXDomain, true);
    let soa = &resp.authorities[0];
    assert!(
        soa.name.eq_case(&name("ExAmPlE.TeSt.")),
        "owner {}",
        soa.name
    );
    // The owner points at the apex in the question; MNAME follows in full
    // (the fast path's canned SOA cannot point anywhere).
    let owner = 12 + "\x02Nx".len();
    let at = request.len();
    assert_eq!(bytes[at..at + 2], [0xc0, owner as u8]);
    let RData::SOA(data) = &soa.data else {
        panic!("not an SOA: {soa}");
    };
    let mut mname = Vec::new();
    for label in data.mname.iter() {
        mname.push(label.len() as u8);
        mname.extend(label);
    }
    mname.push(0);
    assert_eq!(bytes[at + 12..at + 12 + mname.len()], mname[..]);
}

#[test]
fn other_types_at_a_gslb_name_come_from_static_data() {
    let resp = ask("www.example.test.", RecordType::TXT);
    assert_header(&resp, ResponseCode::NoError, true);
    assert_eq!(resp.answers.len(), 1);
    assert_eq!(resp.answers[0].record_type(), RecordType::TXT);
    assert_eq!(resp.answers[0].ttl, 3600);

    let resp = ask("www.example.test.", RecordType::MX);
    assert_header(&resp, ResponseCode::NoError, true);
    assert!(resp.answers.is_empty());
    assert_negative_soa_ttl(&resp, "example.test.", 30);
}

#[test]
fn static_answers_use_record_ttls() {
    let resp = ask("MAIL.example.test.", RecordType::A);
    assert_header(&resp, ResponseCode::NoError, true);
    assert_eq!(data(&resp.answers), ["192.0.2.25"]);
    assert_eq!(resp.answers[0].ttl, 600);
    assert!(resp.answers[0].name.eq_case(&name("MAIL.example.test.")));

    let resp = ask("example.test.", RecordType::SOA);
    assert_header(&resp, ResponseCode::NoError, true);
    assert_eq!(resp.answers.len(), 1);
    assert_eq!(resp.answers[0].ttl, 3600, "the SOA RR itself keeps its TTL");
    let RData::SOA(soa) = &resp.answers[0].data else {
        panic!()
    };
    assert_eq!(soa.serial, 7);
    assert_eq!(soa.mname, name("ns1.example.test."));
    assert_eq!(soa.rname, name("hostmaster.example.test."));
}

#[test]
fn nxdomain_carries_the_soa() {
    let resp = ask("nope.example.test.", RecordType::A);
    assert_header(&resp, ResponseCode::NXDomain, true);
    assert!(resp.answers.is_empty());
    assert_negative_soa(&resp, "example.test.");
    // Below a gslb name nothing exists either.
    let resp = ask("x.www.example.test.", RecordType::A);
    assert_header(&resp, ResponseCode::NXDomain, true);
}

#[test]
fn nodata_carries_the_soa_also_at_empty_non_terminals() {
    let resp = ask("mail.example.test.", RecordType::AAAA);
    assert_header(&resp, ResponseCode::NoError, true);
    assert_negative_soa(&resp, "example.test.");
    // `_udp` only exists because `_sip._udp` does (RFC 8020).
    let resp = ask("_udp.example.test.", RecordType::A);
    assert_header(&resp, ResponseCode::NoError, true);
    assert_negative_soa(&resp, "example.test.");
}

#[test]
fn cname_is_chased_into_a_gslb_name() {
    let resp = ask("App.example.test.", RecordType::A);
    assert_header(&resp, ResponseCode::NoError, true);
    assert_eq!(resp.answers.len(), 4);
    assert_eq!(resp.answers[0].record_type(), RecordType::CNAME);
    assert!(resp.answers[0].name.eq_case(&name("App.example.test.")));
    assert_eq!(resp.answers[0].data.to_string(), "www.example.test.");
    assert_eq!(
        data(&resp.answers[1..]),
        ["198.18.0.10", "198.18.0.11", "198.18.0.12"]
    );
    for r in &resp.answers[1..] {
        assert_eq!(r.name, name("www.example.test."));
        assert_eq!(r.ttl, 30);
    }
    // Two steps, and across zones.
    let resp = ask("chain.example.test.", RecordType::AAAA);
    assert_eq!(resp.answers.len(), 4);
    let resp = ask("alias.other.test.", RecordType::A);
    assert_header(&resp, ResponseCode::NoError, true);
    assert_eq!(resp.answers.len(), 4);
}

#[test]
fn cname_chase_ends_in_nodata_or_nxdomain_with_the_target_soa() {
    let resp = ask("v4.example.test.", RecordType::AAAA);
    assert_header(&resp, ResponseCode::NoError, true);
    assert_eq!(resp.answers.len(), 1);
    // Ends at the gslb name v4only (TTL 20).
    assert_negative_soa_ttl(&resp, "example.test.", 20);

    // RFC 6604: the rcode is that of the last name in the chain.
    let resp = ask("dangling.example.test.", RecordType::A);
    assert_header(&resp, ResponseCode::NXDomain, true);
    assert_eq!(resp.answers.len(), 1);
    assert_negative_soa(&resp, "example.test.");
}

#[test]
fn cname_chase_stops_at_loops_and_foreign_names() {
    let resp = ask("loop1.example.test.", RecordType::A);
    assert_header(&resp, ResponseCode::NoError, true);
    assert_eq!(resp.answers.len(), 2);
    assert!(resp.authorities.is_empty());

    let resp = ask("away.example.test.", RecordType::A);
    assert_header(&resp, ResponseCode::NoError, true);
    assert_eq!(data(&resp.answers), ["www.example.net."]);
    assert!(resp.authorities.is_empty());
}

#[test]
fn cname_query_returns_the_cname_only() {
    let resp = ask("app.example.test.", RecordType::CNAME);
    assert_header(&resp, ResponseCode::NoError, true);
    assert_eq!(data(&resp.answers), ["www.example.test."]);
}

#[test]
fn long_cname_chains_are_bounded() {
    let mut text = TEST_CONFIG.to_string();
    for i in 0..20 {
        text.push_str(&format!(
            "[[zone.record]]\nname = \"c{i}.other.test.\"\ntype = \"CNAME\"\ndata = \"c{}.other.test.\"\n",
            i + 1
        ));
    }
    // The records above belong to the last [[zone]]: other.test.
    let state = State::from_config(&config::parse(&text, "t").unwrap());
    let req = request("c0.other.test.", RecordType::A).to_vec().unwrap();
    let resp = ask_raw(&state, &req, Transport::Udp);
    assert_eq!(resp.response_code, ResponseCode::NoError);
    assert_eq!(resp.answers.len(), lookup::MAX_CNAME_CHAIN);
}

#[test]
fn ns_at_the_apex_comes_with_glue() {
    let resp = ask("example.test.", RecordType::NS);
    assert_header(&resp, ResponseCode::NoError, true);
    let mut ns = data(&resp.answers);
    ns.sort();
    assert_eq!(ns, ["ns1.example.test.", "ns2.example.net."]);
    let mut glue: Vec<(String, String)> = resp
        .additionals
        .iter()
        .map(|r| (r.name.to_string(), r.data.to_string()))
        .collect();
    glue.sort();
    assert_eq!(
        glue,
        [
            ("ns1.example.test.".to_string(), "192.0.2.53".to_string()),
            ("ns1.example.test.".to_string(), "2001:db8::53".to_string()),
        ]
    );
}

#[test]
fn mx_and_srv_targets_get_addresses() {
    let resp = ask("example.test.", RecordType::MX);
    assert_eq!(data(&resp.additionals), ["192.0.2.25"]);
    let resp = ask("_sip._udp.example.test.", RecordType::SRV);
    assert_eq!(resp.additionals.len(), 5, "gslb A and AAAA of www");
}

#[test]
fn delegations_are_referrals() {
    for qname in ["sub.example.test.", "a.b.sub.example.test."] {
        let resp = ask(qname, RecordType::A);
        assert_header(&resp, ResponseCode::NoError, false);
        assert!(resp.answers.is_empty());
        assert_eq!(data(&resp.authorities), ["ns.sub.example.test."]);
        assert_eq!(resp.authorities[0].name, name("sub.example.test."));
        assert_eq!(data(&resp.additionals), ["192.0.2.100"]);
    }
    // DS is answered by the parent side of the cut (RFC 4035 §3.1.4.1).
    let resp = ask("sub.example.test.", RecordType::DS);
    assert_header(&resp, ResponseCode::NoError, true);
    assert_negative_soa(&resp, "example.test.");
}

#[test]
fn any_returns_one_rrset() {
    // RFC 8482 §4.1; for a gslb name the A set.
    let resp = ask("www.example.test.", RecordType::ANY);
    assert_header(&resp, ResponseCode::NoError, true);
    assert_eq!(
        data(&resp.answers),
        ["198.18.0.10", "198.18.0.11", "198.18.0.12"]
    );

    let resp = ask("example.test.", RecordType::ANY);
    assert_header(&resp, ResponseCode::NoError, true);
    assert!(!resp.answers.is_empty());
    let first = resp.answers[0].record_type();
    assert!(resp.answers.iter().all(|r| r.record_type() == first));

    let resp = ask("app.example.test.", RecordType::ANY);
    assert_eq!(data(&resp.answers), ["www.example.test."]);

    let resp = ask("nope.example.test.", RecordType::ANY);
    assert_header(&resp, ResponseCode::NXDomain, true);
    let resp = ask("_udp.example.test.", RecordType::ANY);
    assert_header(&resp, ResponseCode::NoError, true);
    assert_negative_soa(&resp, "example.test.");
}

#[test]
fn names_outside_our_zones_are_refused() {
    let resp = ask("www.example.org.", RecordType::A);
    assert_header(&resp, ResponseCode::Refused, false);
    assert!(resp.answers.is_empty() && resp.authorities.is_empty());
    assert_eq!(resp.queries.len(), 1);
    // A parent of our zone is not ours either.
    let resp = ask("test.", RecordType::SOA);
    assert_header(&resp, ResponseCode::Refused, false);
}

#[test]
fn classes_other_than_in_are_refused() {
    let mut msg = request("www.example.test.", RecordType::A);
    msg.queries[0].set_query_class(DNSClass::CH);
    let resp = ask_via(&msg, Transport::Udp);
    assert_header(&resp, ResponseCode::Refused, false);
    assert_eq!(resp.queries[0].query_class(), DNSClass::CH);
}

#[test]
fn transfers_are_refused_and_meta_types_not_implemented() {
    let resp = ask_via(&request("example.test.", RecordType::AXFR), Transport::Tcp);
    assert_header(&resp, ResponseCode::Refused, false);
    let resp = ask("example.test.", RecordType::IXFR);
    assert_header(&resp, ResponseCode::Refused, false);
    let resp = ask("example.test.", RecordType::Unknown(254)); // MAILA
    assert_header(&resp, ResponseCode::NotImp, false);
}

#[test]
fn edns_is_answered_with_our_parameters() {
    let resp = ask_via(
        &with_edns(request("www.example.test.", RecordType::A), 4096, 0, true),
        Transport::Udp,
    );
    assert_header(&resp, ResponseCode::NoError, true);
    let edns = resp.edns.as_ref().expect("OPT in the response");
    assert_eq!(edns.max_payload(), 1400);
    assert_eq!(edns.version(), 0);
    assert!(edns.flags().dnssec_ok, "DO copied");
    assert!(edns.options().as_ref().is_empty());

    let resp = ask_via(
        &with_edns(request("www.example.test.", RecordType::A), 1232, 0, false),
        Transport::Udp,
    );
    assert!(!resp.edns.as_ref().unwrap().flags().dnssec_ok);
}

/// RFC 5001: an NSID option in the query gets ours back, only when one is
/// configured and only when asked.
#[test]
fn nsid_is_sent_when_asked_and_configured() {
    use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption, NSIDPayload};
    let asking = || {
        let mut msg = with_edns(request("www.example.test.", RecordType::A), 1232, 0, false);
        let empty = NSIDPayload::new(Vec::new()).unwrap();
        msg.edns
            .as_mut()
            .unwrap()
            .options_mut()
            .insert(EdnsOption::NSID(empty));
        msg.to_vec().unwrap()
    };
    let text = TEST_CONFIG.replace(
        "edns_udp_size = 1400",
        "edns_udp_size = 1400\nnsid = \"node-1\"",
    );
    let with = State::from_config(&config::parse(&text, "test").unwrap());
    let nsid = |resp: &Message| match resp.edns.as_ref().and_then(|e| e.option(EdnsCode::NSID)) {
        Some(EdnsOption::NSID(p)) => Some(p.as_ref().to_vec()),
        _ => None,
    };
    for transport in [Transport::Udp, Transport::Tcp] {
        let resp = ask_raw(&with, &asking(), transport);
        assert_header(&resp, ResponseCode::NoError, true);
        assert_eq!(nsid(&resp).as_deref(), Some(&b"node-1"[..]));
        // Not asked: not sent.
        let plain = with_edns(request("www.example.test.", RecordType::A), 1232, 0, false);
        let resp = ask_raw(&with, &plain.to_vec().unwrap(), transport);
        assert_eq!(nsid(&resp), None);
        // Asked, none configured: none.
        let resp = ask_raw(&state(), &asking(), transport);
        assert_eq!(nsid(&resp), None);
        assert_eq!(resp.answers.len(), 3);
    }
}

#[test]
fn unknown_edns_version_is_badvers() {
    let resp = ask_via(
        &with_edns(request("www.example.test.", RecordType::A), 1232, 1, false),
        Transport::Udp,
    );
    // Code 16 (hickory decodes it as BADSIG, which shares the number):
    // 0 in the header, 1 in the OPT's extended RCODE (RFC 6891 §6.1.3).
    assert_eq!(u16::from(resp.response_code), 16);
    assert_eq!(u16::from(ResponseCode::BADVERS), 16);
    let raw = respond(
        &state(),
        &with_edns(request("www.example.test.", RecordType::A), 1232, 1, false)
            .to_vec()
            .unwrap(),
        Transport::Udp,
        None,
    )
    .unwrap();
    assert_eq!(raw[3] & 0x0f, 0, "header RCODE bits");
    assert!(resp.answers.is_empty());
    let edns = resp.edns.as_ref().expect("BADVERS travels in the OPT");
    assert_eq!(edns.version(), 0);
    assert_eq!(edns.rcode_high(), 1);
    assert_eq!(resp.queries.len(), 1);
    assert_eq!(resp.id, 0x4242);
}

#[test]
fn cd_is_copied() {
    let mut msg = request("www.example.test.", RecordType::A);
    msg.metadata.checking_disabled = true;
    msg.metadata.recursion_desired = false;
    let resp = ask_via(&msg, Transport::Udp);
    assert!(resp.checking_disabled);
    assert!(!resp.recursion_desired);
    assert!(resp.authoritative);
}

#[test]
fn malformed_requests_get_formerr() {
    let state = state();
    // Header promises a question that is cut short.
    let mut bytes = request("www.example.test.", RecordType::A)
        .to_vec()
        .unwrap();
    bytes.truncate(bytes.len() - 3);
    let resp = ask_raw(&state, &bytes, Transport::Udp);
    assert_eq!(resp.response_code, ResponseCode::FormErr);
    assert_eq!(resp.id, 0x4242);
    assert!(resp.recursion_desired);
    assert!(resp.queries.is_empty());

    // A bare header: QDCOUNT 0.
    let mut header = bytes[..12].to_vec();
    header[4..6].copy_from_slice(&[0, 0]);
    let resp = ask_raw(&state, &header, Transport::Udp);
    assert_eq!(resp.response_code, ResponseCode::FormErr);
    assert_eq!(resp.id, 0x4242);

    // Two questions (RFC 9619).
    let mut msg = request("www.example.test.", RecordType::A);
    msg.add_query(Query::query(name("mail.example.test."), RecordType::A));
    let resp = ask_via(&msg, Transport::Udp);
    assert_eq!(resp.response_code, ResponseCode::FormErr);
    assert!(resp.queries.is_empty());
    assert!(resp.answers.is_empty());
}

#[test]
fn other_opcodes_are_not_implemented() {
    for op in [
        OpCode::Status,
        OpCode::Notify,
        OpCode::Update,
        OpCode::Unknown(9),
    ] {
        let mut msg = with_edns(request("example.test.", RecordType::SOA), 1232, 0, false);
        msg.metadata.op_code = op;
        let resp = ask_via(&msg, Transport::Udp);
        assert_eq!(resp.response_code, ResponseCode::NotImp, "{op:?}");
        assert_eq!(resp.op_code, op);
        assert!(resp.answers.is_empty());
        assert!(resp.edns.is_some());
    }
}

#[test]
fn responses_and_runts_are_dropped() {
    let state = state();
    assert!(respond(&state, &[], Transport::Udp, None).is_none());
    assert!(respond(&state, &[0; 11], Transport::Udp, None).is_none());
    let resp = respond(
        &state,
        &request("www.example.test.", RecordType::A)
            .to_vec()
            .unwrap(),
        Transport::Udp,
        None,
    )
    .unwrap();
    assert!(
        respond(&state, &resp, Transport::Udp, None).is_none(),
        "QR=1"
    );
}

#[test]
fn never_panics_on_garbage() {
    let state = state();
    let good = with_edns(request("www.example.test.", RecordType::A), 1232, 0, false)
        .to_vec()
        .unwrap();
    // Every truncation and every single-byte corruption of a valid query.
    for len in 0..good.len() {
        let _ = respond(&state, &good[..len], Transport::Udp, None);
    }
    for i in 0..good.len() {
        for v in [0x00, 0x3f, 0xc0, 0xff] {
            let mut bad = good.clone();
            bad[i] = v;
            let _ = respond(&state, &bad, Transport::Udp, None);
            let _ = respond(&state, &bad, Transport::Tcp, None);
        }
    }
}

#[test]
fn oversize_udp_answers_are_truncated() {
    // ~790 octets of TXT: too big for 512, fits 1232.
    let resp = ask("big.example.test.", RecordType::TXT);
    assert_eq!(resp.id, 0x4242);
    assert!(resp.truncation, "TC");
    assert!(resp.authoritative);
    assert_eq!(resp.queries.len(), 1);
    assert!(resp.answers.is_empty() && resp.authorities.is_empty() && resp.additionals.is_empty());
    assert!(resp.edns.is_none());

    // With OPT the limit is the client's size, and OPT survives truncation.
    let small = with_edns(request("big.example.test.", RecordType::TXT), 600, 0, false);
    let resp = ask_via(&small, Transport::Udp);
    assert!(resp.truncation);
    assert!(resp.answers.is_empty());
    assert!(resp.edns.is_some());
    // Below 512 counts as 512 (RFC 6891 §6.2.5).
    let tiny = with_edns(request("big.example.test.", RecordType::TXT), 100, 0, false);
    assert!(ask_via(&tiny, Transport::Udp).truncation);

    let large = with_edns(
        request("big.example.test.", RecordType::TXT),
        1232,
        0,
        false,
    );
    let resp = ask_via(&large, Transport::Udp);
    assert!(!resp.truncation);
    assert_eq!(resp.answers.len(), 1);

    // TCP has no such limit.
    let resp = ask_via(
        &request("big.example.test.", RecordType::TXT),
        Transport::Tcp,
    );
    assert!(!resp.truncation);
    assert_eq!(resp.answers.len(), 1);
}

/// `TEST_CONFIG` with our EDNS size `ours` and an RRset of 24 TXT
/// records of 100 characters at `many.example.test` (about 2.8 KB).
fn large_rrset_state(ours: u16) -> State {
    let mut text = TEST_CONFIG.replace("edns_udp_size = 1400", &format!("edns_udp_size = {ours}"));
    let pos = text.find("[[zone]]\nname = \"other.test\"").unwrap();
    let records: String = (0..24)
        .map(|i| {
            format!(
                "[[zone.record]]\nname = \"many\"\ntype = \"TXT\"\ndata = '\"{i:02}{}\"'\n",
                "x".repeat(98)
            )
        })
        .collect();
    text.insert_str(pos, &records);
    State::from_config(&config::parse(&text, "t").unwrap())
}

#[test]
fn udp_answers_are_capped_by_the_smaller_payload_size() {
    let state = large_rrset_state(1400);
    let req = |payload: Option<u16>| {
        let m = request("many.example.test.", RecordType::TXT);
        let m = match payload {
            Some(p) => with_edns(m, p, 0, false),
            None => m,
        };
        m.to_vec().unwrap()
    };
    let full = ask_raw(&state, &req(Some(4096)), Transport::Tcp);
    assert_eq!(full.answers.len(), 24);
    let size = full.to_vec().unwrap().len();
    assert!((2000..4096).contains(&size), "{size}");
    // The client takes 4096, we advertise 1400: the smaller one counts.
    let bytes = respond(&state, &req(Some(4096)), Transport::Udp, None).unwrap();
    assert!(bytes.len() <= 1400, "{} octets", bytes.len());
    let resp = Message::from_vec(&bytes).unwrap();
    assert!(resp.truncation, "TC");
    assert!(resp.answers.is_empty());
    assert_eq!(resp.edns.as_ref().map(Edns::max_payload), Some(1400));
    // Without EDNS: 512.
    let bytes = respond(&state, &req(None), Transport::Udp, None).unwrap();
    assert!(bytes.len() <= 512);
    assert!(Message::from_vec(&bytes).unwrap().truncation);

    // With our size at 4096, the client's 4096 takes it whole, its 1232
    // does not, and below 512 counts as 512.
    let state = large_rrset_state(4096);
    let resp = ask_raw(&state, &req(Some(4096)), Transport::Udp);
    assert!(!resp.truncation);
    assert_eq!(resp.answers.len(), 24);
    assert!(ask_raw(&state, &req(Some(1232)), Transport::Udp).truncation);
    let bytes = respond(&state, &req(Some(100)), Transport::Udp, None).unwrap();
    assert!(bytes.len() <= 512 && Message::from_vec(&bytes).unwrap().truncation);
}

#[test]
fn servfail_and_refusals_are_not_authoritative() {
    let text = format!(
        "{TEST_CONFIG}\n[[datacenter]]\nname = \"dc\"\nlat = 0.0\nlon = 0.0\n\
         [[vserver]]\nname = \"s1\"\naddress = \"198.18.7.1\"\ndatacenter = \"dc\"\n\
         state = \"disabled\"\n\
         [[pool]]\nname = \"p\"\nmembers = [\"s1\"]\npreferred = \"global_availability\"\n\
         when_all_down = \"servfail\"\n\
         [[gslb]]\nname = \"down.example.test\"\npools = [\"p\"]\n"
    );
    let cfg = std::sync::Arc::new(config::parse(&text, "t").unwrap());
    let shared = std::sync::Arc::new(arc_swap::ArcSwap::from_pointee(State::from_config(&cfg)));
    // The engine decides the pool's answer: all down, SERVFAIL.
    crate::engine::Engine::new(cfg, shared.clone(), None, None).recompute();
    let req = request("down.example.test.", RecordType::A);
    let resp = ask_raw(&shared.load(), &req.to_vec().unwrap(), Transport::Udp);
    assert_header(&resp, ResponseCode::ServFail, false);
    assert!(resp.answers.is_empty() && resp.authorities.is_empty());
    assert_eq!(resp.queries.len(), 1, "question echoed");
    // REFUSED and NOTIMP carry no AA either; NXDOMAIN does.
    use {RecordType as T, ResponseCode as R};
    for (qname, qtype, rcode, aa) in [
        ("www.example.net.", T::A, R::Refused, false),
        ("www.example.test.", T::AXFR, R::Refused, false),
        ("www.example.test.", T::OPT, R::NotImp, false),
        ("nope.example.test.", T::A, R::NXDomain, true),
    ] {
        assert_header(&ask(qname, qtype), rcode, aa);
    }
}

#[test]
fn optional_additionals_are_dropped_before_truncating() {
    let mut text = TEST_CONFIG.replace(
        "[[zone]]\nname = \"other.test\"",
        "[[zone]]\nname = \"unused.test\"",
    );
    for i in 0..8 {
        text.push_str(&format!(
            "[[zone.record]]\nname = \"mx.unused.test.\"\ntype = \"MX\"\ndata = \"{i} host-with-a-long-name-{i}\"\n\
             [[zone.record]]\nname = \"host-with-a-long-name-{i}\"\ntype = \"AAAA\"\ndata = \"2001:db8::{i}\"\n"
        ));
    }
    let state = State::from_config(&config::parse(&text, "t").unwrap());
    let req = request("mx.unused.test.", RecordType::MX).to_vec().unwrap();
    let full = ask_raw(&state, &req, Transport::Tcp);
    assert_eq!(full.additionals.len(), 8);
    assert!(full.to_vec().unwrap().len() > 512);
    let resp = ask_raw(&state, &req, Transport::Udp);
    assert!(!resp.truncation);
    assert_eq!(resp.answers.len(), 8);
    assert!(resp.additionals.is_empty());
}

/// ECS (RFC 7871) option data: FAMILY, SOURCE, SCOPE, ADDRESS as given.
fn ecs_data(family: u16, source: u8, address: &[u8]) -> Vec<u8> {
    let mut d = family.to_be_bytes().to_vec();
    d.extend([source, 0]);
    d.extend_from_slice(address);
    d
}

/// A request for `qname`/`qtype` with EDNS carrying each of `options` as
/// an option 8, byte for byte.
fn ecs_request(qname: &str, qtype: RecordType, options: &[Vec<u8>]) -> Vec<u8> {
    use hickory_proto::rr::rdata::opt::EdnsOption;
    let mut msg = with_edns(request(qname, qtype), 1232, 0, false);
    let edns = msg.edns.as_mut().unwrap();
    for o in options {
        edns.options_mut().insert(EdnsOption::Unknown(8, o.clone()));
    }
    msg.to_vec().unwrap()
}

/// The reply's ECS option: (address, source, scope), `None` without one.
fn reply_ecs(resp: &Message) -> Option<(IpAddr, u8, u8)> {
    use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
    match resp.edns.as_ref()?.option(EdnsCode::Subnet)? {
        EdnsOption::Subnet(s) => Some((s.addr(), s.source_prefix(), s.scope_prefix())),
        other => panic!("not a client subnet: {other:?}"),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A state whose `sp.example.test` is a static-persist pool of four
/// servers (LDNS /24, /48) and `cs.example.test` the same pool, with
/// decisions made by the engine; `extra` is appended to the config.
fn persist_state(extra: &str) -> std::sync::Arc<arc_swap::ArcSwap<State>> {
    let mut text = format!(
        "{TEST_CONFIG}{extra}\n[[datacenter]]\nname = \"dc\"\nlat = 0.0\nlon = 0.0\n\
         [[pool]]\nname = \"p\"\nmembers = [\"s1\", \"s2\", \"s3\", \"s4\", \"t1\", \"t2\"]\n\
         preferred = \"static_persist\"\npersist_prefix_v4 = 24\npersist_prefix_v6 = 48\n\
         [[gslb]]\nname = \"sp.example.test\"\npools = [\"p\"]\n"
    );
    for i in 1..=4 {
        text.push_str(&format!(
            "[[vserver]]\nname = \"s{i}\"\naddress = \"198.18.7.{i}\"\ndatacenter = \"dc\"\n"
        ));
    }
    for i in 1..=2 {
        text.push_str(&format!(
            "[[vserver]]\nname = \"t{i}\"\naddress = \"2001:db8:7::{i}\"\ndatacenter = \"dc\"\n"
        ));
    }
    let cfg = std::sync::Arc::new(config::parse(&text, "t").unwrap());
    let shared = std::sync::Arc::new(arc_swap::ArcSwap::from_pointee(State::from_config(&cfg)));
    crate::engine::Engine::new(cfg, shared.clone(), None, None).recompute();
    shared
}

#[test]
fn ecs_is_echoed_with_scope_0_for_answers_the_same_for_every_client() {
    let state = state();
    for transport in [Transport::Udp, Transport::Tcp] {
        // A fixed gslb set, v4 and v6 options.
        for (opt, addr, source) in [
            (ecs_data(1, 24, &[198, 18, 5]), "198.18.5.0", 24),
            (
                ecs_data(2, 56, &[0x20, 0x01, 0x0d, 0xb8, 0, 1, 0x20]),
                "2001:db8:1:2000::",
                56,
            ),
            (ecs_data(1, 32, &[198, 18, 5, 9]), "198.18.5.9", 32),
        ] {
            let req = ecs_request("www.example.test.", RecordType::A, &[opt]);
            let resp = ask_raw(&state, &req, transport);
            assert_header(&resp, ResponseCode::NoError, true);
            assert_eq!(resp.answers.len(), 3);
            assert_eq!(reply_ecs(&resp), Some((ip(addr), source, 0)));
        }
        // Negative and static answers: scope 0, still echoed.
        for (qname, qtype, rcode) in [
            ("nope.example.test.", RecordType::A, ResponseCode::NXDomain),
            (
                "v4only.example.test.",
                RecordType::AAAA,
                ResponseCode::NoError,
            ),
            ("mail.example.test.", RecordType::A, ResponseCode::NoError),
        ] {
            let req = ecs_request(qname, qtype, &[ecs_data(1, 24, &[198, 18, 5])]);
            let resp = ask_raw(&state, &req, transport);
            assert_eq!(resp.response_code, rcode);
            assert_eq!(reply_ecs(&resp), Some((ip("198.18.5.0"), 24, 0)));
        }
    }
    // No option asked, none given.
    let resp = ask_raw(
        &state,
        &ecs_request("www.example.test.", RecordType::A, &[]),
        Transport::Udp,
    );
    assert_eq!(reply_ecs(&resp), None);
}

#[test]
fn malformed_ecs_is_formerr() {
    let state = state();
    let cases: [(&str, Vec<Vec<u8>>); 10] = [
        (
            "address longer than the prefix",
            vec![ecs_data(1, 24, &[198, 18, 5, 0])],
        ),
        (
            "address shorter than the prefix",
            vec![ecs_data(1, 24, &[198, 18])],
        ),
        (
            "v4 source over 32",
            vec![ecs_data(1, 33, &[198, 18, 5, 0, 0])],
        ),
        ("v6 source over 128", vec![ecs_data(2, 129, &[0x20; 17])]),
        (
            "bits past the prefix",
            vec![ecs_data(1, 20, &[198, 18, 0x05])],
        ),
        ("bits past a zero prefix", vec![ecs_data(1, 0, &[1])]),
        ("unknown family", vec![ecs_data(3, 8, &[1])]),
        ("truncated option", vec![vec![0, 1, 24]]),
        (
            "two options",
            vec![
                ecs_data(1, 24, &[198, 18, 5]),
                ecs_data(1, 24, &[198, 18, 6]),
            ],
        ),
        (
            "two options, one v6",
            vec![ecs_data(1, 24, &[198, 18, 5]), ecs_data(2, 16, &[0x20, 1])],
        ),
    ];
    for (what, options) in cases {
        for transport in [Transport::Udp, Transport::Tcp] {
            let req = ecs_request("www.example.test.", RecordType::A, &options);
            let resp = ask_raw(&state, &req, transport);
            assert_eq!(resp.response_code, ResponseCode::FormErr, "{what}");
            assert!(resp.answers.is_empty(), "{what}");
            assert_eq!(reply_ecs(&resp), None, "{what}");
        }
    }
    // Well-formed edge cases are answered: source 0 (no address), a
    // prefix ending mid-octet with zero bits after it.
    for opt in [
        ecs_data(1, 0, &[]),
        ecs_data(2, 0, &[]),
        ecs_data(1, 20, &[198, 18, 0]),
    ] {
        let req = ecs_request("www.example.test.", RecordType::A, &[opt]);
        assert_eq!(
            ask_raw(&state, &req, Transport::Udp).response_code,
            ResponseCode::NoError
        );
    }
}

#[test]
fn ecs_of_untrusted_resolvers_is_ignored() {
    let with = |ecs: &str| {
        let text = TEST_CONFIG.replace(
            "edns_udp_size = 1400",
            &format!("edns_udp_size = 1400\necs = {ecs}"),
        );
        State::from_config(&config::parse(&text, "t").unwrap())
    };
    let req = ecs_request(
        "www.example.test.",
        RecordType::A,
        &[ecs_data(1, 24, &[198, 18, 5])],
    );
    let ask_from = |state: &State, from: &str| {
        let bytes = respond(state, &req, Transport::Udp, Some(ip(from))).unwrap();
        Message::from_vec(&bytes).unwrap()
    };
    let trusted = with("[\"198.18.53.0/24\", \"2001:db8:53::/48\"]");
    for from in ["198.18.53.7", "2001:db8:53::1"] {
        assert_eq!(
            reply_ecs(&ask_from(&trusted, from)),
            Some((ip("198.18.5.0"), 24, 0)),
            "{from}"
        );
    }
    for from in ["198.18.54.7", "127.0.0.1", "2001:db8:54::1"] {
        let resp = ask_from(&trusted, from);
        assert_eq!(resp.response_code, ResponseCode::NoError);
        assert_eq!(reply_ecs(&resp), None, "{from}");
    }
    let none = with("\"none\"");
    assert_eq!(reply_ecs(&ask_from(&none, "198.18.53.7")), None);
    let all = with("\"all\"");
    assert!(reply_ecs(&ask_from(&all, "198.18.54.7")).is_some());
    // Malformed is malformed, trusted or not.
    let bad = ecs_request(
        "www.example.test.",
        RecordType::A,
        &[ecs_data(1, 24, &[198, 18, 5, 1])],
    );
    let resp = respond(&none, &bad, Transport::Udp, Some(ip("198.18.54.7"))).unwrap();
    assert_eq!(
        Message::from_vec(&resp).unwrap().response_code,
        ResponseCode::FormErr
    );
}

/// Static persist hashes the ECS address, not the resolver's: one
/// resolver asking for many client prefixes gets their different
/// servers, each client prefix always the same, and the scope is the
/// persist prefix of the option's family (0 for source 0).
#[test]
fn ecs_address_is_the_client_of_static_persist() {
    let shared = persist_state("");
    let state = shared.load();
    let first = |qtype: RecordType, opt: Vec<u8>, resolver: &str| {
        let req = ecs_request("sp.example.test.", qtype, &[opt]);
        let bytes = respond(&state, &req, Transport::Udp, Some(ip(resolver))).unwrap();
        let resp = Message::from_vec(&bytes).unwrap();
        assert_eq!(resp.response_code, ResponseCode::NoError);
        (resp.answers[0].data.to_string(), reply_ecs(&resp).unwrap())
    };
    let mut seen = std::collections::BTreeSet::new();
    for c in 0..64u8 {
        let (a, echo) = first(RecordType::A, ecs_data(1, 24, &[198, 18, c]), "127.0.0.1");
        assert_eq!(echo, (IpAddr::from([198, 18, c, 0]), 24, 24));
        // Same client prefix, other resolver, other host bits: same server.
        let (b, _) = first(
            RecordType::A,
            ecs_data(1, 32, &[198, 18, c, 77]),
            "127.0.0.2",
        );
        assert_eq!(a, b, "client 198.18.{c}.0/24");
        // What the resolver itself gets without ECS for that address.
        let plain = request("sp.example.test.", RecordType::A).to_vec().unwrap();
        let bytes = respond(
            &state,
            &plain,
            Transport::Udp,
            Some(IpAddr::from([198, 18, c, 1])),
        );
        let direct = Message::from_vec(&bytes.unwrap()).unwrap();
        assert_eq!(direct.answers[0].data.to_string(), a);
        seen.insert(a);
    }
    assert_eq!(seen.len(), 4, "clients spread over all servers: {seen:?}");
    // v6: the /48 persist prefix is the scope.
    let (_, echo) = first(
        RecordType::AAAA,
        ecs_data(2, 56, &[0x20, 0x01, 0x0d, 0xb8, 0, 9, 0]),
        "127.0.0.1",
    );
    assert_eq!(echo, (ip("2001:db8:9::"), 56, 48));
    // Source 0: the answer for the all-zero client, scope 0.
    let (_, echo) = first(RecordType::A, ecs_data(1, 0, &[]), "127.0.0.1");
    assert_eq!(echo, (ip("0.0.0.0"), 0, 0));
}
