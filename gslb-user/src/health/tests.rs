//! Tests of the health monitors against local servers on 127.0.0.1 (and
//! ::1 where it exists), ephemeral ports only.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    sync::Arc,
    time::{Duration, Instant},
};

use hickory_proto::{
    op::{Message, OpCode, ResponseCode},
    rr::{rdata::A, Name, RData, Record, RecordType},
};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::{TcpListener, UdpSocket},
    sync::mpsc,
};

use super::*;
use crate::{
    config::{AdminState, MetricsSource, MonitorConfig, MonitorKind, VirtualServerConfig},
    state::ids::ServerId,
};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A monitor with a 100 ms interval, no jitter, rise = fall = 2.
fn mon(kind: MonitorKind, timeout_ms: u64) -> MonitorConfig {
    MonitorConfig {
        name: "m".to_string(),
        kind,
        interval: ms(100),
        timeout: ms(timeout_ms),
        rise: 2,
        fall: 2,
        jitter_permille: 0,
    }
}

/// A port on 127.0.0.1 where nothing listens.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    listener.local_addr().unwrap().port()
}

// ---------------------------------------------------------------- tcp

#[tokio::test]
async fn tcp_up_against_listener_down_against_closed_port() {
    let listener = TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let p = probe_once(LOCALHOST, &mon(MonitorKind::Tcp { port }, 500)).await;
    assert!(p.ok, "{p:?}");
    assert_eq!(p.message, "connected");
    assert!(p.latency < ms(500));

    drop(listener);
    let p = probe_once(LOCALHOST, &mon(MonitorKind::Tcp { port }, 500)).await;
    assert!(!p.ok, "{p:?}");
    assert_eq!(p.message, "connect refused");

    let port = closed_port().await;
    let p = probe_once(LOCALHOST, &mon(MonitorKind::Tcp { port }, 500)).await;
    assert_eq!((p.ok, p.message.as_str()), (false, "connect refused"));
}

// ---------------------------------------------------------------- http

/// What the test HTTP server does with a request.
#[derive(Clone, Debug)]
enum Behaviour {
    /// Answers with this status and body.
    Respond {
        status: u16,
        body: Vec<u8>,
        /// Chunked transfer encoding, one chunk per 10 bytes.
        chunked: bool,
    },
    /// Reads the request and never answers.
    Silent,
}

fn respond(status: u16, body: &str) -> Behaviour {
    Behaviour::Respond {
        status,
        body: body.as_bytes().to_vec(),
        chunked: false,
    }
}

/// Serves one connection: reads the request head, reports it (prefixed by
/// `prefix`), then behaves.
async fn serve_conn<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    behaviour: Behaviour,
    prefix: String,
    heads: mpsc::UnboundedSender<String>,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16384 {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let _ = heads.send(format!("{prefix}{}", String::from_utf8_lossy(&head)));
    match behaviour {
        Behaviour::Silent => tokio::time::sleep(Duration::from_secs(30)).await,
        Behaviour::Respond {
            status,
            body,
            chunked,
        } => {
            let mut out =
                format!("HTTP/1.1 {status} Whatever\r\nConnection: close\r\n").into_bytes();
            if chunked {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                for chunk in body.chunks(10) {
                    out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                    out.extend_from_slice(chunk);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
            } else {
                out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
                out.extend_from_slice(&body);
            }
            let _ = stream.write_all(&out).await;
            let _ = stream.shutdown().await;
        }
    }
}

/// A plain HTTP server on 127.0.0.1; returns its port and the request heads
/// it receives.
async fn http_server(behaviour: Behaviour) -> (u16, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve_conn(
                stream,
                behaviour.clone(),
                String::new(),
                tx.clone(),
            ));
        }
    });
    (port, rx)
}

/// An HTTPS server with a self-signed certificate for "localhost"; the
/// reported heads are prefixed by "SNI: <server name or ->\n".
async fn https_server(behaviour: Behaviour) -> (u16, mpsc::UnboundedReceiver<String>) {
    use tokio_rustls::rustls::{
        self,
        pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer},
    };
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![certified.cert.der().clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

    let listener = TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let (behaviour, tx) = (behaviour.clone(), tx.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let sni = tls.get_ref().1.server_name().unwrap_or("-").to_string();
                serve_conn(tls, behaviour, format!("SNI: {sni}\n"), tx).await;
            });
        }
    });
    (port, rx)
}

