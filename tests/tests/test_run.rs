//! BPF_PROG_TEST_RUN tables for the XDP program: input frame, expected
//! verdict, and for XDP_TX the exact output bytes (also parsed back with
//! hickory and compared with the slow path's answer to the same query); for
//! XDP_PASS the frame must come back unmodified and the expected
//! pass-reason counter must move.

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::{Mutex, OnceLock},
};

use aya::{
    maps::{
        lpm_trie::{Key, LpmTrie},
        Array, HashMap as AyaHashMap, Map, MapData, PerCpuArray,
    },
    programs::{TestRun, TestRunOptions, Xdp},
    Ebpf,
};
use gslb::{
    config,
    dns::responder::{respond, Transport},
    fastpath::{loader as xdp, maps::Maps},
    state::{
        decision::{AnswerSet, Decision},
        model::State,
    },
};
use gslb_common::{
    maps::{
        client_block, client_cache_index, mask_prefix, AnswerKey, AnswerV4, ClientCacheSlot,
        ClientGroup, ClientPrefix, Config, NameEntry, PersistKey, PersistRecord,
        CONFIG_CLIENT_GROUPS, CONFIG_ECS, CONFIG_ECS_TRUSTED, NAME_CLIENT_AWARE,
    },
    select::{MODE_ROUND_ROBIN, MODE_STATIC_PERSIST},
    Counter,
};
use gslb_tests::packet::{
    parse_reply, query, Frame, CLIENT_PORT, CLIENT_V4, CLIENT_V6, SERVER_V4, SERVER_V6,
};
use hickory_proto::{
    op::{Message, ResponseCode},
    rr::{DNSClass, Name, RData, Record, RecordType},
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

/// `{L63}.` repeated `n` times, then a label of `last` letters: a prefix
/// whose wire length is `n * 64 + last + 1`.
fn long_prefix(n: usize, last: usize) -> String {
    let mut s = String::new();
    for _ in 0..n {
        s.push_str(L63);
        s.push('.');
    }
    s.push_str(&L63[..last]);
    s
}

/// Parent of the longest child (wire length 253: a child "x" is 255).
fn p253() -> String {
    format!("{}.example.test", long_prefix(3, 46))
}

/// Parent of a child with a 63-byte first label and a 255-byte name (not
/// [`long_name`]'s parent, an empty non-terminal).
fn p191() -> String {
    format!("{L63}.{L63}.{}.example.test", "z".repeat(48))
}

/// A gslb name in big.test (wire length 236) whose children's NXDOMAIN
/// (SOA tail 252 bytes) is 508 bytes with a one-letter label, the most the
/// XDP program sends, and 509 with two.
fn q236() -> String {
    format!("{}.big.test", long_prefix(3, 33))
}

/// The fixture config. Zone example.test has static data at the apex
/// (SOA, NS, MX), at `mail` (A), `app` (CNAME), `_sip._udp` (SRV) and
/// `web-01.zone-9` (TXT), empty non-terminals `ent` (from `host.ent` TXT),
/// `_udp` and `zone-9`, a delegation `sub` with glue `ns.sub`, and gslb
/// names; `inner.example.test` is a zone of its own inside it;
/// `other.test` has an SOA TTL below MINIMUM; `big.test` has the longest
/// SOA the fast path carries (252-byte tail); `bigsoa.test` an SOA too long
/// for it (its negatives go to the slow path).
fn test_config() -> String {
    format!(
        r#"
[server]
listen = ["198.18.0.1:53", "[2001:db8::1]:53"]
interfaces = []

[[zone]]
name = "example.test"
ttl = 3600
ns = ["ns1.example.net."]
[zone.soa]
mname = "ns1.example.test."
rname = "hostmaster.example.test."
serial = 1
refresh = 3600
retry = 600
expire = 86400
minimum = 60

[[zone.record]]
name = "@"
type = "MX"
data = "10 mail.example.test."

[[zone.record]]
name = "mail"
type = "A"
data = "198.18.0.25"

[[zone.record]]
name = "app"
type = "CNAME"
data = "www.example.test."

[[zone.record]]
name = "host.ent"
type = "TXT"
data = "\"x\""

[[zone.record]]
name = "_sip._udp"
type = "SRV"
data = "10 60 5060 mail.example.test."

[[zone.record]]
name = "web-01.zone-9"
type = "TXT"
data = "\"y\""

[[zone.record]]
name = "sub"
type = "NS"
data = "ns.sub.example.test."

[[zone.record]]
name = "tall"
type = "TXT"
data = "\"{s230}\""

[[zone.record]]
name = "huge"
type = "TXT"
data = "\"{s250}\""

[[zone.record]]
name = "ns.sub"
type = "A"
data = "198.18.0.54"

[[zone]]
name = "inner.example.test"
ttl = 100
ns = ["ns1.example.net."]
[zone.soa]
mname = "ns1.example.net."
rname = "h.example.net."
serial = 5
refresh = 1
retry = 2
expire = 3
minimum = 50

[[zone]]
name = "other.test"
ttl = 20
ns = ["ns1.example.net."]
[zone.soa]
mname = "ns.example.net."
rname = "dns.example.net."
serial = 2026112201
refresh = 7200
retry = 3600
expire = 1209600
minimum = 600

[[zone]]
name = "big.test"
ttl = 900
ns = ["ns1.example.net."]
[zone.soa]
mname = "{l63}.{l63}.big.test."
rname = "{l63}.hostmastr.big.test."
serial = 4294967295
refresh = 1
retry = 1
expire = 1
minimum = 4000

[[zone]]
name = "bigsoa.test"
ttl = 900
ns = ["ns1.example.net."]
[zone.soa]
mname = "{l63}.{l63}.{l63}.bigsoa.test."
rname = "{l63}.{l63}.{l63}.bigsoa.test."
serial = 1
refresh = 1
retry = 1
expire = 1
minimum = 1

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

[[gslb]]
name = "{p253}"
ttl = 60
a = ["198.18.5.1"]

[[gslb]]
name = "{p191}"
ttl = 60
a = ["198.18.5.2"]

[[gslb]]
name = "www.inner.example.test"
ttl = 60
a = ["198.18.6.1"]

[[gslb]]
name = "v6only.other.test"
ttl = 60
aaaa = ["2001:db8:6::1"]

[[gslb]]
name = "www.big.test"
ttl = 60
a = ["198.18.7.1"]

[[gslb]]
name = "{q236}"
ttl = 60
a = ["198.18.7.2"]

[[gslb]]
name = "www.bigsoa.test"
ttl = 60
a = ["198.18.8.1"]

[[gslb]]
name = "persist2.example.test"
ttl = 30
a = ["198.18.40.1", "198.18.40.2"]
aaaa = ["2001:db8:40::1", "2001:db8:40::2"]

[[gslb]]
name = "persist3.example.test"
ttl = 30
a = ["198.18.40.1", "198.18.40.2", "198.18.40.3"]
aaaa = ["2001:db8:40::1", "2001:db8:40::2", "2001:db8:40::3"]

[[gslb]]
name = "persist4.example.test"
ttl = 30
a = ["198.18.40.1", "198.18.40.2", "198.18.40.3", "198.18.40.4"]
aaaa = ["2001:db8:40::1", "2001:db8:40::2", "2001:db8:40::3", "2001:db8:40::4"]

[[gslb]]
name = "persist5.example.test"
ttl = 30
a = ["198.18.40.1", "198.18.40.2", "198.18.40.3", "198.18.40.4", "198.18.40.5"]
aaaa = ["2001:db8:40::1", "2001:db8:40::2", "2001:db8:40::3", "2001:db8:40::4", "2001:db8:40::5"]

[[gslb]]
name = "persist6.example.test"
ttl = 30
a = ["198.18.40.1", "198.18.40.2", "198.18.40.3", "198.18.40.4", "198.18.40.5", "198.18.40.6"]
aaaa = ["2001:db8:40::1", "2001:db8:40::2", "2001:db8:40::3", "2001:db8:40::4", "2001:db8:40::5", "2001:db8:40::6"]

[[gslb]]
name = "persist7.example.test"
ttl = 30
a = ["198.18.40.1", "198.18.40.2", "198.18.40.3", "198.18.40.4", "198.18.40.5", "198.18.40.6", "198.18.40.7"]
aaaa = ["2001:db8:40::1", "2001:db8:40::2", "2001:db8:40::3", "2001:db8:40::4", "2001:db8:40::5", "2001:db8:40::6", "2001:db8:40::7"]

[[gslb]]
name = "persist8.example.test"
ttl = 30
a = ["198.18.40.1", "198.18.40.2", "198.18.40.3", "198.18.40.4", "198.18.40.5", "198.18.40.6", "198.18.40.7", "198.18.40.8"]
aaaa = ["2001:db8:40::1", "2001:db8:40::2", "2001:db8:40::3", "2001:db8:40::4", "2001:db8:40::5", "2001:db8:40::6", "2001:db8:40::7", "2001:db8:40::8"]

[[gslb]]
name = "persistdown.example.test"
ttl = 30
a = ["198.18.42.1", "198.18.42.2", "198.18.42.3", "198.18.42.4"]
aaaa = ["2001:db8:42::1", "2001:db8:42::2", "2001:db8:42::3", "2001:db8:42::4"]

[[gslb]]
name = "alldown.example.test"
ttl = 5
a = ["198.18.41.1"]
aaaa = ["2001:db8:41::1"]

[[gslb]]
name = "sticky.example.test"
ttl = 30
a = ["198.18.43.1", "198.18.43.2", "198.18.43.3", "198.18.43.4"]
aaaa = ["2001:db8:43::1", "2001:db8:43::2", "2001:db8:43::3", "2001:db8:43::4"]

[[gslb]]
name = "answers-by-client-group.example.test"
ttl = 30
a = ["198.18.44.1", "198.18.44.2"]
"#,
        long = long_name(),
        l63 = L63,
        p253 = p253(),
        p191 = p191(),
        q236 = q236(),
        s230 = "t".repeat(230),
        s250 = "h".repeat(250),
    )
}

struct Fixture {
    ebpf: Ebpf,
    _maps: Maps,
    /// The state the maps were filled from: the slow path answers from it.
    state: State,
}

fn fixture() -> &'static Mutex<Fixture> {
    static F: OnceLock<Mutex<Fixture>> = OnceLock::new();
    F.get_or_init(|| {
        let cfg = config::parse(&test_config(), "test config").expect("test config parses");
        let state = State::from_config(&cfg);
        set_engine_decisions(&state);
        let mut ebpf = xdp::load_object_for(&state).expect("load object");
        let mut maps = Maps::new(&mut ebpf).expect("maps");
        maps.sync(&state).expect("sync maps");
        xdp::load_program(&mut ebpf, xdp::PROGRAM).expect("program passes the verifier");
        Mutex::new(Fixture {
            ebpf,
            _maps: maps,
            state,
        })
    })
}

/// Server ids of the `sticky` set's candidates: `STICKY_IDS + i`.
const STICKY_IDS: u16 = 100;
/// The `sticky` set's persistence TTL, seconds. Short enough that a
/// record past it can be written on a machine up for minutes only
/// (`CLOCK_MONOTONIC` starts at boot); its refresh step is TTL / 64, 2 s.
const STICKY_TTL: u32 = 128;

/// What the engine would decide for the names whose sets come from pools
/// (there is no engine here): `persistN` are static persist sets of N
/// servers (/24, /48), one answer each, all up; `persistdown` one of four
/// servers with up to three answers, the third server down; `alldown` has
/// every server down with `when_all_down = "nodata"`; `sticky` is round
/// robin over three servers with persistence ([`STICKY_TTL`], /24, /56) and a
/// fourth, draining server that keeps its persistent clients;
/// `answers-by-client-group` is an ordered set with server ids (an
/// `ANSWERS_V4` set, not inline).
fn set_engine_decisions(state: &State) {
    for g in &state.gslb {
        let name = g.name.to_ascii();
        if name == "alldown.example.test." {
            g.set(Decision::Nodata, Decision::Nodata);
            continue;
        }
        if name == "sticky.example.test." || name == "answers-by-client-group.example.test." {
            let sticky = name.starts_with("sticky");
            let with = |d: &Decision| {
                let Decision::Answer(set) = d else {
                    return d.clone();
                };
                let mut sel = set.sel;
                for i in 0..set.addrs.len() {
                    sel.ids[i] = STICKY_IDS + i as u16;
                }
                if sticky {
                    sel.mode = MODE_ROUND_ROBIN;
                    sel.count = 3;
                    sel.keep = 0b1111;
                    sel.sticky_ttl = STICKY_TTL;
                    sel.sticky_v4 = 24;
                    sel.sticky_v6 = 56;
                }
                Decision::Answer(AnswerSet::new(sel, set.addrs.clone()))
            };
            g.set(with(&g.a()), with(&g.aaaa()));
            continue;
        }
        let Some((n, max, down)) = name
            .strip_prefix("persist")
            .and_then(|r| r.strip_suffix(".example.test."))
            .and_then(|n| match n {
                "down" => Some((4, 3, 1 << 2)),
                _ => n.parse::<u8>().ok().map(|n| (n, 1, 0)),
            })
        else {
            continue;
        };
        let persist = |d: &Decision| {
            let Decision::Answer(set) = d else {
                panic!("{name}: fixed addresses expected");
            };
            let mut sel = set.sel;
            sel.mode = MODE_STATIC_PERSIST;
            sel.max = max;
            sel.up &= !down;
            sel.persist_v4 = 24;
            sel.persist_v6 = 48;
            for i in 0..usize::from(n) {
                sel.ids[i] = i as u16;
            }
            Decision::Answer(AnswerSet::new(sel, set.addrs.clone()))
        };
        g.set(persist(&g.a()), persist(&g.aaaa()));
    }
}

