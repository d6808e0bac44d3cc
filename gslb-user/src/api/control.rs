//! The control socket: a Unix stream socket that takes one JSON request
//! per line and answers one JSON line. `gslb status`, `gslb explain` and
//! `gslb server enable|disable|drain` are its clients.

use std::{
    future::Future,
    path::{Path, PathBuf},
    pin::Pin,
};

use hickory_proto::rr::Name;
use serde::de::DeserializeOwned;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{UnixListener, UnixStream},
    sync::{mpsc, oneshot},
    task::JoinHandle,
};
use tracing::debug;

use super::protocol::{
    AdminState, ExplainReport, Reply, Request, RequestError, Response, StatusReport,
};
use crate::engine::Command;

/// Why the control socket could not be served or asked.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// A file system or socket step failed; `what` names it.
    #[error("{what}")]
    Io {
        /// The step, e.g. `binding /run/gslb/control.sock`.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Another daemon holds the socket's lock.
    #[error(
        "{holder} is running with control socket {} (locked: {}); stop it first, or \
         give this one its own --control",
        socket.display(),
        lock.display()
    )]
    Locked {
        /// Who: `another gslb daemon (pid N)`.
        holder: String,
        /// The control socket.
        socket: PathBuf,
        /// Its lock file.
        lock: PathBuf,
    },
    /// A process that does not take the lock serves the socket.
    #[error(
        "another process is serving control socket {}; stop it first, or give this \
         daemon its own --control",
        .0.display()
    )]
    Served(PathBuf),
    /// No daemon answers at the socket.
    #[error("connecting to {} (is `gslb run` running with --control?)", path.display())]
    Connect {
        /// The control socket.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Reading or writing the connection failed.
    #[error("control connection: {0}")]
    Connection(#[from] std::io::Error),
    /// A message is not valid JSON of its type.
    #[error("bad control message: {0}")]
    Message(#[from] serde_json::Error),
    /// The daemon hung up before answering.
    #[error("the daemon closed the control connection")]
    Closed,
    /// The daemon refused the request; its message.
    #[error("{0}")]
    Refused(String),
}

/// `f`'s I/O error as a [`ControlError::Io`] naming the step.
fn io<T>(r: std::io::Result<T>, what: impl FnOnce() -> String) -> Result<T, ControlError> {
    r.map_err(|source| ControlError::Io {
        what: what(),
        source,
    })
}

/// Default path of the control socket.
pub const DEFAULT_SOCKET: &str = "/run/gslb/control.sock";

/// Removes the socket file at `path` if it is still the one bound by this
/// process (a newer daemon may have replaced it).
pub fn remove_own(path: &Path, ino: Option<u64>) {
    use std::os::unix::fs::MetadataExt as _;
    if ino.is_some() && std::fs::metadata(path).ok().map(|m| m.ino()) == ino {
        let _ = std::fs::remove_file(path);
    }
}

/// Inode of the socket file at `path`, to recognise it at shutdown.
pub fn inode(path: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(path).ok().map(|m| m.ino())
}

/// Ownership of a control socket path: an exclusive `flock` on the file
/// `<socket>.lock` beside it, which holds the owner's pid. Held as long as
/// this value lives (the kernel drops it when the process exits, also on
/// a crash, so a stale lock file does not block a restart).
#[derive(Debug)]
pub struct SocketLock {
    _file: std::fs::File,
}

/// The lock file of the control socket at `path`.
pub fn lock_path(path: &Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    name.into()
}

/// Takes the control socket at `path` for this process; fails, naming the
/// holder, when another daemon has it. Call before anything else of the
/// daemon touches shared state (socket, interfaces, pins).
pub fn lock(path: &Path) -> Result<SocketLock, ControlError> {
    use std::io::{Read as _, Seek as _, Write as _};
    if let Some(dir) = path.parent() {
        io(std::fs::create_dir_all(dir), || {
            format!("creating {}", dir.display())
        })?;
    }
    let lock = lock_path(path);
    let mut file = io(
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock),
        || format!("opening {}", lock.display()),
    )?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let holder = match pid.trim() {
                "" => "another gslb daemon".to_string(),
                pid => format!("another gslb daemon (pid {pid})"),
            };
            return Err(ControlError::Locked {
                holder,
                socket: path.to_owned(),
                lock,
            });
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return io(Err(e), || format!("locking {}", lock.display()));
        }
    }
    io(
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id())),
        || format!("writing {}", lock.display()),
    )?;
    // Also refuse a live socket whose owner does not lock (an older
    // daemon): it answers a connect.
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(ControlError::Served(path.to_owned()));
    }
    Ok(SocketLock { _file: file })
}