fn http_kind(
    port: u16,
    path: &str,
    host: Option<&str>,
    status: &[u16],
    body: Option<&str>,
) -> MonitorKind {
    MonitorKind::Http {
        tls: false,
        port,
        method: "GET".to_string(),
        path: path.to_string(),
        host: host.map(str::to_string),
        expect_status: status.to_vec(),
        expect_body: body.map(str::to_string),
    }
}

fn with_tls(kind: MonitorKind) -> MonitorKind {
    match kind {
        MonitorKind::Http {
            port,
            method,
            path,
            host,
            expect_status,
            expect_body,
            ..
        } => MonitorKind::Http {
            tls: true,
            port,
            method,
            path,
            host,
            expect_status,
            expect_body,
        },
        other => other,
    }
}

#[tokio::test]
async fn http_status_and_body_match() {
    let (port, mut heads) = http_server(respond(200, "status: all OK here")).await;
    let kind = http_kind(
        port,
        "/health?x=1",
        Some("www.example.test"),
        &[200],
        Some("OK"),
    );
    let p = probe_once(LOCALHOST, &mon(kind, 1000)).await;
    assert!(p.ok, "{p:?}");
    assert_eq!(p.message, "HTTP 200");
    let head = heads.recv().await.unwrap();
    assert!(head.starts_with("GET /health?x=1 HTTP/1.1\r\n"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("\r\nhost: www.example.test\r\n"),
        "{head}"
    );
}

#[tokio::test]
async fn http_default_host_is_the_address_and_method_is_used() {
    let (port, mut heads) = http_server(respond(204, "")).await;
    let mut kind = http_kind(port, "/", None, &[200, 204], None);
    if let MonitorKind::Http { method, .. } = &mut kind {
        *method = "HEAD".to_string();
    }
    let p = probe_once(LOCALHOST, &mon(kind, 1000)).await;
    assert!(p.ok, "{p:?}");
    assert_eq!(p.message, "HTTP 204");
    let head = heads.recv().await.unwrap();
    assert!(head.starts_with("HEAD / HTTP/1.1\r\n"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("\r\nhost: 127.0.0.1:{port}\r\n")),
        "{head}"
    );
}

#[tokio::test]
async fn http_body_mismatch_fails() {
    let (port, _heads) = http_server(respond(200, "status: degraded")).await;
    let kind = http_kind(port, "/health", None, &[200], Some("OK"));
    let p = probe_once(LOCALHOST, &mon(kind, 1000)).await;
    assert!(!p.ok, "{p:?}");
    assert_eq!(p.message, "HTTP 200, body lacks \"OK\"");
}

#[tokio::test]
async fn http_wrong_status_fails() {
    let (port, _heads) = http_server(respond(503, "OK")).await;
    let kind = http_kind(port, "/health", None, &[200, 204], Some("OK"));
    let p = probe_once(LOCALHOST, &mon(kind, 1000)).await;
    assert!(!p.ok, "{p:?}");
    assert_eq!(p.message, "HTTP 503 (expected 200|204)");
    // Redirects are reported, not followed.
    let (port, _heads) = http_server(respond(301, "")).await;
    let p = probe_once(
        LOCALHOST,
        &mon(http_kind(port, "/", None, &[200], None), 1000),
    )
    .await;
    assert_eq!(
        (p.ok, p.message.as_str()),
        (false, "HTTP 301 (expected 200)")
    );
}

#[tokio::test]
async fn http_timeout_when_the_server_never_answers() {
    let (port, _heads) = http_server(Behaviour::Silent).await;
    let kind = http_kind(port, "/health", None, &[200], None);
    let p = probe_once(LOCALHOST, &mon(kind, 200)).await;
    assert!(!p.ok, "{p:?}");
    assert_eq!(p.message, "timeout after 200ms");
    assert!(p.latency >= ms(200) && p.latency < ms(1000), "{p:?}");
}

#[tokio::test]
async fn http_connect_refused() {
    let port = closed_port().await;
    let p = probe_once(
        LOCALHOST,
        &mon(http_kind(port, "/", None, &[200], None), 500),
    )
    .await;
    assert_eq!(
        (p.ok, p.message.as_str()),
        (false, "connect refused"),
        "{p:?}"
    );
}

#[tokio::test]
async fn http_body_search_is_bounded_and_handles_chunks() {
    // The needle straddles chunk boundaries: found.
    let mut body = vec![b'x'; 1000];
    body.extend_from_slice(b"NEEDLE-IN-THE-BODY");
    let (port, _heads) = http_server(Behaviour::Respond {
        status: 200,
        body: body.clone(),
        chunked: true,
    })
    .await;
    let kind = http_kind(port, "/", None, &[200], Some("NEEDLE-IN-THE-BODY"));
    let p = probe_once(LOCALHOST, &mon(kind, 1000)).await;
    assert!(p.ok, "{p:?}");

    // The needle after the first 64 KiB: not searched.
    let mut body = vec![b'x'; http::MAX_BODY];
    body.extend_from_slice(b"NEEDLE");
    let (port, _heads) = http_server(Behaviour::Respond {
        status: 200,
        body,
        chunked: false,
    })
    .await;
    let kind = http_kind(port, "/", None, &[200], Some("NEEDLE"));
    let p = probe_once(LOCALHOST, &mon(kind, 1000)).await;
    assert!(!p.ok, "{p:?}");
    assert_eq!(p.message, "HTTP 200, body lacks \"NEEDLE\"");
}

#[tokio::test]
async fn https_accepts_a_self_signed_certificate() {
    let (port, mut heads) = https_server(respond(200, "healthy: OK")).await;
    // By address: no SNI, Host is the address.
    let kind = with_tls(http_kind(port, "/health", None, &[200], Some("OK")));
    let p = probe_once(LOCALHOST, &mon(kind, 2000)).await;
    assert!(p.ok, "{p:?}");
    assert_eq!(p.message, "HTTP 200");
    let head = heads.recv().await.unwrap();
    assert!(
        head.starts_with("SNI: -\nGET /health HTTP/1.1\r\n"),
        "{head}"
    );

    // With a host name: it is the SNI and the Host header, and the name is
    // not resolved (it points at the check address).
    let kind = with_tls(http_kind(
        port,
        "/health",
        Some("WWW.Example.test"),
        &[200],
        Some("OK"),
    ));
    let p = probe_once(LOCALHOST, &mon(kind, 2000)).await;
    assert!(p.ok, "{p:?}");
    let head = heads.recv().await.unwrap();
    assert!(head.starts_with("SNI: www.example.test\n"), "{head}");
    assert!(head.contains("\r\nhost: WWW.Example.test\r\n"), "{head}");

    // Plain HTTP to the TLS port fails (no verdict from garbage).
    let kind = http_kind(port, "/health", None, &[200], None);
    let p = probe_once(LOCALHOST, &mon(kind, 500)).await;
    assert!(!p.ok, "{p:?}");
}

// ---------------------------------------------------------------- dns

/// What the test DNS server does.
#[derive(Clone, Copy, Debug)]
enum DnsMode {
    /// Sends a response with a wrong id first, then the right one:
    /// health.example.test A 198.18.0.1, NXDOMAIN for other names.
    Answer,
    /// Answers SERVFAIL to everything.
    Servfail,
    /// Never answers.
    Silent,
}

/// A DNS server on 127.0.0.1 over UDP; returns its port and, per query,
/// whether it had RD set.
async fn dns_server(mode: DnsMode) -> (u16, mpsc::UnboundedReceiver<bool>) {
    let socket = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
    let port = socket.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let query = Message::from_vec(&buf[..n]).unwrap();
            let _ = tx.send(query.metadata.recursion_desired);
            let id = query.metadata.id;
            let mut response = Message::response(id, OpCode::Query);
            response.metadata.authoritative = true;
            response.add_queries(query.queries.clone());
            match mode {
                DnsMode::Silent => continue,
                DnsMode::Servfail => response.metadata.response_code = ResponseCode::ServFail,
                DnsMode::Answer => {
                    let name = query.queries[0].name().clone();
                    if name == Name::from_ascii("health.example.test.").unwrap() {
                        response.add_answer(Record::from_rdata(
                            name,
                            60,
                            RData::A(A(Ipv4Addr::new(198, 18, 0, 1))),
                        ));
                    } else {
                        response.metadata.response_code = ResponseCode::NXDomain;
                    }
                    // A decoy with another id, to be ignored.
                    let mut decoy = response.clone();
                    decoy.metadata.id = id.wrapping_add(1);
                    decoy.metadata.response_code = ResponseCode::Refused;
                    socket
                        .send_to(&decoy.to_vec().unwrap(), from)
                        .await
                        .unwrap();
                }
            }
            socket
                .send_to(&response.to_vec().unwrap(), from)
                .await
                .unwrap();
        }
    });
    (port, rx)
}

