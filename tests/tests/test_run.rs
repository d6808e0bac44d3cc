//! BPF_PROG_TEST_RUN tables for the XDP program: input frame, expected
//! verdict, and for XDP_TX the exact output bytes (also parsed back with
//! hickory); for XDP_PASS the frame must come back unmodified and the
//! expected pass-reason counter must move.

use std::sync::{Mutex, OnceLock};

use aya::{
    maps::{MapData, PerCpuArray},
    programs::{TestRun, TestRunOptions, Xdp},
    Ebpf,
};
use gslb::{config, maps::Maps, model::State, xdp};
use gslb_common::Counter;
use gslb_tests::packet::{
    parse_reply, query, Frame, CLIENT_PORT, CLIENT_V4, CLIENT_V6, SERVER_V4, SERVER_V6,
};
use hickory_proto::{
    op::ResponseCode,
    rr::{RData, RecordType},
};

const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;

/// 63-byte label.
const L63: &str = "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk";

fn long_name() -> String {
    // Wire length: 3 × 64 + 61 (label of 60) + 14 ("example.test") = 255 ... computed below.
    let tail = "example.test";
    let tail_wire = tail.len() + 2; // labels "example","test" + root
    let rest = 255 - tail_wire - 3 * 64;
    format!("{L63}.{L63}.{L63}.{}.{tail}", &L63[..rest - 1])
}

fn test_config() -> String {
    format!(
        r#"
[server]
listen = ["127.0.0.1:53"]
interfaces = []

[[zone]]
name = "example.test"
ns = ["ns1.example.net."]
[zone.soa]
mname = "ns1.example.test."
rname = "hostmaster.example.test."
serial = 1
refresh = 3600
retry = 600
expire = 86400
minimum = 60

[[gslb]]
name = "www.example.test"
ttl = 30
a = ["198.18.0.10", "198.18.0.11"]
aaaa = ["2001:db8::10", "2001:db8::11"]

[[gslb]]
name = "v4only.example.test"
ttl = 45
a = ["198.18.1.1"]

[[gslb]]
name = "{long}"
ttl = 300
a = ["198.18.2.1"]
aaaa = ["2001:db8:2::1", "2001:db8:2::2", "2001:db8:2::3", "2001:db8:2::4",
        "2001:db8:2::5", "2001:db8:2::6", "2001:db8:2::7", "2001:db8:2::8"]

[[gslb]]
name = "{l63}.example.test"
ttl = 60
a = ["198.18.3.1"]

[[gslb]]
name = "{l63}.{l63}.example.test"
ttl = 60
a = ["198.18.4.1"]
"#,
        long = long_name(),
        l63 = L63
    )
}

struct Fixture {
    ebpf: Ebpf,
    _maps: Maps,
}

fn fixture() -> &'static Mutex<Fixture> {
    static F: OnceLock<Mutex<Fixture>> = OnceLock::new();
    F.get_or_init(|| {
        let cfg = config::parse(&test_config(), "test config").expect("test config parses");
        let state = State::from_config(&cfg);
        let mut ebpf = xdp::load_object().expect("load object");
        let mut maps = Maps::new(&mut ebpf).expect("maps");
        maps.sync(&state).expect("sync maps");
        xdp::load_program(&mut ebpf, xdp::PROGRAM).expect("program passes the verifier");
        Mutex::new(Fixture { ebpf, _maps: maps })
    })
}

fn counters(ebpf: &Ebpf) -> Vec<u64> {
    let map: PerCpuArray<&MapData, u64> = ebpf.map("COUNTERS").unwrap().try_into().unwrap();
    gslb::stats::read(&map)
        .unwrap()
        .into_iter()
        .map(|(_, v)| v)
        .collect()
}

/// Runs the program on `frame`; returns the verdict, the output frame and
/// the counter deltas.
fn run(frame: &[u8]) -> (u32, Vec<u8>, Vec<u64>) {
    let f = fixture().lock().unwrap_or_else(|e| e.into_inner());
    let before = counters(&f.ebpf);
    let prog: &Xdp = f.ebpf.program(xdp::PROGRAM).unwrap().try_into().unwrap();
    let mut out = vec![0u8; 4096];
    let r = prog
        .test_run(TestRunOptions {
            data_in: Some(frame),
            data_out: Some(&mut out),
            ..Default::default()
        })
        .expect("BPF_PROG_TEST_RUN");
    out.truncate(r.data_size_out as usize);
    let after = counters(&f.ebpf);
    let delta = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    (r.return_value, out, delta)
}

