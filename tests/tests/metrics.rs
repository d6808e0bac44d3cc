//! Load metrics polled from a real HTTP endpoint (Prometheus text) in the
//! server namespace, read through XDP answers:
//!
//! - labelled series are matched by each server's `metrics_labels`;
//! - a server whose sessions are over `max_sessions` leaves the answers;
//! - when the endpoint stops answering, the last reading is kept until it
//!   is older than `[metrics] max_age`, then the metrics are unknown: the
//!   server is no longer over capacity (unknown metrics do not make a
//!   server unavailable) and `least_sessions` finds no candidate, so the
//!   chain's next method answers; `gslb status` shows the reading's age
//!   and the poll error;
//! - when the endpoint answers again, the readings apply again.
//!
//! Run with `cargo xtask test -- -p gslb-tests --test metrics`.

use std::{
    net::{IpAddr, SocketAddr},
    thread,
    time::{Duration, Instant},
};

use gslb_tests::{
    config::{gslb, pool, vserver},
    harness::{
        check_config, start, status_server, wait_server, Failures, MetricsEndpoint, QUERY_TIMEOUT,
        ZONE,
    },
    netns::{Net, UdpDns},
};
use hickory_proto::rr::RecordType;

/// `[metrics]` of the test: poll every 200 ms, 100 ms timeout, readings
/// older than 1 s are unknown.
const INTERVAL: Duration = Duration::from_millis(200);
const MAX_AGE: Duration = Duration::from_secs(1);
const METRICS_PORT: u16 = 9100;

/// web1 is over its limit of 100; web2 and web3 are ranked by sessions.
const BODY: &str = "# HELP sessions Open sessions.\n# TYPE sessions gauge\n\
sessions{instance=\"web1\"} 150\n\
sessions{instance=\"web2\"} 20\n\
sessions{instance=\"web3\"} 10\n\
connections{instance=\"web1\"} 3\n";

fn config(net: &Net, endpoint: SocketAddr) -> String {
    let a = |h| net.v4(h);
    let url = format!("http://{endpoint}/metrics");
    let head = format!(
        r#"{ZONE}
[metrics]
interval = "{}ms"
timeout = "100ms"
max_age = "{}ms"

"#,
        INTERVAL.as_millis(),
        MAX_AGE.as_millis(),
    );
    let scraped = |instance: &str| {
        format!("metrics_url = \"{url}\"\nmetrics_labels = {{ instance = \"{instance}\" }}\n")
    };
    [
        head,
        vserver(
            "c1",
            a(111),
            &format!("max_sessions = 100\n{}", scraped("web1")),
        ),
        vserver("c2", a(112), ""),
        vserver("l2", a(121), &scraped("web2")),
        vserver("l3", a(122), &scraped("web3")),
        pool("cap", &["c1", "c2"], "global_availability", 2, ""),
        pool(
            "least",
            &["l2", "l3"],
            "least_sessions",
            2,
            "alternate = \"global_availability\"\n",
        ),
        gslb("cap.example.test", 5, &["cap"], ""),
        gslb("least.example.test", 5, &["least"], ""),
    ]
    .concat()
}

/// The A answer of `name`, `None` when no NOERROR response came.
fn answer(client: &UdpDns, net: &Net, name: &str) -> Option<Vec<IpAddr>> {
    client
        .query(net.srv_v4(), name, RecordType::A, QUERY_TIMEOUT)
        .filter(|r| r.rcode == "NOERROR")
        .map(|r| r.addrs)
}