fn dns_kind(port: u16, query: &str, rcode: ResponseCode, answer: Option<&str>) -> MonitorKind {
    MonitorKind::Dns {
        port,
        query: Name::from_ascii(query).unwrap(),
        query_type: RecordType::A,
        expect_rcode: rcode,
        expect_answer: answer.map(str::to_string),
    }
}

#[tokio::test]
async fn dns_rcode_and_answer() {
    let (port, mut rd) = dns_server(DnsMode::Answer).await;
    let ok = dns_kind(
        port,
        "health.example.test.",
        ResponseCode::NoError,
        Some("198.18.0.1"),
    );
    let p = probe_once(LOCALHOST, &mon(ok, 1000)).await;
    assert!(p.ok, "{p:?}");
    assert_eq!(p.message, "NOERROR, answer 198.18.0.1");
    assert_eq!(rd.recv().await, Some(false), "RD must be clear");

    // Any answer will do without expect_answer.
    let any = dns_kind(port, "health.example.test.", ResponseCode::NoError, None);
    let p = probe_once(LOCALHOST, &mon(any, 1000)).await;
    assert!(p.ok, "{p:?}");

    let wrong_answer = dns_kind(
        port,
        "health.example.test.",
        ResponseCode::NoError,
        Some("198.18.0.2"),
    );
    let p = probe_once(LOCALHOST, &mon(wrong_answer, 1000)).await;
    assert!(!p.ok, "{p:?}");
    assert!(
        p.message.contains("no answer of 1 contains \"198.18.0.2\""),
        "{p:?}"
    );

    let nx = dns_kind(port, "missing.example.test.", ResponseCode::NoError, None);
    let p = probe_once(LOCALHOST, &mon(nx, 1000)).await;
    assert!(!p.ok, "{p:?}");
    assert!(
        p.message.starts_with("rcode NXDOMAIN (expected NOERROR)"),
        "{p:?}"
    );

    // NXDOMAIN can be the expected rcode.
    let nx_expected = dns_kind(port, "missing.example.test.", ResponseCode::NXDomain, None);
    let p = probe_once(LOCALHOST, &mon(nx_expected, 1000)).await;
    assert!(p.ok, "{p:?}");
}

