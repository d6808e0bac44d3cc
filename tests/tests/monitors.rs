//! The HTTPS, DNS and ICMP monitors against real targets, read through
//! XDP answers:
//!
//! - `https`: a TLS server with a self-signed certificate (generated here
//!   with rcgen; the monitor does not verify certificates, since backends
//!   are probed by address) in the server namespace;
//! - `dns`: a UDP DNS responder in the server namespace;
//! - `icmp`: an address of the client namespace, across the veth pair.
//!
//! Every server starts down (`[health] initial = "down"`) and enters the
//! answers only when its monitor's probes succeed; then each target stops
//! in turn (TLS listener closed, DNS socket closed, address removed) and
//! its server leaves the answers within fall × interval (+ timeout and
//! slack) while the others stay; then each comes back.
//!
//! Run with `cargo xtask test -- -p gslb-tests --test monitors`.

use std::{
    io::Write,
    net::{IpAddr, SocketAddr, TcpListener},
    process::Command,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use gslb_tests::{
    config::{gslb, health, monitor, pool, timing, vserver},
    harness::{check_config, start, DnsResponder, Failures, QUERY_TIMEOUT, ZONE},
    http,
    netns::{in_netns, run_ok, Daemon, Net, UdpDns},
};
use hickory_proto::rr::RecordType;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

const INTERVAL_MS: u64 = 200;
const TIMEOUT_MS: u64 = 100;
const RISE: u64 = 2;
const FALL: u64 = 2;
const HTTPS_PORT: u16 = 8443;
const DNS_PORT: u16 = 5353;
/// Bound of a change: fall (or rise) × interval, one probe timeout, and
/// slack for scheduling and the map update.
const CHANGE_BOUND: Duration = Duration::from_millis(FALL * INTERVAL_MS + TIMEOUT_MS + 800);

/// A TLS server in the server namespace answering every HTTP request with
/// 200 and a body; [`TlsBackend::stop`] closes the listener,
/// [`TlsBackend::resume`] opens it again.
struct TlsBackend {
    addr: SocketAddr,
    ns: String,
    config: Arc<rustls::ServerConfig>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
    /// TLS handshakes completed and answered.
    answered: Arc<AtomicU64>,
}

impl TlsBackend {
    fn start(net: &Net, addr: SocketAddr) -> TlsBackend {
        let certified =
            rcgen::generate_simple_self_signed(vec!["backend.example.test".to_string()])
                .expect("a self-signed certificate");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        ));
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .expect("a TLS server config");
        let mut b = TlsBackend {
            addr,
            ns: net.srv_ns.clone(),
            config: Arc::new(config),
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
            answered: Arc::new(AtomicU64::new(0)),
        };
        b.resume();
        b
    }

    fn resume(&mut self) {
        if self.thread.is_some() {
            return;
        }
        let addr = self.addr;
        let listener = in_netns(&self.ns, move || TcpListener::bind(addr))
            .unwrap_or_else(|e| panic!("TLS backend: binding {addr}: {e}"));
        listener.set_nonblocking(true).expect("non-blocking");
        self.stop.store(false, Ordering::SeqCst);
        let (stop, config, answered) = (
            self.stop.clone(),
            self.config.clone(),
            self.answered.clone(),
        );
        self.thread = Some(thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let Ok((tcp, _)) = listener.accept() else {
                    thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let _ = tcp.set_nonblocking(false);
                let _ = tcp.set_read_timeout(Some(Duration::from_millis(500)));
                let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                    continue;
                };
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                if http::read_request_head(&mut tls).is_empty() {
                    continue;
                }
                let resp = http::response("200 OK", "text/plain", "status: healthy over TLS\n");
                if tls.write_all(resp.as_bytes()).is_ok() {
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }

    fn stop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.stop.store(true, Ordering::SeqCst);
            let _ = t.join();
        }
    }
}

impl Drop for TlsBackend {
    fn drop(&mut self) {
        self.stop();
    }
}

fn config(net: &Net) -> String {
    let a = |h| net.v4(h);
    let every = timing(INTERVAL_MS, TIMEOUT_MS, RISE, FALL);
    let monitors = [
        ZONE.to_string(),
        health("down"),
        monitor(
            "tls",
            "https",
            &every,
            &format!(
                "port = {HTTPS_PORT}\npath = \"/health\"\nhost = \"backend.example.test\"\n\
                 expect_status = [200]\nexpect_body = \"healthy over TLS\"\n"
            ),
        ),
        monitor(
            "resolver",
            "dns",
            &every,
            &format!(
                "port = {DNS_PORT}\nquery = \"health.example.test.\"\nquery_type = \"A\"\n\
                 expect_rcode = \"NOERROR\"\nexpect_answer = \"{}\"\n",
                a(99)
            ),
        ),
        monitor("ping", "icmp", &every, ""),
    ]
    .concat();
    [
        monitors,
        vserver("https1", a(41), "monitors = [\"tls\"]\n"),
        vserver("dns1", a(42), "monitors = [\"resolver\"]\n"),
        vserver("icmp1", a(43), "monitors = [\"ping\"]\n"),
        vserver("plain", a(44), ""),
        pool(
            "mon",
            &["https1", "dns1", "icmp1", "plain"],
            "global_availability",
            4,
            "",
        ),
        gslb("mon.example.test", 5, &["mon"], ""),
    ]
    .concat()
}

/// The answer set of mon.example.test A (sorted), `None` on no NOERROR
/// response.
fn answer(client: &UdpDns, net: &Net) -> Option<Vec<IpAddr>> {
    client
        .query(
            net.srv_v4(),
            "mon.example.test",
            RecordType::A,
            QUERY_TIMEOUT,
        )
        .filter(|r| r.rcode == "NOERROR")
        .map(|r| {
            let mut a = r.addrs;
            a.sort();
            a
        })
}

