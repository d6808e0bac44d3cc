//! End-to-end tests over a veth pair between two network namespaces: the
//! daemon (XDP fast path + slow path) in one, dig/kdig/tcpdump in the other.
//! They use the embedded default config (zone example.test, gslb name
//! www.example.test). Root and native XDP on veth are required: a missing
//! capability fails the tests.
//!
//! Run with `cargo build -p gslb-user && cargo test -p gslb-tests --test
//! netns` (or `cargo xtask test`).

use std::{net::IpAddr, time::Duration};

use hickory_proto::rr::RecordType;

use gslb_tests::{
    harness::Failures,
    netns::{
        link_has_xdp, rr, run_bounded, Background, Daemon, DaemonOpts, Net, Response, DIG_TIMEOUT,
    },
};

type Key = (String, u32, String, String, String);

const WWW_A: [&str; 2] = [
    "www.example.test. 30 IN A 198.18.0.10",
    "www.example.test. 30 IN A 198.18.0.11",
];
const WWW_AAAA: [&str; 2] = [
    "www.example.test. 30 IN AAAA 2001:db8::10",
    "www.example.test. 30 IN AAAA 2001:db8::11",
];
/// The SOA as it appears in negative answers: TTL = min(SOA TTL, MINIMUM)
/// (RFC 2308 §3).
const NEG_SOA: &str = "example.test. 300 IN SOA ns1.example.test. hostmaster.example.test. 2026112201 7200 3600 1209600 300";
/// The SOA of a NODATA at the gslb name www.example.test: at most the
/// name's TTL (30).
const GSLB_NODATA_SOA: &str = "example.test. 30 IN SOA ns1.example.test. hostmaster.example.test. 2026112201 7200 3600 1209600 300";

fn keys(lines: &[&str]) -> Vec<Key> {
    lines.iter().map(|l| rr(l)).collect()
}

fn sorted_flags(r: &Response) -> Vec<String> {
    let mut f = r.flags.clone();
    f.sort();
    f
}

fn transport(server: IpAddr) -> &'static str {
    if server.is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    }
}

/// 1. A and AAAA of the gslb name over IPv4 and IPv6, answered in XDP.
#[test]
fn xdp_answers_a_and_aaaa_over_ipv4_and_ipv6() {
    let net = Net::new("xdp_answers");
    let d = Daemon::start(&net, DaemonOpts::default());
    let mut f = Failures::default();
    let start = d.stats();
    let mut sent = 0;
    for server in [net.srv_v4(), net.srv_v6()] {
        for (qtype, expected) in [("A", WWW_A), ("AAAA", WWW_AAAA)] {
            let q = format!(
                "www.example.test {qtype} over {} (@{server})",
                transport(server)
            );
            let before = d.stats();
            let r = net.dig(server, "www.example.test", qtype, &[]);
            sent += 1;
            let after = d.stats();
            f.check(r.status == "NOERROR", || {
                format!("{q}: status {} (want NOERROR)\n{}", r.status, r.raw)
            });
            f.check(sorted_flags(&r) == ["aa", "qr"], || {
                format!("{q}: flags {:?} (want qr aa)\n{}", r.flags, r.raw)
            });
            f.check(r.answer_keys() == keys(&expected), || {
                format!(
                    "{q}: answer {:?}\nwant {expected:?}\n{}",
                    r.answer_keys(),
                    r.raw
                )
            });
            f.check(r.authority.is_empty(), || {
                format!("{q}: unexpected authority\n{}", r.raw)
            });
            f.check(r.edns_udp == Some(1232), || {
                format!(
                    "{q}: EDNS udp {:?} (want OPT with udp 1232)\n{}",
                    r.edns_udp, r.raw
                )
            });
            f.check(r.transport == "UDP", || {
                format!("{q}: transport {}", r.transport)
            });
            let answered = before.delta_of(&after, "xdp_answered");
            f.check(answered == 1, || {
                format!(
                    "{q}: not answered by XDP: xdp_answered +{answered} (want +1); counter changes: {:?}",
                    before.delta(&after)
                )
            });
        }
    }
    let end = d.stats();
    let answered = start.delta_of(&end, "xdp_answered");
    f.check(answered == sent, || {
        format!("xdp_answered +{answered} over the whole test, want +{sent} (one per query)")
    });
    f.assert_none();
}

