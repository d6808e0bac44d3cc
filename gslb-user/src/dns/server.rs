//! UDP and TCP listeners of the slow path.
//!
//! [`bind`] opens every socket up front, so a busy port or a missing
//! address fails the start with a clear error instead of a silent
//! half-running daemon. [`Listeners::spawn`] then serves each socket in
//! its own task until the task is aborted. Every query reads the current
//! [`State`] from the `ArcSwap`, so a reload applies to the next query,
//! also on open TCP connections.

use std::{
    io,
    net::{IpAddr, SocketAddr},
    os::fd::AsRawFd,
    sync::Arc,
    time::Duration,
};

use arc_swap::ArcSwap;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt, Interest},
    net::{TcpListener, TcpStream, UdpSocket},
    sync::Semaphore,
    task::{JoinHandle, JoinSet},
    time::timeout,
};
use tracing::debug;

use super::{
    mmsg::{self, RecvBatch},
    querylog,
    responder::{respond, Transport},
};
use crate::state::model::State;

/// A TCP connection with no complete query for this long is closed
/// (RFC 7766 §6.2.3 recommends timeouts of the order of seconds).
pub const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most TCP connections served at once per listener; further clients wait
/// in the kernel's accept backlog (RFC 7766 §6.2.2: limit resources).
pub const MAX_TCP_CONNECTIONS: usize = 1024;
/// Accept backlog of the TCP listeners.
const TCP_BACKLOG: i32 = 1024;
/// Pause after a socket error, so a persistent error cannot spin a core.
const ERROR_PAUSE: Duration = Duration::from_millis(10);
/// Tries at finding one ephemeral port free on every listen address.
const EPHEMERAL_ATTEMPTS: usize = 16;

/// The bound sockets: one UDP socket and one TCP listener per listen
/// address, in the order given to [`bind`].
#[derive(Debug)]
pub struct Listeners {
    udp: Vec<UdpSocket>,
    tcp: Vec<TcpListener>,
}

/// Why the slow path could not listen.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// `[server] listen` is empty.
    #[error("no listen addresses")]
    NoAddresses,
    /// Binding one socket failed.
    #[error("cannot listen on {proto} {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// `UDP` or `TCP`.
        proto: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// Binds UDP and TCP on every address of `listen`.
///
/// IPv6 sockets are IPV6_V6ONLY, so `0.0.0.0:53` and `[::]:53` can both be
/// listed. Port 0 means "an ephemeral port" (for tests): the kernel picks
/// one for the first socket and every other socket, UDP and TCP, uses the
/// same one, so [`Listeners::local_addrs`] gives one address per entry
/// that serves both transports, as with a fixed port.
pub async fn bind(listen: &[SocketAddr]) -> Result<Listeners, ListenError> {
    if listen.is_empty() {
        return Err(ListenError::NoAddresses);
    }
    let ephemeral = listen.iter().any(|a| a.port() == 0);
    let mut attempt = 0;
    loop {
        attempt += 1;
        match try_bind(listen) {
            Ok(listeners) => return Ok(listeners),
            // Another process took our ephemeral port on some address in
            // between: pick a new one.
            Err((_, _, e))
                if ephemeral
                    && e.kind() == io::ErrorKind::AddrInUse
                    && attempt < EPHEMERAL_ATTEMPTS => {}
            Err((addr, proto, source)) => {
                return Err(ListenError::Bind {
                    addr,
                    proto,
                    source,
                });
            }
        }
    }
}

type BindError = (SocketAddr, &'static str, io::Error);

fn try_bind(listen: &[SocketAddr]) -> Result<Listeners, BindError> {
    let mut port = None;
    let mut listeners = Listeners {
        udp: Vec::with_capacity(listen.len()),
        tcp: Vec::with_capacity(listen.len()),
    };
    for &requested in listen {
        let mut addr = requested;
        if addr.port() == 0 {
            if let Some(p) = port {
                addr.set_port(p);
            }
        }
        let udp = udp_socket(addr).map_err(|e| (addr, "UDP", e))?;
        let bound = udp.local_addr().map_err(|e| (addr, "UDP", e))?;
        port.get_or_insert(bound.port());
        let tcp = tcp_listener(bound).map_err(|e| (bound, "TCP", e))?;
        listeners.udp.push(udp);
        listeners.tcp.push(tcp);
    }
    Ok(listeners)
}

fn socket(addr: SocketAddr, ty: Type, protocol: Protocol) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), ty, Some(protocol))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    Ok(socket)
}

fn udp_socket(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = socket(addr, Type::DGRAM, Protocol::UDP)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

fn tcp_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = socket(addr, Type::STREAM, Protocol::TCP)?;
    // A restarted daemon must not wait for old connections in TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(TCP_BACKLOG)?;
    TcpListener::from_std(socket.into())
}