/// Polls the answers until they are `want` (sorted); the time it took
/// and the number of queries, `None` when `bound` passed first.
fn wait_answers(
    client: &UdpDns,
    net: &Net,
    want: &[IpAddr],
    bound: Duration,
) -> (Option<Duration>, u64, Option<Vec<IpAddr>>) {
    let mut want = want.to_vec();
    want.sort();
    let t0 = Instant::now();
    let mut queries = 0;
    loop {
        let a = answer(client, net);
        queries += 1;
        if a.as_deref() == Some(&want[..]) {
            return (Some(t0.elapsed()), queries, a);
        }
        if t0.elapsed() > bound {
            return (None, queries, a);
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Waits for `want` and checks it through XDP: every query of the wait
/// answered by the XDP program.
#[allow(clippy::too_many_arguments)]
fn expect_answers(
    f: &mut Failures,
    d: &Daemon<'_>,
    client: &UdpDns,
    net: &Net,
    want: &[IpAddr],
    bound: Duration,
    what: &str,
) {
    let before = d.stats();
    let (took, queries, last) = wait_answers(client, net, want, bound);
    let after = d.stats();
    eprintln!("MONITORS {what}: {took:?} ({queries} queries)");
    f.check(took.is_some(), || {
        format!(
            "{what}: answers not {want:?} within {bound:?}; last {last:?}; status: {}",
            d.status_json()
        )
    });
    let xdp = before.delta_of(&after, "xdp_answered");
    f.check(xdp == queries, || {
        format!(
            "{what}: xdp_answered +{xdp} for {queries} queries: {:?}",
            before.delta(&after)
        )
    });
}

fn icmp_addr(net: &Net, op: &str, addr: IpAddr) {
    run_ok(Command::new("ip").args([
        "-n",
        &net.cli_ns,
        "addr",
        op,
        &format!("{addr}/32"),
        "dev",
        &net.cli_if,
    ]));
}

#[test]
fn https_dns_icmp_monitors_against_real_targets() {
    let net = Net::new("monitors");
    let (h, dn, i, p) = (net.v4(41), net.v4(42), net.v4(43), net.v4(44));
    net.add_srv_addr(h);
    net.add_srv_addr(dn);
    let mut tls = TlsBackend::start(&net, SocketAddr::new(h, HTTPS_PORT));
    let mut dns = DnsResponder::start(
        &net,
        SocketAddr::new(dn, DNS_PORT),
        "health.example.test.",
        net.v4(99),
    );
    icmp_addr(&net, "add", i);
    let cfg = config(&net);
    check_config(&cfg, "monitors");
    let d = start(&net, &cfg);
    let client = net.udp_client(net.cli_v4());
    let mut f = Failures::default();

    // All start down; each enters the answers once its probes succeed.
    let rise_bound = Duration::from_millis(RISE * INTERVAL_MS + TIMEOUT_MS + 2000);
    expect_answers(
        &mut f,
        &d,
        &client,
        &net,
        &[h, dn, i, p],
        rise_bound,
        "all up",
    );
    let st = d.status_json();
    for (s, needle) in [
        ("https1", "HTTP 200"),
        ("dns1", "NOERROR, answer"),
        ("icmp1", "echo reply"),
    ] {
        let m = &gslb_tests::harness::status_server(&st, s)["monitors"][0];
        f.check(
            m["last_ok"] == true
                && m["last_message"]
                    .as_str()
                    .is_some_and(|t| t.contains(needle)),
            || format!("{s}: last probe not ok with {needle:?}: {m}"),
        );
    }
    f.check(tls.answered.load(Ordering::Relaxed) >= RISE, || {
        "the TLS backend answered no probe".into()
    });
    f.check(dns.answered.load(Ordering::Relaxed) >= RISE, || {
        "the DNS responder answered no probe".into()
    });

    // Each target stops in turn: only its server leaves the answers.
    tls.stop();
    expect_answers(
        &mut f,
        &d,
        &client,
        &net,
        &[dn, i, p],
        CHANGE_BOUND,
        "https stopped",
    );
    dns.stop();
    expect_answers(
        &mut f,
        &d,
        &client,
        &net,
        &[i, p],
        CHANGE_BOUND,
        "dns stopped",
    );
    icmp_addr(&net, "del", i);
    expect_answers(
        &mut f,
        &d,
        &client,
        &net,
        &[p],
        CHANGE_BOUND,
        "icmp address removed",
    );
    let st = d.status_json();
    for s in ["https1", "dns1", "icmp1"] {
        let v = gslb_tests::harness::status_server(&st, s);
        f.check(v["health"] == "down", || format!("{s} not down: {v}"));
    }

    // And each comes back.
    let rise_bound = Duration::from_millis(RISE * INTERVAL_MS + TIMEOUT_MS + 800);
    tls.resume();
    expect_answers(&mut f, &d, &client, &net, &[h, p], rise_bound, "https back");
    let mut dns = DnsResponder::start(
        &net,
        SocketAddr::new(dn, DNS_PORT),
        "health.example.test.",
        net.v4(99),
    );
    expect_answers(
        &mut f,
        &d,
        &client,
        &net,
        &[h, dn, p],
        rise_bound,
        "dns back",
    );
    icmp_addr(&net, "add", i);
    expect_answers(
        &mut f,
        &d,
        &client,
        &net,
        &[h, dn, i, p],
        rise_bound,
        "icmp back",
    );
    dns.stop();
    f.assert_none();
}
