//! End-to-end tests of the daemon as an operator meets it, over a veth
//! pair between two network namespaces (XDP attached in native mode):
//!
//! 1. A second daemon with the same control socket, or on an interface a
//!    program is attached to, refuses to start, naming the holder; the
//!    first keeps answering and stays manageable.
//! 2. SIGHUP reloads the config: the daemon keeps answering.
//! 3. A pool's SERVFAIL goes out without AA, as Knot and NSD send it.
//! 4. The slow path caps UDP replies at the smaller of the client's EDNS
//!    size and ours (`dig +bufsize=4096` against `edns_udp_size = 1232`
//!    gets TC), 512 without EDNS.
//!
//! Root and native XDP on veth are required: a missing capability fails
//! the tests.
//!
//! Run with `cargo build -p gslb-user && cargo test -p gslb-tests --test
//! daemon` (or `cargo xtask test`).

use std::{path::PathBuf, thread, time::Duration};

use gslb_tests::{
    harness::start,
    netns::{gslb_bin, run_bounded, Daemon, DaemonOpts, Net, CMD_TIMEOUT, DNS_PORT},
};

/// The embedded default config's zone, with `extra` appended and our EDNS
/// size set to `edns`.
fn config(edns: u16, extra: &str) -> String {
    format!(
        r#"
[server]
edns_udp_size = {edns}

[[zone]]
name = "example.test"
ns = ["ns1"]
[[zone.record]]
name = "ns1"
type = "A"
data = "198.18.0.53"

[[gslb]]
name = "www.example.test"
a = ["198.18.0.10"]
{extra}
"#
    )
}

/// 24 TXT records of 100 characters at `many.example.test`: about 2.8 KB.
fn large_rrset() -> String {
    (0..24)
        .map(|i| {
            format!(
                "[[zone.record]]\nname = \"many\"\ntype = \"TXT\"\ndata = '\"{i:02}{}\"'\n",
                "x".repeat(98)
            )
        })
        .collect()
}

/// The size dig reports for the response (`;; MSG SIZE  rcvd: N`).
fn msg_size(raw: &str) -> usize {
    raw.lines()
        .find_map(|l| l.trim().strip_prefix(";; MSG SIZE  rcvd:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no MSG SIZE line in dig's output:\n{raw}"))
}

/// `gslb run` with the given control socket on the net's server veth and
/// addresses, a pin directory of its own; bounded.
fn second_daemon(net: &Net, control: &std::path::Path, tag: &str) -> gslb_tests::netns::CmdOutput {
    let pin_dir =
        PathBuf::from("/sys/fs/bpf").join(format!("gslbt-{}-{}-{tag}", std::process::id(), net.id));
    let out = run_bounded(
        net.in_srv(gslb_bin())
            .args(["run", "--iface", &net.srv_if])
            .arg("--listen")
            .arg(format!("{}:{DNS_PORT}", net.srv_v4()))
            .arg("--pin-dir")
            .arg(&pin_dir)
            .arg("--control")
            .arg(control)
            .arg("--no-state-file")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1"),
        CMD_TIMEOUT,
    );
    let _ = std::fs::remove_dir_all(&pin_dir);
    out
}

#[test]
fn a_second_daemon_is_refused_and_the_first_stays_manageable() {
    let net = Net::new("second-daemon");
    let mut d = Daemon::start(&net, DaemonOpts::default());
    let pid = d.pid();

    // Same control socket: refused, naming the holder.
    let out = second_daemon(&net, &d.control, "same-control");
    assert!(out.status.is_some() && !out.success(), "{out}");
    let holder = format!("another gslb daemon (pid {pid})");
    assert!(
        out.stderr.contains(&holder) && out.stderr.contains(&d.control.display().to_string()),
        "no {holder:?} and control path in the error:\n{out}"
    );
    assert!(
        !out.stderr.contains("native XDP unavailable"),
        "tried to attach:\n{out}"
    );

    // Its own control socket, but the same interface: refused, naming the
    // program attached there.
    let control = d.control.with_extension("other.sock");
    let out = second_daemon(&net, &control, "same-iface");
    let _ = std::fs::remove_file(&control);
    let _ = std::fs::remove_file(gslb::api::control::lock_path(&control));
    assert!(out.status.is_some() && !out.success(), "{out}");
    assert!(
        out.stderr.contains(&format!(
            "interface {} is taken: XDP program id",
            net.srv_if
        )) && out.stderr.contains("named \"gslb\""),
        "the attached program is not named:\n{out}"
    );
    assert!(
        !out.stderr.contains("native XDP unavailable"),
        "misleading attach message:\n{out}"
    );

    // The first daemon still runs, answers, and is managed over its socket.
    assert!(d.running(), "the first daemon exited:\n{}", d.log_text());
    assert!(d.control.exists(), "the control socket was removed");
    let status = d.ctl(&["status"]);
    assert!(status.success(), "{status}");
    let r = net.dig(net.srv_v4(), "www.example.test", "A", &[]);
    assert_eq!(r.status, "NOERROR", "{}", r.raw);
    assert!(net.srv_has_xdp());
    let (st, in_time) = d.terminate(Duration::from_secs(5));
    assert!(in_time && st.success(), "{st}");
}

