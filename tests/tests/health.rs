//! End-to-end tests of the GSLB engine (issue 4, "Tests"): real backends
//! in the server namespace probed by the daemon's monitors, answers read
//! by real clients (dig, and a UDP client for many queries) in the client
//! namespace, through XDP and through the slow path (`--no-xdp`).
//!
//! 1. Health: a stopped backend leaves the answers within fall × interval
//!    (+ probe timeout and slack), comes back after rise × interval, and a
//!    flapping server never changes the answers.
//! 2. Ratio 3:1 over 10,000 queries through XDP; round robin cycles exactly.
//! 3. Static persist: the same LDNS always gets the same server; a down
//!    server's clients move (seed 004 claims 3-4), the others do not; XDP
//!    and the slow path map alike.
//! 4. All members down: each `when_all_down` behaviour, fast and slow path
//!    identical.
//! 5. `gslb explain` / `gslb status` for a down, a draining and an
//!    over-capacity server; `gslb server disable|enable` at run time.
//!
//! Timings are printed on stderr (`-- --nocapture` to see them). Root and
//! native XDP on veth are required: a missing capability fails the tests.
//!
//! Run with `cargo build -p gslb-user && cargo test -p gslb-tests --test
//! engine` (or `cargo xtask test`).

use std::{
    collections::BTreeMap,
    fs,
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    thread,
    time::{Duration, Instant, SystemTime},
};

use gslb_tests::netns::{
    gslb_bin, run_bounded, Backend, Daemon, DaemonOpts, DnsReply, Net, Response, UdpDns,
    DIG_TIMEOUT,
};
use hickory_proto::rr::RecordType;
use serde_json::Value;

/// Port of the test backends.
const BACKEND_PORT: u16 = 8080;
/// Body of the backends' `/health`; the HTTP monitor looks for "healthy".
const BACKEND_BODY: &str = "status: healthy\n";
/// Bound of one query of the UDP client.
const QUERY_TIMEOUT: Duration = Duration::from_secs(1);

/// Collects failed expectations so that one run reports all of them.
#[derive(Default)]
struct Failures(Vec<String>);

impl Failures {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }

    fn assert_none(self) {
        assert!(
            self.0.is_empty(),
            "{} failed expectation(s):\n\n{}",
            self.0.len(),
            self.0.join("\n\n")
        );
    }
}

/// The zone part of every config (the listener and interfaces are replaced
/// by the harness's `--listen` / `--iface`).
const ZONE: &str = r#"
[server]
listen = ["127.0.0.1:53"]
interfaces = ["lo"]
edns_udp_size = 1232

[[zone]]
name = "example.test"
ttl = 3600
ns = ["ns1.example.test."]
[zone.soa]
mname = "ns1.example.test."
rname = "hostmaster.example.test."
serial = 2026112201
refresh = 7200
retry = 3600
expire = 1209600
minimum = 300

[[zone.record]]
name = "ns1"
type = "A"
data = "198.18.0.53"

[[datacenter]]
name = "dc1"
lat = 52.37
lon = 4.90
"#;

/// Validates `config` with `gslb check` first, so that a rejected config
/// fails with the validator's message rather than a daemon start failure.
fn check_config(config: &str, what: &str) {
    let dir = std::env::temp_dir().join(format!("gslbt-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("scratch dir");
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = dir.join(format!("check-{what}-{n}.toml"));
    fs::write(&path, config).expect("writing the config");
    let out = run_bounded(
        std::process::Command::new(gslb_bin())
            .arg("check")
            .arg("--config")
            .arg(&path),
        Duration::from_secs(10),
    );
    let _ = fs::remove_file(&path);
    assert!(
        out.success(),
        "`gslb check` rejects the {what} config:\n{out}\n--- config ---\n{config}"
    );
}

fn start<'n>(net: &'n Net, config: &str, no_xdp: bool) -> Daemon<'n> {
    Daemon::start(
        net,
        DaemonOpts {
            no_xdp,
            config: Some(config.to_string()),
        },
    )
}