fn counters(ebpf: &Ebpf) -> Vec<u64> {
    let map: PerCpuArray<&MapData, u64> = ebpf.map("COUNTERS").unwrap().try_into().unwrap();
    gslb::fastpath::stats::read(&map)
        .unwrap()
        .into_iter()
        .map(|(_, v)| v)
        .collect()
}

/// Runs the program on `frame`; returns the verdict, the output frame and
/// the counter deltas.
fn run(frame: &[u8]) -> (u32, Vec<u8>, Vec<u64>) {
    let f = fixture().lock().unwrap_or_else(|e| e.into_inner());
    run_in(&f, frame)
}

/// [`run`] with the fixture already locked.
fn run_in(f: &Fixture, frame: &[u8]) -> (u32, Vec<u8>, Vec<u64>) {
    let before = counters(&f.ebpf);
    let (verdict, out) = test_run(&f.ebpf, frame);
    let after = counters(&f.ebpf);
    let delta = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    (verdict, out, delta)
}

/// One `BPF_PROG_TEST_RUN` of the program on `frame`: the verdict and the
/// output frame.
fn test_run(ebpf: &Ebpf, frame: &[u8]) -> (u32, Vec<u8>) {
    let prog: &Xdp = ebpf.program(xdp::PROGRAM).unwrap().try_into().unwrap();
    let mut out = vec![0u8; 4096];
    let r = prog
        .test_run(TestRunOptions {
            data_in: Some(frame),
            data_out: Some(&mut out),
            ..Default::default()
        })
        .expect("BPF_PROG_TEST_RUN");
    out.truncate(r.data_size_out as usize);
    (r.return_value, out)
}

/// Asserts the frame is answered with a positive answer; returns the output.
fn answered(frame: &[u8]) -> Vec<u8> {
    answered_as(frame, None)
}

/// The counters that sort [`Counter::Answered`] by kind.
const ANSWER_KINDS: [Counter; 3] = [
    Counter::AnsweredNxdomain,
    Counter::AnsweredNodata,
    Counter::AnsweredStatic,
];

/// Asserts the frame is answered, and counted in `negative` too when given
/// (one of [`ANSWER_KINDS`]; none moves otherwise); returns the output.
fn answered_as(frame: &[u8], negative: Option<Counter>) -> Vec<u8> {
    let (verdict, out, delta) = run(frame);
    assert_eq!(verdict, XDP_TX, "expected XDP_TX; counters {delta:?}");
    assert_eq!(delta[Counter::Answered as usize], 1);
    assert_eq!(delta[Counter::Packets as usize], 1);
    assert_eq!(delta[Counter::DnsQueries as usize], 1);
    for c in ANSWER_KINDS {
        assert_eq!(
            delta[c as usize],
            u64::from(negative == Some(c)),
            "{c:?} (want it moved: {}); deltas {delta:?}",
            negative == Some(c)
        );
    }
    // Exactly one verdict: no pass reason moved.
    let verdicts: u64 = Counter::ALL
        .iter()
        .filter(|c| !matches!(c, Counter::Packets | Counter::DnsQueries))
        .filter(|c| !ANSWER_KINDS.contains(c))
        .map(|&c| delta[c as usize])
        .sum();
    assert_eq!(verdicts, 1, "one verdict counter; deltas {delta:?}");
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
    for c in ANSWER_KINDS {
        assert_eq!(delta[c as usize], 0, "{c:?}");
    }
}

/// The slow path's response to `query_dns` arriving in `frame` (from the
/// frame's client address, over UDP), parsed.
fn slow_path(frame: &Frame, query_dns: &[u8]) -> Message {
    let client: IpAddr = if frame.v6 {
        CLIENT_V6.into()
    } else {
        CLIENT_V4.into()
    };
    let f = fixture().lock().unwrap_or_else(|e| e.into_inner());
    let bytes =
        respond(&f.state, query_dns, Transport::Udp, Some(client)).expect("the slow path answers");
    Message::from_vec(&bytes).expect("slow-path response parses")
}

/// The slow path's response bytes to `query_dns` arriving in `frame` (from
/// the frame's client address, over UDP).
fn slow_bytes(frame: &Frame, query_dns: &[u8]) -> Vec<u8> {
    let f = fixture().lock().unwrap_or_else(|e| e.into_inner());
    respond(&f.state, query_dns, Transport::Udp, Some(frame.client_ip()))
        .expect("the slow path answers")
}

/// A record as compared between the paths: owner (case-insensitive), TTL,
/// class, type, RDATA.
type RecordView = (String, u32, DNSClass, RecordType, RData);

fn record_view(r: &Record) -> RecordView {
    (
        r.name.to_lowercase().to_ascii(),
        r.ttl,
        r.dns_class,
        r.record_type(),
        r.data.clone(),
    )
}

/// What must be equal between the fast and the slow path's responses.
#[derive(Debug, PartialEq)]
struct View {
    /// Id, QR, opcode, AA, TC, RD, RA, AD, CD, RCODE.
    header: hickory_proto::op::Metadata,
    /// The question as sent (case kept by both).
    question: Vec<(String, RecordType, DNSClass)>,
    answers: Vec<RecordView>,
    authorities: Vec<RecordView>,
    additionals: Vec<RecordView>,
    /// OPT: payload size, version, DO, extended RCODE bits, option count.
    edns: Option<(u16, u8, bool, u8, usize)>,
}

fn view(m: &Message) -> View {
    View {
        header: m.metadata,
        question: m
            .queries
            .iter()
            .map(|q| (q.name().to_ascii(), q.query_type(), q.query_class()))
            .collect(),
        answers: m.answers.iter().map(record_view).collect(),
        authorities: m.authorities.iter().map(record_view).collect(),
        additionals: m.additionals.iter().map(record_view).collect(),
        edns: m.edns.as_ref().map(|e| {
            (
                e.max_payload(),
                e.version(),
                e.flags().dnssec_ok,
                e.rcode_high(),
                e.options().as_ref().len(),
            )
        }),
    }
}

/// Asserts that the XDP reply `xdp` to `query_dns` (sent in `frame`) says
/// exactly what the slow path says to the same query: header flags and
/// RCODE, question, every section record by record (TTL and RDATA
/// included; names compared case-insensitively), EDNS and its DO bit.
fn same_as_slow_path(frame: &Frame, query_dns: &[u8], xdp: &Message) {
    let slow = slow_path(frame, query_dns);
    let (x, s) = (view(xdp), view(&slow));
    assert_eq!(
        x, s,
        "XDP and the slow path differ for {:?}\n--- XDP ---\n{xdp}\n--- slow path ---\n{slow}",
        xdp.queries
    );
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
    push_opt(&mut d, opt_do);
    d
}

/// Appends the OPT record of our responses when the query had one: root
/// owner, payload 1232, version 0, DO as asked, no options.
fn push_opt(d: &mut Vec<u8>, opt_do: Option<bool>) {
    if let Some(dnssec_ok) = opt_do {
        d.extend([0, 0, 41]);
        d.extend(1232u16.to_be_bytes());
        d.extend([0, 0]);
        d.extend(if dnssec_ok { [0x80, 0] } else { [0, 0] });
        d.extend([0, 0]);
    }
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
    same_as_slow_path(frame, dns, m);
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

/// `dns` with QTYPE replaced by the raw code `qtype`.
fn with_qtype(mut dns: Vec<u8>, qtype: u16) -> Vec<u8> {
    let at = q_end(&dns) - 4;
    dns[at..at + 2].copy_from_slice(&qtype.to_be_bytes());
    dns
}

/// `dns` with QCLASS replaced by `qclass`.
fn with_qclass(mut dns: Vec<u8>, qclass: u16) -> Vec<u8> {
    let at = q_end(&dns) - 2;
    dns[at..at + 2].copy_from_slice(&qclass.to_be_bytes());
    dns
}

#[test]
fn pass_class_and_type() {
    // Classes other than IN (CH, NONE, ANY), also where IN would get a
    // positive answer, an NXDOMAIN or a NODATA: the slow path refuses them.
    for (name, rtype) in [
        ("www.example.test.", RecordType::A),
        ("nx.example.test.", RecordType::A),
        ("v4only.example.test.", RecordType::MX),
    ] {
        for class in [3, 254, 255] {
            let d = with_qclass(dns_bytes(name, rtype, None), class);
            passed(&Frame::default().build(&d), Counter::PassClass);
        }
    }
    // Meta and query types (0, OPT, 128..=255: TSIG, IXFR, AXFR, MAILB,
    // MAILA, ANY): at a gslb name, at a missing name (not NXDOMAIN), at an
    // empty non-terminal (not NODATA).
    for name in [
        "www.example.test.",
        "v4only.example.test.",
        "nx.example.test.",
        "ent.example.test.",
    ] {
        for qtype in [0, 41, 128, 250, 251, 252, 253, 254, 255] {
            let d = with_qtype(dns_bytes(name, RecordType::A, None), qtype);
            passed(&Frame::default().build(&d), Counter::PassType);
        }
    }
    // Names whose static data the fast path does not answer (a CNAME
    // owner, a zone cut, glue, a zone without fast negatives): every type
    // but A and AAAA.
    for (name, rtype) in [
        ("app.example.test.", RecordType::TXT),
        ("app.example.test.", RecordType::CNAME),
        ("sub.example.test.", RecordType::MX),
        ("sub.example.test.", RecordType::DS),
        ("ns.sub.example.test.", RecordType::TXT),
        ("www.bigsoa.test.", RecordType::TXT),
        ("bigsoa.test.", RecordType::SOA),
    ] {
        passed(
            &Frame::default().build(&dns_bytes(name, rtype, None)),
            Counter::PassType,
        );
    }
    // Why they must be passed: the slow path has data or a referral there.
    let f = Frame::default();
    let app = slow_path(&f, &dns_bytes("app.example.test.", RecordType::TXT, None));
    assert_eq!(app.answers[0].record_type(), RecordType::CNAME, "{app}");
    let sub = slow_path(&f, &dns_bytes("sub.example.test.", RecordType::MX, None));
    assert!(!sub.metadata.authoritative, "referral: {sub}");
    assert_eq!(sub.authorities[0].record_type(), RecordType::NS, "{sub}");
}

#[test]
fn pass_unknown_name_and_missing_set() {
    // Not in the maps, and the parent is not either or allows no NXDOMAIN:
    // outside every zone, two labels below an existing name, below a zone
    // cut, the root and a TLD, a zone whose SOA is too long for the maps.
    for name in [
        "www.example.org.",
        "www.example.test.x.",
        "example.test.x.",
        "test.",
        ".",
        "a.nope.example.test.",
        "a.b.www.example.test.",
        "x.sub.example.test.",
        "a.b.sub.example.test.",
        "x.ns.sub.example.test.",
        "nx.bigsoa.test.",
    ] {
        for rtype in [RecordType::A, RecordType::MX] {
            passed(
                &Frame::default().build(&dns_bytes(name, rtype, None)),
                Counter::PassNameNotFound,
            );
        }
    }
    // In the maps without an A/AAAA set and with static data the fast path
    // does not answer (CNAME, zone cut, glue), or in a zone without fast
    // negatives.
    for (name, rtype) in [
        ("app.example.test.", RecordType::A),
        ("sub.example.test.", RecordType::A),
        ("ns.sub.example.test.", RecordType::A),
        ("ns.sub.example.test.", RecordType::AAAA),
        ("www.bigsoa.test.", RecordType::AAAA),
    ] {
        passed(
            &Frame::default().build(&dns_bytes(name, rtype, None)),
            Counter::PassNoAnswer,
        );
    }
    // Why: the slow path refers below the cut (AA clear, NOERROR) and
    // chases the CNAME.
    let f = Frame::default();
    let below = slow_path(&f, &dns_bytes("x.sub.example.test.", RecordType::A, None));
    assert_eq!(
        below.metadata.response_code,
        ResponseCode::NoError,
        "{below}"
    );
    assert!(!below.metadata.authoritative, "referral: {below}");
    let app = slow_path(&f, &dns_bytes("app.example.test.", RecordType::A, None));
    assert_eq!(app.answers.len(), 3, "CNAME + www's two A: {app}");
    let nx = slow_path(&f, &dns_bytes("nx.bigsoa.test.", RecordType::A, None));
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain, "{nx}");
}

