//! Shared pieces of the namespace tests: collected expectations
//! ([`Failures`]), the zone part of their configs ([`ZONE`]), config checks,
//! daemon starts, `gslb status` look-ups and waits, dig and answer helpers,
//! and small test servers (an HTTP metrics endpoint, a UDP DNS responder).

use std::{
    fs,
    io::Write,
    net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket},
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering},
        Arc, Mutex,
    },
    thread,
    time::{Duration, Instant, SystemTime},
};

use hickory_proto::{
    op::{Message, MessageType, ResponseCode},
    rr::{rdata::A, RData, Record, RecordType},
};
use serde_json::Value;

use crate::{
    config::vserver,
    http,
    netns::{gslb_bin, in_netns, run_bounded, Daemon, DaemonOpts, DnsReply, Net, Response, UdpDns},
};

/// Port of the test backends.
pub const BACKEND_PORT: u16 = 8080;
/// Body of the backends' `/health`; the HTTP monitor looks for "healthy".
pub const BACKEND_BODY: &str = "status: healthy\n";
/// Bound of one query of the UDP client.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(1);

/// Collects failed expectations so that one run reports all of them.
#[derive(Default)]
pub struct Failures(pub Vec<String>);

impl Failures {
    /// Records `what()` unless `ok`.
    pub fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }

    /// Panics with every recorded failure.
    pub fn assert_none(self) {
        assert!(
            self.0.is_empty(),
            "{} failed expectation(s):\n\n{}",
            self.0.len(),
            self.0.join("\n\n")
        );
    }
}

/// The zone part of every config (the listener and interfaces are replaced
/// by the harness's `--listen` / `--iface`), with one datacenter `dc1`.
pub const ZONE: &str = r#"
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
pub fn check_config(config: &str, what: &str) {
    let dir = std::env::temp_dir().join(format!("gslbt-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("scratch dir");
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
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

/// Starts the daemon with `config`, XDP attached.
pub fn start<'n>(net: &'n Net, config: &str) -> Daemon<'n> {
    start_with(net, config, false)
}

/// Starts the daemon with `config`, with XDP attached or (`no_xdp`) the
/// slow path only.
pub fn start_with<'n>(net: &'n Net, config: &str, no_xdp: bool) -> Daemon<'n> {
    Daemon::start(
        net,
        DaemonOpts {
            no_xdp,
            config: Some(config.to_string()),
        },
    )
}

/// One server of `gslb status --json`.
pub fn status_server<'v>(status: &'v Value, name: &str) -> &'v Value {
    status["servers"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no server {name} in gslb status: {status}"))
}

