//! End-to-end tests of how the engine chooses among a gslb name's pools
//! (docs/methods.md, "Pool chains") and of the `fewest_selected` hand-out window:
//! a daemon in a network namespace, servers made down with `gslb server
//! disable`, answers read by dig in the client namespace and proven to
//! come from XDP by its counters; the same answers from a `--no-xdp`
//! daemon.
//!
//! Run with `cargo xtask test -- -p gslb-tests --test pools`.

use std::{
    collections::BTreeMap,
    net::IpAddr,
    thread,
    time::{Duration, Instant},
};

use gslb_tests::{
    config::{gslb, pool, vserver},
    harness::{answer_addrs, check_config, start_with, v4, Failures, QUERY_TIMEOUT, ZONE},
    netns::Net,
};
use hickory_proto::rr::RecordType;

// ---------------------------------------------------------------------------
// Pool chains.

/// A pool of one member: round robin, then `fallback`, with fallback
/// address `fip`, and `when_all_down`.
fn one_member_pool(name: &str, member: &str, fallback: &str, fip: &str, all_down: &str) -> String {
    format!(
        r#"
[[pool]]
name = "{name}"
members = ["{member}"]
preferred = "round_robin"
fallback = "{fallback}"
fallback_ip = ["{fip}"]
when_all_down = "{all_down}"
"#
    )
}

/// Four names over pools of one member each (s1..s9 at 198.18.60.N; pool
/// fallback addresses at 198.18.61.N):
/// - chain: p1 [s1], p2 [s2], last resort plast [s3], every pool ending in
///   fallback_ip;
/// - nolr: q1 [s4] (fallback_ip), q2 [s5] (fallback_ip), no last resort;
/// - wad: w1 [s6] (no fallback, when_all_down servfail), w2 [s7]
///   (fallback_ip);
/// - rot: pool_method round_robin over r1 [s8], r2 [s9], both fallback_ip;
/// - rat: pool_method ratio (1:1) over t1 [s10], t2 [s11], both
///   fallback_ip;
/// - skip: n1 [s12] whose methods are all `none`, then n2 [s13].
fn chain_config() -> String {
    let mut c = String::from(ZONE);
    for n in 1..=13 {
        c.push_str(&vserver(&format!("s{n}"), format!("198.18.60.{n}"), ""));
    }
    for (pool, member, fallback, n, all_down) in [
        ("p1", "s1", "fallback_ip", 1, "servfail"),
        ("p2", "s2", "fallback_ip", 2, "servfail"),
        ("plast", "s3", "fallback_ip", 3, "servfail"),
        ("q1", "s4", "fallback_ip", 4, "servfail"),
        ("q2", "s5", "fallback_ip", 5, "nodata"),
        ("w1", "s6", "none", 6, "servfail"),
        ("w2", "s7", "fallback_ip", 7, "nodata"),
        ("r1", "s8", "fallback_ip", 8, "servfail"),
        ("r2", "s9", "fallback_ip", 9, "servfail"),
        ("t1", "s10", "fallback_ip", 10, "servfail"),
        ("t2", "s11", "fallback_ip", 11, "servfail"),
        ("n2", "s13", "fallback_ip", 13, "servfail"),
    ] {
        c.push_str(&one_member_pool(
            pool,
            member,
            fallback,
            &format!("198.18.61.{n}"),
            all_down,
        ));
    }
    c.push_str(
        r#"
[[gslb]]
name = "chain.example.test"
ttl = 5
pools = ["p1", "p2"]
last_resort_pool = "plast"

[[gslb]]
name = "nolr.example.test"
ttl = 5
pools = ["q1", "q2"]

[[gslb]]
name = "wad.example.test"
ttl = 5
pools = ["w1", "w2"]

[[gslb]]
name = "rot.example.test"
ttl = 5
pools = ["r1", "r2"]
pool_method = "round_robin"

[[gslb]]
name = "rat.example.test"
ttl = 5
pools = ["t1", "t2"]
pool_method = "ratio"
pool_ratios = [1, 1]

[[pool]]
name = "n1"
members = ["s12"]
preferred = "none"
when_all_down = "servfail"

[[gslb]]
name = "skip.example.test"
ttl = 5
pools = ["n1", "n2"]
"#,
    );
    c
}

