//! Operations through the real path: the NSID (RFC 5001) answered with
//! XDP attached, over UDP (the fast path passes such queries) and TCP; the
//! query log of the slow path, sampled; failover lines per pool and gslb
//! name in the daemon's log when a backend goes down and comes back.
//!
//! Run with `cargo xtask test -- -p gslb-tests --test ops`.

use std::{
    fs,
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    time::{Duration, Instant},
};

use gslb_tests::{
    config::{gslb, health, monitor, pool, timing, vserver},
    harness::{answer_addrs, check_config, poll_until, start, BACKEND_BODY, BACKEND_PORT, ZONE},
    netns::{Backend, Net},
};

/// `[[gslb]]` www with two fixed addresses.
fn www() -> String {
    "\n[[gslb]]\nname = \"www.example.test\"\nttl = 30\na = [\"198.18.7.1\", \"198.18.7.2\"]\n"
        .to_string()
}

/// The NSID dig printed (`; NSID: … ("text")`), if any.
fn nsid_of(dig_stdout: &str) -> Option<String> {
    let line = dig_stdout.lines().find(|l| l.starts_with("; NSID:"))?;
    let text = line.split('"').nth(1)?;
    Some(text.to_string())
}

/// `dig +nsid` gets the configured NSID with XDP attached: over UDP the
/// XDP program passes the query (`xdp_passed_nsid`) and the slow path
/// answers with the identifier; over TCP likewise. A query without the
/// option is still answered in XDP, without NSID. A daemon without
/// `nsid` sends none, and answers `+nsid` queries in XDP.
#[test]
fn nsid_answers_through_xdp_and_tcp() {
    let net = Net::new("ops_nsid");
    let config = ZONE.replace(
        "edns_udp_size = 1232",
        "edns_udp_size = 1232\nnsid = \"gslb-node-7\"",
    ) + &www();
    check_config(&config, "nsid");
    let d = start(&net, &config);
    let srv = net.srv_v4();

    let before = d.stats();
    let (r, out) = net.dig_run(srv, "www.example.test", "A", 2, &["+nsid"]);
    let r = r.unwrap_or_else(|| panic!("no answer:\n{out}"));
    assert_eq!(r.answer.len(), 2, "{out}");
    assert_eq!(
        nsid_of(&out.stdout).as_deref(),
        Some("gslb-node-7"),
        "{out}"
    );
    let after = d.stats();
    assert_eq!(
        before.delta_of(&after, "xdp_passed_nsid"),
        1,
        "{:?}",
        before.delta(&after)
    );
    assert_eq!(before.delta_of(&after, "xdp_answered"), 0);

    let (_, out) = net.dig_run(srv, "www.example.test", "A", 2, &["+nsid", "+tcp"]);
    assert_eq!(
        nsid_of(&out.stdout).as_deref(),
        Some("gslb-node-7"),
        "{out}"
    );

    // Without the option: the fast path answers, no NSID.
    let before = d.stats();
    let (_, out) = net.dig_run(srv, "www.example.test", "A", 2, &[]);
    assert_eq!(nsid_of(&out.stdout), None, "{out}");
    let after = d.stats();
    assert_eq!(
        before.delta_of(&after, "xdp_answered"),
        1,
        "{:?}",
        before.delta(&after)
    );
    drop(d);

    // No nsid configured: none returned, and XDP answers +nsid queries.
    let net2 = Net::new("ops_no_nsid");
    let d2 = start(&net2, &(ZONE.to_string() + &www()));
    let before = d2.stats();
    for extra in [&["+nsid"][..], &["+nsid", "+tcp"][..]] {
        let (r, out) = net2.dig_run(net2.srv_v4(), "www.example.test", "A", 2, extra);
        assert!(r.is_some_and(|r| r.answer.len() == 2), "{out}");
        assert_eq!(nsid_of(&out.stdout), None, "{out}");
    }
    let after = d2.stats();
    assert_eq!(before.delta_of(&after, "xdp_passed_nsid"), 0);
    assert_eq!(
        before.delta_of(&after, "xdp_answered"),
        1,
        "{:?}",
        before.delta(&after)
    );
}

/// A file removed on drop.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// The query log's lines, parsed (each must be a JSON object).
fn log_lines(path: &PathBuf) -> Vec<serde_json::Value> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// Waits (bounded) until the log has `n` lines.
fn wait_lines(path: &PathBuf, n: usize) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let lines = log_lines(path);
        if lines.len() >= n || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `[log] queries = FILE, sample = 2`: of six TCP queries three are