/// Binds the socket (replacing a stale one) and serves it until aborted.
/// The caller holds its [`lock`], so a file left at `path` is stale.
pub fn serve(path: &Path, engine: mpsc::Sender<Command>) -> Result<JoinHandle<()>, ControlError> {
    if let Some(dir) = path.parent() {
        io(std::fs::create_dir_all(dir), || {
            format!("creating {}", dir.display())
        })?;
    }
    let _ = std::fs::remove_file(path);
    let listener = io(UnixListener::bind(path), || {
        format!("binding {}", path.display())
    })?;
    Ok(tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let engine = engine.clone();
            tokio::spawn(async move {
                if let Err(e) = connection(stream, engine).await {
                    debug!(error = %e, "control connection failed");
                }
            });
        }
    }))
}

/// Requests of one connection handed to the engine whose responses are
/// not written yet.
const PIPELINE_DEPTH: usize = 1024;

/// A response still to come from the engine.
type Pending = Pin<Box<dyn Future<Output = Response> + Send>>;

/// Serves one connection. Requests are handed to the engine as they are
/// read, in order, without waiting for the one before to be answered; a
/// writer task writes the responses in request order. So a client that
/// pipelines its requests (`gslb update-bench`) is limited by the engine,
/// not by a round trip per request.
async fn connection(stream: UnixStream, engine: mpsc::Sender<Command>) -> Result<(), ControlError> {
    let (r, mut w) = stream.into_split();
    let (queue, mut replies) = mpsc::channel::<Pending>(PIPELINE_DEPTH);
    let writer = tokio::spawn(async move {
        while let Some(reply) = replies.recv().await {
            let mut out = serde_json::to_string(&reply.await)?;
            out.push('\n');
            w.write_all(out.as_bytes()).await?;
        }
        Ok::<_, ControlError>(())
    });
    let mut lines = BufReader::new(r).lines();
    while let Some(line) = lines.next_line().await? {
        let reply = match serde_json::from_str::<Request>(&line) {
            Ok(req) => submit(req, &engine).await,
            Err(e) => answered(Err(RequestError::BadRequest(e.to_string()))),
        };
        if queue.send(reply).await.is_err() {
            break; // The writer failed: the client is gone.
        }
    }
    drop(queue);
    match writer.await {
        Ok(r) => r,
        // The writer panicked or was cancelled: the connection is over.
        Err(_) => Err(ControlError::Closed),
    }
}

/// A reply known without the engine.
fn answered(result: Result<Reply, RequestError>) -> Pending {
    Box::pin(std::future::ready(response(result)))
}

fn response(result: Result<Reply, RequestError>) -> Response {
    match result {
        Ok(v) => Response::Ok(v),
        Err(e) => Response::Error(e.to_string()),
    }
}

/// Sends the engine the command `make` builds around a reply channel;
/// returns the reply to come, turned into a response by `f`.
async fn ask<T: Send + 'static>(
    engine: &mpsc::Sender<Command>,
    make: impl FnOnce(oneshot::Sender<T>) -> Command,
    f: impl FnOnce(T) -> Result<Reply, RequestError> + Send + 'static,
) -> Pending {
    let (reply, rx) = oneshot::channel();
    if engine.send(make(reply)).await.is_err() {
        return answered(Err(RequestError::EngineStopped));
    }
    Box::pin(async move {
        response(
            rx.await
                .map_err(|_| RequestError::EngineStopped)
                .and_then(f),
        )
    })
}