#[test]
fn pass_too_big_query() {
    let d = with_opt(www_query(), 1232, 0, 0, &[(12, vec![0; 520])]);
    passed(&Frame::default().build(&d), Counter::PassTooBig);
}

// ---- negative answers (RFC 2308) -----------------------------------------

const NXDOMAIN: u16 = 3;
const NODATA: u16 = 0;

/// A zone's SOA as written in [`test_config`], to build the expected
/// negative answers independently of the daemon's code.
struct Soa {
    apex: &'static str,
    ttl: u32,
    mname: String,
    rname: String,
    serial: u32,
    refresh: u32,
    retry: u32,
    expire: u32,
    minimum: u32,
}

fn example_soa() -> Soa {
    Soa {
        apex: "example.test.",
        ttl: 3600,
        mname: "ns1.example.test.".into(),
        rname: "hostmaster.example.test.".into(),
        serial: 1,
        refresh: 3600,
        retry: 600,
        expire: 86400,
        minimum: 60,
    }
}

fn inner_soa() -> Soa {
    Soa {
        apex: "inner.example.test.",
        ttl: 100,
        mname: "ns1.example.net.".into(),
        rname: "h.example.net.".into(),
        serial: 5,
        refresh: 1,
        retry: 2,
        expire: 3,
        minimum: 50,
    }
}

fn other_soa() -> Soa {
    Soa {
        apex: "other.test.",
        ttl: 20,
        mname: "ns.example.net.".into(),
        rname: "dns.example.net.".into(),
        serial: 2026112201,
        refresh: 7200,
        retry: 3600,
        expire: 1209600,
        minimum: 600,
    }
}

fn big_soa() -> Soa {
    Soa {
        apex: "big.test.",
        ttl: 900,
        mname: format!("{L63}.{L63}.big.test."),
        rname: format!("{L63}.hostmastr.big.test."),
        serial: u32::MAX,
        refresh: 1,
        retry: 1,
        expire: 1,
        minimum: 4000,
    }
}

/// Uncompressed wire form of a dotted name (no escapes).
fn wire(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend(label.as_bytes());
    }
    out.push(0);
    out
}

impl Soa {
    /// The SOA of a NODATA answer at a gslb name of TTL `name_ttl`: its
    /// TTL is at most the name's.
    fn capped(mut self, name_ttl: u32) -> Soa {
        self.ttl = self.ttl.min(name_ttl);
        self
    }

    /// The SOA record after its owner: type, class IN, TTL = min(TTL,
    /// MINIMUM) (RFC 2308 §3), RDLENGTH, RDATA with uncompressed names.
    fn tail(&self) -> Vec<u8> {
        let mut rdata = wire(&self.mname);
        rdata.extend(wire(&self.rname));
        for v in [
            self.serial,
            self.refresh,
            self.retry,
            self.expire,
            self.minimum,
        ] {
            rdata.extend(v.to_be_bytes());
        }
        let mut t = Vec::new();
        t.extend(6u16.to_be_bytes());
        t.extend(1u16.to_be_bytes());
        t.extend(self.ttl.min(self.minimum).to_be_bytes());
        t.extend((rdata.len() as u16).to_be_bytes());
        t.extend(rdata);
        t
    }
}

/// The negative reply the fast path must produce: flags QR|AA, RD/CD
/// copied, `rcode`; no answer, one authority record (the SOA, its owner a
/// pointer to the apex at the end of the question), OPT when asked.
fn expected_negative(query_dns: &[u8], rcode: u16, soa: &Soa, opt_do: Option<bool>) -> Vec<u8> {
    let q_end = q_end(query_dns);
    let mut d = query_dns[..q_end].to_vec();
    let rd_cd = u16::from_be_bytes([d[2], d[3]]) & 0x0110;
    d[2..4].copy_from_slice(&(0x8400 | rd_cd | rcode).to_be_bytes());
    d[6..8].copy_from_slice(&[0, 0]);
    d[8..10].copy_from_slice(&[0, 1]);
    d[10..12].copy_from_slice(&u16::from(opt_do.is_some()).to_be_bytes());
    let apex_at = q_end - 4 - wire(soa.apex).len();
    assert!(apex_at >= 12);
    d.extend((0xc000 | apex_at as u16).to_be_bytes());
    d.extend(soa.tail());
    push_opt(&mut d, opt_do);
    d
}

/// Asserts that XDP answers `dns` in `frame` with the negative answer
/// `rcode` carrying `soa`: exact bytes, counters, the hickory view, and
/// the same answer as the slow path.
fn check_negative(frame: &Frame, dns: &[u8], rcode: u16, soa: &Soa, opt_do: Option<bool>) {
    let counter = if rcode == NXDOMAIN {
        Counter::AnsweredNxdomain
    } else {
        Counter::AnsweredNodata
    };
    let out = answered_as(&frame.build(dns), Some(counter));
    let want = frame.build_reply(&expected_negative(dns, rcode, soa, opt_do));
    assert_eq!(out, want, "exact reply bytes");
    let r = parse_reply(frame, &out);
    assert_eq!((r.sport, r.dport), (53, CLIENT_PORT));
    if frame.v6 {
        assert_eq!((r.src, r.dst), (SERVER_V6.into(), CLIENT_V6.into()));
    } else {
        assert_eq!((r.src, r.dst), (SERVER_V4.into(), CLIENT_V4.into()));
    }
    let m = &r.msg;
    assert_eq!(m.metadata.id, 0x4242);
    assert!(m.metadata.authoritative);
    let want_rcode = if rcode == NXDOMAIN {
        ResponseCode::NXDomain
    } else {
        ResponseCode::NoError
    };
    assert_eq!(m.metadata.response_code, want_rcode);
    assert!(m.answers.is_empty(), "no answers");
    assert!(m.additionals.is_empty(), "no additional records");
    assert_eq!(m.authorities.len(), 1, "one authority record");
    let soa_rr = &m.authorities[0];
    assert_eq!(soa_rr.record_type(), RecordType::SOA);
    assert_eq!(soa_rr.ttl, soa.ttl.min(soa.minimum));
    // The owner points into the question: the apex spelled as the client
    // spelled it.
    let apex_labels = Name::from_ascii(soa.apex).unwrap().num_labels();
    let qname = m.queries[0].name();
    assert!(
        soa_rr
            .name
            .eq_case(&qname.trim_to(usize::from(apex_labels))),
        "SOA owner {} keeps the case of the question {qname}",
        soa_rr.name
    );
    assert_eq!(m.edns.as_ref().map(|e| e.flags().dnssec_ok), opt_do);
    same_as_slow_path(frame, dns, m);
    // Byte for byte: the SOA owner in the question's case, its RDATA
    // uncompressed, in both paths.
    assert_eq!(
        slow_bytes(frame, dns),
        r.dns,
        "the slow path's bytes are the fast path's"
    );
}

/// `dns` with an OPT record (payload 1232, version 0, DO as given).
fn edns(dns: Vec<u8>, dnssec_ok: bool) -> Vec<u8> {
    with_opt(dns, 1232, 0, if dnssec_ok { 0x8000 } else { 0 }, &[])
}

fn v6_frame() -> Frame {
    Frame {
        v6: true,
        ..Default::default()
    }
}

#[test]
fn nxdomain_child_of_the_apex() {
    let soa = example_soa();
    for t in [
        RecordType::A,
        RecordType::AAAA,
        RecordType::MX,
        RecordType::TXT,
        RecordType::NS,
        RecordType::SOA,
        RecordType::CNAME,
        RecordType::SRV,
        RecordType::CAA,
        RecordType::PTR,
        RecordType::DS,
    ] {
        let dns = dns_bytes("nx.example.test.", t, None);
        check_negative(&Frame::default(), &dns, NXDOMAIN, &soa, None);
    }
    // Unassigned and private-use types are data types too.
    for code in [999, 65280, 65535] {
        let dns = with_qtype(dns_bytes("nope.example.test.", RecordType::A, None), code);
        check_negative(&Frame::default(), &dns, NXDOMAIN, &soa, None);
    }
}

#[test]
fn nxdomain_child_of_a_gslb_name() {
    let soa = example_soa();
    let f = Frame::default();
    check_negative(
        &f,
        &dns_bytes("nx.www.example.test.", RecordType::A, None),
        NXDOMAIN,
        &soa,
        None,
    );
    check_negative(
        &f,
        &edns(
            dns_bytes("nx.www.example.test.", RecordType::AAAA, None),
            true,
        ),
        NXDOMAIN,
        &soa,
        Some(true),
    );
    check_negative(
        &f,
        &edns(
            dns_bytes("a.v4only.example.test.", RecordType::TXT, None),
            false,
        ),
        NXDOMAIN,
        &soa,
        Some(false),
    );
    check_negative(
        &f,
        &dns_bytes(&format!("{L63}.www.example.test."), RecordType::A, None),
        NXDOMAIN,
        &soa,
        None,
    );
}

#[test]
fn nxdomain_child_of_an_empty_non_terminal() {
    let soa = example_soa();
    for t in [RecordType::A, RecordType::AAAA, RecordType::TXT] {
        let dns = dns_bytes("nx.ent.example.test.", t, None);
        check_negative(&Frame::default(), &dns, NXDOMAIN, &soa, None);
        check_negative(
            &v6_frame(),
            &edns(dns.clone(), true),
            NXDOMAIN,
            &soa,
            Some(true),
        );
    }
}

#[test]
fn nxdomain_child_of_names_with_static_data() {
    let soa = example_soa();
    for name in [
        "nx.mail.example.test.",
        // The children of a CNAME owner do not exist either.
        "x.app.example.test.",
        "x.host.ent.example.test.",
        "x.example.test.",
    ] {
        let dns = dns_bytes(name, RecordType::A, None);
        check_negative(&Frame::default(), &dns, NXDOMAIN, &soa, None);
    }
}

#[test]
fn negatives_with_edns_copy_do_and_drop_options() {
    let cookie = (10u16, vec![1, 2, 3, 4, 5, 6, 7, 8]);
    let padding = (12u16, vec![0; 40]);
    for (name, rtype, rcode, soa) in [
        ("nx.example.test.", RecordType::A, NXDOMAIN, example_soa()),
        (
            "www.example.test.",
            RecordType::MX,
            NODATA,
            example_soa().capped(30),
        ),
    ] {
        for f in [Frame::default(), v6_frame()] {
            let q = dns_bytes(name, rtype, None);
            check_negative(&f, &q, rcode, &soa, None);
            check_negative(&f, &edns(q.clone(), false), rcode, &soa, Some(false));
            check_negative(&f, &edns(q.clone(), true), rcode, &soa, Some(true));
            // COOKIE and padding are ignored and not echoed.
            let d = with_opt(
                q.clone(),
                4096,
                0,
                0x8000,
                &[cookie.clone(), padding.clone()],
            );
            check_negative(&f, &d, rcode, &soa, Some(true));
            // A payload size below 512 counts as 512.
            let d = with_opt(q.clone(), 100, 0, 0, &[]);
            check_negative(&f, &d, rcode, &soa, Some(false));
        }
    }
}

#[test]
fn negatives_over_ipv6_vlans_and_ip_options() {
    let qinq = Frame {
        vlans: vec![(0x88a8, 7), (0x8100, 42)],
        v6: true,
        ..Default::default()
    };
    let opts = Frame {
        ip_options: vec![1, 1, 1, 0],
        vlans: vec![(0x8100, 5)],
        ..Default::default()
    };
    let padded = Frame {
        trailer: vec![0; 24],
        ..Default::default()
    };
    for f in [v6_frame(), qinq, opts, padded] {
        for (name, rtype, rcode, soa) in [
            (
                "nx.example.test.",
                RecordType::AAAA,
                NXDOMAIN,
                example_soa(),
            ),
            (
                "v4only.example.test.",
                RecordType::AAAA,
                NODATA,
                example_soa().capped(45),
            ),
            ("ent.example.test.", RecordType::A, NODATA, example_soa()),
        ] {
            check_negative(&f, &dns_bytes(name, rtype, None), rcode, &soa, None);
        }
    }
}