#[tokio::test]
async fn dns_servfail_silence_and_closed_port() {
    let (port, _rd) = dns_server(DnsMode::Servfail).await;
    let kind = dns_kind(port, "health.example.test.", ResponseCode::NoError, None);
    let p = probe_once(LOCALHOST, &mon(kind, 1000)).await;
    assert!(!p.ok, "{p:?}");

    let (port, _rd) = dns_server(DnsMode::Silent).await;
    let kind = dns_kind(port, "health.example.test.", ResponseCode::NoError, None);
    let p = probe_once(LOCALHOST, &mon(kind, 200)).await;
    assert_eq!((p.ok, p.message.as_str()), (false, "timeout after 200ms"));

    let port = {
        let s = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
        s.local_addr().unwrap().port()
    };
    let kind = dns_kind(port, "health.example.test.", ResponseCode::NoError, None);
    let p = probe_once(LOCALHOST, &mon(kind, 1000)).await;
    assert_eq!(
        (p.ok, p.message.as_str()),
        (false, "connect refused"),
        "{p:?}"
    );
}

// ---------------------------------------------------------------- icmp

#[tokio::test]
async fn icmp_echo_to_loopback() {
    let p = probe_once(LOCALHOST, &mon(MonitorKind::Icmp, 1000)).await;
    assert!(p.ok, "{p:?}");
    assert!(p.message.starts_with("echo reply seq="), "{p:?}");
    assert!(p.latency < ms(1000));

    // Several probes of one prober use successive sequence numbers.
    let mut prober = Prober::new(LOCALHOST, mon(MonitorKind::Icmp, 1000));
    assert_eq!(prober.probe().await.message, "echo reply seq=1");
    assert_eq!(prober.probe().await.message, "echo reply seq=2");

    // IPv6 loopback, where the machine has it.
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    if UdpSocket::bind((v6, 0)).await.is_ok() {
        let p = probe_once(v6, &mon(MonitorKind::Icmp, 1000)).await;
        assert!(p.ok, "{p:?}");
    }
}