/// Hands `req` to the engine; returns its reply to come.
async fn submit(req: Request, engine: &mpsc::Sender<Command>) -> Pending {
    match req {
        Request::Status => {
            let make = |reply| Command::Status { reply };
            ask(engine, make, |r| Ok(Reply::Status(Box::new(r)))).await
        }
        Request::Explain { name, client, ecs } => {
            let ecs = match ecs.as_deref().map(str::parse::<ipnet::IpNet>).transpose() {
                Ok(ecs) => ecs,
                Err(e) => {
                    let reason = format!("bad ECS prefix {ecs:?}: {e}");
                    return answered(Err(RequestError::BadRequest(reason)));
                }
            };
            let mut name = match Name::from_ascii(&name) {
                Ok(n) => n,
                Err(e) => {
                    let reason = e.to_string();
                    return answered(Err(RequestError::BadName { name, reason }));
                }
            };
            // Names on the command line are absolute.
            name.set_fqdn(true);
            let make = |reply| Command::Explain {
                name,
                client,
                ecs,
                reply,
            };
            ask(engine, make, |r| Ok(Reply::Explain(Box::new(r?)))).await
        }
        Request::Persist {
            name,
            client,
            clear,
        } => {
            let client = match client.as_deref().map(parse_prefix).transpose() {
                Ok(c) => c,
                Err(reason) => return answered(Err(RequestError::BadRequest(reason))),
            };
            let name = match name
                .map(|n| Name::from_ascii(&n).map_err(|e| (n, e)))
                .transpose()
            {
                Ok(n) => n.map(|mut n| {
                    n.set_fqdn(true);
                    n
                }),
                Err((name, e)) => {
                    let reason = e.to_string();
                    return answered(Err(RequestError::BadName { name, reason }));
                }
            };
            let make = |reply| Command::Persist {
                name,
                client,
                clear,
                reply,
            };
            ask(engine, make, |r| Ok(Reply::Persist(Box::new(r)))).await
        }
        Request::ClientsReload => {
            let make = |reply| Command::ReloadClients { reply };
            ask(engine, make, |r| Ok(Reply::Clients(Box::new(r?)))).await
        }
        Request::Reload => {
            let make = |reply| Command::Reload { reply };
            ask(engine, make, |r| Ok(Reply::Reload(Box::new(r?)))).await
        }
        Request::Admin { server, state } => {
            let make = |reply| Command::SetAdmin {
                server,
                state,
                reply,
            };
            ask(engine, make, |r| r.map(|()| Reply::Done)).await
        }
    }
}

/// A client prefix of `gslb persist`: `ADDR/LEN` or an address (a host
/// prefix).
pub fn parse_prefix(text: &str) -> Result<ipnet::IpNet, String> {
    text.parse::<ipnet::IpNet>()
        .map(|n| n.trunc())
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("bad client prefix {text:?}: expected ADDR/LEN or an address"))
}

/// A connection to the daemon's control socket, for several requests.
pub struct Client {
    tx: Sender,
    rx: Receiver,
}

impl Client {
    /// Connects to the socket at `path`.
    pub async fn connect(path: &Path) -> Result<Client, ControlError> {
        let stream = UnixStream::connect(path)
            .await
            .map_err(|source| ControlError::Connect {
                path: path.to_owned(),
                source,
            })?;
        let (r, writer) = stream.into_split();
        Ok(Client {
            tx: Sender { writer },
            rx: Receiver {
                reader: BufReader::new(r).lines(),
            },
        })
    }

    /// Sends one request; its reply, read as `T` (the reply type of the
    /// request: see [`Request`]).
    pub async fn request<T: DeserializeOwned>(&mut self, req: &Request) -> Result<T, ControlError> {
        self.tx.send(req).await?;
        self.rx.receive().await
    }

    /// Every server, pool and gslb name.
    pub async fn status(&mut self) -> Result<StatusReport, ControlError> {
        self.request(&Request::Status).await
    }

    /// How `name` is answered, for `client`.
    pub async fn explain(
        &mut self,
        name: String,
        client: Option<std::net::IpAddr>,
    ) -> Result<ExplainReport, ControlError> {
        let ecs = None;
        self.request(&Request::Explain { name, client, ecs }).await
    }

    /// Sets `server`'s admin state.
    pub async fn admin(&mut self, server: String, state: AdminState) -> Result<(), ControlError> {
        self.request(&Request::Admin { server, state }).await
    }

    /// Splits into a sending and a receiving half, for pipelining:
    /// responses come back in request order.
    pub fn split(self) -> (Sender, Receiver) {
        (self.tx, self.rx)
    }
}

/// The sending half of a [`Client`].
pub struct Sender {
    writer: tokio::net::unix::OwnedWriteHalf,
}

impl Sender {
    /// Sends one request without waiting for its response.
    pub async fn send(&mut self, req: &Request) -> Result<(), ControlError> {
        let mut line = serde_json::to_string(req)?;
        line.push('\n');
        self.writer.write_all(line.as_bytes()).await?;
        Ok(())
    }
}

/// The receiving half of a [`Client`].
pub struct Receiver {
    reader: tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
}

impl Receiver {
    /// Reads the response to the oldest request not yet answered, as
    /// that request's reply type `T`.
    pub async fn receive<T: DeserializeOwned>(&mut self) -> Result<T, ControlError> {
        let Some(resp) = self.reader.next_line().await? else {
            return Err(ControlError::Closed);
        };
        match serde_json::from_str::<Response<T>>(&resp)? {
            Response::Ok(v) => Ok(v),
            Response::Error(e) => Err(ControlError::Refused(e)),
        }
    }
}