/// Waits (bounded) until `done` holds for `server` in `gslb status`;
/// returns the whole status.
pub fn wait_server(
    d: &Daemon<'_>,
    server: &str,
    what: &str,
    timeout: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let st = d.status_json();
        if done(status_server(&st, server)) {
            return st;
        }
        assert!(
            Instant::now() < deadline,
            "{server}: not {what} within {timeout:?}: {}",
            status_server(&st, server)
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// Waits (bounded) until `gslb status` shows `server` with
/// `availability`; returns the status.
pub fn wait_availability(
    d: &Daemon<'_>,
    server: &str,
    availability: &str,
    timeout: Duration,
) -> Value {
    wait_server(d, server, availability, timeout, |s| {
        s["availability"] == availability
    })
}

/// Waits (bounded) until every monitor of `server` has completed a
/// successful probe.
pub fn wait_probed_ok(d: &Daemon<'_>, server: &str, timeout: Duration) {
    wait_server(d, server, "probed ok by its monitors", timeout, |s| {
        let mons = s["monitors"].as_array().cloned().unwrap_or_default();
        !mons.is_empty() && mons.iter().all(|m| m["last_ok"] == true && m["up"] == true)
    });
}

/// An address literal.
pub fn v4(s: &str) -> IpAddr {
    s.parse().expect("an address")
}

/// `[a, b, ...]`, for messages.
pub fn addrs(list: &[IpAddr]) -> String {
    let v: Vec<String> = list.iter().map(ToString::to_string).collect();
    format!("[{}]", v.join(", "))
}

/// Milliseconds, for messages.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// dig in the client namespace (`+time=1 +tries=1`); `None` when no
/// response came (timeout).
pub fn dig_opt(
    net: &Net,
    server: IpAddr,
    name: &str,
    qtype: &str,
    extra: &[&str],
) -> Option<Response> {
    let (r, out) = net.dig_run(server, name, qtype, 1, extra);
    if r.is_none() {
        assert!(
            out.stdout.contains("timed out") || out.stdout.contains("no servers could be reached"),
            "dig neither answered nor timed out:\n{out}"
        );
    }
    r
}

/// The A/AAAA addresses of a dig answer, in order.
pub fn answer_addrs(r: &Response) -> Vec<IpAddr> {
    r.answer
        .iter()
        .filter(|rr| rr.rtype == "A" || rr.rtype == "AAAA")
        .map(|rr| rr.rdata.parse().expect("an address in A/AAAA data"))
        .collect()
}

/// Polls `name` A with `client` every `period` until `done(reply)`, at most
/// `timeout`. Returns the time it took (from `since`), the replies seen on
/// the way, the wall-clock time of the first matching reply, and the
/// number of queries sent.
pub struct Poll {
    /// Time from `since` to the matching reply.
    pub elapsed: Duration,
    /// The replies seen on the way (`None`: timed out).
    pub seen: Vec<Option<DnsReply>>,
    /// Wall-clock time of the matching reply.
    pub at: SystemTime,
    /// Queries sent.
    pub queries: u64,
}

/// Polls until `done`; see [`Poll`].
pub fn poll_until(
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

/// A monitor that always fails: TCP to a closed port on the server's own
/// address; servers start down (`initial = "down"`) so they never answer.
pub fn dead_monitor(net: &Net) -> String {
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

/// A vserver `name` at `addr` in `dc1` monitored by [`dead_monitor`]
/// (down from the start).
pub fn dead_server(net: &Net, name: &str, addr: &str) -> String {
    vserver(
        name,
        addr,
        &format!(
            "monitors = [\"dead\"]\ncheck_address = \"{}\"\ninitial = \"down\"\n",
            net.srv_v4()
        ),
    )
}

/// Modes of a [`MetricsEndpoint`].
const SERVE: u8 = 0;
const HANG: u8 = 1;

/// A Prometheus text endpoint in the server namespace: answers every
/// request with the current body (HTTP/1.1 200, `Connection: close`), or,
/// after [`MetricsEndpoint::hang`], accepts connections and never answers.
/// Stopped on drop.
pub struct MetricsEndpoint {
    /// Listening address.
    pub addr: SocketAddr,
    body: Arc<Mutex<String>>,
    mode: Arc<AtomicU8>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
    /// Requests answered so far.
    pub answered: Arc<AtomicU64>,
}

impl MetricsEndpoint {
    /// Listens on `addr` in the server namespace of `net`.
    pub fn start(net: &Net, addr: SocketAddr, body: &str) -> MetricsEndpoint {
        let listener = in_netns(&net.srv_ns, move || TcpListener::bind(addr))
            .unwrap_or_else(|e| panic!("metrics endpoint: binding {addr}: {e}"));
        listener.set_nonblocking(true).expect("non-blocking");
        let mut e = MetricsEndpoint {
            addr,
            body: Arc::new(Mutex::new(body.to_string())),
            mode: Arc::new(AtomicU8::new(SERVE)),
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
            answered: Arc::new(AtomicU64::new(0)),
        };
        let (body, mode, stop, answered) = (
            e.body.clone(),
            e.mode.clone(),
            e.stop.clone(),
            e.answered.clone(),
        );
        e.thread = Some(thread::spawn(move || {
            let mut held: Vec<TcpStream> = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let conn = match listener.accept() {
                    Ok((c, _)) => c,
                    Err(_) => {
                        thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                };
                if mode.load(Ordering::SeqCst) == HANG {
                    // Accepted, never answered: the poller times out.
                    held.push(conn);
                    continue;
                }
                held.clear();
                serve_metrics(conn, &body.lock().unwrap());
                answered.fetch_add(1, Ordering::Relaxed);
            }
        }));
        e
    }

    /// Stops answering (connections are accepted and left hanging).
    pub fn hang(&self) {
        self.mode.store(HANG, Ordering::SeqCst);
    }

    /// Answers again.
    pub fn serve(&self) {
        self.mode.store(SERVE, Ordering::SeqCst);
    }
}

impl Drop for MetricsEndpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_metrics(mut conn: TcpStream, body: &str) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_millis(500)));
    http::read_request_head(&mut conn);
    let resp = http::response("200 OK", "text/plain; version=0.0.4", body);
    let _ = conn.write_all(resp.as_bytes());
}

/// A UDP DNS responder in the server namespace: answers every query for
/// `name` A with `answer` (NOERROR, AA), anything else with REFUSED, until
/// [`DnsResponder::stop`] closes its socket (queries then get ICMP port
/// unreachable). Stopped on drop.
pub struct DnsResponder {
    /// Listening address.
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
    /// Queries answered so far.
    pub answered: Arc<AtomicU64>,
}

impl DnsResponder {
    /// Binds `addr` in the server namespace of `net`.
    pub fn start(net: &Net, addr: SocketAddr, name: &str, answer: IpAddr) -> DnsResponder {
        let sock = in_netns(&net.srv_ns, move || UdpSocket::bind(addr))
            .unwrap_or_else(|e| panic!("DNS responder: binding {addr}: {e}"));
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .expect("read timeout");
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicU64::new(0));
        let name = hickory_proto::rr::Name::from_ascii(name).expect("a name");
        let IpAddr::V4(answer) = answer else {
            panic!("an IPv4 answer expected");
        };
        let (st, n) = (stop.clone(), answered.clone());
        let thread = thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !st.load(Ordering::SeqCst) {
                let Ok((len, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let Ok(q) = Message::from_vec(&buf[..len]) else {
                    continue;
                };
                let mut r = Message::new(q.metadata.id, MessageType::Response, q.metadata.op_code);
                r.metadata.authoritative = true;
                let mut ok = false;
                if let Some(query) = q.queries.first() {
                    r.add_query(query.clone());
                    if query.name() == &name && query.query_type() == RecordType::A {
                        r.add_answer(Record::from_rdata(name.clone(), 5, RData::A(A(answer))));
                        ok = true;
                    }
                }
                if !ok {
                    r.metadata.response_code = ResponseCode::Refused;
                }
                if let Ok(wire) = r.to_vec() {
                    let _ = sock.send_to(&wire, from);
                    n.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        DnsResponder {
            addr,
            stop,
            thread: Some(thread),
            answered,
        }
    }

    /// Closes the socket; returns once it is closed.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for DnsResponder {
    fn drop(&mut self) {
        self.stop();
    }
}