// ---------------------------------------------------------------- external

fn external(command: &[&str]) -> MonitorKind {
    MonitorKind::External {
        command: command.iter().map(|s| s.to_string()).collect(),
    }
}

#[tokio::test]
async fn external_exit_status_and_message() {
    let p = probe_once(LOCALHOST, &mon(external(&["true"]), 2000)).await;
    assert_eq!((p.ok, p.message.as_str()), (true, "exit 0"));
    let p = probe_once(LOCALHOST, &mon(external(&["false"]), 2000)).await;
    assert_eq!((p.ok, p.message.as_str()), (false, "exit 1"));
    let script = "echo out; echo 'broken pipe' >&2; exit 3";
    let p = probe_once(LOCALHOST, &mon(external(&["sh", "-c", script]), 2000)).await;
    assert_eq!((p.ok, p.message.as_str()), (false, "exit 3: broken pipe"));
    let p = probe_once(LOCALHOST, &mon(external(&["sh", "-c", "echo fine"]), 2000)).await;
    assert_eq!((p.ok, p.message.as_str()), (true, "fine"));
    // Substitution of {address} and {port} (no port for external: 0).
    let cmd = external(&[
        "sh",
        "-c",
        "echo \"at $1 port $2\"",
        "sh",
        "{address}",
        "{port}",
    ]);
    let p = probe_once(LOCALHOST, &mon(cmd, 2000)).await;
    assert_eq!((p.ok, p.message.as_str()), (true, "at 127.0.0.1 port 0"));
    let p = probe_once(LOCALHOST, &mon(external(&["/nonexistent/check"]), 2000)).await;
    assert!(
        !p.ok && p.message.starts_with("cannot run /nonexistent/check"),
        "{p:?}"
    );
}

/// Whether process `pid` is gone (or a zombie waiting for its reaper).
fn process_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