/// Asserts the frame is answered; returns the output.
fn answered(frame: &[u8]) -> Vec<u8> {
    let (verdict, out, delta) = run(frame);
    assert_eq!(verdict, XDP_TX, "expected XDP_TX; counters {delta:?}");
    assert_eq!(delta[Counter::Answered as usize], 1);
    assert_eq!(delta[Counter::Packets as usize], 1);
    out
}

/// Asserts the frame is passed unmodified with `reason` counted.
fn passed(frame: &[u8], reason: Counter) {
    let (verdict, out, delta) = run(frame);
    assert_eq!(verdict, XDP_PASS, "expected XDP_PASS ({reason:?})");
    assert_eq!(out, frame, "passed frame must be unmodified");
    assert_eq!(
        delta[reason as usize], 1,
        "{reason:?} counted; deltas {delta:?}"
    );
    assert_eq!(delta[Counter::Answered as usize], 0);
}

/// The DNS reply the fast path must produce, built independently: header
/// flags QR|AA|RD(|CD), counts, question kept byte for byte, answers with a
/// pointer to offset 12, an OPT (payload 1232, DO copied) when asked.
fn expected_dns(
    query_dns: &[u8],
    q_end: usize,
    rtype: u16,
    ttl: u32,
    addrs: &[Vec<u8>],
    opt_do: Option<bool>,
) -> Vec<u8> {
    let mut d = query_dns[..q_end].to_vec();
    let rd_cd = u16::from_be_bytes([d[2], d[3]]) & 0x0110;
    d[2..4].copy_from_slice(&(0x8400 | rd_cd).to_be_bytes());
    d[6..8].copy_from_slice(&(addrs.len() as u16).to_be_bytes());
    d[8..10].copy_from_slice(&[0, 0]);
    d[10..12].copy_from_slice(&u16::from(opt_do.is_some()).to_be_bytes());
    for a in addrs {
        d.extend([0xc0, 12]);
        d.extend(rtype.to_be_bytes());
        d.extend(1u16.to_be_bytes());
        d.extend(ttl.to_be_bytes());
        d.extend((a.len() as u16).to_be_bytes());
        d.extend(a);
    }
    if let Some(dnssec_ok) = opt_do {
        d.extend([0, 0, 41]);
        d.extend(1232u16.to_be_bytes());
        d.extend([0, 0]);
        d.extend(if dnssec_ok { [0x80, 0] } else { [0, 0] });
        d.extend([0, 0]);
    }
    d
}

fn dns_bytes(name: &str, rtype: RecordType, edns: Option<u16>) -> Vec<u8> {
    query(name, rtype, edns).to_vec().unwrap()
}

/// Offset just past the question of a message built by [`dns_bytes`].
fn q_end(dns: &[u8]) -> usize {
    let mut i = 12;
    while dns[i] != 0 {
        i += 1 + usize::from(dns[i]);
    }
    i + 5
}

fn v4(a: &str) -> Vec<u8> {
    a.parse::<std::net::Ipv4Addr>().unwrap().octets().to_vec()
}

fn v6(a: &str) -> Vec<u8> {
    a.parse::<std::net::Ipv6Addr>().unwrap().octets().to_vec()
}

/// Appends a raw OPT record (RFC 6891 §6.1.2) and sets ARCOUNT.
fn with_opt(
    mut dns: Vec<u8>,
    size: u16,
    version: u8,
    flags: u16,
    options: &[(u16, Vec<u8>)],
) -> Vec<u8> {
    let mut rdata = Vec::new();
    for (code, data) in options {
        rdata.extend(code.to_be_bytes());
        rdata.extend((data.len() as u16).to_be_bytes());
        rdata.extend(data);
    }
    dns.extend([0, 0, 41]);
    dns.extend(size.to_be_bytes());
    dns.extend([0, version]);
    dns.extend(flags.to_be_bytes());
    dns.extend((rdata.len() as u16).to_be_bytes());
    dns.extend(rdata);
    let ar = u16::from_be_bytes([dns[10], dns[11]]) + 1;
    dns[10..12].copy_from_slice(&ar.to_be_bytes());
    dns
}