/// logged, as JSON lines with client, transport, name, type, rcode and
/// answers; UDP queries the XDP program answers are not logged (nor
/// counted for the sampling); a UDP query it passes is.
#[test]
fn query_log_has_sampled_slow_path_queries() {
    let net = Net::new("ops_qlog");
    let file = TempFile(
        std::env::temp_dir().join(format!("gslbt-{}-ops-queries.jsonl", std::process::id())),
    );
    let _ = fs::remove_file(&file.0);
    let config = ZONE.to_string()
        + &www()
        + &format!(
            "\n[log]\nqueries = \"{}\"\nformat = \"json\"\nsample = 2\n",
            file.0.display()
        );
    check_config(&config, "query log");
    let d = start(&net, &config);
    let srv = net.srv_v4();
    for _ in 0..6 {
        let r = net.dig(srv, "www.example.test", "A", &["+tcp"]);
        assert_eq!(r.answer.len(), 2);
    }
    let lines = wait_lines(&file.0, 3);
    assert_eq!(lines.len(), 3, "{lines:?}");
    for l in &lines {
        assert_eq!(l["client"], net.cli_v4().to_string(), "{l}");
        assert_eq!(l["transport"], "tcp", "{l}");
        assert_eq!(l["path"], "slow", "{l}");
        assert_eq!(l["qname"], "www.example.test.", "{l}");
        assert_eq!(l["qtype"], "A", "{l}");
        assert_eq!(l["rcode"], "NOERROR", "{l}");
        let data: Vec<&str> = l["answers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["data"].as_str().unwrap())
            .collect();
        assert_eq!(data.len(), 2, "{l}");
        assert!(
            data.contains(&"198.18.7.1") && data.contains(&"198.18.7.2"),
            "{l}"
        );
        assert!(l["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{l}");
    }

    // Answered in XDP: neither logged nor counted.
    let before = d.stats();
    for _ in 0..4 {
        let r = net.dig(srv, "www.example.test", "A", &[]);
        assert_eq!(r.answer.len(), 2);
    }
    let after = d.stats();
    assert_eq!(before.delta_of(&after, "xdp_answered"), 4);
    // Passed by XDP (not our zone): the slow path refuses and logs the
    // first of the two (the 7th slow-path query; the 8th is not sampled).
    for _ in 0..2 {
        let r = net.dig(srv, "www.example.invalid", "A", &[]);
        assert_eq!(r.status, "REFUSED");
    }
    let lines = wait_lines(&file.0, 4);
    std::thread::sleep(Duration::from_millis(200));
    let lines = if lines.len() == 4 {
        log_lines(&file.0)
    } else {
        lines
    };
    assert_eq!(lines.len(), 4, "{lines:?}");
    let last = &lines[3];
    assert_eq!(last["transport"], "udp", "{last}");
    assert_eq!(last["qname"], "www.example.invalid.", "{last}");
    assert_eq!(last["rcode"], "REFUSED", "{last}");
    assert_eq!(last["answers"].as_array().map(Vec::len), Some(0), "{last}");
}

/// Two gslb names share pool `web` (`web-a1` first, `web-b1` second,
/// global availability, one answer). The backend of `web-a1` stops: the
/// answers move to `web-b1` and the daemon logs, per name, that pool
/// `web` failed over from `web-a1` to `web-b1` because `web-a1` is down
/// by monitor `http`; it comes back: the fail-back is logged.
#[test]
fn failovers_are_logged_per_pool_and_name() {
    let net = Net::new("ops_failover");
    let (a1, b1) = (net.v4(101), net.v4(102));
    net.add_srv_addr(a1);
    net.add_srv_addr(b1);
    let mut ba = Backend::start(&net, SocketAddr::new(a1, BACKEND_PORT), BACKEND_BODY);
    let _bb = Backend::start(&net, SocketAddr::new(b1, BACKEND_PORT), BACKEND_BODY);
    let config = [
        ZONE.to_string(),
        health("up"),
        monitor(
            "http",
            "http",
            &timing(200, 100, 2, 2),
            &format!("port = {BACKEND_PORT}\npath = \"/health\"\nexpect_status = [200]\n"),
        ),
        vserver("web-a1", a1, "monitors = [\"http\"]\n"),
        vserver("web-b1", b1, "monitors = [\"http\"]\n"),
        pool("web", &["web-a1", "web-b1"], "global_availability", 1, ""),
        gslb("www.example.test", 30, &["web"], ""),
        gslb("shop.example.test", 30, &["web"], ""),
    ]
    .concat();
    check_config(&config, "failover");
    let d = start(&net, &config);
    let srv = net.srv_v4();
    let client = net.udp_client(net.cli_v4());
    let answers = |want: IpAddr| {
        poll_until(
            &client,
            srv,
            "www.example.test",
            Instant::now(),
            Duration::from_millis(50),
            Duration::from_secs(10),
            |r| r.addrs == [want],
        )
        .unwrap_or_else(|| panic!("www never answered {want}:\n{}", d.log_text()))
    };
    answers(a1);

    ba.stop();
    answers(b1);
    let down = "failed over from web-a1 to web-b1 (web-a1 down: monitor http)";
    for name in ["www.example.test.", "shop.example.test."] {
        d.wait_log(
            &format!("pool \"web\" of {name} A: {down}"),
            Duration::from_secs(5),
        );
    }
    let r = net.dig(srv, "shop.example.test", "A", &[]);
    assert_eq!(answer_addrs(&r), [b1]);

    ba.resume();
    answers(a1);
    let text = d.wait_log(
        "pool \"web\" of www.example.test. A: failed back from web-b1 to web-a1 (web-a1 up)",
        Duration::from_secs(5),
    );
    // One line per name and change, not one per recompute.
    let lines = text.lines().filter(|l| l.contains(down)).count();
    assert_eq!(lines, 2, "{text}");
    // Servers are named, never numbered.
    assert!(
        !text
            .lines()
            .any(|l| l.contains("failed") && l.contains('#')),
        "{text}"
    );
}
