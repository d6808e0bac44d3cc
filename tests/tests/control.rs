//! The control socket at run time: `gslb explain` / `gslb status` for a
//! down, a draining and an over-capacity server, and `gslb server
//! disable|enable|drain` changing the answers clients in the client
//! namespace get.
//!
//! Timings are printed on stderr (`-- --nocapture` to see them). Root and
//! native XDP on veth are required: a missing capability fails the tests.
//!
//! Run with `cargo xtask test -- -p gslb-tests --test control`.

use std::{
    collections::BTreeMap,
    net::IpAddr,
    time::{Duration, Instant},
};

use gslb_tests::{
    config::{gslb, pool, vserver},
    harness::{
        answer_addrs, check_config, dead_monitor, dead_server, ms, poll_until, start_with,
        status_server, v4, Failures, ZONE,
    },
    netns::{Net, UdpDns},
};
use serde_json::Value;

fn explain_config(net: &Net) -> String {
    let sessions =
        |n| format!("max_sessions = 100\nmetrics = {{ sessions = {n}, connections = 10 }}\n");
    [
        ZONE.to_string(),
        dead_monitor(net),
        dead_server(net, "e_down", "198.18.60.1"),
        vserver("e_drain", "198.18.60.2", ""),
        vserver("e_over", "198.18.60.3", &sessions(150)),
        vserver("e_ok1", "198.18.60.4", &sessions(50)),
        vserver("e_ok2", "198.18.60.5", ""),
        pool(
            "ex",
            &["e_down", "e_drain", "e_over", "e_ok1", "e_ok2"],
            "global_availability",
            8,
            "",
        ),
        gslb("ex.example.test", 30, &["ex"], ""),
    ]
    .concat()
}

/// (name, availability) of every entry of the JSON array `list`, the
/// name under `key`.
fn availability_by(list: &Value, key: &str) -> BTreeMap<String, String> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c[key].as_str().unwrap_or("?").to_string(),
                c["availability"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect()
}

fn candidates(ex: &Value) -> BTreeMap<String, String> {
    availability_by(&ex["a"]["explanation"]["candidates"], "server")
}

fn availabilities(st: &Value) -> BTreeMap<String, String> {
    availability_by(&st["servers"], "name")
}

/// Polls ex.example.test A (UDP client, every 5 ms) until the answer is
/// `want`, then confirms with dig. The time from `since` to the first
/// such answer, or `None` when it did not come within `timeout` of
/// `since`.
fn wait_answer(
    net: &Net,
    client: &UdpDns,
    want: &[IpAddr],
    since: Instant,
    timeout: Duration,
) -> Option<Duration> {
    let p = poll_until(
        client,
        net.srv_v4(),
        "ex.example.test",
        since,
        Duration::from_millis(5),
        timeout,
        |r| r.addrs == want,
    )?;
    (p.elapsed <= timeout).then_some(())?;
    let r = net.dig(net.srv_v4(), "ex.example.test", "A", &[]);
    assert_eq!(
        answer_addrs(&r),
        want,
        "dig disagrees with the UDP client\n{}",
        r.raw
    );
    Some(p.elapsed)
}