/// One server of `gslb status --json`.
fn status_server<'v>(status: &'v Value, name: &str) -> &'v Value {
    status["servers"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no server {name} in gslb status: {status}"))
}

/// Waits (bounded) until `gslb status` shows `server` with
/// `availability`; returns the status.
fn wait_availability(d: &Daemon<'_>, server: &str, availability: &str, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let st = d.status_json();
        if status_server(&st, server)["availability"] == availability {
            return st;
        }
        assert!(
            Instant::now() < deadline,
            "{server} not {availability} within {timeout:?}: {}",
            status_server(&st, server)
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// Waits (bounded) until every monitor of `server` has completed a
/// successful probe.
fn wait_probed_ok(d: &Daemon<'_>, server: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let st = d.status_json();
        let s = status_server(&st, server);
        let mons = s["monitors"].as_array().cloned().unwrap_or_default();
        if !mons.is_empty() && mons.iter().all(|m| m["last_ok"] == true && m["up"] == true) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{server}: monitors not probed ok within {timeout:?}: {s}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

fn v4(s: &str) -> IpAddr {
    s.parse().expect("an address")
}

fn addrs(list: &[IpAddr]) -> String {
    let v: Vec<String> = list.iter().map(ToString::to_string).collect();
    format!("[{}]", v.join(", "))
}

/// dig in the client namespace; `None` when no response came (timeout).
fn dig_opt(net: &Net, server: IpAddr, name: &str, qtype: &str, extra: &[&str]) -> Option<Response> {
    let mut cmd = net.in_cli("dig");
    cmd.arg(format!("@{server}"))
        .args([name, qtype, "+norec", "+time=1", "+tries=1"])
        .args(extra);
    let out = run_bounded(&mut cmd, DIG_TIMEOUT);
    match Response::parse(&out.stdout) {
        Some(r) if out.success() => Some(r),
        _ => {
            assert!(
                out.stdout.contains("timed out")
                    || out.stdout.contains("no servers could be reached"),
                "dig neither answered nor timed out:\n{out}"
            );
            None
        }
    }
}

/// The A/AAAA addresses of a dig answer, in order.
fn answer_addrs(r: &Response) -> Vec<IpAddr> {
    r.answer
        .iter()
        .filter(|rr| rr.rtype == "A" || rr.rtype == "AAAA")
        .map(|rr| rr.rdata.parse().expect("an address in A/AAAA data"))
        .collect()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Polls `name` A with `client` every `period` until `done(reply)`, at most
/// `timeout`. Returns the time it took (from `since`), the replies seen on
/// the way, the wall-clock time of the first matching reply, and the
/// number of queries sent.
struct Poll {
    elapsed: Duration,
    seen: Vec<Option<DnsReply>>,
    at: SystemTime,
    queries: u64,
}

fn poll_until(
    client: &UdpDns,
    server: IpAddr,
    name: &str,
    since: Instant,
    period: Duration,
    timeout: Duration,
    done: impl Fn(&DnsReply) -> bool,
) -> Option<Poll> {
    let mut seen = Vec::new();
    let mut queries = 0;
    loop {
        let r = client.query(server, name, RecordType::A, QUERY_TIMEOUT);
        queries += 1;
        let now = Instant::now();
        let at = SystemTime::now();
        let hit = r.as_ref().is_some_and(&done);
        seen.push(r);
        if hit {
            return Some(Poll {
                elapsed: now - since,
                seen,
                at,
                queries,
            });
        }
        if now - since > timeout {
            eprintln!(
                "poll of {name} gave up after {queries} queries; last: {:?}",
                seen.last()
            );
            return None;
        }
        thread::sleep(period);
    }
}

// ---------------------------------------------------------------------------
// 1. Health through XDP.

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
    format!(
        r#"{ZONE}
[health]
initial = "up"

[[monitor]]
name = "http"
type = "http"
interval = "{H_INTERVAL_MS}ms"
timeout = "{H_TIMEOUT_MS}ms"
rise = {H_RISE}
fall = {H_FALL}
jitter = 0
port = {BACKEND_PORT}
method = "GET"
path = "/health"
expect_status = [200]
expect_body = "healthy"

[[monitor]]
name = "tcp"
type = "tcp"
interval = "{H_INTERVAL_MS}ms"
timeout = "{H_TIMEOUT_MS}ms"
rise = {H_RISE}
fall = {H_FALL}
jitter = 0
port = {BACKEND_PORT}

[[monitor]]
name = "flappy"
type = "external"
interval = "300ms"
timeout = "250ms"
rise = 3
fall = 3
jitter = 0
command = ["/bin/sh", "{script}", "{state}", "{log}"]

[[monitor]]
name = "http_flap"
type = "http"
interval = "150ms"
timeout = "100ms"
rise = 3
fall = 3
jitter = 0
port = {BACKEND_PORT}
path = "/health"
expect_status = [200]
expect_body = "healthy"

[[vserver]]
name = "web1"
address = "{web1}"
datacenter = "dc1"
monitors = ["http", "tcp"]

[[vserver]]
name = "web2"
address = "{web2}"
datacenter = "dc1"
monitors = ["http", "tcp"]

[[vserver]]
name = "flapx"
address = "{flapx}"
datacenter = "dc1"
monitors = ["flappy"]

[[vserver]]
name = "flaph"
address = "{flaph}"
datacenter = "dc1"
monitors = ["http_flap"]

[[vserver]]
name = "steady"
address = "{steady}"
datacenter = "dc1"

[[pool]]
name = "web"
members = ["web1", "web2"]
preferred = "global_availability"
max_answers = 2

[[pool]]
name = "flapping"
members = ["flaph", "flapx", "steady"]
preferred = "global_availability"
max_answers = 3

[[gslb]]
name = "www.example.test"
ttl = 30
pools = ["web"]

[[gslb]]
name = "flap.example.test"
ttl = 30
pools = ["flapping"]
"#,
        web1 = a(101),
        web2 = a(102),
        flapx = a(103),
        flaph = a(105),
        steady = a(104),
    )
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
    let d = start(&net, &config, false);
    let mut f = Failures::default();
    let srv = net.srv_v4();
    let client = net.udp_client(net.cli_v4());

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
    let down = poll_until(
        &client,
        srv,
        "www.example.test",
        t0,
        Duration::from_millis(5),
        Duration::from_secs(5),
        |r| r.addrs == [web2],
    );
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
    let up = poll_until(
        &client,
        srv,
        "www.example.test",
        t0,
        Duration::from_millis(5),
        Duration::from_secs(5),
        |r| r.addrs == both,
    );
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

// ---------------------------------------------------------------------------
// 2. Ratio and round robin.

fn methods_config(net: &Net) -> String {
    let a = |h| net.v4(h);
    format!(
        r#"{ZONE}
[[vserver]]
name = "r1"
address = "{r1}"
datacenter = "dc1"
ratio = 3

[[vserver]]
name = "r2"
address = "{r2}"
datacenter = "dc1"
ratio = 1

[[vserver]]
name = "rr1"
address = "{rr1}"
datacenter = "dc1"

[[vserver]]
name = "rr2"
address = "{rr2}"
datacenter = "dc1"

[[vserver]]
name = "rr3"
address = "{rr3}"
datacenter = "dc1"

[[pool]]
name = "ratio"
members = ["r1", "r2"]
preferred = "ratio"
max_answers = 1

[[pool]]
name = "rr"
members = ["rr1", "rr2", "rr3"]
preferred = "round_robin"
max_answers = 1

[[gslb]]
name = "ratio.example.test"
ttl = 30
pools = ["ratio"]

[[gslb]]
name = "rr.example.test"
ttl = 30
pools = ["rr"]
"#,
        r1 = a(111),
        r2 = a(112),
        rr1 = a(121),
        rr2 = a(122),
        rr3 = a(123),
    )
}

/// Ratio 3:1, one answer per response: over 10,000 queries through XDP
/// (2,500 full cycles of the kernel's rotation counter) 7,500 ± 2 % go to
/// the ratio-3 server and 2,500 ± 2 % to the other.
#[test]
fn ratio_3_to_1_over_10000_queries_through_xdp() {
    const N: u64 = 10_000;
    let net = Net::new("eng_ratio");
    let config = methods_config(&net);
    check_config(&config, "methods");
    let d = start(&net, &config, false);
    let (r1, r2) = (net.v4(111), net.v4(112));
    let client = net.udp_client(net.cli_v4());
    let mut f = Failures::default();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut lost = 0;
    let before = d.stats();
    let t0 = Instant::now();
    for _ in 0..N {
        match client.query(
            net.srv_v4(),
            "ratio.example.test",
            RecordType::A,
            QUERY_TIMEOUT,
        ) {
            Some(r) => {
                let key = if r.rcode == "NOERROR" && r.addrs.len() == 1 {
                    r.addrs[0].to_string()
                } else {
                    format!("{} {:?}", r.rcode, r.addrs)
                };
                *counts.entry(key).or_default() += 1;
            }
            None => lost += 1,
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "10,000 queries took over 120 s: {counts:?}, lost {lost}"
        );
        assert!(
            lost <= 20,
            "over 20 of the queries got no response: {counts:?}"
        );
    }
    let took = t0.elapsed();
    let after = d.stats();
    let c1 = counts.get(&r1.to_string()).copied().unwrap_or(0);
    let c2 = counts.get(&r2.to_string()).copied().unwrap_or(0);
    eprintln!(
        "RATIO 3:1 over {N} queries through XDP: {r1} x{c1}, {r2} x{c2}, lost {lost}, in {:.2} s; all answers: {counts:?}",
        took.as_secs_f64()
    );
    f.check(lost == 0, || format!("{lost} queries got no response"));
    f.check(counts.len() == 2, || {
        format!("answers other than one of {r1}, {r2}: {counts:?}")
    });
    f.check((7350..=7650).contains(&c1), || {
        format!("{r1} (ratio 3) got {c1} of {N}, want 7500 ± 2 %")
    });
    f.check((2350..=2650).contains(&c2), || {
        format!("{r2} (ratio 1) got {c2} of {N}, want 2500 ± 2 %")
    });
    let answered = before.delta_of(&after, "xdp_answered");
    f.check(answered == N - lost, || {
        format!(
            "xdp_answered +{answered}, want +{} (every answered query in XDP); changes: {:?}",
            N - lost,
            before.delta(&after)
        )
    });
    f.assert_none();
}

/// Round robin over 3 members, one answer per response, 30 sequential
/// queries from one client (dig): the first answers cycle exactly.
#[test]
fn round_robin_cycles_exactly_through_xdp() {
    let net = Net::new("eng_rr");
    let config = methods_config(&net);
    check_config(&config, "methods");
    let d = start(&net, &config, false);
    let members = [net.v4(121), net.v4(122), net.v4(123)];
    let mut f = Failures::default();
    let before = d.stats();
    let mut seq = Vec::new();
    for _ in 0..30 {
        let r = net.dig(net.srv_v4(), "rr.example.test", "A", &[]);
        let a = answer_addrs(&r);
        f.check(r.status == "NOERROR" && a.len() == 1, || {
            format!("rr.example.test: {} {a:?}\n{}", r.status, r.raw)
        });
        seq.push(a.first().copied());
    }
    let after = d.stats();
    eprintln!(
        "ROUND ROBIN 30 queries: {:?}",
        seq.iter()
            .flatten()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
    );
    let first3: std::collections::BTreeSet<_> = seq[..3].iter().flatten().copied().collect();
    f.check(first3 == members.into_iter().collect(), || {
        format!("the first 3 answers are not the 3 members: {seq:?}")
    });
    f.check(
        seq.iter().enumerate().all(|(i, a)| *a == seq[i % 3]),
        || format!("the answers do not cycle with period 3: {seq:?}"),
    );
    for m in members {
        let n = seq.iter().filter(|a| **a == Some(m)).count();
        f.check(n == 10, || {
            format!("{m} first {n} times of 30, want 10: {seq:?}")
        });
    }
    let answered = before.delta_of(&after, "xdp_answered");
    f.check(answered == 30, || {
        format!(
            "xdp_answered +{answered}, want +30; changes: {:?}",
            before.delta(&after)
        )
    });
    f.assert_none();
}

// ---------------------------------------------------------------------------
// 3. Static persist.

fn persist_config(net: &Net) -> String {
    let a = |h| net.v4(h);
    format!(
        r#"{ZONE}
[[monitor]]
name = "tcp"
type = "tcp"
interval = "200ms"
timeout = "100ms"
rise = 2
fall = 2
jitter = 0
port = {BACKEND_PORT}

[[vserver]]
name = "sp1"
address = "{sp1}"
datacenter = "dc1"
monitors = ["tcp"]

[[vserver]]
name = "sp2"
address = "{sp2}"
datacenter = "dc1"
monitors = ["tcp"]

[[vserver]]
name = "sp3"
address = "{sp3}"
datacenter = "dc1"
monitors = ["tcp"]

[[pool]]
name = "persist"
members = ["sp1", "sp2", "sp3"]
preferred = "static_persist"
max_answers = 1
persist_prefix_v4 = 32

[[gslb]]
name = "sp.example.test"
ttl = 30
pools = ["persist"]
"#,
        sp1 = a(131),
        sp2 = a(132),
        sp3 = a(133),
    )
}

/// client address → answered server, per phase.
type Mapping = BTreeMap<IpAddr, Option<IpAddr>>;

/// Queries sp.example.test from every client address (dig -b) `times`
/// times; checks they agree; returns the mapping and the number of
/// queries.
fn persist_mapping(
    net: &Net,
    clients: &[IpAddr],
    times: usize,
    f: &mut Failures,
) -> (Mapping, u64) {
    let mut m = Mapping::new();
    let mut n = 0;
    for c in clients {
        let b = c.to_string();
        let mut got = Vec::new();
        for _ in 0..times {
            let r = net.dig(net.srv_v4(), "sp.example.test", "A", &["-b", &b]);
            n += 1;
            let a = answer_addrs(&r);
            f.check(r.status == "NOERROR" && a.len() == 1, || {
                format!("sp.example.test from {c}: {} {a:?}\n{}", r.status, r.raw)
            });
            got.push(a.first().copied());
        }
        f.check(got.iter().all(|g| *g == got[0]), || {
            format!("client {c} got different servers for the same name: {got:?}")
        });
        m.insert(*c, got[0]);
    }
    (m, n)
}

fn key_of(c: &IpAddr) -> u64 {
    match c {
        IpAddr::V4(a) => gslb_common::select::persist_key_v4(a.octets(), 32),
        IpAddr::V6(_) => unreachable!("IPv4 clients only"),
    }
}

/// Static persist with persist_prefix_v4 = 32 over 3 servers: every LDNS
/// address gets members[key mod 3] (seed 004 claim 3, the key a fixed
/// hash of the address), always the same; when sp2's backend stops, only
/// sp2's clients move, to [sp1, sp3][key mod 2] (claim 4), the others
/// keep theirs; when it returns they move back. The same with XDP and with `--no-xdp`, identical mappings.
#[test]
fn static_persist_moves_only_the_down_servers_clients() {
    let net = Net::new("eng_persist");
    let members = [net.v4(131), net.v4(132), net.v4(133)];
    let mut backends: Vec<Backend> = members
        .iter()
        .map(|a| {
            net.add_srv_addr(*a);
            Backend::start(&net, SocketAddr::new(*a, BACKEND_PORT), BACKEND_BODY)
        })
        .collect();
    let clients: Vec<IpAddr> = (10..=30).map(|h| net.v4(h)).collect();
    for c in &clients {
        net.add_cli_addr(*c);
    }
    let config = persist_config(&net);
    check_config(&config, "persist");
    let mut f = Failures::default();

    let expected_up: Mapping = clients
        .iter()
        .map(|c| (*c, Some(members[(key_of(c) % 3) as usize])))
        .collect();
    let expected_sp2_down: Mapping = clients
        .iter()
        .map(|c| {
            let now = members[(key_of(c) % 3) as usize];
            let after = if now == members[1] {
                [members[0], members[2]][(key_of(c) % 2) as usize]
            } else {
                now
            };
            (*c, Some(after))
        })
        .collect();

    let mut results: Vec<(&str, Mapping, Mapping, Mapping)> = Vec::new();
    for (label, no_xdp) in [("XDP", false), ("--no-xdp", true)] {
        for b in &mut backends {
            b.resume();
        }
        let d = start(&net, &config, no_xdp);
        for s in ["sp1", "sp2", "sp3"] {
            wait_probed_ok(&d, s, Duration::from_secs(5));
        }
        let before = (!no_xdp).then(|| d.stats());
        let (up, n1) = persist_mapping(&net, &clients, 2, &mut f);
        backends[1].stop();
        wait_availability(&d, "sp2", "down", Duration::from_secs(5));
        let (down, n2) = persist_mapping(&net, &clients, 2, &mut f);
        backends[1].resume();
        wait_availability(&d, "sp2", "available", Duration::from_secs(5));
        let (back, n3) = persist_mapping(&net, &clients, 1, &mut f);
        if let Some(before) = before {
            let after = d.stats();
            let answered = before.delta_of(&after, "xdp_answered");
            f.check(answered == n1 + n2 + n3, || {
                format!(
                    "{label}: xdp_answered +{answered}, want +{} (all static persist queries in XDP); changes: {:?}",
                    n1 + n2 + n3,
                    before.delta(&after)
                )
            });
        }
        let moved = clients.iter().filter(|c| up[c] != down[c]).count();
        eprintln!(
            "STATIC PERSIST {label}: {} clients, {moved} moved when sp2 went down (expected {})",
            clients.len(),
            clients
                .iter()
                .filter(|c| expected_up[c] != expected_sp2_down[c])
                .count()
        );
        f.check(up == expected_up, || {
            format!("{label}: mapping with all up {up:?}\nwant (key mod 3) {expected_up:?}")
        });
        f.check(down == expected_sp2_down, || {
            format!("{label}: mapping with sp2 down {down:?}\nwant {expected_sp2_down:?}")
        });
        f.check(back == up, || {
            format!("{label}: mapping after sp2 returned {back:?}\nwant the original {up:?}")
        });
        results.push((label, up, down, back));
        drop(d);
    }
    let (x, s) = (&results[0], &results[1]);
    f.check(x.1 == s.1 && x.2 == s.2 && x.3 == s.3, || {
        format!(
            "XDP and --no-xdp map clients differently:\nXDP all up {:?}\nslow all up {:?}\nXDP sp2 down {:?}\nslow sp2 down {:?}",
            x.1, s.1, x.2, s.2
        )
    });
    f.assert_none();
}

/// spread.example.test: static persist over four servers without
/// monitors (always up), per /24.
fn spread_config(net: &Net) -> String {
    let mut c = String::from(ZONE);
    for h in 141..=144u8 {
        c.push_str(&format!(
            "\n[[vserver]]\nname = \"s{h}\"\naddress = \"{}\"\ndatacenter = \"dc1\"\n",
            net.v4(h)
        ));
    }
    c.push_str(
        r#"
[[pool]]
name = "spread"
members = ["s141", "s142", "s143", "s144"]
preferred = "static_persist"
max_answers = 1
persist_prefix_v4 = 24

[[gslb]]
name = "spread.example.test"
ttl = 30
pools = ["spread"]
"#,
    );
    c
}

/// One A query for spread.example.test from `src` to `server` port 53
/// over UDP; the first answer address, `None` without one within 1 s.
fn spread_query(src: IpAddr, server: IpAddr, id: u16) -> Option<IpAddr> {
    use hickory_proto::{
        op::{Message, MessageType, OpCode, Query},
        rr::{Name, RData},
    };
    let sock = std::net::UdpSocket::bind(SocketAddr::new(src, 0))
        .unwrap_or_else(|e| panic!("binding a UDP socket to {src}: {e}"));
    sock.set_read_timeout(Some(Duration::from_secs(1)))
        .expect("read timeout");
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(
        Name::from_ascii("spread.example.test.").unwrap(),
        RecordType::A,
    ));
    sock.send_to(&m.to_vec().unwrap(), SocketAddr::new(server, 53))
        .ok()?;
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).ok()?;
    let r = Message::from_vec(&buf[..n]).ok()?;
    r.answers.iter().find_map(|rec| match &rec.data {
        RData::A(a) => Some(IpAddr::V4(a.0)),
        _ => None,
    })
}

/// Static persist per /24 through the slow path of a `--no-xdp` daemon,
/// on the wire: 10,000 resolvers from random /24s of 127/8 (distinct
/// sources on the server namespace's `lo`) each get the server the
/// shared selection (`gslb_common::select`, which the XDP program runs
/// too) computes from their prefix, and each of the four servers gets
/// 1/4 of them within 2 points.
#[test]
fn static_persist_spreads_resolvers_through_the_slow_path() {
    const CLIENTS: usize = 10_000;
    let net = Net::new("eng_persist_spread");
    let config = spread_config(&net);
    check_config(&config, "spread");
    let d = start(&net, &config, true);
    let members: Vec<IpAddr> = (141..=144u8).map(|h| net.v4(h)).collect();
    let server = net.srv_v4();
    let ns = net.srv_ns.clone();
    // Every source first, so that the run below is one thread in the
    // namespace; the generator is xorshift64 with a fixed seed.
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let clients: Vec<IpAddr> = (0..CLIENTS)
        .map(|_| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            std::net::Ipv4Addr::new(127, (rng >> 8) as u8, (rng >> 16) as u8, rng as u8 | 1).into()
        })
        .collect();
    let asked = clients.clone();
    let answers: Vec<Option<IpAddr>> = gslb_tests::netns::in_netns(&ns, move || {
        let deadline = Instant::now() + Duration::from_secs(120);
        asked
            .iter()
            .enumerate()
            .map(|(i, c)| {
                (Instant::now() < deadline)
                    .then(|| spread_query(*c, server, i as u16))
                    .flatten()
            })
            .collect()
    });
    let sel = gslb_common::select::Selection {
        mode: gslb_common::select::MODE_STATIC_PERSIST,
        count: 4,
        up: 0b1111,
        ..Default::default()
    };
    let mut f = Failures::default();
    let mut hits = [0usize; 4];
    for (c, got) in clients.iter().zip(&answers) {
        let IpAddr::V4(a) = c else { unreachable!() };
        let pick = gslb_common::select::Pick {
            client: gslb_common::select::persist_key_v4(a.octets(), 24),
            ..Default::default()
        };
        let want = gslb_common::select::first(&sel, &pick, &mut gslb_common::select::identity)
            .map(|i| members[i]);
        if let Some(i) = got.and_then(|g| members.iter().position(|m| *m == g)) {
            hits[i] += 1;
        }
        f.check(*got == want, || {
            format!("{c}: got {got:?}, want {want:?} (its /24's server)")
        });
        if f.0.len() > 20 {
            break;
        }
    }
    eprintln!("STATIC PERSIST /24 over 4 servers, slow path: {hits:?}");
    for (i, &h) in hits.iter().enumerate() {
        let share = h as f64 / CLIENTS as f64;
        f.check((share - 0.25).abs() < 0.02, || {
            format!("server {i} has {share:.4} of the resolvers, want 0.25 ± 0.02 ({hits:?})")
        });
    }
    drop(d);
    f.assert_none();
}

// ---------------------------------------------------------------------------
// 4. All down.

/// A monitor that always fails: TCP to a closed port on the server's own
/// address; servers start down (`initial = "down"`) so they never answer.
fn dead_monitor(net: &Net) -> String {
    format!(
        r#"
[[monitor]]
name = "dead"
type = "tcp"
interval = "500ms"
timeout = "200ms"
rise = 2
fall = 1
port = 9
# probes {}:9 (nothing listens there)
"#,
        net.srv_v4()
    )
}

fn dead_server(net: &Net, name: &str, addr: &str) -> String {
    format!(
        r#"
[[vserver]]
name = "{name}"
address = "{addr}"
datacenter = "dc1"
monitors = ["dead"]
check_address = "{check}"
initial = "down"
"#,
        check = net.srv_v4()
    )
}

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
        c.push_str(&format!(
            r#"
[[pool]]
name = "{name}"
members = ["dead1", "dead2"]
preferred = "round_robin"
max_answers = 2
{text}

[[gslb]]
name = "{name}.example.test"
ttl = 30
pools = ["{name}"]
"#
        ));
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
    let dx = start(&net_x, &cx, false);
    let ds = start(&net_s, &cs, true);
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

// ---------------------------------------------------------------------------
// 5. explain / status / admin.

fn explain_config(net: &Net) -> String {
    let mut c = String::from(ZONE);
    c.push_str(&dead_monitor(net));
    c.push_str(&dead_server(net, "e_down", "198.18.60.1"));
    c.push_str(
        r#"
[[vserver]]
name = "e_drain"
address = "198.18.60.2"
datacenter = "dc1"

[[vserver]]
name = "e_over"
address = "198.18.60.3"
datacenter = "dc1"
max_sessions = 100
metrics = { sessions = 150, connections = 10 }

[[vserver]]
name = "e_ok1"
address = "198.18.60.4"
datacenter = "dc1"
max_sessions = 100
metrics = { sessions = 50, connections = 10 }

[[vserver]]
name = "e_ok2"
address = "198.18.60.5"
datacenter = "dc1"

[[pool]]
name = "ex"
members = ["e_down", "e_drain", "e_over", "e_ok1", "e_ok2"]
preferred = "global_availability"
max_answers = 8

[[gslb]]
name = "ex.example.test"
ttl = 30
pools = ["ex"]
"#,
    );
    c
}

fn candidates(ex: &Value) -> BTreeMap<String, String> {
    ex["a"]["explanation"]["candidates"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["server"].as_str().unwrap_or("?").to_string(),
                c["availability"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect()
}

fn availabilities(st: &Value) -> BTreeMap<String, String> {
    st["servers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                s["name"].as_str().unwrap_or("?").to_string(),
                s["availability"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect()
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
    let d = start(&net, &config, false);
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
    let t0 = Instant::now();
    d.server_admin("disable", "e_ok1");
    let off = wait_answer(&net, &client, &[ok2], t0, Duration::from_secs(1));
    eprintln!(
        "TIMING admin: disable -> out of the answers: {:?}",
        off.map(ms)
    );
    f.check(off.is_some(), || {
        "e_ok1 still answered 1 s after `gslb server disable`".to_string()
    });
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
    let t0 = Instant::now();
    d.server_admin("enable", "e_ok1");
    let on = wait_answer(&net, &client, &[ok1, ok2], t0, Duration::from_secs(1));
    eprintln!(
        "TIMING admin: enable -> back in the answers: {:?}",
        on.map(ms)
    );
    f.check(on.is_some(), || {
        "e_ok1 not answered 1 s after `gslb server enable`".to_string()
    });
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
