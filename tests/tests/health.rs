//! Health through XDP: real backends in the server namespace probed by the
//! daemon's HTTP, TCP and external monitors, answers read by real clients
//! (dig, and a UDP client for many queries) in the client namespace. A
//! stopped backend leaves the answers within fall × interval (+ probe
//! timeout and slack), comes back after rise × interval, and a flapping
//! server never changes the answers.
//!
//! Timings are printed on stderr (`-- --nocapture` to see them). Root and
//! native XDP on veth are required: a missing capability fails the tests.
//!
//! Run with `cargo xtask test -- -p gslb-tests --test health`.

use std::{
    fs,
    net::SocketAddr,
    path::PathBuf,
    thread,
    time::{Duration, Instant, SystemTime},
};

use gslb_tests::{
    config::{gslb, health, monitor, pool, timing, vserver},
    harness::{
        addrs, answer_addrs, check_config, ms, poll_until, start_with, status_server,
        wait_probed_ok, Failures, BACKEND_BODY, BACKEND_PORT, QUERY_TIMEOUT, ZONE,
    },
    netns::{Backend, DnsReply, Net},
};
use hickory_proto::rr::RecordType;

/// Health test parameters: interval, timeout, rise, fall of the HTTP and
/// TCP monitors (no jitter, so the bounds are exact).
const H_INTERVAL_MS: u64 = 200;
const H_TIMEOUT_MS: u64 = 100;
const H_RISE: u64 = 2;
const H_FALL: u64 = 2;

/// The external flapping monitor: a command whose result alternates. The
/// state flips last, so that a run killed by the probe timeout (a failure
/// either way) leaves the next run's result as it was.
const FLAP_SCRIPT: &str = r#"#!/bin/sh
# Alternates: ok, fail, ok, fail, ... (state in $1, results appended to $2).
if [ -e "$1" ]; then
    echo fail >> "$2"
    echo "flapping: fail" >&2
    rm -f "$1"
    exit 1
fi
echo ok >> "$2"
: > "$1"
exit 0
"#;

fn health_config(net: &Net, script: &str, state: &str, log: &str) -> String {
    let a = |h| net.v4(h);
    let health_page = format!(
        "port = {BACKEND_PORT}\npath = \"/health\"\nexpect_status = [200]\nexpect_body = \"healthy\"\n"
    );
    let every = timing(H_INTERVAL_MS, H_TIMEOUT_MS, H_RISE, H_FALL);
    let monitors = [
        ZONE.to_string(),
        health("up"),
        monitor(
            "http",
            "http",
            &every,
            &format!("{health_page}method = \"GET\"\n"),
        ),
        monitor("tcp", "tcp", &every, &format!("port = {BACKEND_PORT}\n")),
        monitor(
            "flappy",
            "external",
            &timing(300, 250, 3, 3),
            &format!("command = [\"/bin/sh\", \"{script}\", \"{state}\", \"{log}\"]\n"),
        ),
        monitor("http_flap", "http", &timing(150, 100, 3, 3), &health_page),
    ]
    .concat();
    [
        monitors,
        vserver("web1", a(101), "monitors = [\"http\", \"tcp\"]\n"),
        vserver("web2", a(102), "monitors = [\"http\", \"tcp\"]\n"),
        vserver("flapx", a(103), "monitors = [\"flappy\"]\n"),
        vserver("flaph", a(105), "monitors = [\"http_flap\"]\n"),
        vserver("steady", a(104), ""),
        pool("web", &["web1", "web2"], "global_availability", 2, ""),
        pool(
            "flapping",
            &["flaph", "flapx", "steady"],
            "global_availability",
            3,
            "",
        ),
        gslb("www.example.test", 30, &["web"], ""),
        gslb("flap.example.test", 30, &["flapping"], ""),
    ]
    .concat()
}

