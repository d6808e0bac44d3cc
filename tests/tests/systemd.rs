//! The daemon as systemd runs it (`dist/gslb.service`, `Type=notify`):
//! `READY=1` arrives on `$NOTIFY_SOCKET` once the daemon answers queries,
//! `RELOADING=1` then `READY=1` around a SIGHUP reload, `STOPPING=1` when
//! it stops; once ready it holds only `CAP_NET_RAW`
//! (with `no_new_privs`) on every thread, and still works: XDP answers,
//! a health flip reaches the maps, `gslb server drain` changes the answer.
//!
//! One test in this file: it sets `NOTIFY_SOCKET` in the process
//! environment, which the daemon inherits.
//!
//! Run with `cargo xtask test -- -p gslb-tests --test systemd`.

use std::{
    fs,
    net::{IpAddr, SocketAddr},
    os::unix::net::UnixDatagram,
    sync::{
        atomic::{AtomicBool, Ordering},
        Mutex,
    },
    time::{Duration, Instant},
};

use gslb_tests::{
    config::{gslb, health, monitor, pool, timing, vserver},
    harness::{check_config, poll_until, start, BACKEND_BODY, BACKEND_PORT, QUERY_TIMEOUT, ZONE},
    netns::{Backend, DnsReply, Net},
};
use hickory_proto::rr::RecordType;

/// CAP_NET_RAW.
const NET_RAW: u64 = 1 << 13;

/// `Cap*` and `NoNewPrivs` of one `status` file.
fn caps(status: &str) -> (u64, u64, u64, u64, bool) {
    let hex = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or_else(|| panic!("no {key} in {status}"))
    };
    let nnp = status
        .lines()
        .any(|l| l.split_whitespace().eq(["NoNewPrivs:", "1"]));
    (
        hex("CapEff:"),
        hex("CapPrm:"),
        hex("CapInh:"),
        hex("CapAmb:"),
        nnp,
    )
}

