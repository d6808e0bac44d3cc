//! All members of a pool down: each `when_all_down` behaviour (fail_open,
//! fallback_ip, return_to_dns, servfail, nodata, drop) answered alike by
//! an XDP daemon and a `--no-xdp` daemon, as dig in the client namespace
//! sees it.
//!
//! Root and native XDP on veth are required: a missing capability fails
//! the tests.
//!
//! Run with `cargo xtask test -- -p gslb-tests --test all_down`.

use std::net::IpAddr;

use gslb_tests::{
    config::{gslb, pool},
    harness::{
        answer_addrs, check_config, dead_monitor, dead_server, dig_opt, start_with, status_server,
        v4, Failures, ZONE,
    },
    netns::{Net, Response},
};

/// Every `when_all_down` behaviour but return-to-DNS with a static record
/// (own test below): (name, pool text).
const ALL_DOWN_POOLS: [(&str, &str); 6] = [
    ("open", r#"when_all_down = "fail_open""#),
    (
        "fbip",
        r#"when_all_down = "fallback_ip"
fallback_ip = ["198.18.99.1", "198.18.99.2", "2001:db8:99::1"]"#,
    ),
    ("rtd", r#"when_all_down = "return_to_dns""#),
    ("servfail", r#"when_all_down = "servfail""#),
    ("nodata", r#"when_all_down = "nodata""#),
    ("drop", r#"when_all_down = "drop""#),
];

fn all_down_config(net: &Net, extra_zone: &str, pools: &[(&str, &str)]) -> String {
    let mut c = String::from(ZONE);
    c.push_str(extra_zone);
    c.push_str(&dead_monitor(net));
    c.push_str(&dead_server(net, "dead1", "198.18.50.1"));
    c.push_str(&dead_server(net, "dead2", "198.18.50.2"));
    for (name, text) in pools {
        c.push_str(&pool(
            name,
            &["dead1", "dead2"],
            "round_robin",
            2,
            &format!("{text}\n"),
        ));
        c.push_str(&gslb(&format!("{name}.example.test"), 30, &[name], ""));
    }
    c
}

/// A record as (owner, ttl, class, type, data).
type RrKey = (String, u32, String, String, String);
/// What one query got: rcode, answer records, authority records.
type Outcome = (String, Vec<RrKey>, Vec<RrKey>);

/// What one query got, or `None` for no response.
fn outcome(r: &Option<Response>) -> Option<Outcome> {
    r.as_ref()
        .map(|r| (r.status.clone(), r.answer_keys(), r.authority_keys()))
}

/// The expected outcome of `name` A: rcode and answer addresses, or `None`
/// for no response.
fn expected_all_down(name: &str) -> Option<(&'static str, Vec<IpAddr>)> {
    match name {
        "open" => Some(("NOERROR", vec![v4("198.18.50.1"), v4("198.18.50.2")])),
        "fbip" => Some(("NOERROR", vec![v4("198.18.99.1"), v4("198.18.99.2")])),
        "rtd" | "nodata" => Some(("NOERROR", vec![])),
        "servfail" => Some(("SERVFAIL", vec![])),
        "drop" => None,
        "rtdstatic" => Some(("NOERROR", vec![v4("198.18.77.7")])),
        other => panic!("no expectation for {other}"),
    }
}

/// The XDP counter each all-down behaviour must move for an A query.
fn all_down_counter(name: &str) -> &'static str {
    match name {
        "open" | "fbip" => "xdp_answered",
        "nodata" => "xdp_answered_nodata",
        "drop" => "xdp_dropped_by_method",
        _ => "xdp_passed_slow_path_method",
    }
}

fn run_all_down(test: &str, extra_zone: &str, pools: &[(&str, &str)]) {
    let net_x = Net::new(&format!("{test}_x"));
    let net_s = Net::new(&format!("{test}_s"));
    let cx = all_down_config(&net_x, extra_zone, pools);
    let cs = all_down_config(&net_s, extra_zone, pools);
    check_config(&cx, test);
    let dx = start_with(&net_x, &cx, false);
    let ds = start_with(&net_s, &cs, true);
    let mut f = Failures::default();
    for d in [&dx, &ds] {
        let st = d.status_json();
        for s in ["dead1", "dead2"] {
            let v = status_server(&st, s);
            f.check(v["availability"] == "down", || {
                format!("{s} should start down: {v}")
            });
        }
    }
    for (name, _) in pools {
        let qname = format!("{name}.example.test");
        for qtype in ["A", "AAAA"] {
            let before = dx.stats();
            let rx = dig_opt(&net_x, net_x.srv_v4(), &qname, qtype, &[]);
            let after = dx.stats();
            let rs = dig_opt(&net_s, net_s.srv_v4(), &qname, qtype, &[]);
            let show = |r: &Option<Response>| {
                r.as_ref()
                    .map_or_else(|| "(no response)".to_string(), |r| r.raw.clone())
            };
            f.check(outcome(&rx) == outcome(&rs), || {
                format!(
                    "{qname} {qtype}: XDP and --no-xdp differ\n--- with XDP ---\n{}\n--- without XDP ---\n{}",
                    show(&rx),
                    show(&rs)
                )
            });
            if qtype == "A" {
                let want = expected_all_down(name);
                let got = rx.as_ref().map(|r| (r.status.as_str(), answer_addrs(r)));
                f.check(got == want.as_ref().map(|(s, a)| (*s, a.clone())), || {
                    format!(
                        "{qname} A (XDP daemon): got {got:?}, want {want:?}\n{}",
                        show(&rx)
                    )
                });
                // NODATA is kept no longer than the name's answers: the
                // SOA's TTL is at most the name's 30 s, not the zone's 300.
                for r in [&rx, &rs].into_iter().flatten() {
                    for soa in r.authority_keys() {
                        f.check(soa.1 <= 30, || {
                            format!(
                                "{qname} A: SOA TTL {} above the name's 30\n{}",
                                soa.1, r.raw
                            )
                        });
                    }
                }
                let counter = all_down_counter(name);
                let n = before.delta_of(&after, counter);
                f.check(n == 1, || {
                    format!(
                        "{qname} A: {counter} +{n}, want +1; changes: {:?}",
                        before.delta(&after)
                    )
                });
            }
            eprintln!(
                "ALL DOWN {qname} {qtype}: XDP {:?} / slow {:?}",
                outcome(&rx).map(|o| (o.0, o.1.len())),
                outcome(&rs).map(|o| (o.0, o.1.len()))
            );
        }
    }
    // The explanation names the all-down step and behaviour.
    for (name, text) in pools {
        let behaviour = text.split('"').nth(1).expect("when_all_down = \"...\"");
        let ex = dx.explain_json(&format!("{name}.example.test"), None);
        f.check(
            ex["a"]["explanation"]["step"] == "when_all_down"
                && ex["a"]["explanation"]["method"] == behaviour,
            || format!("explain of {name}.example.test: want when_all_down / {behaviour}: {ex}"),
        );
    }
    f.assert_none();
}

/// All members down: fail_open, fallback_ip, return_to_dns (nothing static
/// at the name: NODATA), servfail, nodata, drop — the XDP daemon and the
/// `--no-xdp` daemon give identical responses (rcode, answer, authority;
/// drop = no response), and the expected ones.
#[test]
fn all_down_behaviours_fast_and_slow_path_identical() {
    run_all_down("eng_alldown", "", &ALL_DOWN_POOLS);
}

/// Return-to-DNS with a static A record at the gslb name: all members down
/// → the static record, from both paths.
#[test]
fn all_down_return_to_dns_answers_the_static_record() {
    let zone = r#"
[[zone.record]]
name = "rtdstatic"
type = "A"
data = "198.18.77.7"
"#;
    run_all_down(
        "eng_rtd",
        zone,
        &[("rtdstatic", r#"when_all_down = "return_to_dns""#)],
    );
}