/// Stop a backend: its address leaves the answers (through XDP, seen by a
/// real client) within fall × interval + timeout + slack, and the answer
/// changes within 50 ms (+ polling period) of the deciding probe; start it
/// again: it returns after about rise × interval. A server whose monitor
/// alternates ok / fail (rise = fall = 3) never changes the answers.
#[test]
fn health_changes_reach_xdp_answers_in_time() {
    let net = Net::new("eng_health");
    for h in 101..=105 {
        net.add_srv_addr(net.v4(h));
    }
    let (web1, web2, flapx, steady, flaph) = (
        net.v4(101),
        net.v4(102),
        net.v4(103),
        net.v4(104),
        net.v4(105),
    );
    let mut b1 = Backend::start(&net, SocketAddr::new(web1, BACKEND_PORT), BACKEND_BODY);
    let _b2 = Backend::start(&net, SocketAddr::new(web2, BACKEND_PORT), BACKEND_BODY);
    let bflap = Backend::start_flapping(&net, SocketAddr::new(flaph, BACKEND_PORT), BACKEND_BODY);

    let scratch = std::env::temp_dir().join(format!("gslbt-{}", std::process::id()));
    fs::create_dir_all(&scratch).expect("scratch dir");
    let file = |n: &str| -> PathBuf { scratch.join(format!("net{}-{n}", net.id)) };
    let (script, state, flog) = (file("flap.sh"), file("flap.state"), file("flap.log"));
    fs::write(&script, FLAP_SCRIPT).expect("writing the flap script");
    let _ = fs::remove_file(&state);
    let _ = fs::remove_file(&flog);
    struct Rm(Vec<PathBuf>);
    impl Drop for Rm {
        fn drop(&mut self) {
            for p in &self.0 {
                let _ = fs::remove_file(p);
            }
        }
    }
    let _rm = Rm(vec![script.clone(), state.clone(), flog.clone()]);

    let config = health_config(
        &net,
        &script.display().to_string(),
        &state.display().to_string(),
        &flog.display().to_string(),
    );
    check_config(&config, "health");
    let d = start_with(&net, &config, false);
    let mut f = Failures::default();
    let srv = net.srv_v4();
    let client = net.udp_client(net.cli_v4());
    // www A every 5 ms until `done`, at most 5 s from `t0`.
    let poll_www = |t0, done: &dyn Fn(&DnsReply) -> bool| {
        poll_until(
            &client,
            srv,
            "www.example.test",
            t0,
            Duration::from_millis(5),
            Duration::from_secs(5),
            done,
        )
    };

    wait_probed_ok(&d, "web1", Duration::from_secs(5));
    wait_probed_ok(&d, "web2", Duration::from_secs(5));
    let both = vec![web1, web2];

    // Both up, answered in XDP, seen by dig.
    let before = d.stats();
    let r = net.dig(srv, "www.example.test", "A", &[]);
    let after = d.stats();
    f.check(r.status == "NOERROR" && answer_addrs(&r) == both, || {
        format!(
            "initial answer {:?}, want {}\n{}",
            answer_addrs(&r),
            addrs(&both),
            r.raw
        )
    });
    f.check(before.delta_of(&after, "xdp_answered") == 1, || {
        format!(
            "initial dig not answered in XDP: {:?}",
            before.delta(&after)
        )
    });

    // Stop web1.
    let before = d.stats();
    b1.stop();
    let t0 = Instant::now();
    let stopped_at = SystemTime::now();
    let bound_down = Duration::from_millis(H_FALL * H_INTERVAL_MS + H_TIMEOUT_MS + 300);
    let down = poll_www(t0, &|r| r.addrs == [web2]);
    let st_down = d.status_json();
    let after = d.stats();
    let Some(down) = down else {
        panic!(
            "web1 never left the answers within 5 s of stopping its backend; status: {}\n{}",
            status_server(&st_down, "web1"),
            d.log_text()
        );
    };
    eprintln!(
        "TIMING health: backend stopped -> answer without it (XDP): {:.1} ms (bound {} ms = fall {H_FALL} x interval {H_INTERVAL_MS} + timeout {H_TIMEOUT_MS} + 300), {} queries",
        ms(down.elapsed),
        bound_down.as_millis(),
        down.queries
    );
    // Not before fall - 1 intervals either: one failed probe is not enough.
    let min_down = Duration::from_millis((H_FALL - 1) * H_INTERVAL_MS - 30);
    f.check(
        down.elapsed >= min_down && down.elapsed <= bound_down,
        || {
            format!(
                "web1 left the answers {:.1} ms after its backend stopped, want {}..={} ms",
                ms(down.elapsed),
                min_down.as_millis(),
                bound_down.as_millis()
            )
        },
    );
    // Nothing but the old and the new answer on the way.
    for r in &down.seen {
        f.check(
            r.as_ref()
                .is_some_and(|r| r.rcode == "NOERROR" && (r.addrs == both || r.addrs == [web2])),
            || format!("unexpected reply while web1 went down: {r:?}"),
        );
    }
    f.check(
        before.delta_of(&after, "xdp_answered") == down.queries,
        || {
            format!(
                "{} queries while web1 went down, xdp_answered +{} (all must be answered in XDP); changes: {:?}",
                down.queries,
                before.delta_of(&after, "xdp_answered"),
                before.delta(&after)
            )
        },
    );
    // The deciding probe: the earliest completion among web1's monitors
    // that are now down (no later probe ran: the next is an interval away).
    let s1 = status_server(&st_down, "web1");
    f.check(
        s1["health"] == "down" && s1["availability"] == "down",
        || format!("status of web1 after its backend stopped: {s1}"),
    );
    let deciding = s1["monitors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["up"] == false)
        .filter_map(|m| m["last_at"].as_f64())
        .fold(f64::INFINITY, f64::min);
    let seen_at = down
        .at
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let stop_epoch = stopped_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let probe_to_answer = (seen_at - deciding) * 1000.0;
    eprintln!(
        "TIMING health: deciding probe completed {:.1} ms after the stop; seen in XDP answers {probe_to_answer:.1} ms after the deciding probe (5 ms polling)",
        (deciding - stop_epoch) * 1000.0
    );
    f.check(deciding.is_finite() && probe_to_answer <= 50.0 + 5.0 + 25.0, || {
        format!(
            "the answer changed {probe_to_answer:.1} ms after the deciding probe (want <= 50 ms + 5 ms polling + 25 ms slack); web1: {s1}"
        )
    });
    let before = d.stats();
    let r = net.dig(srv, "www.example.test", "A", &[]);
    let after = d.stats();
    f.check(answer_addrs(&r) == [web2], || {
        format!(
            "dig after web1 went down: {:?}\n{}",
            answer_addrs(&r),
            r.raw
        )
    });
    f.check(before.delta_of(&after, "xdp_answered") == 1, || {
        format!(
            "dig after web1 went down not answered in XDP: {:?}",
            before.delta(&after)
        )
    });

    // Start web1 again: back after rise × interval.
    b1.resume();
    let t0 = Instant::now();
    let up = poll_www(t0, &|r| r.addrs == both);
    let Some(up) = up else {
        panic!(
            "web1 did not return within 5 s; status: {}\n{}",
            status_server(&d.status_json(), "web1"),
            d.log_text()
        );
    };
    let (lo, hi) = (
        Duration::from_millis((H_RISE - 1) * H_INTERVAL_MS - 30),
        Duration::from_millis(H_RISE * H_INTERVAL_MS + H_TIMEOUT_MS + 300),
    );
    eprintln!(
        "TIMING health: backend started -> back in the answers: {:.1} ms (want {}..={} ms: rise {H_RISE} x interval {H_INTERVAL_MS})",
        ms(up.elapsed),
        lo.as_millis(),
        hi.as_millis()
    );
    f.check(up.elapsed >= lo && up.elapsed <= hi, || {
        format!(
            "web1 returned {:.1} ms after its backend started, want {}..={} ms",
            ms(up.elapsed),
            lo.as_millis(),
            hi.as_millis()
        )
    });
    for r in &up.seen {
        f.check(
            r.as_ref()
                .is_some_and(|r| r.addrs == both || r.addrs == [web2]),
            || format!("unexpected reply while web1 came back: {r:?}"),
        );
    }
    let r = net.dig(srv, "www.example.test", "A", &[]);
    f.check(answer_addrs(&r) == both, || {
        format!("dig after web1 returned: {:?}\n{}", answer_addrs(&r), r.raw)
    });

    // The flapping servers: their probes alternate ok / fail (HTTP 200 /
    // 503, and an external command), rise = fall = 3: the answers never
    // change.
    let flap_all = vec![flaph, flapx, steady];
    let http_probes = bflap.requests.load(std::sync::atomic::Ordering::Relaxed);
    let before = d.stats();
    let t0 = Instant::now();
    let mut flap_queries = 0u64;
    while t0.elapsed() < Duration::from_millis(3000) {
        let r = client.query(srv, "flap.example.test", RecordType::A, QUERY_TIMEOUT);
        flap_queries += 1;
        f.check(r.as_ref().is_some_and(|r| r.addrs == flap_all), || {
            format!(
                "flap.example.test changed at {:.0} ms: {r:?} (want {})",
                ms(t0.elapsed()),
                addrs(&flap_all)
            )
        });
        thread::sleep(Duration::from_millis(10));
    }
    let after = d.stats();
    let http_probes = bflap.requests.load(std::sync::atomic::Ordering::Relaxed) - http_probes;
    let answered = before.delta_of(&after, "xdp_answered");
    f.check(answered == flap_queries, || {
        format!(
            "{flap_queries} queries of flap.example.test, xdp_answered +{answered}; changes: {:?}",
            before.delta(&after)
        )
    });
    let results = fs::read_to_string(&flog).unwrap_or_default();
    let results: Vec<&str> = results.lines().collect();
    let alternations = results.windows(2).filter(|w| w[0] != w[1]).count();
    eprintln!(
        "flapping: {http_probes} HTTP probes (200/503 alternately) in 3 s; external: {} probes since start, {alternations} alternations; {flap_queries} queries, answers constant: {}",
        results.len(),
        f.0.iter().all(|m| !m.contains("flap.example.test"))
    );
    f.check(http_probes >= 10, || {
        format!("only {http_probes} probes of the flapping HTTP backend in 3 s")
    });
    f.check(
        results.len() >= 8
            && results.contains(&"ok")
            && results.contains(&"fail")
            && results.windows(3).all(|w| !(w[0] == w[1] && w[1] == w[2])),
        || {
            format!(
                "the external flapping monitor did not alternate (>= 8 probes wanted): {results:?}"
            )
        },
    );
    let st = d.status_json();
    for name in ["flaph", "flapx"] {
        let sf = status_server(&st, name);
        f.check(sf["availability"] == "available", || {
            format!("flapping server {name} not available in status: {sf}")
        });
    }
    let log = d.log_text();
    let flips: Vec<&str> = log
        .lines()
        .filter(|l| {
            l.contains("health changed")
                && (l.contains("server=flaph ") || l.contains("server=flapx "))
        })
        .collect();
    f.check(flips.is_empty(), || {
        format!("a flapping server changed state: {flips:?}")
    });
    f.assert_none();
}