#[test]
fn negatives_keep_the_question_case() {
    for (name, rtype, rcode, apex) in [
        ("Nx.ExAmPlE.TeSt.", RecordType::A, NXDOMAIN, "ExAmPlE.TeSt."),
        (
            "nX.wWw.EXAMPLE.test.",
            RecordType::AAAA,
            NXDOMAIN,
            "EXAMPLE.test.",
        ),
        ("WwW.ExAmPlE.TeSt.", RecordType::MX, NODATA, "ExAmPlE.TeSt."),
        (
            "ENT.example.TEST.",
            RecordType::TXT,
            NODATA,
            "example.TEST.",
        ),
    ] {
        let dns = dns_bytes(name, rtype, None);
        // The gslb name's NODATA: at most its TTL.
        let soa = if name.starts_with("WwW") {
            example_soa().capped(30)
        } else {
            example_soa()
        };
        check_negative(&Frame::default(), &dns, rcode, &soa, None);
        let out = answered_as(
            &Frame::default().build(&dns),
            Some(if rcode == NXDOMAIN {
                Counter::AnsweredNxdomain
            } else {
                Counter::AnsweredNodata
            }),
        );
        let r = parse_reply(&Frame::default(), &out);
        assert_eq!(r.msg.queries[0].name().to_ascii(), name);
        assert_eq!(r.msg.authorities[0].name.to_ascii(), apex);
    }
}

#[test]
fn negatives_copy_rd_and_cd() {
    for (name, rtype, rcode, soa) in [
        ("nx.example.test.", RecordType::A, NXDOMAIN, example_soa()),
        (
            "v4only.example.test.",
            RecordType::TXT,
            NODATA,
            example_soa().capped(45),
        ),
    ] {
        let mut dns = dns_bytes(name, rtype, None);
        dns[2] &= !0x01; // RD off
        check_negative(&Frame::default(), &dns, rcode, &soa, None);
        dns[3] |= 0x10; // CD on
        check_negative(&Frame::default(), &dns, rcode, &soa, None);
        dns[2] |= 0x01; // RD on again
        check_negative(&Frame::default(), &dns, rcode, &soa, None);
    }
}

#[test]
fn nxdomain_in_every_name_size_class() {
    let soa = example_soa();
    for name in [
        // Name and parent in the 32-byte class.
        "nx.example.test.".to_string(),
        // Name in the 64-byte class, parent in the 32-byte class.
        format!("{}.example.test.", &L63[..40]),
        // Both in the 128-byte class.
        format!("x.{L63}.example.test."),
        // Both in the 256-byte class.
        format!("{L63}.{L63}.{L63}.example.test."),
        // 255 bytes: the longest parent (253 bytes) ...
        format!("x.{}.", p253()),
        // ... and the longest first label.
        format!("{L63}.{}.", p191()),
    ] {
        let dns = dns_bytes(&name, RecordType::A, None);
        check_negative(&Frame::default(), &dns, NXDOMAIN, &soa, None);
        check_negative(
            &v6_frame(),
            &edns(dns_bytes(&name.to_uppercase(), RecordType::TXT, None), true),
            NXDOMAIN,
            &soa,
            Some(true),
        );
    }
    assert_eq!(
        q_end(&dns_bytes(&format!("x.{}.", p253()), RecordType::A, None)) - 16,
        255
    );
    assert_eq!(
        q_end(&dns_bytes(
            &format!("{L63}.{}.", p191()),
            RecordType::A,
            None
        )) - 16,
        255
    );
}

#[test]
fn nodata_at_a_v4_only_gslb_name() {
    // The SOA's TTL is at most the name's (45).
    let soa = example_soa().capped(45);
    for t in [
        RecordType::AAAA,
        RecordType::MX,
        RecordType::TXT,
        RecordType::SOA,
        RecordType::NS,
        RecordType::CNAME,
        RecordType::SRV,
        RecordType::CAA,
        RecordType::PTR,
    ] {
        let dns = dns_bytes("v4only.example.test.", t, None);
        check_negative(&Frame::default(), &dns, NODATA, &soa, None);
        check_negative(&v6_frame(), &edns(dns, true), NODATA, &soa, Some(true));
    }
    let dns = with_qtype(
        dns_bytes("v4only.example.test.", RecordType::A, None),
        65280,
    );
    check_negative(&Frame::default(), &dns, NODATA, &soa, None);
    // Its A answers are still positive.
    check_exact(
        &Frame::default(),
        &dns_bytes("v4only.example.test.", RecordType::A, None),
        1,
        45,
        &[v4("198.18.1.1")],
        None,
    );
}

#[test]
fn nodata_at_a_gslb_name_for_other_types() {
    // The SOA's TTL is at most the name's (30).
    let soa = example_soa().capped(30);
    for t in [
        RecordType::MX,
        RecordType::TXT,
        RecordType::SOA,
        RecordType::CAA,
    ] {
        let dns = dns_bytes("www.example.test.", t, None);
        check_negative(&Frame::default(), &dns, NODATA, &soa, None);
        check_negative(
            &Frame::default(),
            &edns(dns, false),
            NODATA,
            &soa,
            Some(false),
        );
    }
    // A gslb name of the 256-byte class (TTL 300: the SOA's 60 stays).
    let dns = dns_bytes(&format!("{}.", long_name()), RecordType::TXT, None);
    check_negative(&Frame::default(), &dns, NODATA, &example_soa(), None);
}

#[test]
fn nodata_at_an_empty_non_terminal() {
    let soa = example_soa();
    for t in [
        RecordType::A,
        RecordType::AAAA,
        RecordType::TXT,
        RecordType::MX,
        RecordType::NS,
        RecordType::SOA,
    ] {
        let dns = dns_bytes("ent.example.test.", t, None);
        check_negative(&Frame::default(), &dns, NODATA, &soa, None);
        check_negative(&v6_frame(), &edns(dns, true), NODATA, &soa, Some(true));
    }
    // The parent of the 255-byte gslb name (256-byte class), and its
    // parent.
    let long = long_name();
    let parent = long.split_once('.').unwrap().1;
    let grandparent = parent.split_once('.').unwrap().1;
    for name in [parent, grandparent] {
        let dns = dns_bytes(&format!("{name}."), RecordType::A, None);
        check_negative(&Frame::default(), &dns, NODATA, &soa, None);
    }
}

#[test]
fn negatives_carry_the_soa_of_the_closest_zone() {
    // A zone inside example.test (no delegation in the parent):
    // TTL = MINIMUM 50 < 100.
    let inner = inner_soa();
    let f = Frame::default();
    check_negative(
        &f,
        &dns_bytes("nx.inner.example.test.", RecordType::A, None),
        NXDOMAIN,
        &inner,
        None,
    );
    check_negative(
        &f,
        &dns_bytes("nx.www.inner.example.test.", RecordType::A, None),
        NXDOMAIN,
        &inner,
        None,
    );
    check_negative(
        &f,
        &dns_bytes("www.inner.example.test.", RecordType::MX, None),
        NODATA,
        &inner,
        None,
    );
    // A second top-level zone (zone id 2): TTL = SOA TTL 20 < MINIMUM 600.
    let other = other_soa();
    check_negative(
        &f,
        &dns_bytes("nx.other.test.", RecordType::A, None),
        NXDOMAIN,
        &other,
        None,
    );
    check_negative(
        &v6_frame(),
        &edns(dns_bytes("v6only.other.test.", RecordType::A, None), true),
        NODATA,
        &other,
        Some(true),
    );
    check_negative(
        &f,
        &dns_bytes("x.v6only.other.test.", RecordType::AAAA, None),
        NXDOMAIN,
        &other,
        None,
    );
    // The ENT between the two zones' names: NXDOMAIN of the outer zone.
    check_negative(
        &f,
        &dns_bytes("nx.ent.example.test.", RecordType::A, None),
        NXDOMAIN,
        &example_soa(),
        None,
    );
}

#[test]
fn negatives_up_to_508_bytes_with_the_longest_soa() {
    let soa = big_soa();
    assert_eq!(soa.tail().len(), 252, "the longest SOA tail the maps hold");
    // NODATA at the gslb names (TTL 60).
    let capped = big_soa().capped(60);
    let f = Frame::default();
    check_negative(
        &f,
        &dns_bytes("www.big.test.", RecordType::TXT, None),
        NODATA,
        &capped,
        None,
    );
    check_negative(
        &v6_frame(),
        &edns(dns_bytes("www.big.test.", RecordType::TXT, None), true),
        NODATA,
        &capped,
        Some(true),
    );
    check_negative(
        &f,
        &dns_bytes("nx.big.test.", RecordType::A, None),
        NXDOMAIN,
        &soa,
        None,
    );
    // 236 + 4 + 12 + 2 + 252 = 506 bytes.
    let q = format!("{}.", q236());
    check_negative(
        &f,
        &dns_bytes(&q, RecordType::TXT, None),
        NODATA,
        &capped,
        None,
    );
    // 508 bytes: the largest response the program sends.
    let dns = dns_bytes(&format!("x.{q}"), RecordType::A, None);
    assert_eq!(expected_negative(&dns, NXDOMAIN, &soa, None).len(), 508);
    check_negative(&f, &dns, NXDOMAIN, &soa, None);
    // One byte more, or an OPT: passed (over 508 bytes); the slow path
    // answers, within the client's 512 bytes or its EDNS size.
    for dns in [
        dns_bytes(&format!("xx.{q}"), RecordType::A, None),
        edns(dns_bytes(&format!("x.{q}"), RecordType::A, None), false),
        edns(dns_bytes(&q, RecordType::TXT, None), false),
    ] {
        passed(&f.build(&dns), Counter::PassTooBig);
        let slow = slow_path(&f, &dns);
        assert!(!slow.metadata.truncation, "{slow}");
        assert_eq!(slow.authorities.len(), 1, "{slow}");
    }
}

/// A query for the name made of raw `labels` (then the root), type
/// `qtype`, class IN, RD set, id 0x4242.
fn raw_query(labels: &[&[u8]], qtype: u16) -> Vec<u8> {
    let mut d = dns_bytes(".", RecordType::A, None)[..12].to_vec();
    for l in labels {
        d.push(l.len() as u8);
        d.extend(*l);
    }
    d.push(0);
    d.extend(qtype.to_be_bytes());
    d.extend(1u16.to_be_bytes());
    d
}

#[test]
fn negatives_fold_only_ascii_letters() {
    let soa = example_soa();
    let f = Frame::default();
    // Only A-Z fold to a-z. A byte 0x20 below '-' or a digit, '_' + 0x20,
    // the neighbours of the letters ('@', '[', '`', '{') and non-ASCII
    // bytes make other names: not the empty non-terminals `zone-9`,
    // `_udp`, `ent` or the name `web-01.zone-9`, but their missing
    // siblings.
    for labels in [
        &[b"zone\x0d9" as &[u8], b"example", b"test"] as &[&[u8]],
        &[b"zone-\x19", b"example", b"test"],
        &[b"\x7fudp", b"example", b"test"],
        &[b"@ent", b"example", b"test"],
        &[b"`ent", b"example", b"test"],
        &[b"[ent", b"example", b"test"],
        &[b"{ent", b"example", b"test"],
        &[b"en\xd4", b"example", b"test"],
        &[b"\xc5nt", b"example", b"test"],
        &[b"web-\x10\x11", b"zone-9", b"example", b"test"],
    ] {
        for qtype in [1, 16] {
            check_negative(&f, &raw_query(labels, qtype), NXDOMAIN, &soa, None);
        }
    }
    // Letters fold: NODATA at the empty non-terminals, NXDOMAIN below them,
    // passed where there is static data.
    for name in ["_UDP.example.test.", "ZONE-9.Example.Test."] {
        check_negative(
            &f,
            &dns_bytes(name, RecordType::TXT, None),
            NODATA,
            &soa,
            None,
        );
    }
    check_negative(
        &f,
        &dns_bytes("_X._UDP.example.test.", RecordType::A, None),
        NXDOMAIN,
        &soa,
        None,
    );
    // Names with static data the fast path answers: NODATA for the
    // types they lack.
    for (name, rtype) in [
        ("_SIP._UDP.example.test.", RecordType::TXT),
        ("WEB-01.ZONE-9.example.test.", RecordType::A),
    ] {
        check_negative(&f, &dns_bytes(name, rtype, None), NODATA, &soa, None);
    }
}