#[test]
fn sighup_reloads_and_the_daemon_keeps_answering() {
    let net = Net::new("sighup");
    let mut d = Daemon::start(&net, DaemonOpts::default());
    let pid = d.pid();
    for _ in 0..3 {
        // SAFETY: kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGHUP) }, 0);
        thread::sleep(Duration::from_millis(100));
    }
    d.wait_log("SIGHUP: config reloaded", Duration::from_secs(5));
    assert!(d.running(), "SIGHUP killed the daemon:\n{}", d.log_text());
    // Both paths still answer: UDP (XDP) and TCP (slow path).
    let r = net.dig(net.srv_v4(), "www.example.test", "A", &[]);
    assert_eq!(r.status, "NOERROR", "{}", r.raw);
    let r = net.dig(net.srv_v4(), "www.example.test", "A", &["+tcp"]);
    assert_eq!(r.status, "NOERROR", "{}", r.raw);
    assert!(d.ctl(&["status"]).success());
    let (st, in_time) = d.terminate(Duration::from_secs(5));
    assert!(in_time && st.success(), "{st}");
}

#[test]
fn servfail_is_not_authoritative() {
    let net = Net::new("servfail-aa");
    let extra = r#"
[[datacenter]]
name = "dc"
lat = 0.0
lon = 0.0

[[vserver]]
name = "s1"
address = "198.18.7.1"
datacenter = "dc"
state = "disabled"

[[pool]]
name = "p"
members = ["s1"]
preferred = "global_availability"
when_all_down = "servfail"

[[gslb]]
name = "down.example.test"
pools = ["p"]
"#;
    let d = start(&net, &config(1232, extra));
    for extra in [&[][..], &["+tcp"], &["+noedns"]] {
        let r = net.dig(net.srv_v4(), "down.example.test", "A", extra);
        assert_eq!(r.status, "SERVFAIL", "{extra:?}:\n{}", r.raw);
        assert!(
            !r.has_flag("aa"),
            "AA set on SERVFAIL ({extra:?}):\n{}",
            r.raw
        );
    }
    // Data and NXDOMAIN keep AA.
    let r = net.dig(net.srv_v4(), "nope.example.test", "A", &["+tcp"]);
    assert_eq!(r.status, "NXDOMAIN");
    assert!(r.has_flag("aa"), "{}", r.raw);
    drop(d);
}

#[test]
fn udp_replies_are_capped_by_our_edns_size() {
    let net = Net::new("udp-size");
    let d = start(&net, &config(1232, &large_rrset()));
    // The whole RRset over TCP: larger than 1232 and smaller than 4096.
    let full = net.dig(net.srv_v4(), "many.example.test", "TXT", &["+tcp"]);
    assert_eq!(full.answer.len(), 24, "{}", full.raw);
    let size = msg_size(&full.raw);
    assert!((1232..4096).contains(&size), "{size}");
    // A client taking 4096 gets at most our 1232, with TC.
    let r = net.dig(
        net.srv_v4(),
        "many.example.test",
        "TXT",
        &["+bufsize=4096", "+ignore"],
    );
    assert_eq!(r.transport, "UDP", "{}", r.raw);
    assert!(r.has_flag("tc"), "no TC:\n{}", r.raw);
    assert!(msg_size(&r.raw) <= 1232, "{}", r.raw);
    assert_eq!(r.edns_udp, Some(1232));
    // Without EDNS: 512.
    let r = net.dig(
        net.srv_v4(),
        "many.example.test",
        "TXT",
        &["+noedns", "+ignore"],
    );
    assert!(r.has_flag("tc") && msg_size(&r.raw) <= 512, "{}", r.raw);
    // dig retries over TCP after TC and gets it all.
    let r = net.dig(net.srv_v4(), "many.example.test", "TXT", &["+bufsize=4096"]);
    assert_eq!(r.answer.len(), 24, "{}", r.raw);
    drop(d);

    // With our size at 4096 the same client gets it whole over UDP.
    let d = start(&net, &config(4096, &large_rrset()));
    let r = net.dig(
        net.srv_v4(),
        "many.example.test",
        "TXT",
        &["+bufsize=4096", "+ignore"],
    );
    assert!(!r.has_flag("tc"), "{}", r.raw);
    assert_eq!(r.answer.len(), 24, "{}", r.raw);
    assert!(msg_size(&r.raw) > 1232, "{}", r.raw);
    drop(d);
}