/// What one step expects for `name` A.
#[derive(Clone, Copy, Debug)]
enum Want {
    /// NOERROR with this one address, answered by XDP.
    Addr(&'static str),
    /// SERVFAIL, from the slow path (XDP passes it).
    Servfail,
}

/// One row of the case table: admin changes, then the name and the
/// expected answer.
struct Step {
    case: &'static str,
    admin: &'static [(&'static str, &'static str)],
    name: &'static str,
    want: Want,
}

const STEPS: &[Step] = &[
    Step {
        case: "1: first pool available",
        admin: &[],
        name: "chain",
        want: Want::Addr("198.18.60.1"),
    },
    Step {
        case: "2: first pool down (its fallback is fallback_ip): the next pool",
        admin: &[("disable", "s1")],
        name: "chain",
        want: Want::Addr("198.18.60.2"),
    },
    Step {
        case: "5: every pool down: the last resort pool",
        admin: &[("disable", "s2")],
        name: "chain",
        want: Want::Addr("198.18.60.3"),
    },
    Step {
        case: "6: last resort down too: its fallback",
        admin: &[("disable", "s3")],
        name: "chain",
        want: Want::Addr("198.18.61.3"),
    },
    Step {
        case: "2: a pool back up wins over any fallback",
        admin: &[("enable", "s2")],
        name: "chain",
        want: Want::Addr("198.18.60.2"),
    },
    Step {
        case: "2: without last resort, the next pool",
        admin: &[("disable", "s4")],
        name: "nolr",
        want: Want::Addr("198.18.60.5"),
    },
    Step {
        case: "6: without last resort, every pool down: the first pool's fallback",
        admin: &[("disable", "s5")],
        name: "nolr",
        want: Want::Addr("198.18.61.4"),
    },
    Step {
        case: "7: the chosen pool's chain yields nothing: its when_all_down",
        admin: &[("disable", "s6"), ("disable", "s7")],
        name: "wad",
        want: Want::Servfail,
    },
    Step {
        case: "3: pool round robin skips the down pool",
        admin: &[("disable", "s8")],
        name: "rot",
        want: Want::Addr("198.18.60.9"),
    },
    Step {
        case: "4: pool ratio gives the down pool's share to the others",
        admin: &[("disable", "s10")],
        name: "rat",
        want: Want::Addr("198.18.60.11"),
    },
    Step {
        case: "8: an available pool whose methods all find nothing is skipped",
        admin: &[],
        name: "skip",
        want: Want::Addr("198.18.60.13"),
    },
];

/// Every row of the pool-chain table (docs/methods.md, "Pool chains") through XDP:
/// servers disabled one by one, each answer read by dig and counted by
/// the XDP program (answers in `xdp_answered`, SERVFAIL passed to the
/// slow path), and the same answers from a `--no-xdp` daemon. Pool round
/// robin rotates once per second, so its row is asked over 3 seconds.
#[test]
fn pool_chain_cases_through_xdp_and_slow_path() {
    let config = chain_config();
    check_config(&config, "chain");
    let net_x = Net::new("pools_chain_x");
    let net_s = Net::new("pools_chain_s");
    let dx = start_with(&net_x, &config, false);
    let ds = start_with(&net_s, &config, true);
    let mut f = Failures::default();
    for step in STEPS {
        for (verb, server) in step.admin {
            dx.server_admin(verb, server);
            ds.server_admin(verb, server);
        }
        let qname = format!("{}.example.test", step.name);
        // Round robin at the pool level turns once per second: ask across
        // several rounds.
        let times = if matches!(step.name, "rot" | "rat") {
            4
        } else {
            1
        };
        for k in 0..times {
            if k > 0 {
                thread::sleep(Duration::from_millis(800));
            }
            let before = dx.stats();
            let rx = net_x.dig(net_x.srv_v4(), &qname, "A", &[]);
            let after = dx.stats();
            let rs = net_s.dig(net_s.srv_v4(), &qname, "A", &[]);
            let got = (rx.status.clone(), answer_addrs(&rx));
            let want = match step.want {
                Want::Addr(a) => ("NOERROR".to_string(), vec![v4(a)]),
                Want::Servfail => ("SERVFAIL".to_string(), vec![]),
            };
            eprintln!("POOL CHAIN case {}: {qname} -> {got:?}", step.case);
            f.check(got == want, || {
                format!(
                    "case {}: {qname} A (XDP daemon) got {got:?}, want {want:?}\n{}",
                    step.case, rx.raw
                )
            });
            let slow = (rs.status.clone(), answer_addrs(&rs));
            f.check(slow == want, || {
                format!(
                    "case {}: {qname} A (--no-xdp daemon) got {slow:?}, want {want:?}\n{}",
                    step.case, rs.raw
                )
            });
            let counter = match step.want {
                Want::Addr(_) => "xdp_answered",
                Want::Servfail => "xdp_passed_slow_path_method",
            };
            let n = before.delta_of(&after, counter);
            f.check(n == 1, || {
                format!(
                    "case {}: {qname} A: {counter} +{n}, want +1; changes: {:?}",
                    step.case,
                    before.delta(&after)
                )
            });
        }
    }
    // The explanation names the skipped pools.
    let ex = dx.explain_json("chain.example.test", None);
    let skipped = ex["a"]["explanation"]["skipped_pools"].to_string();
    f.check(
        ex["a"]["explanation"]["pool"] == "p2" && skipped.contains("p1: no available member"),
        || format!("explain of chain.example.test: want pool p2, p1 skipped: {ex}"),
    );
    f.assert_none();
}

// ---------------------------------------------------------------------------
// fewest_selected over a sliding window.

/// Window of the fewest_selected tests.
const WINDOW_S: u64 = 3;

/// fs.example.test: fewest_selected over f1, f2 (no monitors), one answer.
fn fewest_config() -> String {
    let mut c = String::from(ZONE);
    c.push_str(&format!(
        r#"
[engine]
fewest_selected_window = "{WINDOW_S}s"
"#
    ));
    c.push_str(&vserver("f1", "198.18.62.1", ""));
    c.push_str(&vserver("f2", "198.18.62.2", ""));
    c.push_str(&pool("fs", &["f1", "f2"], "fewest_selected", 1, ""));
    c.push_str(&gslb("fs.example.test", 5, &["fs"], ""));
    c
}

/// Queries fs.example.test A from `client` every `period` for `span`;
/// returns the first answers (address → count) and the number of queries.
fn query_for(
    client: &gslb_tests::netns::UdpDns,
    server: IpAddr,
    span: Duration,
    period: Duration,
    f: &mut Failures,
) -> (BTreeMap<IpAddr, u64>, u64) {
    let mut counts = BTreeMap::new();
    let mut n = 0;
    let t0 = Instant::now();
    while t0.elapsed() < span && n < 10_000 {
        n += 1;
        match client.query(server, "fs.example.test", RecordType::A, QUERY_TIMEOUT) {
            Some(r) if r.rcode == "NOERROR" && r.addrs.len() == 1 => {
                *counts.entry(r.addrs[0]).or_default() += 1;
            }
            other => f.check(false, || format!("fs.example.test A: {other:?}")),
        }
        thread::sleep(period);
    }
    (counts, n)
}

/// A server disabled for longer than the window and enabled again does
/// not take every new client until it has caught up with everything the
/// other got meanwhile: over the 6 s after its return (two windows), the
/// other server still gets a fair share of first answers. Every query is
/// answered by XDP (its counter), which also counts the hand-outs the
/// window sums.
#[test]
fn a_returning_server_does_not_take_every_client_through_xdp() {
    let config = fewest_config();
    check_config(&config, "fewest");
    let net = Net::new("pools_fewest");
    let d = start_with(&net, &config, false);
    let client = net.udp_client(net.cli_v4());
    let (f1, f2) = (v4("198.18.62.1"), v4("198.18.62.2"));
    let period = Duration::from_millis(10);
    let mut f = Failures::default();
    let before = d.stats();
    let (warm, n_warm) = query_for(
        &client,
        net.srv_v4(),
        Duration::from_secs(3),
        period,
        &mut f,
    );
    d.server_admin("disable", "f2");
    let (away, n_away) = query_for(
        &client,
        net.srv_v4(),
        Duration::from_secs(10),
        period,
        &mut f,
    );
    d.server_admin("enable", "f2");
    let (back, n_back) = query_for(
        &client,
        net.srv_v4(),
        Duration::from_secs(6),
        period,
        &mut f,
    );
    let after = d.stats();
    eprintln!(
        "FEWEST SELECTED warm {warm:?} ({n_warm} queries), f2 disabled {away:?} ({n_away}), \
         f2 back {back:?} ({n_back})"
    );
    f.check(!away.contains_key(&f2), || {
        format!("disabled f2 answered: {away:?}")
    });
    let f1_back = back.get(&f1).copied().unwrap_or(0);
    let f2_back = back.get(&f2).copied().unwrap_or(0);
    f.check(f1_back * 5 >= n_back, || {
        format!(
            "after f2's return f1 got {f1_back} of {n_back} first answers (under 20 %): \
             f2 took the new clients to catch up; {back:?}"
        )
    });
    f.check(f2_back * 5 >= n_back, || {
        format!("after its return f2 got {f2_back} of {n_back} first answers: {back:?}")
    });
    let n = n_warm + n_away + n_back;
    let answered = before.delta_of(&after, "xdp_answered");
    f.check(answered == n, || {
        format!(
            "xdp_answered +{answered}, want +{n} (every query answered in XDP); changes: {:?}",
            before.delta(&after)
        )
    });
    f.assert_none();
}

/// Answers of the slow path count too: TCP queries (never seen by XDP)
/// move fewest_selected from one server to the other once they have
/// counted, with XDP attached and with `--no-xdp`; `gslb status` shows
/// both servers' hand-outs.
#[test]
fn slow_path_answers_count_for_fewest_selected() {
    let config = fewest_config();
    check_config(&config, "fewest");
    let net_x = Net::new("pools_fewest_tcp_x");
    let net_s = Net::new("pools_fewest_tcp_s");
    let dx = start_with(&net_x, &config, false);
    let ds = start_with(&net_s, &config, true);
    let mut f = Failures::default();
    for (net, d, what) in [(&net_x, &dx, "XDP"), (&net_s, &ds, "--no-xdp")] {
        let before = d.xdp.then(|| d.stats());
        let mut seen: BTreeMap<IpAddr, u64> = BTreeMap::new();
        let t0 = Instant::now();
        let mut n = 0;
        while t0.elapsed() < Duration::from_secs(4) && n < 400 {
            n += 1;
            let r = net.dig(net.srv_v4(), "fs.example.test", "A", &["+tcp"]);
            let a = answer_addrs(&r);
            f.check(r.status == "NOERROR" && a.len() == 1, || {
                format!(
                    "{what}: fs.example.test A over TCP: {} {a:?}\n{}",
                    r.status, r.raw
                )
            });
            if let Some(a) = a.first() {
                *seen.entry(*a).or_default() += 1;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let after = d.xdp.then(|| d.stats());
        eprintln!("FEWEST SELECTED over TCP ({what}): {seen:?} of {n} queries");
        f.check(seen.len() == 2, || {
            format!(
                "{what}: {n} TCP queries over 4 s all got one server ({seen:?}): the slow \
                 path's answers were not counted"
            )
        });
        if let (Some(before), Some(after)) = (&before, &after) {
            let answered = before.delta_of(after, "xdp_answered");
            f.check(answered == 0, || {
                format!("{what}: xdp_answered +{answered} for TCP queries, want +0")
            });
        }
        // The engine takes the slow path's counts once per second.
        thread::sleep(Duration::from_millis(1500));
        let st = d.status_json();
        let total: u64 = st["servers"]
            .as_array()
            .map(|a| a.iter().filter_map(|s| s["handed_out"].as_u64()).sum())
            .unwrap_or(0);
        f.check(total == n, || {
            format!("{what}: gslb status counts {total} hand-outs for {n} TCP answers: {st}")
        });
    }
    f.assert_none();
}