/// 1b. Queries padded with EDNS Padding (RFC 7830; an option XDP ignores)
///     are at least as long as their answers, so the packet need not grow:
///     XDP answers them over both transports. (Separates the answering
///     logic from the packet-growth step when test 1 fails.)
#[test]
fn xdp_answers_padded_queries() {
    let net = Net::new("xdp_padded");
    let d = Daemon::start(&net, DaemonOpts::default());
    let mut f = Failures::default();
    for server in [net.srv_v4(), net.srv_v6()] {
        for (qtype, expected) in [("A", WWW_A), ("AAAA", WWW_AAAA)] {
            let q = format!(
                "www.example.test {qtype} +padding=128 over {} (@{server})",
                transport(server)
            );
            let before = d.stats();
            let r = net.dig(server, "www.example.test", qtype, &["+padding=128"]);
            let after = d.stats();
            f.check(
                r.status == "NOERROR" && r.answer_keys() == keys(&expected),
                || {
                    format!(
                        "{q}: status {} answer {:?}\n{}",
                        r.status,
                        r.answer_keys(),
                        r.raw
                    )
                },
            );
            let answered = before.delta_of(&after, "xdp_answered");
            f.check(answered == 1, || {
                format!(
                    "{q}: not answered by XDP: xdp_answered +{answered} (want +1); changes: {:?}",
                    before.delta(&after)
                )
            });
        }
    }
    f.assert_none();
}

/// 2. A mixed-case question: XDP answers and keeps the case of the question
///    in the answer owners (they point at the question).
#[test]
fn xdp_preserves_question_case() {
    let net = Net::new("xdp_case");
    let d = Daemon::start(&net, DaemonOpts::default());
    let mut f = Failures::default();
    let name = "WwW.ExAmPlE.TeSt";
    for (qtype, expected) in [("A", WWW_A), ("AAAA", WWW_AAAA)] {
        let q = format!("{name} {qtype} over IPv4");
        let before = d.stats();
        let r = net.dig(net.srv_v4(), name, qtype, &[]);
        let after = d.stats();
        f.check(r.status == "NOERROR", || {
            format!("{q}: status {}\n{}", r.status, r.raw)
        });
        f.check(r.answer_keys() == keys(&expected), || {
            format!(
                "{q}: answer {:?}, want {expected:?}\n{}",
                r.answer_keys(),
                r.raw
            )
        });
        f.check(
            !r.answer.is_empty() && r.answer.iter().all(|a| a.owner_raw == format!("{name}.")),
            || {
                format!(
                    "{q}: answer owners do not keep the question's case\n{}",
                    r.raw
                )
            },
        );
        f.check(
            r.question
                .first()
                .is_some_and(|l| l.starts_with(&format!("{name}."))),
            || format!("{q}: question case changed: {:?}", r.question),
        );
        let answered = before.delta_of(&after, "xdp_answered");
        f.check(answered == 1, || {
            format!(
                "{q}: xdp_answered +{answered} (want +1); changes: {:?}",
                before.delta(&after)
            )
        });
    }
    f.assert_none();
}

/// One query and what it must produce.
struct Case {
    name: &'static str,
    qtype: &'static str,
    tcp: bool,
    /// More dig options (`+dnssec`, `+noedns`).
    opts: Vec<&'static str>,
    status: &'static str,
    answer: Vec<&'static str>,
    /// Expected authority section; `None`: not checked.
    authority: Option<Vec<&'static str>>,
    /// Expected additional section (OPT aside); `None`: not checked.
    additional: Option<Vec<&'static str>>,
    /// The counter a UDP query moves in the XDP program: `xdp_answered*`
    /// or the pass reason.
    xdp: &'static str,
}