/// Sends one request to the daemon's socket; its reply as `T`.
pub async fn request<T: DeserializeOwned>(path: &Path, req: &Request) -> Result<T, ControlError> {
    Client::connect(path).await?.request(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One holder at a time, named in the refusal; free again once the
    /// holder is gone; a live socket without a lock is refused too.
    #[tokio::test]
    async fn one_daemon_per_control_socket() {
        let dir = std::env::temp_dir().join(format!("gslb-lock-{}", std::process::id()));
        let path = dir.join("control.sock");
        let first = lock(&path).expect("first lock");
        let e = lock(&path).expect_err("second lock").to_string();
        let pid = std::process::id();
        assert!(
            e.contains(&format!("another gslb daemon (pid {pid})")),
            "{e}"
        );
        assert!(e.contains(&path.display().to_string()), "{e}");
        drop(first);
        let again = lock(&path).expect("lock after the holder is gone");
        drop(again);
        // A socket someone serves without holding the lock.
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let e = lock(&path).expect_err("live socket").to_string();
        assert!(e.contains("another process is serving"), "{e}");
        drop(listener);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Pipelined requests reach the engine in the order sent, before the
    /// replies to earlier ones (the fake engine holds its first reply until
    /// the second request is in), and their responses come back in that
    /// order, errors included, also when the engine answers late.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pipelined_requests_keep_their_order() {
        const N: usize = 300;
        let path = std::env::temp_dir().join(format!("gslb-control-{}.sock", std::process::id()));
        let (tx, mut commands) = mpsc::channel(16);
        let server = serve(&path, tx).expect("serve");
        // A fake engine: reports each server name in arrival order; "bad*"
        // servers get an error; every 7th reply comes late; the first
        // reply waits for the second request.
        let (seen_tx, mut seen) = mpsc::unbounded_channel();
        let engine = tokio::spawn(async move {
            let mut n = 0;
            let mut held = None;
            while let Some(cmd) = commands.recv().await {
                let Command::SetAdmin { server, reply, .. } = cmd else {
                    continue;
                };
                let r = if server.starts_with("bad") {
                    Err(RequestError::NoServer(server.clone()))
                } else {
                    Ok(())
                };
                n += 1;
                if n % 7 == 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                }
                let _ = seen_tx.send(server);
                if n == 1 {
                    held = Some((reply, r));
                    continue;
                }
                if let Some((first, r)) = held.take() {
                    let _ = first.send(r);
                }
                let _ = reply.send(r);
            }
        });
        let name = |i: usize| {
            if i.is_multiple_of(5) {
                format!("bad{i}")
            } else {
                format!("s{i}")
            }
        };
        let (mut tx, mut rx) = Client::connect(&path).await.expect("connect").split();
        for i in 0..N {
            // Every 11th request has an unknown state: answered without
            // the engine, yet in its place.
            if i.is_multiple_of(11) {
                let line = format!(
                    "{{\"cmd\":\"admin\",\"server\":\"{}\",\"state\":\"sideways\"}}\n",
                    name(i)
                );
                tx.writer.write_all(line.as_bytes()).await.expect("send");
                continue;
            }
            let req = Request::Admin {
                server: name(i),
                state: AdminState::Disabled,
            };
            tx.send(&req).await.expect("send");
        }
        for i in 0..N {
            let r = tokio::time::timeout(std::time::Duration::from_secs(10), rx.receive::<()>())
                .await
                .expect("no response in 10 s: requests are not pipelined");
            if i.is_multiple_of(11) {
                let e = r.expect_err("unknown state").to_string();
                assert!(e.contains("sideways"), "{i}: {e}");
            } else if i.is_multiple_of(5) {
                let e = r.expect_err("unknown server").to_string();
                assert!(e.contains(&name(i)), "{i}: {e}");
            } else {
                r.unwrap_or_else(|e| panic!("{i}: {e}"));
            }
        }
        let want: Vec<String> = (0..N).filter(|i| !i.is_multiple_of(11)).map(name).collect();
        let mut got = Vec::new();
        while got.len() < want.len() {
            got.push(seen.recv().await.expect("engine report"));
        }
        assert_eq!(got, want);
        server.abort();
        engine.abort();
        let _ = std::fs::remove_file(&path);
    }
}