/// Asserts that XDP answers `dns` (sent in `frame`) from its static
/// answers: counted in [`Counter::AnsweredStatic`], from the server to the
/// client, the same as the slow path's response record by record, and with
/// names spelled exactly as the slow path spells them (owners as asked,
/// names in RDATA as in the zone).
fn check_static(frame: &Frame, dns: &[u8]) -> Message {
    let out = answered_as(&frame.build(dns), Some(Counter::AnsweredStatic));
    let r = parse_reply(frame, &out);
    assert_eq!((r.sport, r.dport), (53, CLIENT_PORT));
    if frame.v6 {
        assert_eq!((r.src, r.dst), (SERVER_V6.into(), CLIENT_V6.into()));
    } else {
        assert_eq!((r.src, r.dst), (SERVER_V4.into(), CLIENT_V4.into()));
    }
    let m = r.msg;
    assert_eq!(m.metadata.id, 0x4242);
    assert!(m.metadata.authoritative);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(!m.answers.is_empty());
    same_as_slow_path(frame, dns, &m);
    let slow = slow_path(frame, dns);
    let text = |rs: &[Record]| rs.iter().map(ToString::to_string).collect::<Vec<_>>();
    assert_eq!(text(&m.answers), text(&slow.answers), "spelling");
    assert_eq!(text(&m.additionals), text(&slow.additionals), "spelling");
    let qname = m.queries[0].name();
    for a in &m.answers {
        assert!(a.name.eq_case(qname), "owner {} spelled as asked", a.name);
    }
    m
}

#[test]
fn static_rrsets_answered_as_the_slow_path_does() {
    let v4 = Frame::default();
    let v6 = v6_frame();
    for (name, rtype, answers, additionals) in [
        ("example.test.", RecordType::SOA, 1, 0),
        ("example.test.", RecordType::NS, 1, 0),
        // The MX target's address in the additional section.
        ("example.test.", RecordType::MX, 1, 1),
        ("_sip._udp.example.test.", RecordType::SRV, 1, 1),
        ("mail.example.test.", RecordType::A, 1, 0),
        ("host.ent.example.test.", RecordType::TXT, 1, 0),
        ("web-01.zone-9.example.test.", RecordType::TXT, 1, 0),
        ("inner.example.test.", RecordType::SOA, 1, 0),
        ("other.test.", RecordType::NS, 1, 0),
        ("tall.example.test.", RecordType::TXT, 1, 0),
    ] {
        for frame in [&v4, &v6] {
            let plain = dns_bytes(name, rtype, None);
            let m = check_static(frame, &plain);
            assert_eq!(
                (m.answers.len(), m.additionals.len()),
                (answers, additionals)
            );
            assert!(m.edns.is_none(), "no OPT unless asked");
            for dnssec_ok in [false, true] {
                let m = check_static(frame, &edns(plain.clone(), dnssec_ok));
                assert_eq!(m.edns.map(|e| e.flags().dnssec_ok), Some(dnssec_ok));
            }
            check_static(frame, &dns_bytes(&name.to_uppercase(), rtype, None));
        }
    }
}

#[test]
fn nodata_at_names_with_static_data() {
    let f = Frame::default();
    for (name, rtype) in [
        ("example.test.", RecordType::A),
        ("example.test.", RecordType::AAAA),
        ("example.test.", RecordType::TXT),
        ("example.test.", RecordType::CAA),
        ("mail.example.test.", RecordType::AAAA),
        ("mail.example.test.", RecordType::MX),
        ("Host.Ent.example.test.", RecordType::A),
    ] {
        check_negative(
            &f,
            &dns_bytes(name, rtype, None),
            NODATA,
            &example_soa(),
            None,
        );
    }
    check_negative(
        &v6_frame(),
        &edns(
            dns_bytes("inner.example.test.", RecordType::TXT, None),
            true,
        ),
        NODATA,
        &inner_soa(),
        Some(true),
    );
}

#[test]
fn static_rrsets_too_long_for_the_maps_are_passed() {
    // `huge` has a TXT record longer than a canned answer holds: the slow
    // path answers it, and, as XDP cannot know the name has no other data,
    // every other type too.
    let f = Frame::default();
    passed(
        &f.build(&dns_bytes("huge.example.test.", RecordType::TXT, None)),
        Counter::PassType,
    );
    passed(
        &f.build(&dns_bytes("huge.example.test.", RecordType::MX, None)),
        Counter::PassType,
    );
    passed(
        &f.build(&dns_bytes("huge.example.test.", RecordType::A, None)),
        Counter::PassNoAnswer,
    );
    let slow = slow_path(&f, &dns_bytes("huge.example.test.", RecordType::TXT, None));
    assert_eq!(slow.answers.len(), 1, "{slow}");
}

// ---- malformed ----------------------------------------------------------