#[tokio::test]
async fn external_is_killed_at_timeout_with_its_children() {
    let start = Instant::now();
    let p = probe_once(LOCALHOST, &mon(external(&["sleep", "10"]), 200)).await;
    assert_eq!((p.ok, p.message.as_str()), (false, "timeout after 200ms"));
    assert!(start.elapsed() < ms(1500));

    // A grandchild in the background is killed too.
    let dir = std::env::temp_dir().join(format!("gslb-health-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pidfile = dir.join("pid");
    let script = format!("sleep 10 & echo $! > {}; wait", pidfile.display());
    let p = probe_once(LOCALHOST, &mon(external(&["sh", "-c", &script]), 300)).await;
    assert_eq!((p.ok, p.message.as_str()), (false, "timeout after 300ms"));
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let deadline = Instant::now() + ms(2000);
    while !process_gone(pid) && Instant::now() < deadline {
        tokio::time::sleep(ms(20)).await;
    }
    assert!(process_gone(pid), "background child {pid} survived");
    let _ = std::fs::remove_dir_all(&dir);

    // A command that exits while its background child holds the pipes
    // open is judged on its exit at once.
    let start = Instant::now();
    let p = probe_once(
        LOCALHOST,
        &mon(external(&["sh", "-c", "sleep 10 & echo done"]), 2000),
    )
    .await;
    assert_eq!((p.ok, p.message.as_str()), (true, "done"));
    assert!(start.elapsed() < ms(1000), "{:?}", start.elapsed());
}

// ---------------------------------------------------------------- tasks

#[test]
fn targets_from_config() {
    let server = |name: &str, addr: [u8; 4], check: Option<[u8; 4]>, monitors: &[&str]| {
        VirtualServerConfig {
            name: name.to_string(),
            address: IpAddr::from(addr),
            datacenter: "dc".to_string(),
            ratio: 1,
            max_sessions: None,
            max_connections: None,
            monitors: monitors.iter().map(|s| s.to_string()).collect(),
            check_address: check.map(IpAddr::from),
            admin: AdminState::Enabled,
            initial_up: true,
            metrics: MetricsSource::None,
        }
    };
    let servers = [
        server("a", [198, 18, 0, 1], None, &["tcp", "icmp"]),
        server("b", [198, 18, 0, 2], Some([198, 18, 1, 2]), &["icmp"]),
        server("c", [198, 18, 0, 3], None, &[]),
    ];
    let mut tcp = mon(MonitorKind::Tcp { port: 80 }, 100);
    tcp.name = "tcp".to_string();
    let mut icmp = mon(MonitorKind::Icmp, 100);
    icmp.name = "icmp".to_string();
    let ids = [ServerId(10), ServerId(3), ServerId(5)];
    let t = targets(&servers, &ids, &[icmp.clone(), tcp.clone()]);
    let got: Vec<(ServerId, IpAddr, &str)> = t
        .iter()
        .map(|t| (t.server, t.address, t.monitor.name.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (ServerId(10), IpAddr::from([198, 18, 0, 1]), "tcp"),
            (ServerId(10), IpAddr::from([198, 18, 0, 1]), "icmp"),
            (ServerId(3), IpAddr::from([198, 18, 1, 2]), "icmp"),
        ]
    );
    assert_eq!(t[0].monitor, tcp);
    assert_eq!(monitor_port(&tcp.kind), 80);
    assert_eq!(monitor_port(&icmp.kind), 0);
}

/// Receives events until `done` says so, at most `limit` in total time.
async fn collect_until(
    rx: &mut mpsc::UnboundedReceiver<HealthEvent>,
    limit: Duration,
    mut done: impl FnMut(&[HealthEvent]) -> bool,
) -> Vec<HealthEvent> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut events = Vec::new();
    while !done(&events) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(event)) => events.push(event),
            Ok(None) => panic!("channel closed after {events:?}"),
            Err(_) => panic!("timed out after {events:?}"),
        }
    }
    events
}