fn case(
    name: &'static str,
    qtype: &'static str,
    status: &'static str,
    answer: &[&'static str],
    authority: Option<&[&'static str]>,
    xdp: &'static str,
) -> Case {
    Case {
        name,
        qtype,
        tcp: false,
        opts: Vec::new(),
        status,
        answer: answer.to_vec(),
        authority: authority.map(<[_]>::to_vec),
        additional: None,
        xdp,
    }
}

impl Case {
    fn with(mut self, opt: &'static str) -> Case {
        self.opts.push(opt);
        self
    }

    fn additional(mut self, records: &[&'static str]) -> Case {
        self.additional = Some(records.to_vec());
        self
    }
}

const SOA: &str = "example.test. 3600 IN SOA ns1.example.test. hostmaster.example.test. 2026112201 7200 3600 1209600 300";
const NS1: [&str; 2] = [
    "ns1.example.test. 3600 IN A 198.18.0.53",
    "ns1.example.test. 3600 IN AAAA 2001:db8::53",
];

/// Static RRsets XDP answers itself from canned bytes (the slow path's own
/// encoding), with the addresses of NS, MX and SRV targets in the
/// additional section.
fn static_cases() -> Vec<Case> {
    let answered = |name, qtype, answer: &[&'static str]| {
        case(
            name,
            qtype,
            "NOERROR",
            answer,
            Some(&[]),
            "xdp_answered_static",
        )
        .additional(&[])
    };
    vec![
        answered("example.test", "SOA", &[SOA]),
        answered("ExAmPlE.TeSt", "SOA", &[SOA]).with("+dnssec"),
        answered(
            "example.test",
            "NS",
            &["example.test. 3600 IN NS ns1.example.test."],
        )
        .additional(&NS1),
        answered(
            "example.test",
            "MX",
            &["example.test. 3600 IN MX 10 mail.example.test."],
        )
        .additional(&["mail.example.test. 3600 IN A 198.18.0.25"])
        .with("+noedns"),
        answered(
            "example.test",
            "TXT",
            &["example.test. 3600 IN TXT \"v=spf1 mx -all\""],
        ),
        answered(
            "_sip._udp.example.test",
            "SRV",
            &["_sip._udp.example.test. 3600 IN SRV 10 60 5060 sip.example.test."],
        )
        .additional(&["sip.example.test. 3600 IN A 198.18.0.60"]),
        answered(
            "example.test",
            "CAA",
            &["example.test. 3600 IN CAA 0 issue \"ca.example.net\""],
        ),
        answered("ns1.example.test", "A", &NS1[..1]),
        answered("NS1.example.TEST", "AAAA", &NS1[1..]),
    ]
}

/// Queries XDP passes to the slow path, and why.
fn slow_path_cases() -> Vec<Case> {
    let mut www_tcp = case("www.example.test", "A", "NOERROR", &WWW_A, None, "");
    www_tcp.tcp = true;
    let mut cname_chain = vec!["app.example.test. 3600 IN CNAME www.example.test."];
    cname_chain.extend(WWW_A);
    vec![
        // A CNAME owner: its answers follow the chain (here into a gslb
        // name), which the slow path does.
        case(
            "app.example.test",
            "CNAME",
            "NOERROR",
            &["app.example.test. 3600 IN CNAME www.example.test."],
            None,
            "xdp_passed_unsupported_type",
        ),
        case(
            "app.example.test",
            "A",
            "NOERROR",
            &cname_chain,
            None,
            "xdp_passed_no_answer_set",
        ),
        // NXDOMAIN two labels below an existing name.
        case(
            "a.nx.example.test",
            "A",
            "NXDOMAIN",
            &[],
            Some(&[NEG_SOA]),
            "xdp_passed_name_not_found",
        ),
        case(
            "example.org",
            "A",
            "REFUSED",
            &[],
            Some(&[]),
            "xdp_passed_name_not_found",
        ),
        www_tcp,
    ]
}

/// NXDOMAIN and NODATA that XDP answers itself (SOA in the authority
/// section, TTL min(SOA TTL, MINIMUM)).
fn negative_cases() -> Vec<Case> {
    let nx = |name, qtype| {
        case(
            name,
            qtype,
            "NXDOMAIN",
            &[],
            Some(&[NEG_SOA]),
            "xdp_answered_nxdomain",
        )
    };
    let nodata = |name, qtype| {
        case(
            name,
            qtype,
            "NOERROR",
            &[],
            Some(&[NEG_SOA]),
            "xdp_answered_nodata",
        )
    };
    let gslb_nodata = |name, qtype| {
        case(
            name,
            qtype,
            "NOERROR",
            &[],
            Some(&[GSLB_NODATA_SOA]),
            "xdp_answered_nodata",
        )
    };
    vec![
        // Children of the apex, of a gslb name, of an empty non-terminal
        // (`_udp`, from `_sip._udp`) and of a CNAME owner.
        nx("nx.example.test", "A"),
        nx("nx.example.test", "MX"),
        nx("nx.example.test", "AAAA").with("+dnssec"),
        nx("nx.www.example.test", "AAAA"),
        nx("nx._udp.example.test", "SRV"),
        nx("x.app.example.test", "A").with("+noedns"),
        nx("NxDoMaIn.ExAmPlE.TeSt", "TXT"),
        // Types a gslb name has no set for; any type at an empty
        // non-terminal.
        gslb_nodata("www.example.test", "MX"),
        gslb_nodata("www.example.test", "TXT").with("+dnssec"),
        gslb_nodata("www.example.test", "NS").with("+noedns"),
        gslb_nodata("WwW.ExAmPlE.TeSt", "CAA"),
        nodata("_udp.example.test", "TXT"),
        nodata("_udp.example.test", "A"),
        // Types a name with static data lacks, when all of its data is in
        // XDP's static answers.
        nodata("ns1.example.test", "MX"),
        nodata("mail.example.test", "AAAA").with("+noedns"),
        nodata("example.test", "A"),
    ]
}

fn run_case(net: &Net, server: IpAddr, c: &Case) -> Response {
    let mut extra = c.opts.clone();
    if c.tcp {
        extra.push("+tcp");
    }
    net.dig(server, c.name, c.qtype, &extra)
}

fn describe(c: &Case, server: IpAddr) -> String {
    format!(
        "{} {}{}{} over {} (@{server})",
        c.name,
        c.qtype,
        if c.tcp { " +tcp" } else { "" },
        c.opts.iter().map(|o| format!(" {o}")).collect::<String>(),
        transport(server)
    )
}

/// dig's `; EDNS:` line (version, flags such as `do`, UDP size), if any.
fn edns_line(r: &Response) -> Option<String> {
    r.raw
        .lines()
        .find(|l| l.trim_start().starts_with("; EDNS:"))
        .map(|l| l.trim().to_string())
}

/// What the EDNS line must be: none with `+noedns`, DO echoed with
/// `+dnssec`.
fn want_edns(c: &Case) -> Option<&'static str> {
    if c.opts.contains(&"+noedns") {
        None
    } else if c.opts.contains(&"+dnssec") {
        Some("; EDNS: version: 0, flags: do; udp: 1232")
    } else {
        Some("; EDNS: version: 0, flags:; udp: 1232")
    }
}

/// Asks every case over IPv4 and IPv6 and checks what all XDP answers
/// share: the status, QR and AA, the EDNS line (DO copied, OPT only when
/// asked), `xdp_answered` and the case's own counter +1 each, and over
/// the whole run the `kinds` counters together +1 per query sent;
/// `sections` checks the rest.
fn check_xdp_answers(
    f: &mut Failures,
    net: &Net,
    d: &Daemon,
    cases: &[Case],
    kinds: &[&str],
    sections: impl Fn(&mut Failures, &str, &Case, &Response),
) {
    let start = d.stats();
    let mut sent = 0;
    for server in [net.srv_v4(), net.srv_v6()] {
        for c in cases {
            let q = describe(c, server);
            let before = d.stats();
            let r = run_case(net, server, c);
            sent += 1;
            let after = d.stats();
            f.check(r.status == c.status, || {
                format!("{q}: status {} (want {})\n{}", r.status, c.status, r.raw)
            });
            f.check(sorted_flags(&r) == ["aa", "qr"], || {
                format!("{q}: flags {:?} (want qr aa)\n{}", r.flags, r.raw)
            });
            sections(f, &q, c, &r);
            f.check(edns_line(&r).as_deref() == want_edns(c), || {
                format!(
                    "{q}: EDNS {:?} (want {:?})\n{}",
                    edns_line(&r),
                    want_edns(c),
                    r.raw
                )
            });
            for counter in ["xdp_answered", c.xdp] {
                let got = before.delta_of(&after, counter);
                f.check(got == 1, || {
                    format!(
                        "{q}: not answered by XDP: {counter} +{got} (want +1); changes: {:?}",
                        before.delta(&after)
                    )
                });
            }
        }
    }
    let end = d.stats();
    let total: u64 = kinds.iter().map(|k| start.delta_of(&end, k)).sum();
    f.check(total == sent, || {
        format!("{} +{total} over the test, want +{sent}", kinds.join(" + "))
    });
}

/// 2b. NXDOMAIN and NODATA answered by XDP over IPv4 and IPv6: the SOA of
///     the zone in the authority section, the question's case kept in its
///     owner, DO copied, counted in `xdp_answered_nxdomain` /
///     `xdp_answered_nodata`.
#[test]
fn xdp_answers_nxdomain_and_nodata() {
    let net = Net::new("xdp_negative");
    let d = Daemon::start(&net, DaemonOpts::default());
    let mut f = Failures::default();
    let kinds = ["xdp_answered_nxdomain", "xdp_answered_nodata"];
    check_xdp_answers(&mut f, &net, &d, &negative_cases(), &kinds, |f, q, c, r| {
        f.check(r.answer.is_empty() && r.additional.is_empty(), || {
            format!("{q}: unexpected answer or additional records\n{}", r.raw)
        });
        let want = c.authority.as_deref().unwrap_or(&[NEG_SOA]);
        f.check(r.authority_keys() == keys(want), || {
            format!(
                "{q}: authority {:?}\nwant {want:?}\n{}",
                r.authority_keys(),
                r.raw
            )
        });
        // The SOA owner points into the question: example.test as asked.
        let labels: Vec<&str> = c.name.split('.').collect();
        let apex_as_asked = format!("{}.", labels[labels.len() - 2..].join("."));
        f.check(
            r.authority
                .first()
                .is_some_and(|a| a.owner_raw == apex_as_asked),
            || {
                format!(
                    "{q}: SOA owner is not {apex_as_asked} (the question's case)\n{}",
                    r.raw
                )
            },
        );
    });
    f.assert_none();
}

/// 2c. Static RRsets answered by XDP over IPv4 and IPv6: the zone's
///     records with the addresses of NS, MX and SRV targets as additional
///     records, owners in the question's case, DO copied, OPT only when
///     asked, counted in `xdp_answered_static`.
#[test]
fn xdp_answers_static_rrsets() {
    let net = Net::new("xdp_static");
    let d = Daemon::start(&net, DaemonOpts::default());
    let mut f = Failures::default();
    let kinds = ["xdp_answered_static"];
    check_xdp_answers(&mut f, &net, &d, &static_cases(), &kinds, |f, q, c, r| {
        f.check(r.answer_keys() == keys(&c.answer), || {
            format!(
                "{q}: answer {:?}\nwant {:?}\n{}",
                r.answer_keys(),
                c.answer,
                r.raw
            )
        });
        f.check(r.authority.is_empty(), || {
            format!("{q}: unexpected authority\n{}", r.raw)
        });
        let additional = c.additional.as_deref().unwrap_or_default();
        f.check(r.additional_keys() == keys(additional), || {
            format!(
                "{q}: additional {:?}\nwant {additional:?}\n{}",
                r.additional_keys(),
                r.raw
            )
        });
        // The first owner points into the question: the name as asked.
        f.check(
            r.answer
                .first()
                .is_some_and(|a| a.owner_raw == format!("{}.", c.name)),
            || {
                format!(
                    "{q}: answer owner is not {}. (the question's case)\n{}",
                    c.name, r.raw
                )
            },
        );
    });
    f.assert_none();
}

/// 3. Everything XDP passes is answered by the slow path of the same daemon.
#[test]
fn slow_path_answers_through_the_same_daemon() {
    let net = Net::new("slow_path");
    let d = Daemon::start(&net, DaemonOpts::default());
    let mut f = Failures::default();
    let cases = slow_path_cases();
    let start = d.stats();
    let mut udp = 0;
    for c in &cases {
        let server = net.srv_v4();
        let q = describe(c, server);
        let before = d.stats();
        let r = run_case(&net, server, c);
        let after = d.stats();
        let changes = before.delta(&after);
        if c.tcp {
            let tcp = before.delta_of(&after, "xdp_passed_not_udp");
            f.check(tcp >= 1, || {
                format!(
                    "{q}: xdp_passed_not_udp +{tcp}: the TCP query did not pass XDP; changes: {changes:?}"
                )
            });
        } else {
            udp += 1;
            let got = before.delta_of(&after, c.xdp);
            f.check(got == 1, || {
                format!("{q}: {} +{got} (want +1); changes: {changes:?}", c.xdp)
            });
        }
        f.check(r.status == c.status, || {
            format!("{q}: status {} (want {})\n{}", r.status, c.status, r.raw)
        });
        f.check(r.answer_keys() == keys(&c.answer), || {
            format!(
                "{q}: answer {:?}\nwant {:?}\n{}",
                r.answer_keys(),
                c.answer,
                r.raw
            )
        });
        if let Some(auth) = &c.authority {
            f.check(r.authority_keys() == keys(auth), || {
                format!(
                    "{q}: authority {:?}\nwant {auth:?}\n{}",
                    r.authority_keys(),
                    r.raw
                )
            });
        }
        if c.status != "REFUSED" {
            f.check(r.has_flag("aa") && r.has_flag("qr"), || {
                format!("{q}: flags {:?} lack qr aa", r.flags)
            });
        }
        let want_transport = if c.tcp { "TCP" } else { "UDP" };
        f.check(r.transport == want_transport, || {
            format!("{q}: transport {} (want {want_transport})", r.transport)
        });
    }
    let end = d.stats();
    let changes = start.delta(&end);
    let answered = start.delta_of(&end, "xdp_answered");
    f.check(answered == 0, || {
        format!("xdp_answered +{answered} for slow-path queries (want +0); changes: {changes:?}")
    });
    let queries = start.delta_of(&end, "xdp_dns_queries");
    f.check(queries == udp, || {
        format!("xdp_dns_queries +{queries} (want +{udp}); changes: {changes:?}")
    });
    f.assert_none();
}

/// 4. The same queries against a daemon with XDP and one without give the
///    same status, flags, EDNS line (size, DO), answer and authority;
///    the XDP daemon's counters show which path answered each query
///    (positive and negative answers in XDP, the rest passed).
#[test]
fn fast_and_slow_path_give_identical_answers() {
    let net_x = Net::new("parity_xdp");
    let net_s = Net::new("parity_noxdp");
    let dx = Daemon::start(&net_x, DaemonOpts::default());
    let _ds = Daemon::start(
        &net_s,
        DaemonOpts {
            no_xdp: true,
            ..DaemonOpts::default()
        },
    );
    let mut f = Failures::default();
    let link = net_s.srv_link_show();
    f.check(!link_has_xdp(&link), || {
        format!("--no-xdp daemon attached XDP: {link}")
    });

    let answer = "xdp_answered";
    let mut cases = vec![
        case(
            "www.example.test",
            "A",
            "NOERROR",
            &WWW_A,
            Some(&[]),
            answer,
        ),
        case(
            "www.example.test",
            "AAAA",
            "NOERROR",
            &WWW_AAAA,
            Some(&[]),
            answer,
        ),
        case(
            "WwW.ExAmPlE.TeSt",
            "A",
            "NOERROR",
            &WWW_A,
            Some(&[]),
            answer,
        ),
        case(
            "WWW.EXAMPLE.TEST",
            "AAAA",
            "NOERROR",
            &WWW_AAAA,
            Some(&[]),
            answer,
        ),
        case(
            "www.example.test",
            "A",
            "NOERROR",
            &WWW_A,
            Some(&[]),
            answer,
        )
        .with("+dnssec"),
    ];
    cases.extend(negative_cases());
    cases.extend(static_cases());
    cases.extend(slow_path_cases());
    let before = dx.stats();
    for v6 in [false, true] {
        for c in &cases {
            let (sx, ss) = if v6 {
                (net_x.srv_v6(), net_s.srv_v6())
            } else {
                (net_x.srv_v4(), net_s.srv_v4())
            };
            let q = describe(c, sx);
            let bx = dx.stats();
            let rx = run_case(&net_x, sx, c);
            let ax = dx.stats();
            let rs = run_case(&net_s, ss, c);
            f.check(
                rx.summary() == rs.summary() && edns_line(&rx) == edns_line(&rs),
                || {
                    format!(
                        "{q}: XDP daemon and --no-xdp daemon differ\n--- with XDP ---\n{}\n--- without XDP ---\n{}",
                        rx.raw, rs.raw
                    )
                },
            );
            f.check(edns_line(&rs).as_deref() == want_edns(c), || {
                format!("{q}: EDNS {:?} (want {:?})", edns_line(&rs), want_edns(c))
            });
            // Where the XDP daemon's answer came from.
            if !c.tcp {
                let got = bx.delta_of(&ax, c.xdp);
                f.check(got == 1, || {
                    format!(
                        "{q}: XDP daemon: {} +{got} (want +1); changes: {:?}",
                        c.xdp,
                        bx.delta(&ax)
                    )
                });
            }
            // Both must also be right, not just equal.
            f.check(
                rs.status == c.status && rs.answer_keys() == keys(&c.answer),
                || {
                    format!(
                        "{q}: slow path wrong: status {} answer {:?}\n{}",
                        rs.status,
                        rs.answer_keys(),
                        rs.raw
                    )
                },
            );
        }
        // Without EDNS: no OPT in either response, same answer.
        let sx = if v6 { net_x.srv_v6() } else { net_x.srv_v4() };
        let ss = if v6 { net_s.srv_v6() } else { net_s.srv_v4() };
        let rx = net_x.dig(sx, "www.example.test", "A", &["+noedns"]);
        let rs = net_s.dig(ss, "www.example.test", "A", &["+noedns"]);
        f.check(rx.summary() == rs.summary() && rx.edns_udp.is_none(), || {
            format!(
                "www.example.test A +noedns over {}: responses differ or carry OPT\n--- with XDP ---\n{}\n--- without XDP ---\n{}",
                transport(sx),
                rx.raw,
                rs.raw
            )
        });
    }
    let after = dx.stats();
    let answered = before.delta_of(&after, "xdp_answered");
    let negatives = 2 * (negative_cases().len() + static_cases().len()) as u64;
    f.check(answered >= negatives, || {
        format!(
            "the XDP daemon answered {answered} queries in XDP (want at least the {negatives} negative and static ones); changes: {:?}",
            before.delta(&after)
        )
    });
    f.assert_none();
}

/// 5. XDP answers (positive, NXDOMAIN, NODATA, static) carry correct IPv4 header
///    and UDP checksums, as seen by tcpdump on the client end of the veth
///    (veth verifies checksums, unlike lo; dig getting answers at all in
///    test 1 already depends on it).
#[test]
fn xdp_answers_have_valid_checksums() {
    let net = Net::new("checksums");
    let d = Daemon::start(&net, DaemonOpts::default());
    let mut f = Failures::default();
    for (server, name, qtype, expected) in [
        (net.srv_v4(), "www.example.test", "A", keys(&WWW_A)),
        (net.srv_v6(), "www.example.test", "A", keys(&WWW_A)),
        (net.srv_v4(), "nx.example.test", "A", vec![]),
        (net.srv_v6(), "www.example.test", "MX", vec![]),
        (net.srv_v4(), "example.test", "SOA", keys(&[SOA])),
        (net.srv_v6(), "ns1.example.test", "A", keys(&NS1[..1])),
    ] {
        let q = format!("{name} {qtype} over {} (@{server})", transport(server));
        let mut cmd = net.in_cli("tcpdump");
        cmd.args([
            "-n",
            "-vv",
            "-l",
            "-c",
            "1",
            "-i",
            &net.cli_if,
            "udp and src port 53",
        ]);
        let mut tcpdump = Background::spawn(&mut cmd);
        tcpdump.wait_stderr("listening on", Duration::from_secs(10));
        let before = d.stats();
        let r = net.dig(server, name, qtype, &[]);
        let after = d.stats();
        let out = tcpdump.finish(DIG_TIMEOUT);
        f.check(r.answer_keys() == expected, || {
            format!("{q}: answer {:?}\n{}", r.answer_keys(), r.raw)
        });
        let answered = before.delta_of(&after, "xdp_answered");
        if answered != 1 {
            // The slow path's answer crosses the veth with a partial
            // (offloaded) checksum, so tcpdump's verdict says nothing then.
            f.check(false, || {
                format!(
                    "{q}: not answered by XDP, so its checksums cannot be checked: \
                     xdp_answered +{answered} (want +1); changes: {:?}\n{out}",
                    before.delta(&after)
                )
            });
            continue;
        }
        f.check(out.success() && out.stdout.contains("udp sum ok"), || {
            format!("{q}: tcpdump did not report \"udp sum ok\" for XDP's answer\n{out}")
        });
        f.check(!out.stdout.contains("bad"), || {
            format!("{q}: bad checksum in XDP's answer\n{out}")
        });
    }
    // A second client implementation over the veth.
    let out = run_bounded(
        net.in_cli("kdig").arg(format!("@{}", net.srv_v4())).args([
            "www.example.test",
            "A",
            "+norec",
            "+time=2",
            "+retry=0",
        ]),
        DIG_TIMEOUT,
    );
    f.check(
        out.success() && out.stdout.contains("NOERROR") && out.stdout.contains("198.18.0.11"),
        || format!("kdig got no answer\n{out}"),
    );
    f.assert_none();
}

/// 6 (SIGTERM): exit 0 within 5 s; the XDP program stays attached and
/// pinned and keeps answering with no daemon; `gslb detach` then removes
/// the program from the interface and every pin.
#[test]
fn sigterm_leaves_the_fast_path_and_detach_removes_it() {
    let net = Net::new("shutdown");
    let mut d = Daemon::start(&net, DaemonOpts::default());
    let link = net.srv_link_show();
    assert!(
        link_has_xdp(&link),
        "no XDP program on {} while running:\n{link}",
        net.srv_if
    );
    assert!(
        !d.pinned_files().is_empty(),
        "nothing pinned in {} while running",
        d.pin_dir.display()
    );
    // Serving before shutdown.
    let r = net.dig(net.srv_v4(), "www.example.test", "A", &[]);
    assert_eq!(r.answer_keys(), keys(&WWW_A), "{}", r.raw);

    let (status, in_time) = d.terminate(Duration::from_secs(5));
    let log = d.log_text();
    assert!(
        in_time,
        "daemon still running 5 s after SIGTERM (then killed):\n{log}"
    );
    assert!(
        status.success(),
        "daemon exited with {status} after SIGTERM:\n{log}"
    );
    assert!(
        log.contains("XDP program left attached and pinned"),
        "no word of the program left attached in the log:\n{log}"
    );
    let link = net.srv_link_show();
    assert!(
        link_has_xdp(&link),
        "XDP program gone after a graceful stop:\n{link}"
    );
    let left = d.pinned_files();
    for pin in ["COUNTERS", "PERSIST", "SERVER_GEN", "program"] {
        assert!(left.iter().any(|f| f == pin), "{pin} not pinned: {left:?}");
    }
    assert!(
        left.iter().any(|f| f == &format!("link_{}", net.srv_if)),
        "link not pinned: {left:?}"
    );
    // No daemon: the fast path answers alone.
    let before = d.stats();
    let r = net.dig(net.srv_v4(), "www.example.test", "A", &[]);
    assert_eq!(r.answer_keys(), keys(&WWW_A), "{}", r.raw);
    assert!(
        before.delta_of(&d.stats(), "xdp_answered") >= 1,
        "the answer did not come from XDP"
    );

    let out = d.detach();
    assert!(out.success(), "{out}");
    assert!(out.stdout.contains("detached from"), "{out}");
    let link = net.srv_link_show();
    assert!(
        !link_has_xdp(&link),
        "XDP program still attached after gslb detach:\n{link}"
    );
    let left = d.pinned_files();
    assert!(
        left.is_empty() && !d.pin_dir.exists(),
        "pinned files left in {}: {left:?}",
        d.pin_dir.display()
    );
}

/// The XDP program answers only for the listen addresses: a second
/// address on the interface (another DNS service's, here nobody's) gets
/// its UDP port-53 queries passed to the stack, counted in
/// `xdp_passed_not_local`; since nothing listens there, no answer comes.
#[test]
fn xdp_answers_only_for_the_listen_addresses() {
    let net = Net::new("xdp_local_only");
    let second_v4: IpAddr = std::net::Ipv4Addr::new(198, 18, net.k, 53).into();
    let second_v6: IpAddr =
        std::net::Ipv6Addr::new(0x2001, 0xdb8, net.k.into(), 0, 0, 0, 0, 0x53).into();
    net.add_srv_addr(second_v4);
    net.add_srv_addr(second_v6);
    let d = Daemon::start(&net, DaemonOpts::default());
    let mut f = Failures::default();
    for (listen, second, src) in [
        (net.srv_v4(), second_v4, net.cli_v4()),
        (net.srv_v6(), second_v6, net.cli_v6()),
    ] {
        let client = net.udp_client(src);
        let before = d.stats();
        let r = client.query(
            listen,
            "www.example.test.",
            RecordType::A,
            Duration::from_secs(2),
        );
        let after = d.stats();
        f.check(r.as_ref().is_some_and(|r| r.addrs.len() == 2), || {
            format!("www A @{listen}: {r:?} (want the two addresses)")
        });
        let answered = before.delta_of(&after, "xdp_answered");
        f.check(answered == 1, || {
            format!(
                "@{listen}: xdp_answered +{answered}, want +1; changes {:?}",
                before.delta(&after)
            )
        });
        let before = d.stats();
        let r = client.query(
            second,
            "www.example.test.",
            RecordType::A,
            Duration::from_millis(500),
        );
        let after = d.stats();
        f.check(r.is_none(), || {
            format!("www A @{second} (not a listen address): answered {r:?}")
        });
        let passed = before.delta_of(&after, "xdp_passed_not_local");
        let answered = before.delta_of(&after, "xdp_answered");
        f.check(passed == 1 && answered == 0, || {
            format!(
                "@{second}: xdp_passed_not_local +{passed} (want +1), xdp_answered \
                 +{answered} (want 0); changes {:?}",
                before.delta(&after)
            )
        });
    }
    f.assert_none();
}