#[test]
fn notify_readiness_and_reduced_capabilities() {
    let net = Net::new("sd_notify");
    let sock_path = std::env::temp_dir().join(format!("gslbt-{}-notify.sock", std::process::id()));
    let _ = fs::remove_file(&sock_path);
    let sock = UnixDatagram::bind(&sock_path).expect("binding the notify socket");
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    // SAFETY: the only test of this binary; nothing else reads the
    // environment concurrently.
    unsafe { std::env::set_var("NOTIFY_SOCKET", &sock_path) };

    let (web1, web2) = (net.v4(101), net.v4(102));
    net.add_srv_addr(web1);
    net.add_srv_addr(web2);
    let mut b1 = Backend::start(&net, SocketAddr::new(web1, BACKEND_PORT), BACKEND_BODY);
    let _b2 = Backend::start(&net, SocketAddr::new(web2, BACKEND_PORT), BACKEND_BODY);
    let config = [
        ZONE.to_string(),
        health("up"),
        monitor(
            "tcp",
            "tcp",
            &timing(200, 100, 2, 2),
            &format!("port = {BACKEND_PORT}\n"),
        ),
        vserver("web1", web1, "monitors = [\"tcp\"]\n"),
        vserver("web2", web2, "monitors = [\"tcp\"]\n"),
        pool("web", &["web1", "web2"], "global_availability", 1, ""),
        gslb("www.example.test", 30, &["web"], ""),
    ]
    .concat();
    check_config(&config, "systemd");
    let srv = net.srv_v4();
    let client = net.udp_client(net.cli_v4());

    // The notifications, and the reply to a query sent the moment READY=1
    // arrived.
    let received = Mutex::new(Vec::<String>::new());
    let at_ready = Mutex::new(None::<Option<DnsReply>>);
    let stop = AtomicBool::new(false);
    let mut d = std::thread::scope(|s| {
        s.spawn(|| {
            let mut buf = [0u8; 4096];
            let deadline = Instant::now() + Duration::from_secs(60);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let Ok(n) = sock.recv(&mut buf) else { continue };
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                if msg.lines().any(|l| l == "READY=1") {
                    let r = client.query(srv, "www.example.test", RecordType::A, QUERY_TIMEOUT);
                    *at_ready.lock().unwrap() = Some(r);
                }
                received.lock().unwrap().push(msg);
            }
        });
        let d = start(&net, &config);
        // Until the READY=1 query is done (bounded).
        let deadline = Instant::now() + Duration::from_secs(5);
        while at_ready.lock().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        stop.store(true, Ordering::Relaxed);
        d
    });
    let msgs = received.lock().unwrap().clone();
    let ready: Vec<&String> = msgs.iter().filter(|m| m.contains("READY=1")).collect();
    assert_eq!(ready.len(), 1, "{msgs:?}");
    assert!(ready[0].contains("STATUS="), "{msgs:?}");
    let first = at_ready
        .lock()
        .unwrap()
        .clone()
        .expect("READY=1 arrived")
        .expect("the query sent at READY=1 was answered");
    assert_eq!(first.addrs, [web1], "{first:?}");

    // Every thread of the daemon: only CAP_NET_RAW, no ambient or
    // inheritable ones, no_new_privs.
    let pid = d.pid();
    let tasks: Vec<_> = fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(Result::ok)
        .collect();
    assert!(tasks.len() > 1, "a multi-threaded daemon");
    for t in tasks {
        let status = fs::read_to_string(t.path().join("status")).unwrap_or_default();
        if status.is_empty() {
            continue; // exited meanwhile
        }
        assert_eq!(
            caps(&status),
            (NET_RAW, NET_RAW, 0, 0, true),
            "thread {:?}:\n{status}",
            t.file_name()
        );
    }
    assert!(d.log_text().contains("capabilities dropped"));

    // Still working: XDP answers...
    let before = d.stats();
    let r = client
        .query(srv, "www.example.test", RecordType::A, QUERY_TIMEOUT)
        .expect("answer");
    assert_eq!(r.addrs, [web1]);
    assert_eq!(before.delta_of(&d.stats(), "xdp_answered"), 1);
    // ...a health flip reaches the maps...
    let poll = |want: IpAddr| {
        poll_until(
            &client,
            srv,
            "www.example.test",
            Instant::now(),
            Duration::from_millis(50),
            Duration::from_secs(10),
            |r| r.addrs == [want],
        )
        .unwrap_or_else(|| panic!("never answered {want}:\n{}", d.log_text()))
    };
    b1.stop();
    poll(web2);
    b1.resume();
    poll(web1);
    // ...and an admin change does too.
    d.server_admin("drain", "web1");
    poll(web2);
    d.server_admin("enable", "web1");
    poll(web1);

    // `systemctl reload`: SIGHUP gives RELOADING=1, then READY=1 when the
    // reload is done.
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .expect("kill -HUP");
    assert!(hup.success());
    let mut buf = [0u8; 4096];
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(n) = sock.recv(&mut buf) {
            seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        let reloading = seen.iter().position(|m| m.contains("RELOADING=1"));
        if reloading.is_some_and(|i| seen[i + 1..].iter().any(|m| m.contains("READY=1"))) {
            break;
        }
    }
    let reloading = seen
        .iter()
        .position(|m| m.contains("RELOADING=1"))
        .unwrap_or_else(|| panic!("no RELOADING=1 after SIGHUP: {seen:?}"));
    assert!(
        seen[reloading..]
            .iter()
            .any(|m| m.contains("MONOTONIC_USEC=")),
        "{seen:?}"
    );
    assert!(
        seen[reloading + 1..].iter().any(|m| m.contains("READY=1")),
        "no READY=1 after the reload: {seen:?}"
    );
    poll(web1);

    let (status, in_time) = d.terminate(Duration::from_secs(10));
    assert!(in_time && status.success(), "{status}");
    let mut stopping = false;
    while let Ok(n) = sock.recv(&mut buf) {
        stopping |= String::from_utf8_lossy(&buf[..n])
            .lines()
            .any(|l| l == "STOPPING=1");
    }
    assert!(stopping, "no STOPPING=1:\n{}", d.log_text());
    let _ = fs::remove_file(&sock_path);
}