/// A down (monitor), a drained (`gslb server drain`) and an over-capacity
/// (static sessions above max_sessions) server: `gslb explain` lists them
/// as down / draining / over_capacity and `gslb status --json` agrees;
/// the answer holds only the available ones. `gslb server disable` takes a
/// server out of the answers within a second, `enable` brings it back.
#[test]
fn explain_and_status_show_down_draining_over_capacity() {
    let net = Net::new("eng_explain");
    let config = explain_config(&net);
    check_config(&config, "explain");
    let d = start_with(&net, &config, false);
    let mut f = Failures::default();
    let (drain, ok1, ok2) = (v4("198.18.60.2"), v4("198.18.60.4"), v4("198.18.60.5"));

    // Before draining: e_drain answers.
    let r = net.dig(net.srv_v4(), "ex.example.test", "A", &[]);
    f.check(answer_addrs(&r) == [drain, ok1, ok2], || {
        format!("before drain: {:?}\n{}", answer_addrs(&r), r.raw)
    });

    let client = net.udp_client(net.cli_v4());
    let t0 = Instant::now();
    d.server_admin("drain", "e_drain");
    let took = wait_answer(&net, &client, &[ok1, ok2], t0, Duration::from_secs(1));
    f.check(took.is_some(), || {
        "e_drain still answered 1 s after `gslb server drain`".to_string()
    });

    let want: BTreeMap<String, String> = [
        ("e_down", "down"),
        ("e_drain", "draining"),
        ("e_over", "over_capacity"),
        ("e_ok1", "available"),
        ("e_ok2", "available"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    let ex = d.explain_json("ex.example.test", Some(net.cli_v4()));
    let got = candidates(&ex);
    f.check(got == want, || {
        format!("explain candidates {got:?}\nwant {want:?}\n{ex:#}")
    });
    let answer: Vec<IpAddr> = ex["a"]["answer"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str()?.parse().ok())
        .collect();
    f.check(answer == [ok1, ok2], || {
        format!("explain answer {answer:?}, want [{ok1}, {ok2}]\n{ex:#}")
    });
    f.check(
        ex["a"]["explanation"]["pool"] == "ex"
            && ex["a"]["explanation"]["step"] == "preferred"
            && ex["a"]["explanation"]["method"] == "global_availability",
        || format!("explain pool/step/method: {:#}", ex["a"]["explanation"]),
    );
    let st = d.status_json();
    let sa = availabilities(&st);
    f.check(sa == want, || {
        format!("status availabilities {sa:?}\nwant {want:?}")
    });
    let s_drain = status_server(&st, "e_drain");
    f.check(s_drain["admin"] == "draining", || {
        format!("status of e_drain: {s_drain}")
    });
    let s_over = status_server(&st, "e_over");
    f.check(s_over["sessions"] == 150, || {
        format!("status of e_over: {s_over}")
    });
    let s_down = status_server(&st, "e_down");
    f.check(s_down["health"] == "down", || {
        format!("status of e_down: {s_down}")
    });
    // The text renderings name the states too.
    let text = d.ctl(&[
        "explain",
        "ex.example.test",
        "--client",
        &net.cli_v4().to_string(),
    ]);
    f.check(
        text.success()
            && ["down", "draining", "over_capacity", "global_availability"]
                .iter()
                .all(|w| text.stdout.contains(w)),
        || format!("gslb explain text lacks a state:\n{text}"),
    );
    let text = d.ctl(&["status"]);
    f.check(
        text.success()
            && ["e_down", "draining", "over_capacity"]
                .iter()
                .all(|w| text.stdout.contains(w)),
        || format!("gslb status text lacks a state:\n{text}"),
    );

    // Disable / enable at run time, seen through XDP.
    let before = d.stats();
    // `gslb server <action> e_ok1`: the answers are `want` within a second.
    let admin = |f: &mut Failures, action: &str, want: &[IpAddr], change: &str| {
        let t0 = Instant::now();
        d.server_admin(action, "e_ok1");
        let took = wait_answer(&net, &client, want, t0, Duration::from_secs(1));
        eprintln!("TIMING admin: {action} -> {change}: {:?}", took.map(ms));
        f.check(took.is_some(), || {
            format!("e_ok1 not {change} 1 s after `gslb server {action}`")
        });
    };
    admin(&mut f, "disable", &[ok2], "out of the answers");
    let st = d.status_json();
    let s = status_server(&st, "e_ok1");
    f.check(
        s["admin"] == "disabled" && s["availability"] == "disabled",
        || format!("status of e_ok1 after disable: {s}"),
    );
    let c = candidates(&d.explain_json("ex.example.test", None));
    f.check(
        c.get("e_ok1").map(String::as_str) == Some("disabled"),
        || format!("explain after disable: {c:?}"),
    );
    admin(&mut f, "enable", &[ok1, ok2], "back in the answers");
    let after = d.stats();
    f.check(before.delta_of(&after, "xdp_answered") >= 2, || {
        format!(
            "admin changes not seen through XDP: {:?}",
            before.delta(&after)
        )
    });
    // Unknown server: a clear error, nothing changes.
    let out = d.ctl(&["server", "disable", "no-such-server"]);
    f.check(
        !out.success()
            && (out.stderr.contains("no-such-server") || out.stdout.contains("no-such-server")),
        || format!("disabling an unknown server:\n{out}"),
    );
    f.assert_none();
}