impl Listeners {
    /// The bound addresses, one per listen address, with the actual port
    /// (UDP and TCP share it).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.udp
            .iter()
            .filter_map(|s| s.local_addr().ok())
            .collect()
    }

    /// Serves the sockets until the tasks are aborted: one task per core
    /// for each UDP socket, then one per TCP listener, in listen order.
    /// Aborting a TCP listener task also closes its connections. Must be
    /// called within a Tokio runtime.
    pub fn spawn(self, state: Arc<ArcSwap<State>>) -> Vec<JoinHandle<()>> {
        let mut tasks = Vec::with_capacity(self.udp.len() + self.tcp.len());
        // Several tasks per UDP socket, so that queries are answered on
        // every core (the runtime spreads the tasks over its workers).
        let workers = std::thread::available_parallelism().map_or(1, usize::from);
        for socket in self.udp {
            let socket = Arc::new(socket);
            for _ in 0..workers {
                tasks.push(tokio::spawn(serve_udp(socket.clone(), state.clone())));
            }
        }
        for listener in self.tcp {
            tasks.push(tokio::spawn(serve_tcp(listener, state.clone())));
        }
        tasks
    }
}

/// Receives queries in batches (`recvmmsg`), answers them, sends the
/// answers in batches (`sendmmsg`). Several of these serve one socket.
async fn serve_udp(socket: Arc<UdpSocket>, state: Arc<ArcSwap<State>>) {
    let fd = socket.as_raw_fd();
    let mut batch = RecvBatch::default();
    let mut replies: Vec<(Vec<u8>, SockAddr)> = Vec::with_capacity(mmsg::BATCH);
    loop {
        if let Err(e) = socket.async_io(Interest::READABLE, || batch.recv(fd)).await {
            debug!(error = %e, "UDP receive failed");
            tokio::time::sleep(ERROR_PAUSE).await;
            continue;
        }
        replies.clear();
        {
            let state = state.load();
            for (request, peer) in batch.datagrams() {
                let response = respond(&state, request, Transport::Udp, Some(peer.ip()));
                querylog::record(request, response.as_deref(), peer, Transport::Udp);
                match response {
                    Some(response) => replies.push((response, SockAddr::from(peer))),
                    None => debug!(%peer, len = request.len(), "UDP datagram dropped"),
                }
            }
        }
        send_replies(&socket, &replies).await;
    }
}

/// Sends `replies` with as few `sendmmsg` calls as the socket allows,
/// waiting for room in its send buffer when it is full. A reply the
/// kernel refuses is logged and skipped.
async fn send_replies(socket: &UdpSocket, replies: &[(Vec<u8>, SockAddr)]) {
    let fd = socket.as_raw_fd();
    let mut done = 0;
    while done < replies.len() {
        match socket.try_io(Interest::WRITABLE, || mmsg::send(fd, &replies[done..])) {
            Ok(n) => done += n.max(1),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if socket.writable().await.is_err() {
                    return;
                }
            }
            Err(e) => {
                let peer = replies[done].1.as_socket();
                debug!(?peer, error = %e, "UDP send failed");
                done += 1;
            }
        }
    }
}

async fn serve_tcp(listener: TcpListener, state: Arc<ArcSwap<State>>) {
    let permits = Arc::new(Semaphore::new(MAX_TCP_CONNECTIONS));
    // Owning the connection tasks ties their life to this task's.
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return; // The semaphore is never closed.
        };
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // EMFILE and friends: wait for resources to come back.
                debug!(error = %e, "TCP accept failed");
                tokio::time::sleep(ERROR_PAUSE).await;
                continue;
            }
        };
        let state = state.clone();
        connections.spawn(async move {
            let _permit = permit;
            if let Err(e) = serve_connection(stream, &state, peer.ip()).await {
                debug!(%peer, error = %e, "TCP connection closed on error");
            }
        });
    }
}