fn www_a() -> Vec<Vec<u8>> {
    vec![v4("198.18.0.10"), v4("198.18.0.11")]
}

fn www_aaaa() -> Vec<Vec<u8>> {
    vec![v6("2001:db8::10"), v6("2001:db8::11")]
}

/// Answers `dns` in `frame` and checks the exact output bytes and the
/// hickory view of the reply.
fn check_exact(
    frame: &Frame,
    dns: &[u8],
    rtype: u16,
    ttl: u32,
    addrs: &[Vec<u8>],
    opt_do: Option<bool>,
) {
    let out = answered(&frame.build(dns));
    let want = frame.build_reply(&expected_dns(dns, q_end(dns), rtype, ttl, addrs, opt_do));
    assert_eq!(out, want, "exact reply bytes");
    let r = parse_reply(frame, &out);
    assert_eq!(r.sport, 53);
    assert_eq!(r.dport, CLIENT_PORT);
    if frame.v6 {
        assert_eq!((r.src, r.dst), (SERVER_V6.into(), CLIENT_V6.into()));
    } else {
        assert_eq!((r.src, r.dst), (SERVER_V4.into(), CLIENT_V4.into()));
    }
    let m = &r.msg;
    assert_eq!(m.metadata.id, 0x4242);
    assert!(m.metadata.authoritative);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(m.answers.len(), addrs.len());
    for (rec, a) in m.answers.iter().zip(addrs) {
        assert_eq!(rec.ttl, ttl);
        let got = match &rec.data {
            RData::A(x) => x.0.octets().to_vec(),
            RData::AAAA(x) => x.0.octets().to_vec(),
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(&got, a);
    }
    assert_eq!(m.edns.is_some(), opt_do.is_some());
}

#[test]
fn ipv4_a_without_edns() {
    let dns = dns_bytes("www.example.test.", RecordType::A, None);
    check_exact(&Frame::default(), &dns, 1, 30, &www_a(), None);
}

#[test]
fn ipv4_aaaa_with_edns() {
    let dns = with_opt(
        dns_bytes("www.example.test.", RecordType::AAAA, None),
        4096,
        0,
        0,
        &[],
    );
    check_exact(&Frame::default(), &dns, 28, 30, &www_aaaa(), Some(false));
}

#[test]
fn ipv6_transport_a_and_aaaa() {
    let f = Frame {
        v6: true,
        ..Default::default()
    };
    check_exact(
        &f,
        &dns_bytes("www.example.test.", RecordType::A, None),
        1,
        30,
        &www_a(),
        None,
    );
    check_exact(
        &f,
        &dns_bytes("www.example.test.", RecordType::AAAA, None),
        28,
        30,
        &www_aaaa(),
        None,
    );
}

#[test]
fn edns_do_copied_cookie_and_padding_not_echoed() {
    let cookie = (10u16, vec![1, 2, 3, 4, 5, 6, 7, 8]);
    let padding = (12u16, vec![0; 40]);
    let dns = with_opt(
        dns_bytes("www.example.test.", RecordType::A, None),
        1232,
        0,
        0x8000,
        &[cookie, padding],
    );
    check_exact(
        &Frame {
            v6: true,
            ..Default::default()
        },
        &dns,
        1,
        30,
        &www_a(),
        Some(true),
    );
}

#[test]
fn small_edns_size_is_treated_as_512() {
    let dns = with_opt(
        dns_bytes("www.example.test.", RecordType::A, None),
        100,
        0,
        0,
        &[],
    );
    check_exact(&Frame::default(), &dns, 1, 30, &www_a(), Some(false));
}

#[test]
fn rd_and_cd_copied_rd_clear() {
    let mut dns = dns_bytes("www.example.test.", RecordType::A, None);
    dns[2] &= !0x01; // RD off
    dns[3] |= 0x10; // CD on
    check_exact(&Frame::default(), &dns, 1, 30, &www_a(), None);
}

#[test]
fn vlan_and_qinq() {
    let dns = dns_bytes("www.example.test.", RecordType::A, None);
    let one = Frame {
        vlans: vec![(0x8100, 42)],
        ..Default::default()
    };
    check_exact(&one, &dns, 1, 30, &www_a(), None);
    let two = Frame {
        vlans: vec![(0x88a8, 7), (0x8100, 42)],
        v6: true,
        ..Default::default()
    };
    check_exact(&two, &dns, 1, 30, &www_a(), None);
}

#[test]
fn ipv4_options_any_ihl() {
    let dns = dns_bytes("www.example.test.", RecordType::A, None);
    for opt_len in [4usize, 8, 20, 40] {
        let mut opts = vec![1u8; opt_len - 1];
        opts.push(0); // NOPs then end of options list
        let f = Frame {
            ip_options: opts,
            ..Default::default()
        };
        check_exact(&f, &dns, 1, 30, &www_a(), None);
    }
}

#[test]
fn mixed_case_name_kept_in_reply() {
    let dns = dns_bytes("WwW.ExAmPlE.TeSt.", RecordType::A, None);
    check_exact(&Frame::default(), &dns, 1, 30, &www_a(), None);
    let out = answered(&Frame::default().build(&dns));
    let r = parse_reply(&Frame::default(), &out);
    assert_eq!(r.msg.answers[0].name.to_ascii(), "WwW.ExAmPlE.TeSt.");
}

#[test]
fn ethernet_padding_is_dropped_from_reply() {
    let dns = dns_bytes("v4only.example.test.", RecordType::A, None);
    let f = Frame {
        trailer: vec![0; 24],
        ..Default::default()
    };
    check_exact(&f, &dns, 1, 45, &[v4("198.18.1.1")], None);
}

#[test]
fn every_name_size_class() {
    let long = long_name();
    assert_eq!(
        q_end(&dns_bytes(&format!("{long}."), RecordType::A, None)) - 12 - 4,
        255
    );
    let eight: Vec<Vec<u8>> = (1..=8).map(|i| v6(&format!("2001:db8:2::{i}"))).collect();
    for (name, rtype, ttl, addrs) in [
        (
            format!("{L63}.example.test."),
            RecordType::A,
            60,
            vec![v4("198.18.3.1")],
        ),
        (
            format!("{L63}.{L63}.example.test."),
            RecordType::A,
            60,
            vec![v4("198.18.4.1")],
        ),
        (
            format!("{long}."),
            RecordType::A,
            300,
            vec![v4("198.18.2.1")],
        ),
        (
            format!("{}.", long.to_uppercase()),
            RecordType::AAAA,
            300,
            eight.clone(),
        ),
    ] {
        let dns = dns_bytes(&name, rtype, None);
        check_exact(&Frame::default(), &dns, u16::from(rtype), ttl, &addrs, None);
        let dns = with_opt(dns, 512, 0, 0x8000, &[]);
        check_exact(
            &Frame {
                v6: true,
                ..Default::default()
            },
            &dns,
            u16::from(rtype),
            ttl,
            &addrs,
            Some(true),
        );
    }
}

// ---- pass reasons -------------------------------------------------------

fn www_query() -> Vec<u8> {
    dns_bytes("www.example.test.", RecordType::A, None)
}

#[test]
fn pass_not_ip() {
    let mut arp = Frame::default().build(&www_query());
    arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    passed(&arp, Counter::PassNotIp);
    // A VLAN tag cut short. (BPF_PROG_TEST_RUN refuses frames below the
    // 14-byte Ethernet header, as NICs drop them before XDP.)
    let mut short = arp[..16].to_vec();
    short[12..14].copy_from_slice(&0x8100u16.to_be_bytes());
    passed(&short, Counter::PassNotIp);
}

#[test]
fn pass_not_udp() {
    passed(
        &Frame {
            proto: 6,
            ..Default::default()
        }
        .build(&www_query()),
        Counter::PassNotUdp,
    );
    // IPv6 with a hop-by-hop extension header.
    passed(
        &Frame {
            proto: 0,
            v6: true,
            ..Default::default()
        }
        .build(&www_query()),
        Counter::PassNotUdp,
    );
}

#[test]
fn pass_fragments() {
    passed(
        &Frame {
            frag: 0x2000,
            ..Default::default()
        }
        .build(&www_query()),
        Counter::PassFragment,
    );
    passed(
        &Frame {
            frag: 0x0010,
            ..Default::default()
        }
        .build(&www_query()),
        Counter::PassFragment,
    );
}

#[test]
fn pass_wrong_port() {
    passed(
        &Frame {
            dport: 5353,
            ..Default::default()
        }
        .build(&www_query()),
        Counter::PassNotDnsPort,
    );
}

fn patched(f: impl Fn(&mut Vec<u8>)) -> Vec<u8> {
    let mut d = www_query();
    f(&mut d);
    Frame::default().build(&d)
}

#[test]
fn pass_not_a_query() {
    passed(&patched(|d| d[2] |= 0x80), Counter::PassNotQuery); // QR
    passed(&patched(|d| d[2] |= 4 << 3), Counter::PassNotQuery); // NOTIFY
    passed(&patched(|d| d[2] |= 0x02), Counter::PassNotQuery); // TC
}

#[test]
fn pass_section_counts() {
    passed(&patched(|d| d[5] = 0), Counter::PassSectionCounts);
    passed(&patched(|d| d[5] = 2), Counter::PassSectionCounts);
    passed(&patched(|d| d[7] = 1), Counter::PassSectionCounts);
    passed(&patched(|d| d[9] = 1), Counter::PassSectionCounts);
}

#[test]
fn pass_additional_records() {
    // Two OPTs.
    let two = with_opt(with_opt(www_query(), 1232, 0, 0, &[]), 1232, 0, 0, &[]);
    passed(&Frame::default().build(&two), Counter::PassAdditional);
    // One additional record that is not an OPT (an A record).
    let mut d = www_query();
    d.extend([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4]);
    d[11] = 1;
    passed(&Frame::default().build(&d), Counter::PassAdditional);
}

#[test]
fn pass_edns_version() {
    let d = with_opt(www_query(), 1232, 1, 0, &[]);
    passed(&Frame::default().build(&d), Counter::PassEdnsVersion);
}

#[test]
fn pass_ecs() {
    let ecs = (8u16, vec![0, 1, 24, 0, 198, 18, 7]);
    let d = with_opt(www_query(), 1232, 0, 0, &[(10, vec![9; 8]), ecs]);
    passed(&Frame::default().build(&d), Counter::PassEcs);
}

#[test]
fn pass_class_and_type() {
    passed(
        &patched(|d| {
            let n = d.len();
            d[n - 1] = 3; // CH
        }),
        Counter::PassClass,
    );
    for t in [
        RecordType::MX,
        RecordType::TXT,
        RecordType::ANY,
        RecordType::SOA,
        RecordType::CNAME,
    ] {
        passed(
            &Frame::default().build(&dns_bytes("www.example.test.", t, None)),
            Counter::PassType,
        );
    }
}

#[test]
fn pass_unknown_name_and_missing_set() {
    for name in [
        "nope.example.test.",
        "www.example.org.",
        "example.test.",
        "ww.example.test.",
        "www.example.test.x.",
    ] {
        passed(
            &Frame::default().build(&dns_bytes(name, RecordType::A, None)),
            Counter::PassNameNotFound,
        );
    }
    passed(
        &Frame::default().build(&dns_bytes("v4only.example.test.", RecordType::AAAA, None)),
        Counter::PassNoAnswer,
    );
}

#[test]
fn pass_too_big_query() {
    let d = with_opt(www_query(), 1232, 0, 0, &[(12, vec![0; 520])]);
    passed(&Frame::default().build(&d), Counter::PassTooBig);
}

// ---- malformed ----------------------------------------------------------

#[test]
fn truncated_at_every_byte_is_passed_unmodified() {
    for (v6, edns) in [(false, None), (true, Some(1232))] {
        let f = Frame {
            v6,
            vlans: vec![(0x8100, 5)],
            ..Default::default()
        };
        let full = f.build(&dns_bytes("www.example.test.", RecordType::A, edns));
        // From the Ethernet header on: shorter frames are refused by
        // BPF_PROG_TEST_RUN (and dropped by NICs before XDP).
        for len in 14..full.len() {
            let (verdict, out, delta) = run(&full[..len]);
            assert_eq!(verdict, XDP_PASS, "cut at {len}");
            assert_eq!(out, &full[..len], "cut at {len}: unmodified");
            assert_eq!(delta[Counter::Answered as usize], 0);
        }
    }
}

#[test]
fn truncated_dns_with_consistent_lengths_is_malformed() {
    // The IP/UDP lengths agree with a DNS payload cut short: only DNS parsing
    // can tell.
    let full = with_opt(www_query(), 1232, 0, 0, &[(10, vec![1; 8])]);
    for len in 17..full.len() {
        let f = Frame::default().build(&full[..len]);
        let (verdict, out, delta) = run(&f);
        assert_eq!(verdict, XDP_PASS, "dns cut at {len}");
        assert_eq!(out, f);
        assert_eq!(delta[Counter::Answered as usize], 0, "dns cut at {len}");
    }
    for len in 0..17 {
        passed(
            &Frame::default().build(&full[..len]),
            Counter::PassMalformed,
        );
    }
}

#[test]
fn malformed_names() {
    // Label length overruns the name (and the message).
    let mut d = www_query();
    d[12] = 40;
    passed(&Frame::default().build(&d), Counter::PassMalformed);
    // Compression pointer in the question.
    let mut d = www_query()[..12].to_vec();
    d.extend([0xc0, 12, 0, 1, 0, 1]);
    passed(&Frame::default().build(&d), Counter::PassMalformed);
    // Extended label type 0x40.
    let mut d = www_query()[..12].to_vec();
    d.extend([0x41, b'a', 0, 0, 1, 0, 1]);
    passed(&Frame::default().build(&d), Counter::PassMalformed);
    // A name of 260 bytes without a root label in the first 255.
    let mut d = www_query()[..12].to_vec();
    for _ in 0..5 {
        d.push(51);
        d.extend([b'a'; 51]);
    }
    d.extend([0, 0, 1, 0, 1]);
    passed(&Frame::default().build(&d), Counter::PassMalformed);
}

#[test]
fn malformed_lengths_and_trailing_bytes() {
    // Trailing garbage after the question.
    let mut d = www_query();
    d.extend([1, 2, 3]);
    passed(&Frame::default().build(&d), Counter::PassMalformed);
    // OPT rdlen overruns the message.
    let mut d = with_opt(www_query(), 1232, 0, 0, &[]);
    let n = d.len();
    d[n - 1] = 9;
    passed(&Frame::default().build(&d), Counter::PassMalformed);
    // EDNS option overruns the OPT record.
    let mut d = with_opt(www_query(), 1232, 0, 0, &[(10, vec![1; 8])]);
    let n = d.len();
    d[n - 9] = 20;
    passed(&Frame::default().build(&d), Counter::PassMalformed);
    // UDP length larger than the IP payload.
    let mut f = Frame::default().build(&www_query());
    f[14 + 20 + 5] += 4;
    passed(&f, Counter::PassMalformed);
    // IPv4 total length beyond the frame.
    let mut f = Frame::default().build(&www_query());
    f[14 + 3] += 10;
    passed(&f, Counter::PassMalformed);
    // IPv6 payload length beyond the frame.
    let mut f = Frame {
        v6: true,
        ..Default::default()
    }
    .build(&www_query());
    f[14 + 5] += 10;
    passed(&f, Counter::PassMalformed);
    // IPv4 header length below 20.
    let mut f = Frame::default().build(&www_query());
    f[14] = 0x44;
    passed(&f, Counter::PassMalformed);
    // Wrong IP version under the IPv4 ethertype.
    let mut f = Frame::default().build(&www_query());
    f[14] = 0x65;
    passed(&f, Counter::PassMalformed);
}