#[test]
fn stale_metrics_become_unknown_after_max_age() {
    let net = Net::new("metrics_stale");
    let ep_addr = SocketAddr::new(net.v4(31), METRICS_PORT);
    net.add_srv_addr(ep_addr.ip());
    let endpoint = MetricsEndpoint::start(&net, ep_addr, BODY);
    let cfg = config(&net, ep_addr);
    check_config(&cfg, "metrics");
    let d = start(&net, &cfg);
    let client = net.udp_client(net.cli_v4());
    let (c1, c2, l2, l3) = (net.v4(111), net.v4(112), net.v4(121), net.v4(122));
    let mut f = Failures::default();

    // Fresh readings: c1 over capacity, l2/l3 ranked by their own series.
    let st = wait_server(&d, "c1", "over capacity", Duration::from_secs(5), |s| {
        s["availability"] == "over_capacity"
    });
    wait_server(&d, "l3", "read", Duration::from_secs(5), |s| {
        s["sessions"] == 10
    });
    let s1 = status_server(&st, "c1");
    f.check(s1["sessions"] == 150 && s1["connections"] == 3, || {
        format!("c1 read from its labelled series: {s1}")
    });
    f.check(s1["metrics_error"].is_null(), || {
        format!("c1 has a poll error while the endpoint answers: {s1}")
    });
    let before = d.stats();
    let q0 = 20;
    for _ in 0..q0 / 2 {
        let a = answer(&client, &net, "cap.example.test");
        f.check(a == Some(vec![c2]), || {
            format!("cap while c1 is over capacity: {a:?}, want [{c2}]")
        });
        let a = answer(&client, &net, "least.example.test");
        f.check(a == Some(vec![l3, l2]), || {
            format!("least_sessions with l3=10, l2=20: {a:?}, want [{l3}, {l2}]")
        });
    }
    let after = d.stats();
    let xdp = before.delta_of(&after, "xdp_answered");
    f.check(xdp == q0, || {
        format!(
            "xdp_answered +{xdp}, want +{q0}: {:?}",
            before.delta(&after)
        )
    });

    // The endpoint stops answering.
    endpoint.hang();
    let stopped = Instant::now();
    let mut kept = Vec::new();
    let changed = loop {
        let a = answer(&client, &net, "cap.example.test");
        let t = stopped.elapsed();
        if a.as_deref() == Some(&[c1, c2][..]) {
            break Some(t);
        }
        kept.push((t, a));
        if t > MAX_AGE + Duration::from_secs(5) {
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    eprintln!(
        "STALE METRICS: endpoint hung at 0; cap answers [c1, c2] after {changed:?} (max_age {MAX_AGE:?}, interval {INTERVAL:?}); {} earlier answers",
        kept.len()
    );
    match changed {
        None => f.check(false, || {
            format!(
                "c1 never came back into the answers after its metrics went stale \
                 (the last reading is used forever); last answers: {:?}",
                &kept[kept.len().saturating_sub(3)..]
            )
        }),
        Some(t) => {
            // The last good reading was at most one interval before the
            // hang; it is dropped once older than max_age (checked on each
            // failed poll and every second).
            f.check(t + INTERVAL + Duration::from_millis(50) >= MAX_AGE, || {
                format!("metrics dropped after {t:?}, before max_age {MAX_AGE:?}")
            });
            f.check(t <= MAX_AGE + Duration::from_millis(1500), || {
                format!("metrics dropped only after {t:?} (max_age {MAX_AGE:?})")
            });
            let young: Vec<_> = kept
                .iter()
                .filter(|(_, a)| a.as_deref() != Some(&[c2][..]))
                .collect();
            f.check(young.is_empty(), || {
                format!("while the reading was younger than max_age the answers changed: {young:?}")
            });
        }
    }

    // Unknown metrics: c1 available; least_sessions has no candidate and
    // the alternate method (global availability, pool order) answers.
    for s in ["l2", "l3"] {
        // Their last readings may be up to one interval younger than c1's.
        wait_server(&d, s, "unknown", INTERVAL * 3, |v| v["sessions"].is_null());
    }
    let st = d.status_json();
    for s in ["c1", "l2", "l3"] {
        let v = status_server(&st, s);
        f.check(
            v["sessions"].is_null()
                && v["metrics_error"] == "timeout"
                && v["metrics_age_s"]
                    .as_f64()
                    .is_some_and(|a| a > MAX_AGE.as_secs_f64()),
            || format!("{s}: want unknown sessions, error \"timeout\", age > max_age: {v}"),
        );
    }
    f.check(
        status_server(&st, "c1")["availability"] == "available",
        || format!("c1 with unknown metrics: {}", status_server(&st, "c1")),
    );
    let text = d.ctl(&["status"]);
    let c1_line = text
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("c1 "))
        .nth(1)
        .unwrap_or("");
    f.check(
        c1_line.contains("metrics: ")
            && c1_line.contains("s old")
            && c1_line.contains("last poll failed: timeout"),
        || format!("gslb status (text) lacks c1's metrics age and error:\n{text}"),
    );
    let ex = d.explain_json("least.example.test", None);
    f.check(
        ex["a"]["explanation"]["step"] == "alternate"
            && ex["a"]["explanation"]["method"] == "global_availability",
        || format!("least.example.test not decided by the alternate method: {ex}"),
    );
    let before = d.stats();
    for _ in 0..q0 / 2 {
        let a = answer(&client, &net, "cap.example.test");
        f.check(a == Some(vec![c1, c2]), || {
            format!("cap with c1's metrics unknown: {a:?}, want [{c1}, {c2}]")
        });
        let a = answer(&client, &net, "least.example.test");
        f.check(a == Some(vec![l2, l3]), || {
            format!("least with every metric unknown: {a:?}, want [{l2}, {l3}] (pool order)")
        });
    }
    let after = d.stats();
    let xdp = before.delta_of(&after, "xdp_answered");
    f.check(xdp == q0, || {
        format!(
            "xdp_answered +{xdp}, want +{q0}: {:?}",
            before.delta(&after)
        )
    });

    // The endpoint answers again: the readings apply again.
    endpoint.serve();
    wait_server(
        &d,
        "c1",
        "over capacity again",
        Duration::from_secs(5),
        |s| s["availability"] == "over_capacity" && s["metrics_error"].is_null(),
    );
    wait_server(&d, "l3", "read again", Duration::from_secs(5), |s| {
        s["sessions"] == 10
    });
    let a = answer(&client, &net, "cap.example.test");
    f.check(a == Some(vec![c2]), || {
        format!("cap after the endpoint came back: {a:?}, want [{c2}]")
    });
    let a = answer(&client, &net, "least.example.test");
    f.check(a == Some(vec![l3, l2]), || {
        format!("least after the endpoint came back: {a:?}, want [{l3}, {l2}]")
    });
    let log = d.log_text();
    f.check(log.contains("metrics older than max_age"), || {
        format!("no \"metrics older than max_age\" line in the log:\n{log}")
    });
    f.assert_none();
}