/// Serves queries on one connection, in order, each framed by a two-octet
/// length (RFC 1035 §4.2.2, RFC 7766 §8), until the client closes, sends
/// something that gets no response, or is idle too long.
async fn serve_connection(
    mut stream: TcpStream,
    state: &ArcSwap<State>,
    peer: IpAddr,
) -> io::Result<()> {
    // Responses are written whole; do not let Nagle delay them.
    stream.set_nodelay(true)?;
    // With the port, for the query log.
    let peer_addr = stream
        .peer_addr()
        .unwrap_or_else(|_| SocketAddr::new(peer, 0));
    let mut buf = Vec::new();
    loop {
        let mut len = [0u8; 2];
        match timeout(TCP_IDLE_TIMEOUT, stream.read_exact(&mut len)).await {
            Err(_) => return Ok(()), // idle
            Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Ok(Err(e)) => return Err(e),
            Ok(Ok(_)) => {}
        }
        buf.resize(usize::from(u16::from_be_bytes(len)), 0);
        timeout(TCP_IDLE_TIMEOUT, stream.read_exact(&mut buf))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "query not received in time"))??;
        let response = respond(&state.load(), &buf, Transport::Tcp, Some(peer));
        querylog::record(&buf, response.as_deref(), peer_addr, Transport::Tcp);
        let Some(response) = response else {
            return Ok(());
        };
        // respond() keeps TCP responses within 65535 octets.
        let Ok(len) = u16::try_from(response.len()) else {
            return Ok(());
        };
        let mut framed = Vec::with_capacity(2 + response.len());
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&response);
        timeout(TCP_IDLE_TIMEOUT, stream.write_all(&framed))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "response not sent in time"))??;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;
    use hickory_proto::{
        op::{Message, Query, ResponseCode},
        rr::{Name, RecordType},
    };
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn state() -> Arc<ArcSwap<State>> {
        let cfg = config::load_default().unwrap();
        Arc::new(ArcSwap::from_pointee(State::from_config(&cfg)))
    }

    fn query(id: u16, name: &str, rtype: RecordType) -> Vec<u8> {
        let mut msg = Message::query();
        msg.metadata.id = id;
        msg.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
        msg.to_vec().unwrap()
    }

    async fn tcp_exchange(stream: &mut TcpStream, request: &[u8]) -> Message {
        let mut framed = (request.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(request);
        stream.write_all(&framed).await.unwrap();
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await.unwrap();
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut buf).await.unwrap();
        Message::from_vec(&buf).unwrap()
    }

    #[tokio::test]
    async fn udp_and_tcp_round_trip_on_an_ephemeral_port() {
        let listeners = bind(&["127.0.0.1:0".parse().unwrap()]).await.unwrap();
        let addrs = listeners.local_addrs();
        assert_eq!(addrs.len(), 1);
        let addr = addrs[0];
        assert_ne!(addr.port(), 0);
        let tasks = listeners.spawn(state());

        // UDP
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client
            .send_to(&query(7, "www.example.test.", RecordType::A), addr)
            .await
            .unwrap();
        let mut buf = vec![0u8; 4096];
        let (len, _) = timeout(Duration::from_secs(5), client.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let resp = Message::from_vec(&buf[..len]).unwrap();
        assert_eq!(resp.id, 7);
        assert_eq!(resp.answers.len(), 2);

        // TCP: several queries on one connection, on the same port.
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let resp = tcp_exchange(
            &mut stream,
            &query(8, "www.example.test.", RecordType::AAAA),
        )
        .await;
        assert_eq!(resp.id, 8);
        assert_eq!(resp.answers.len(), 2);
        let resp = tcp_exchange(&mut stream, &query(9, "nope.example.test.", RecordType::A)).await;
        assert_eq!(resp.id, 9);
        assert_eq!(resp.response_code, ResponseCode::NXDomain);

        // A message that gets no response closes the connection.
        stream.write_all(&[0, 3, 1, 2, 3]).await.unwrap();
        let mut rest = Vec::new();
        let n = timeout(Duration::from_secs(5), stream.read_to_end(&mut rest))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 0);

        for t in tasks {
            t.abort();
        }
    }

    #[tokio::test]
    async fn reload_applies_to_the_next_query() {
        let listeners = bind(&["127.0.0.1:0".parse().unwrap()]).await.unwrap();
        let addr = listeners.local_addrs()[0];
        let shared = state();
        let tasks = listeners.spawn(shared.clone());
        let text = config::DEFAULT_CONFIG.replace("\"198.18.0.10\", ", "");
        shared.store(Arc::new(State::from_config(
            &config::parse(&text, "t").unwrap(),
        )));
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let resp = tcp_exchange(&mut stream, &query(1, "www.example.test.", RecordType::A)).await;
        assert_eq!(resp.answers.len(), 1);
        for t in tasks {
            t.abort();
        }
    }

    #[tokio::test]
    async fn binds_v4_and_v6_wildcards_together() {
        let listen = [
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
        ];
        match bind(&listen).await {
            Ok(l) => {
                let addrs = l.local_addrs();
                assert_eq!(addrs.len(), 2);
                assert_eq!(addrs[0].port(), addrs[1].port());
            }
            // Hosts without IPv6 cannot bind [::].
            Err(e) => assert!(format!("{e:#}").contains("[::]"), "{e:#}"),
        }
    }

    #[tokio::test]
    async fn bind_reports_the_address_in_use() {
        let first = bind(&["127.0.0.1:0".parse().unwrap()]).await.unwrap();
        let addr = first.local_addrs()[0];
        let err = bind(&[addr]).await.unwrap_err();
        assert!(format!("{err:#}").contains(&addr.to_string()), "{err:#}");
    }
}