#[test]
fn truncated_at_every_byte_is_passed_unmodified() {
    for (v6, edns, name) in [
        (false, None, "www.example.test."),
        (true, Some(1232), "www.example.test."),
        // NXDOMAIN (parent lookup) and NODATA when whole.
        (false, None, "nx.www.example.test."),
        (true, Some(1232), "v4only.example.test."),
    ] {
        let f = Frame {
            v6,
            vlans: vec![(0x8100, 5)],
            ..Default::default()
        };
        let rtype = if name.starts_with("v4only") {
            RecordType::MX
        } else {
            RecordType::A
        };
        let full = f.build(&dns_bytes(name, rtype, edns));
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

/// Runs the program on `frame` without reading the counters (for loops of
/// thousands of queries); returns the verdict and the output frame.
fn run_quiet(frame: &[u8]) -> (u32, Vec<u8>) {
    let f = fixture().lock().unwrap_or_else(|e| e.into_inner());
    test_run(&f.ebpf, frame)
}

/// A small deterministic generator (xorshift64) of client addresses.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// A random client: `127.a.b.c` (a random /24 of 127/8), or
/// `2001:db8:x::y` (a random /48 of 2001:db8::/32).
fn random_client(rng: &mut u64, v6: bool) -> IpAddr {
    let r = xorshift(rng);
    if v6 {
        let x = (r >> 16) as u16;
        std::net::Ipv6Addr::new(0x2001, 0xdb8, x, r as u16, 0, 0, 0, (r >> 32) as u16 | 1).into()
    } else {
        std::net::Ipv4Addr::new(127, (r >> 8) as u8, (r >> 16) as u8, r as u8 | 1).into()
    }
}

/// The client's LDNS prefix: its /24 or /48.
fn prefix_of(client: IpAddr) -> Vec<u8> {
    match client {
        IpAddr::V4(a) => a.octets()[..3].to_vec(),
        IpAddr::V6(a) => a.octets()[..6].to_vec(),
    }
}

/// The XDP answer to `dns` from `frame`'s client, checked to be the slow
/// path's, byte for byte; its answer addresses.
fn addresses_in_both_paths(frame: &Frame, dns: &[u8]) -> Vec<IpAddr> {
    let (verdict, out) = run_quiet(&frame.build(dns));
    assert_eq!(verdict, XDP_TX, "answered in XDP from {:?}", frame.client);
    let r = parse_reply(frame, &out);
    assert_eq!(r.dst, frame.client_ip());
    assert_eq!(
        slow_bytes(frame, dns),
        r.dns,
        "the slow path answers {:?} alike",
        frame.client
    );
    r.msg
        .answers
        .iter()
        .map(|rec| match &rec.data {
            RData::A(a) => IpAddr::from(a.0),
            RData::AAAA(a) => IpAddr::from(a.0),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

/// Index of a test server address: its last byte minus one.
fn server_index(a: IpAddr) -> usize {
    let last = match a {
        IpAddr::V4(a) => a.octets()[3],
        IpAddr::V6(a) => a.octets()[15],
    };
    usize::from(last) - 1
}

#[test]
fn static_persist_spreads_resolvers_evenly_in_both_paths() {
    const CLIENTS: usize = 10_000;
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    for n in 2..=8usize {
        let name = format!("persist{n}.example.test.");
        for (v6, rtype) in [(false, RecordType::A), (true, RecordType::AAAA)] {
            let dns = dns_bytes(&name, rtype, None);
            let mut hits = vec![0usize; n];
            let mut by_prefix = std::collections::HashMap::new();
            for _ in 0..CLIENTS {
                let client = random_client(&mut rng, v6);
                let frame = Frame {
                    v6,
                    client: Some(client),
                    ..Default::default()
                };
                let answers = addresses_in_both_paths(&frame, &dns);
                assert_eq!(answers.len(), 1, "max_answers 1");
                let i = server_index(answers[0]);
                hits[i] += 1;
                // Deterministic per prefix: every client of a /24 (/48)
                // gets the same server.
                let first = *by_prefix.entry(prefix_of(client)).or_insert(i);
                assert_eq!(first, i, "{client}: another server than its prefix's");
            }
            for (i, &h) in hits.iter().enumerate() {
                let share = h as f64 / CLIENTS as f64;
                let want = 1.0 / n as f64;
                assert!(
                    (share - want).abs() < 0.02,
                    "{name} {rtype}: server {i} has {share:.4} of the resolvers, \
                     want {want:.4} ± 0.02 ({hits:?})"
                );
            }
        }
    }
}

#[test]
fn static_persist_answers_after_the_first_skip_down_servers() {
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    for (v6, rtype) in [(false, RecordType::A), (true, RecordType::AAAA)] {
        let dns = dns_bytes("persistdown.example.test.", rtype, None);
        let mut firsts = [0usize; 4];
        for _ in 0..2_000 {
            let frame = Frame {
                v6,
                client: Some(random_client(&mut rng, v6)),
                ..Default::default()
            };
            let answers: Vec<usize> = addresses_in_both_paths(&frame, &dns)
                .into_iter()
                .map(server_index)
                .collect();
            // Server 2 is down: three answers, the three others, in pool
            // order after the first.
            let want = match answers[0] {
                0 => [0, 1, 3],
                1 => [1, 3, 0],
                3 => [3, 0, 1],
                other => panic!("down server {other} answered first"),
            };
            assert_eq!(answers, want);
            firsts[answers[0]] += 1;
        }
        assert!(
            firsts
                .iter()
                .enumerate()
                .all(|(i, &f)| (i == 2) == (f == 0)),
            "{firsts:?}"
        );
    }
}

#[test]
fn all_down_nodata_is_kept_no_longer_than_the_name() {
    // The zone's negative TTL is 60, the name's TTL 5.
    let soa = example_soa().capped(5);
    for name in ["alldown.example.test.", "AllDown.ExAmple.TEST."] {
        for rtype in [RecordType::A, RecordType::AAAA] {
            let dns = dns_bytes(name, rtype, None);
            check_negative(&Frame::default(), &dns, NODATA, &soa, None);
            check_negative(&v6_frame(), &edns(dns, true), NODATA, &soa, Some(true));
        }
    }
}

#[test]
fn queries_to_other_local_addresses_are_passed() {
    let dns = www_query();
    for (v6, server) in [
        (false, IpAddr::from([198, 18, 0, 99])),
        (true, "2001:db8::99".parse().unwrap()),
    ] {
        let f = Frame {
            v6,
            server: Some(server),
            ..Default::default()
        };
        passed(&f.build(&dns), Counter::PassNotLocal);
        // The listen address itself is answered.
        answered(
            &Frame {
                v6,
                ..Default::default()
            }
            .build(&dns),
        );
    }
}

// ----- EDNS Client Subnet (RFC 7871) and persistence with a TTL -----

/// Runs `f` with the fixture locked, for tests that change maps other
/// tests read (config flags, tries, records) and put them back.
fn locked<R>(f: impl FnOnce(&mut Fixture) -> R) -> R {
    let mut g = fixture().lock().unwrap_or_else(|e| e.into_inner());
    f(&mut g)
}

/// The program's map `name`, opened by id: the fixture's `Maps` holds the
/// maps it writes.
fn map_data(f: &Fixture, name: &str) -> MapData {
    let prog: &Xdp = f.ebpf.program(xdp::PROGRAM).unwrap().try_into().unwrap();
    for id in prog.info().unwrap().map_ids().unwrap().unwrap() {
        let m = MapData::from_id(id).unwrap();
        if m.info().unwrap().name_as_str() == Some(name) {
            return m;
        }
    }
    panic!("the program has no map {name}");
}

/// The program's map `name` as a `T` (`kind`: its `Map` variant).
fn open<T>(f: &Fixture, name: &str, kind: fn(MapData) -> Map) -> T
where
    T: TryFrom<Map>,
    T::Error: std::fmt::Debug,
{
    T::try_from(kind(map_data(f, name))).unwrap()
}

/// Sets the `CONFIG_*` bits `set` and clears `clear`; returns the flags
/// before.
fn set_flags(f: &mut Fixture, set: u32, clear: u32) -> u32 {
    let mut a: Array<MapData, Config> = open(f, "CONFIG", Map::Array);
    let mut c = a.get(&0, 0).unwrap();
    let old = c.flags;
    c.flags = (c.flags | set) & !clear;
    a.set(0, c, 0).unwrap();
    old
}

/// Puts the config flags back to `flags`.
fn restore_flags(f: &mut Fixture, flags: u32) {
    set_flags(f, flags, !flags);
}

/// The ECS option (code 8; RFC 7871 §6): FAMILY, SOURCE PREFIX-LENGTH,
/// SCOPE PREFIX-LENGTH, ADDRESS.
fn ecs(family: u16, source: u8, scope: u8, addr: &[u8]) -> (u16, Vec<u8>) {
    let mut d = family.to_be_bytes().to_vec();
    d.extend([source, scope]);
    d.extend(addr);
    (8, d)
}

/// `name`'s query of type `rtype` with an OPT record (payload 1232, DO
/// clear) carrying `options`.
fn ecs_query(name: &str, rtype: RecordType, options: &[(u16, Vec<u8>)]) -> Vec<u8> {
    with_opt(dns_bytes(name, rtype, None), 1232, 0, 0, options)
}

/// [`expected_dns`] whose OPT record (DO clear) carries `option`.
fn expected_with_option(
    query_dns: &[u8],
    rtype: u16,
    ttl: u32,
    addrs: &[Vec<u8>],
    option: &(u16, Vec<u8>),
) -> Vec<u8> {
    let mut d = expected_dns(query_dns, q_end(query_dns), rtype, ttl, addrs, Some(false));
    append_option(&mut d, option);
    d
}

/// Appends `option` to the OPT record that ends `d` (its RDLENGTH 0).
fn append_option(d: &mut Vec<u8>, option: &(u16, Vec<u8>)) {
    let n = d.len();
    assert_eq!(&d[n - 2..], [0, 0], "OPT with RDLENGTH 0 last");
    d[n - 2..].copy_from_slice(&(4 + option.1.len() as u16).to_be_bytes());
    d.extend(option.0.to_be_bytes());
    d.extend((option.1.len() as u16).to_be_bytes());
    d.extend(&option.1);
}

/// The slow path's response bytes to `dns` from `frame`'s client, with
/// the fixture locked (its config trusts every resolver's ECS, as
/// `CONFIG_ECS` does).
fn slow_bytes_in(f: &Fixture, frame: &Frame, dns: &[u8]) -> Vec<u8> {
    respond(&f.state, dns, Transport::Udp, Some(frame.client_ip())).expect("the slow path answers")
}

/// Runs `frame` with the fixture locked: asserts XDP_TX and returns the
/// output and the counter deltas.
fn answered_in(f: &Fixture, frame: &[u8]) -> (Vec<u8>, Vec<u64>) {
    let (verdict, out, delta) = run_in(f, frame);
    assert_eq!(verdict, XDP_TX, "expected XDP_TX; counters {delta:?}");
    assert_eq!(delta[Counter::Answered as usize], 1);
    (out, delta)
}

#[test]
fn ecs_v4_and_v6_echoed_with_scope_0_for_a_plain_name() {
    locked(|f| {
        let old = set_flags(f, CONFIG_ECS, CONFIG_ECS_TRUSTED);
        for (frame, option) in [
            (Frame::default(), ecs(1, 24, 0, &[198, 18, 77])),
            (Frame::default(), ecs(1, 32, 0, &[198, 18, 77, 5])),
            (Frame::default(), ecs(1, 20, 0, &[198, 18, 0x70])),
            (
                v6_frame(),
                ecs(2, 56, 0, &[0x20, 0x01, 0x0d, 0xb8, 0, 0x77, 0x12]),
            ),
            (v6_frame(), ecs(2, 128, 0, &v6("2001:db8::77"))),
            // Another family than the transport's.
            (
                Frame::default(),
                ecs(2, 48, 0, &[0x20, 0x01, 0x0d, 0xb8, 0, 0x77]),
            ),
            (v6_frame(), ecs(1, 24, 0, &[198, 18, 77])),
        ] {
            let dns = ecs_query(
                "www.example.test.",
                RecordType::A,
                std::slice::from_ref(&option),
            );
            let (out, delta) = answered_in(f, &frame.build(&dns));
            assert_eq!(delta[Counter::AnsweredEcs as usize], 1, "{option:?}");
            // Echoed as it came, SCOPE 0: www's answer is the same for all.
            let want = expected_with_option(&dns, 1, 30, &www_a(), &option);
            assert_eq!(out, frame.build_reply(&want), "{option:?}");
            // The option as a resolver reads it; the slow path's reply.
            let r = parse_reply(&frame, &out);
            let e = r.msg.edns.as_ref().expect("OPT");
            assert_eq!(e.options().as_ref().len(), 1);
            assert_eq!(
                slow_bytes_in(f, &frame, &dns),
                r.dns,
                "slow path, {option:?}"
            );
        }
        // A cookie before the ECS option is not echoed.
        let option = ecs(1, 24, 0, &[198, 18, 78]);
        let dns = ecs_query(
            "www.example.test.",
            RecordType::AAAA,
            &[(10, vec![9; 8]), option.clone()],
        );
        let (out, _) = answered_in(f, &Frame::default().build(&dns));
        let want = expected_with_option(&dns, 28, 30, &www_aaaa(), &option);
        assert_eq!(out, Frame::default().build_reply(&want));
        restore_flags(f, old);
    });
}

#[test]
fn ecs_source_prefix_0_is_echoed_with_scope_0() {
    locked(|f| {
        let old = set_flags(f, CONFIG_ECS, 0);
        for (frame, option) in [
            (Frame::default(), ecs(1, 0, 0, &[])),
            (v6_frame(), ecs(2, 0, 0, &[])),
        ] {
            let dns = ecs_query(
                "www.example.test.",
                RecordType::A,
                std::slice::from_ref(&option),
            );
            let (out, delta) = answered_in(f, &frame.build(&dns));
            assert_eq!(delta[Counter::AnsweredEcs as usize], 1);
            let want = expected_with_option(&dns, 1, 30, &www_a(), &option);
            assert_eq!(out, frame.build_reply(&want));
            let r = parse_reply(&frame, &out);
            assert_eq!(slow_bytes_in(f, &frame, &dns), r.dns, "slow path");
        }
        // Persistence keys on the all-zero client: scope stays 0.
        let option = ecs(1, 0, 0, &[]);
        let dns = ecs_query(
            "sticky.example.test.",
            RecordType::A,
            std::slice::from_ref(&option),
        );
        let (out, _) = answered_in(f, &Frame::default().build(&dns));
        let r = parse_reply(&Frame::default(), &out);
        assert_eq!(r.dns[r.dns.len() - 4..], [0, 1, 0, 0]);
        restore_flags(f, old);
    });
}

/// RFC 5001: with an NSID configured (`CONFIG_NSID`), a query carrying
/// the NSID option is passed unmodified for the slow path to add the
/// identifier (which it does); without, it is answered in XDP.
#[test]
fn nsid_query_is_passed_only_with_an_nsid_configured() {
    use gslb_common::maps::CONFIG_NSID;
    let dns = with_opt(
        dns_bytes("www.example.test.", RecordType::A, None),
        1232,
        0,
        0,
        &[(3, vec![])],
    );
    locked(|f| {
        let old = set_flags(f, CONFIG_NSID, 0);
        let frame = Frame::default().build(&dns);
        let (verdict, out, delta) = run_in(f, &frame);
        assert_eq!(verdict, XDP_PASS);
        assert_eq!(out, frame, "passed unmodified");
        assert_eq!(delta[Counter::PassNsid as usize], 1, "{delta:?}");
        // The option among others, after them.
        let cookie = (10u16, vec![1, 2, 3, 4, 5, 6, 7, 8]);
        let later = with_opt(
            dns_bytes("www.example.test.", RecordType::A, None),
            1232,
            0,
            0,
            &[cookie, (3, vec![])],
        );
        let (verdict, _, delta) = run_in(f, &Frame::default().build(&later));
        assert_eq!(verdict, XDP_PASS);
        assert_eq!(delta[Counter::PassNsid as usize], 1, "{delta:?}");
        // Without an NSID configured: answered here, counted as such.
        set_flags(f, 0, CONFIG_NSID);
        let (verdict, _, delta) = run_in(f, &frame);
        assert_eq!(verdict, XDP_TX);
        assert_eq!(delta[Counter::PassNsid as usize], 0);
        assert_eq!(delta[Counter::Answered as usize], 1);
        restore_flags(f, old);
    });
}

#[test]
fn ecs_malformed_is_passed() {
    let www = || dns_bytes("www.example.test.", RecordType::A, None);
    // Malformed whatever the trust: the slow path answers FORMERR.
    for flags in [CONFIG_ECS, 0] {
        locked(|f| {
            let old = set_flags(f, flags, CONFIG_ECS ^ flags);
            for options in [
                // SOURCE longer than the family's address.
                vec![ecs(1, 33, 0, &[198, 18, 77, 1, 0])],
                vec![ecs(2, 129, 0, &[0x20; 17])],
                // Bits set past SOURCE.
                vec![ecs(1, 20, 0, &[198, 18, 0x7f])],
                vec![ecs(1, 24, 0, &[198, 18, 77]), ecs(1, 23, 0, &[198, 18, 77])][1..].to_vec(),
                vec![ecs(2, 33, 0, &[0x20, 0x01, 0x0d, 0xb8, 0xc0])],
                // ADDRESS longer or shorter than ceil(SOURCE / 8).
                vec![ecs(1, 24, 0, &[198, 18, 77, 0])],
                vec![ecs(1, 24, 0, &[198, 18])],
                vec![ecs(1, 0, 0, &[0])],
                // Unknown FAMILY.
                vec![ecs(3, 8, 0, &[1])],
                vec![ecs(0, 0, 0, &[])],
                // Shorter than FAMILY, SOURCE and SCOPE.
                vec![(8, vec![0, 1, 24])],
                vec![(8, vec![])],
                // Two ECS options.
                vec![ecs(1, 24, 0, &[198, 18, 77]), ecs(1, 24, 0, &[198, 18, 77])],
            ] {
                let dns = with_opt(www(), 1232, 0, 0, &options);
                let (verdict, out, delta) = run_in(f, &Frame::default().build(&dns));
                assert_eq!(verdict, XDP_PASS, "{options:?}");
                // The slow path answers FORMERR (RFC 7871 §7.1.1).
                let slow = Message::from_vec(&slow_bytes_in(f, &Frame::default(), &dns)).unwrap();
                assert_eq!(
                    slow.metadata.response_code,
                    ResponseCode::FormErr,
                    "{options:?}"
                );
                assert_eq!(out, Frame::default().build(&dns));
                assert_eq!(delta[Counter::PassEcs as usize], 1, "{options:?}");
            }
            // An ECS option whose length runs past the OPT record.
            let mut dns = with_opt(www(), 1232, 0, 0, &[ecs(1, 24, 0, &[198, 18, 77])]);
            let n = dns.len();
            // The option (11 bytes) ends the message: its length field
            // is at 2..4.
            dns[n - 9..n - 7].copy_from_slice(&9u16.to_be_bytes());
            let (verdict, _, delta) = run_in(f, &Frame::default().build(&dns));
            assert_eq!(verdict, XDP_PASS);
            assert_eq!(delta[Counter::PassEcs as usize], 1);
            restore_flags(f, old);
        });
    }
}

#[test]
fn ecs_from_an_untrusted_resolver_is_ignored() {
    locked(|f| {
        let old = set_flags(f, CONFIG_ECS_TRUSTED, CONFIG_ECS);
        let option = ecs(1, 24, 0, &[198, 18, 79]);
        let dns = ecs_query(
            "www.example.test.",
            RecordType::A,
            std::slice::from_ref(&option),
        );
        let trusted: Ipv4Addr = "198.18.90.7".parse().unwrap();
        let mut trie: LpmTrie<MapData, ClientPrefix, u8> = open(f, "ECS_TRUSTED", Map::LpmTrie);
        let key = Key::new(96 + 24, trusted.to_ipv6_mapped().octets());
        trie.insert(&key, 1, 0).unwrap();
        // From 198.18.0.2, not trusted: answered, no ECS in the reply.
        let (out, delta) = answered_in(f, &Frame::default().build(&dns));
        assert_eq!(delta[Counter::AnsweredEcs as usize], 0);
        let want = expected_dns(&dns, q_end(&dns), 1, 30, &www_a(), Some(false));
        assert_eq!(out, Frame::default().build_reply(&want));
        // From the trusted /24: used and echoed.
        let frame = Frame {
            client: Some(trusted.into()),
            ..Default::default()
        };
        let (out, delta) = answered_in(f, &frame.build(&dns));
        assert_eq!(delta[Counter::AnsweredEcs as usize], 1);
        let want = expected_with_option(&dns, 1, 30, &www_a(), &option);
        assert_eq!(out, frame.build_reply(&want));
        // `ecs = "none"`: ignored from every resolver.
        set_flags(f, 0, CONFIG_ECS | CONFIG_ECS_TRUSTED);
        let (out, delta) = answered_in(f, &frame.build(&dns));
        assert_eq!(delta[Counter::AnsweredEcs as usize], 0);
        let want = expected_dns(&dns, q_end(&dns), 1, 30, &www_a(), Some(false));
        assert_eq!(out, frame.build_reply(&want));
        let mut trie: LpmTrie<MapData, ClientPrefix, u8> = open(f, "ECS_TRUSTED", Map::LpmTrie);
        trie.remove(&key).unwrap();
        restore_flags(f, old);
    });
}

#[test]
fn ecs_echoed_with_scope_0_in_negative_and_static_answers() {
    locked(|f| {
        let old = set_flags(f, CONFIG_ECS, 0);
        let option = ecs(1, 24, 0, &[198, 18, 80]);
        for (name, rtype, kind) in [
            ("nx.example.test.", RecordType::A, Counter::AnsweredNxdomain),
            ("www.example.test.", RecordType::MX, Counter::AnsweredNodata),
            ("example.test.", RecordType::MX, Counter::AnsweredStatic),
        ] {
            for frame in [Frame::default(), v6_frame()] {
                let dns = ecs_query(name, rtype, std::slice::from_ref(&option));
                let (out, delta) = answered_in(f, &frame.build(&dns));
                assert_eq!(delta[kind as usize], 1, "{name} {rtype}");
                assert_eq!(delta[Counter::AnsweredEcs as usize], 1);
                let r = parse_reply(&frame, &out);
                // The same reply as without ECS, the option appended.
                let plain = ecs_query(name, rtype, &[]);
                let (plain_out, _) = answered_in(f, &frame.build(&plain));
                let mut want = parse_reply(&frame, &plain_out).dns;
                append_option(&mut want, &option);
                assert_eq!(r.dns, want, "{name} {rtype}");
                // The slow path's reply: the same bytes (a static answer:
                // the same records, its names compressed otherwise).
                let slow = slow_bytes_in(f, &frame, &dns);
                if kind == Counter::AnsweredStatic {
                    assert_eq!(view(&Message::from_vec(&slow).unwrap()), view(&r.msg));
                    assert_eq!(slow[slow.len() - 11..], r.dns[r.dns.len() - 11..]);
                } else {
                    assert_eq!(slow, r.dns, "slow path, {name} {rtype}");
                }
            }
        }
        restore_flags(f, old);
    });
}

/// The name map key of `name` in the map of its size class (`NAMES_64`
/// for the client-group test name).
fn name_key_64(name: &str) -> [u8; 64] {
    let mut k = [0u8; 64];
    let w = wire(name);
    k[..w.len()].copy_from_slice(&w.to_ascii_lowercase());
    k
}

/// One [`CLIENT_GROUPS`] entry: `prefix` (IPv4, length `len`) → `group`.
fn group_entry(prefix: &str, len: u8, group: u32) -> (Key<ClientPrefix>, ClientGroup) {
    let a: Ipv4Addr = prefix.parse().unwrap();
    let key = Key::new(96 + u32::from(len), a.to_ipv6_mapped().octets());
    let value = ClientGroup {
        group,
        prefix_len: 96 + len,
        _pad: [0; 3],
    };
    (key, value)
}

/// Marks `name` (in `NAMES_64`) client aware; returns its entry before
/// and after.
fn make_client_aware(f: &Fixture, name: &str) -> (NameEntry, NameEntry) {
    let plain: AyaHashMap<MapData, [u8; 64], NameEntry> = open(f, "NAMES_64", Map::HashMap);
    let plain = plain
        .get(&name_key_64(name), 0)
        .expect("the name is in NAMES_64");
    let mut entry = plain;
    entry.flags |= NAME_CLIENT_AWARE;
    put_name_entry(f, name, entry);
    (plain, entry)
}

/// Writes `entry` as `name`'s `NAMES_64` entry.
fn put_name_entry(f: &Fixture, name: &str, entry: NameEntry) {
    let mut names: AyaHashMap<MapData, [u8; 64], NameEntry> = open(f, "NAMES_64", Map::HashMap);
    names.insert(name_key_64(name), entry, 0).unwrap();
}

#[test]
fn ecs_scope_and_client_group_come_from_the_ecs_address() {
    const NAME: &str = "answers-by-client-group.example.test.";
    locked(|f| {
        let old = set_flags(f, CONFIG_ECS | CONFIG_CLIENT_GROUPS, CONFIG_ECS_TRUSTED);
        // The name is client aware; group 7 gets another address.
        let (plain_entry, entry) = make_client_aware(f, NAME);
        let mut answers: AyaHashMap<MapData, AnswerKey, AnswerV4> =
            open(f, "ANSWERS_V4", Map::HashMap);
        let default = answers
            .get(
                &AnswerKey {
                    set: entry.a,
                    group: 0,
                },
                0,
            )
            .unwrap();
        let mut seven = default;
        seven.addrs[0] = [198, 18, 44, 77];
        let key7 = AnswerKey {
            set: entry.a,
            group: 7,
        };
        answers.insert(key7, seven, 0).unwrap();
        let mut trie: LpmTrie<MapData, ClientPrefix, ClientGroup> =
            open(f, "CLIENT_GROUPS", Map::LpmTrie);
        let entries = [
            group_entry("198.18.77.0", 24, 7),
            group_entry("198.18.0.0", 16, 3),
        ];
        for (k, v) in &entries {
            trie.insert(k, v, 0).unwrap();
        }
        let group7 = vec![v4("198.18.44.77"), v4("198.18.44.2")];
        let group0 = vec![v4("198.18.44.1"), v4("198.18.44.2")];
        let from = |client: &str| Frame {
            client: Some(client.parse().unwrap()),
            ..Default::default()
        };
        for (frame, option, want_addrs, scope) in [
            // The ECS address is in group 7's /24: its answer, scope 24.
            (
                from("198.18.0.2"),
                ecs(1, 24, 0, &[198, 18, 77]),
                &group7,
                24,
            ),
            (
                from("198.18.0.2"),
                ecs(1, 32, 0, &[198, 18, 77, 9]),
                &group7,
                24,
            ),
            // In group 3's /16 (no set of its own: group 0's answer),
            // though the source is in group 7's prefix.
            (
                from("198.18.77.5"),
                ecs(1, 24, 0, &[198, 18, 5]),
                &group0,
                16,
            ),
            // A source prefix of 0: the client 0.0.0.0, SCOPE 0.
            (from("198.18.77.5"), ecs(1, 0, 0, &[]), &group0, 0),
        ] {
            let dns = ecs_query(NAME, RecordType::A, std::slice::from_ref(&option));
            let (out, _) = answered_in(f, &frame.build(&dns));
            let mut echo = option.clone();
            echo.1[3] = scope;
            let want = expected_with_option(&dns, 1, 30, want_addrs, &echo);
            assert_eq!(
                out,
                frame.build_reply(&want),
                "{option:?} from {:?}",
                frame.client
            );
        }
        // Without ECS the source decides.
        let dns = ecs_query(NAME, RecordType::A, &[]);
        let (out, _) = answered_in(f, &from("198.18.77.5").build(&dns));
        let want = expected_dns(&dns, q_end(&dns), 1, 30, &group7, Some(false));
        assert_eq!(out, from("198.18.77.5").build_reply(&want));
        // Not client aware: the same answers, SCOPE 0.
        put_name_entry(f, NAME, plain_entry);
        let option = ecs(1, 24, 0, &[198, 18, 77]);
        let dns = ecs_query(NAME, RecordType::A, std::slice::from_ref(&option));
        let (out, _) = answered_in(f, &from("198.18.0.2").build(&dns));
        let want = expected_with_option(&dns, 1, 30, &group7, &option);
        assert_eq!(out, from("198.18.0.2").build_reply(&want));
        let mut trie: LpmTrie<MapData, ClientPrefix, ClientGroup> =
            open(f, "CLIENT_GROUPS", Map::LpmTrie);
        for (k, _) in &entries {
            trie.remove(k).unwrap();
        }
        let mut answers: AyaHashMap<MapData, AnswerKey, AnswerV4> =
            open(f, "ANSWERS_V4", Map::HashMap);
        answers.remove(&key7).unwrap();
        restore_flags(f, old);
    });
}

/// Sets `CLIENT_GEN` (0: the program's client cache off).
fn set_client_gen(f: &Fixture, generation: u32) {
    let mut a: Array<MapData, u32> = open(f, "CLIENT_GEN", Map::Array);
    a.set(0, generation, 0).unwrap();
}

/// With `CLIENT_GEN` set, the program keeps trie results per CPU by
/// client block (IPv4 /24): a query answered from its cache slot gets the
/// same bytes, ECS scope included, as one answered from the trie; an
/// entry longer than the block is not kept (each /25 its own answer and
/// scope); a trie change shows once the generation changes, not before.
#[test]
fn client_cache_answers_as_the_trie_until_the_generation_changes() {
    const NAME: &str = "answers-by-client-group.example.test.";
    locked(|f| {
        let old = set_flags(f, CONFIG_ECS | CONFIG_CLIENT_GROUPS, CONFIG_ECS_TRUSTED);
        let (plain_entry, entry) = make_client_aware(f, NAME);
        let mut answers: AyaHashMap<MapData, AnswerKey, AnswerV4> =
            open(f, "ANSWERS_V4", Map::HashMap);
        let at = |group| AnswerKey {
            set: entry.a,
            group,
        };
        let mut seven = answers.get(&at(0), 0).unwrap();
        seven.addrs[0] = [198, 18, 44, 77];
        answers.insert(at(7), seven, 0).unwrap();
        let mut trie: LpmTrie<MapData, ClientPrefix, ClientGroup> =
            open(f, "CLIENT_GROUPS", Map::LpmTrie);
        let entries = [
            group_entry("198.18.77.0", 24, 7),
            group_entry("198.18.0.0", 16, 3),
            group_entry("198.18.78.0", 25, 7),
            group_entry("198.18.78.128", 25, 3),
        ];
        for (k, v) in &entries {
            trie.insert(k, v, 0).unwrap();
        }
        set_client_gen(f, 5);
        let group7 = vec![v4("198.18.44.77"), v4("198.18.44.2")];
        let group0 = vec![v4("198.18.44.1"), v4("198.18.44.2")];
        let frame = Frame {
            client: Some("198.18.0.2".parse().unwrap()),
            ..Default::default()
        };
        let ask = |f: &Fixture, option: (u16, Vec<u8>), want: &[Vec<u8>], scope: u8| {
            let dns = ecs_query(NAME, RecordType::A, std::slice::from_ref(&option));
            let mut echo = option.clone();
            echo.1[3] = scope;
            let want = frame.build_reply(&expected_with_option(&dns, 1, 30, want, &echo));
            // Twice: the first may fill the slot, the second finds it.
            for run in 0..2 {
                let (out, _) = answered_in(f, &frame.build(&dns));
                assert_eq!(out, want, "{option:?}, run {run}");
            }
        };
        ask(f, ecs(1, 24, 0, &[198, 18, 77]), &group7, 24);
        ask(f, ecs(1, 32, 0, &[198, 18, 77, 9]), &group7, 24);
        ask(f, ecs(1, 24, 0, &[198, 18, 5]), &group0, 16);
        ask(f, ecs(1, 32, 0, &[198, 18, 78, 1]), &group7, 25);
        ask(f, ecs(1, 32, 0, &[198, 18, 78, 200]), &group0, 25);
        ask(f, ecs(1, 32, 0, &[198, 18, 78, 2]), &group7, 25);
        // The /24 of 198.18.77 is in a slot of some CPU, under generation
        // 5; the /25s of 198.18.78 are in none.
        let cache: PerCpuArray<MapData, ClientCacheSlot> =
            open(f, "CLIENT_CACHE", Map::PerCpuArray);
        let client = |a: [u8; 4]| Ipv4Addr::from(a).to_ipv6_mapped().octets();
        let slots = |a: [u8; 4]| {
            let block = client_block(&client(a), true);
            let all = cache.get(&client_cache_index(block), 0).unwrap();
            all.iter()
                .filter(|s| s.block == block)
                .copied()
                .collect::<Vec<_>>()
        };
        let kept = slots([198, 18, 77, 0]);
        assert!(
            kept.iter()
                .any(|s| (s.generation, s.group, s.prefix_len, s.v4) == (5, 7, 120, 1)),
            "no CPU keeps 198.18.77.0/24 → group 7: {kept:?}"
        );
        let kept = slots([198, 18, 78, 0]);
        assert!(kept.is_empty(), "a /25 kept for its /24: {kept:?}");
        // The /24 moves to group 3 (no set of its own: group 0's answer);
        // with the new generation every CPU asks the trie again.
        let (k, v) = group_entry("198.18.77.0", 24, 3);
        trie.insert(&k, v, 0).unwrap();
        set_client_gen(f, 6);
        ask(f, ecs(1, 24, 0, &[198, 18, 77]), &group0, 24);
        set_client_gen(f, 0);
        for (k, _) in &entries {
            trie.remove(k).unwrap();
        }
        answers.remove(&at(7)).unwrap();
        put_name_entry(f, NAME, plain_entry);
        restore_flags(f, old);
    });
}

/// The first answer of `sticky.example.test` (A, or AAAA over IPv6) for
/// `client`, with `options` in the query: the candidate index, and the
/// counter deltas.
fn sticky_first(f: &Fixture, client: IpAddr, options: &[(u16, Vec<u8>)]) -> (usize, Vec<u64>) {
    let rtype = if client.is_ipv6() {
        RecordType::AAAA
    } else {
        RecordType::A
    };
    sticky_first_as(f, client, rtype, options)
}

/// [`sticky_first`] for a query of type `rtype`.
fn sticky_first_as(
    f: &Fixture,
    client: IpAddr,
    rtype: RecordType,
    options: &[(u16, Vec<u8>)],
) -> (usize, Vec<u64>) {
    let v6 = client.is_ipv6();
    let dns = ecs_query("sticky.example.test.", rtype, options);
    let frame = Frame {
        v6,
        client: Some(client),
        ..Default::default()
    };
    let (out, delta) = answered_in(f, &frame.build(&dns));
    let r = parse_reply(&frame, &out);
    let firsts: Vec<usize> = r
        .msg
        .answers
        .iter()
        .map(|rec| match &rec.data {
            RData::A(a) => server_index(IpAddr::from(a.0)),
            RData::AAAA(a) => server_index(IpAddr::from(a.0)),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    // Three answers: the first, then the usual order of the others.
    assert_eq!(firsts.len(), 3, "{firsts:?}");
    (firsts[0], delta)
}

/// The `PERSIST` record of `sticky.example.test`'s A (or AAAA) set for
/// the client prefix of `client` (/24, /56).
fn sticky_record(f: &mut Fixture, client: IpAddr) -> (PersistKey, PersistRecord) {
    let (addr, family, len) = match client {
        IpAddr::V4(a) => (a.to_ipv6_mapped().octets(), 4, 96 + 24),
        IpAddr::V6(a) => (a.octets(), 6, 56),
    };
    let mut masked = addr;
    mask_prefix(&mut masked, len);
    let map: AyaHashMap<MapData, PersistKey, PersistRecord> = open(f, "PERSIST", Map::LruHashMap);
    let found: Vec<_> = map
        .iter()
        .map(|r| r.unwrap())
        .filter(|(k, _)| k.family == family && k.prefix_len == len && k.addr == masked)
        .collect();
    assert_eq!(found.len(), 1, "one record for {client}: {found:?}");
    found[0]
}

fn write_record(f: &mut Fixture, key: PersistKey, rec: PersistRecord) {
    let mut map: AyaHashMap<MapData, PersistKey, PersistRecord> =
        open(f, "PERSIST", Map::LruHashMap);
    map.insert(key, rec, 0).unwrap();
}

/// `CLOCK_MONOTONIC_COARSE` now, in ns (`bpf_ktime_get_coarse_ns`'s
/// clock, the persistence records' clock).
fn monotonic_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec for the call to fill.
    assert_eq!(
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut t) },
        0
    );
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// `CLOCK_MONOTONIC_COARSE` `ns` nanoseconds ago; the machine must have been up
/// that long.
fn ago_ns(ns: u64) -> u64 {
    let now = monotonic_ns();
    now.checked_sub(ns).unwrap_or_else(|| {
        panic!("the machine has been up {now} ns, less than the {ns} ns this test writes back")
    })
}

#[test]
fn persistence_sticks_per_prefix_while_round_robin_rotates() {
    locked(|f| {
        let c = |s: &str| -> IpAddr { s.parse().unwrap() };
        let (kept, delta) = sticky_first(f, c("198.18.120.9"), &[]);
        assert_eq!(delta[Counter::PersistNew as usize], 1);
        assert!(
            kept < 3,
            "a new client gets a candidate, not the draining one"
        );
        let mut firsts = [0usize; 4];
        for i in 0..1000u32 {
            // Any host of the /24, 1,000 times: the same first answer.
            let host = format!("198.18.120.{}", 1 + i % 250);
            let (first, delta) = sticky_first(f, c(&host), &[]);
            assert_eq!(first, kept, "query {i} from {host}");
            assert_eq!(delta[Counter::PersistHit as usize], 1);
            assert_eq!(delta[Counter::PersistNew as usize], 0);
            // Meanwhile new prefixes rotate through the candidates.
            if i % 10 == 0 {
                let other = format!("198.18.{}.{}", 121 + i / 10, 1 + i % 7);
                let (first, delta) = sticky_first(f, c(&other), &[]);
                assert_eq!(delta[Counter::PersistNew as usize], 1, "{other}");
                firsts[first] += 1;
                // And keep theirs.
                let again = format!("198.18.{}.200", 121 + i / 10);
                assert_eq!(sticky_first(f, c(&again), &[]).0, first, "{again}");
            }
        }
        assert_eq!(firsts[3], 0, "the draining server gets no new client");
        for (i, &n) in firsts[..3].iter().enumerate() {
            assert!(
                (30..=37).contains(&n),
                "round robin: {firsts:?} (candidate {i})"
            );
        }
        // IPv6: a /56 shares one record.
        let (first, _) = sticky_first(f, c("2001:db8:120:1200::5"), &[]);
        for host in ["2001:db8:120:12ff::9", "2001:db8:120:1234:5678::1"] {
            let (again, delta) = sticky_first(f, c(host), &[]);
            assert_eq!(again, first, "{host}");
            assert_eq!(delta[Counter::PersistHit as usize], 1);
        }
        let (_, delta) = sticky_first(f, c("2001:db8:120:1300::5"), &[]);
        assert_eq!(delta[Counter::PersistNew as usize], 1);
    });
}

#[test]
fn persistence_records_expire_and_die_with_the_server_generation() {
    locked(|f| {
        let client: IpAddr = "198.18.230.9".parse().unwrap();
        sticky_first(f, client, &[]);
        let (key, rec) = sticky_record(f, client);
        // A record for another candidate, used just under the TTL ago:
        // still live.
        let other = (usize::from(rec.server - STICKY_IDS) + 1) % 3;
        let mut rec = PersistRecord {
            server: STICKY_IDS + other as u16,
            generation: 0,
            last_used_ns: ago_ns(u64::from(STICKY_TTL) * 1_000_000_000 - 1_000_000_000),
            ..rec
        };
        write_record(f, key, rec);
        let (first, delta) = sticky_first(f, client, &[]);
        assert_eq!(first, other);
        assert_eq!(delta[Counter::PersistHit as usize], 1);
        let (_, fresh) = sticky_record(f, client);
        assert!(
            monotonic_ns() - fresh.last_used_ns < 5_000_000_000,
            "use time refreshed"
        );
        // Used just over the TTL ago: expired, a new record.
        rec.last_used_ns = ago_ns(u64::from(STICKY_TTL) * 1_000_000_000 + 1_000_000_000);
        write_record(f, key, rec);
        let (_, delta) = sticky_first(f, client, &[]);
        assert_eq!(delta[Counter::PersistNew as usize], 1);
        assert_eq!(delta[Counter::PersistHit as usize], 0);
        let (_, renewed) = sticky_record(f, client);
        assert!(monotonic_ns() - renewed.last_used_ns < 5_000_000_000);
        // The server goes down (its generation moves): the record is void.
        rec.last_used_ns = monotonic_ns();
        write_record(f, key, rec);
        assert_eq!(sticky_first(f, client, &[]).0, other);
        let mut gens: Array<MapData, u32> = open(f, "SERVER_GEN", Map::Array);
        let id = u32::from(rec.server);
        let old_gen = gens.get(&id, 0).unwrap();
        gens.set(id, old_gen + 1, 0).unwrap();
        let (_, delta) = sticky_first(f, client, &[]);
        assert_eq!(delta[Counter::PersistNew as usize], 1);
        let (_, new) = sticky_record(f, client);
        assert_eq!(
            new.generation,
            gens_of(f, new.server),
            "made under its server's generation"
        );
        let mut gens: Array<MapData, u32> = open(f, "SERVER_GEN", Map::Array);
        gens.set(id, old_gen, 0).unwrap();
    });
}

#[test]
fn persistence_hits_write_the_use_time_once_a_step() {
    locked(|f| {
        let client: IpAddr = "198.18.233.9".parse().unwrap();
        sticky_first(f, client, &[]);
        let (key, rec) = sticky_record(f, client);
        // The step is the TTL / 64, 2 s. Used 0.5 s ago: a hit leaves the
        // record as it is.
        let half = ago_ns(500_000_000);
        write_record(
            f,
            key,
            PersistRecord {
                last_used_ns: half,
                ..rec
            },
        );
        for _ in 0..3 {
            let (_, delta) = sticky_first(f, client, &[]);
            assert_eq!(delta[Counter::PersistHit as usize], 1);
        }
        assert_eq!(sticky_record(f, client).1.last_used_ns, half, "not written");
        // Used 10 s ago: a hit writes the time.
        write_record(
            f,
            key,
            PersistRecord {
                last_used_ns: ago_ns(10_000_000_000),
                ..rec
            },
        );
        let before = monotonic_ns();
        let (_, delta) = sticky_first(f, client, &[]);
        assert_eq!(delta[Counter::PersistHit as usize], 1);
        let after = sticky_record(f, client).1.last_used_ns;
        assert!(after >= before, "refreshed: {after} < {before}");
    });
}

fn gens_of(f: &mut Fixture, server: u16) -> u32 {
    let gens: Array<MapData, u32> = open(f, "SERVER_GEN", Map::Array);
    gens.get(&u32::from(server), 0).unwrap()
}

#[test]
fn persistence_draining_candidate_keeps_its_clients() {
    locked(|f| {
        let client: IpAddr = "198.18.231.9".parse().unwrap();
        sticky_first(f, client, &[]);
        let (key, rec) = sticky_record(f, client);
        // Persisted to the fourth server, now draining (keep-only).
        write_record(
            f,
            key,
            PersistRecord {
                server: STICKY_IDS + 3,
                generation: 0,
                last_used_ns: monotonic_ns(),
                ..rec
            },
        );
        let dns = ecs_query("sticky.example.test.", RecordType::A, &[]);
        let frame = Frame {
            client: Some(client),
            ..Default::default()
        };
        let (out, delta) = answered_in(f, &frame.build(&dns));
        assert_eq!(delta[Counter::PersistHit as usize], 1);
        // It first, then the others in pool order, three answers in all.
        let addrs = vec![v4("198.18.43.4"), v4("198.18.43.1"), v4("198.18.43.2")];
        let want = expected_dns(&dns, q_end(&dns), 1, 30, &addrs, Some(false));
        assert_eq!(out, frame.build_reply(&want));
    });
}

#[test]
fn persistence_keys_on_the_ecs_address_and_raises_the_scope() {
    locked(|f| {
        let old = set_flags(f, CONFIG_ECS, CONFIG_ECS_TRUSTED);
        let option = ecs(1, 32, 0, &[198, 18, 232, 7]);
        let (first, delta) = sticky_first(
            f,
            "198.18.0.2".parse().unwrap(),
            std::slice::from_ref(&option),
        );
        assert_eq!(delta[Counter::PersistNew as usize], 1);
        // Another resolver, a client of the same /24: the same record.
        let option2 = ecs(1, 24, 0, &[198, 18, 232]);
        for resolver in ["198.18.9.9", "2001:db8::9"] {
            let resolver: IpAddr = resolver.parse().unwrap();
            let (again, delta) =
                sticky_first_as(f, resolver, RecordType::A, std::slice::from_ref(&option2));
            assert_eq!(again, first, "{resolver}");
            assert_eq!(delta[Counter::PersistHit as usize], 1);
        }
        // SCOPE: the persistence prefix, /24.
        let dns = ecs_query("sticky.example.test.", RecordType::A, &[option]);
        let (out, _) = answered_in(f, &Frame::default().build(&dns));
        let r = parse_reply(&Frame::default(), &out);
        assert_eq!(r.dns[r.dns.len() - 8..], [0, 1, 32, 24, 198, 18, 232, 7]);
        restore_flags(f, old);
    });
}