#[tokio::test]
async fn every_probe_is_an_event_and_changed_marks_exactly_the_flips() {
    // The check passes while the flag file exists.
    let dir = std::env::temp_dir().join(format!("gslb-health-flip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let flag = dir.join("up");
    let flag_str = flag.display().to_string();
    // (A timeout above the interval: a slow spawn must not fail a probe.)
    let mut monitor = mon(external(&["test", "-e", &flag_str]), 1000);
    monitor.interval = ms(50);
    monitor.name = "flag".to_string();
    let target = Target {
        server: ServerId(7),
        address: LOCALHOST,
        monitor,
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let monitors = spawn(vec![target], |server| server == ServerId(7), tx);
    assert_eq!(monitors.len(), 1);

    // Starts up; the flag is missing: goes down after 2 failures.
    let mut events = collect_until(&mut rx, ms(5000), |e| e.iter().any(|e| !e.up)).await;
    std::fs::write(&flag, b"").unwrap();
    events.extend(collect_until(&mut rx, ms(5000), |e| e.iter().any(|e| e.up)).await);
    std::fs::remove_file(&flag).unwrap();
    events.extend(collect_until(&mut rx, ms(5000), |e| e.iter().any(|e| !e.up)).await);
    drop(monitors);
    let _ = std::fs::remove_dir_all(&dir);

    // Replaying the probe results through a fresh state machine gives the
    // same states and flips.
    let mut h = Hysteresis::new(true, 2, 2);
    let mut flips = 0;
    for e in &events {
        assert_eq!((e.server, e.monitor.as_str()), (ServerId(7), "flag"));
        assert!(
            e.probe.latency > Duration::ZERO && e.probe.latency < ms(1000),
            "{e:?}"
        );
        assert_eq!(h.record(e.probe.ok), (e.up, e.changed), "{events:#?}");
        flips += usize::from(e.changed);
    }
    assert_eq!(flips, 3, "{events:#?}");
    // The first flip is the second failure.
    assert!(!events[0].probe.ok && !events[0].changed && events[0].up);
    assert!(!events[1].probe.ok && events[1].changed && !events[1].up);
}

#[tokio::test]
async fn initial_state_comes_from_the_callback() {
    let port = closed_port().await;
    let mut monitor = mon(MonitorKind::Tcp { port }, 100);
    monitor.fall = 3;
    monitor.rise = 1;
    let targets: Vec<Target> = (0..2)
        .map(|server| Target {
            server: ServerId(server),
            address: LOCALHOST,
            monitor: monitor.clone(),
        })
        .collect();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _monitors = spawn(targets, |server| server == ServerId(0), tx);
    let events = collect_until(&mut rx, ms(2000), |e| e.len() >= 2).await;
    for e in events {
        // Server 0 starts up (one failure is not enough), server 1 down.
        assert_eq!((e.up, e.changed), (e.server == ServerId(0), false), "{e:?}");
    }
}

#[tokio::test]
async fn jitter_spreads_start_times_and_intervals() {
    let listener = TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let make = |n: u16, interval: u64, jitter: u32| -> Vec<Target> {
        (0..n)
            .map(|server| {
                let mut monitor = mon(MonitorKind::Tcp { port }, 50);
                monitor.interval = ms(interval);
                monitor.jitter_permille = jitter;
                Target {
                    server: ServerId(server),
                    address: LOCALHOST,
                    monitor,
                }
            })
            .collect()
    };

    // No jitter: every first probe right away (long before the interval).
    let (tx, mut rx) = mpsc::unbounded_channel();
    let start = Instant::now();
    let monitors = spawn(make(8, 1000, 0), |_| true, tx);
    let mut seen = [false; 8];
    collect_until(&mut rx, ms(2000), |e| {
        if let Some(last) = e.last() {
            seen[last.server.index()] = true;
        }
        seen.iter().all(|s| *s)
    })
    .await;
    assert!(start.elapsed() < ms(400), "{:?}", start.elapsed());
    drop(monitors);

    // Jitter 0.5 of 400 ms: first probes spread over [0, 200 ms].
    let (tx, mut rx) = mpsc::unbounded_channel();
    let start = Instant::now();
    let monitors = spawn(make(8, 400, 500), |_| true, tx);
    let mut firsts = [None; 8];
    collect_until(&mut rx, ms(2000), |e| {
        if let Some(last) = e.last() {
            firsts[last.server.index()].get_or_insert(start.elapsed());
        }
        firsts.iter().all(Option::is_some)
    })
    .await;
    drop(monitors);
    let firsts: Vec<Duration> = firsts.iter().flatten().copied().collect();
    let (min, max) = (firsts.iter().min().unwrap(), firsts.iter().max().unwrap());
    assert!(*max < ms(200 + 150), "{firsts:?}");
    assert!(*max - *min > ms(20), "first probes not spread: {firsts:?}");

    // Intervals of one target: within 100 ms ± 50 %, and not all equal.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let monitors = spawn(make(1, 100, 500), |_| true, tx);
    let mut times = Vec::new();
    collect_until(&mut rx, ms(3000), |e| {
        if e.len() > times.len() {
            times.push(Instant::now());
        }
        e.len() == 9
    })
    .await;
    drop(monitors);
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.iter().all(|g| *g >= ms(40) && *g <= ms(150 + 80)),
        "{gaps:?}"
    );
    let (min, max) = (gaps.iter().min().unwrap(), gaps.iter().max().unwrap());
    assert!(*max - *min > ms(10), "intervals not spread: {gaps:?}");
}

#[tokio::test]
async fn dropping_monitors_stops_the_tasks() {
    let listener = TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut monitor = mon(MonitorKind::Tcp { port }, 40);
    monitor.interval = ms(50);
    let target = Target {
        server: ServerId(0),
        address: LOCALHOST,
        monitor,
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let monitors = spawn(vec![target], |_| true, tx);
    let events = collect_until(&mut rx, ms(2000), |e| e.len() >= 2).await;
    assert!(events.iter().all(|e| e.probe.ok && e.up && !e.changed));
    drop(monitors);
    // The aborted task drops its sender: the channel closes.
    let closed = tokio::time::timeout(ms(1000), async { while rx.recv().await.is_some() {} }).await;
    assert!(closed.is_ok(), "task still running");
}
