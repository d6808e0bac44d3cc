//! The control socket: a Unix stream socket that takes one JSON request
//! per line and answers one JSON line. `gslb status`, `gslb explain` and
//! `gslb server enable|disable|drain` are its clients.

use std::{net::IpAddr, path::Path};

use anyhow::{bail, Context as _};
use hickory_proto::rr::Name;
use serde::{Deserialize, Serialize};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{UnixListener, UnixStream},
    sync::{mpsc, oneshot},
    task::JoinHandle,
};
use tracing::debug;

use crate::{config::AdminState, engine::Command};

/// Default path of the control socket.
pub const DEFAULT_SOCKET: &str = "/run/gslb/control.sock";

/// A request.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// Every server and pool.
    Status,
    /// How a name is answered.
    Explain {
        /// The gslb name.
        name: String,
        /// Client (LDNS) address.
        client: Option<IpAddr>,
    },
    /// Change a server's admin state: "enabled", "disabled", "draining".
    Admin {
        /// Server name.
        server: String,
        /// New state.
        state: String,
    },
}

/// A response: `{"ok": ...}` or `{"error": "..."}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// Success, with a JSON value.
    Ok(serde_json::Value),
    /// Failure.
    Error(String),
}

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

/// Binds the socket (replacing a stale one) and serves it until aborted.
pub fn serve(path: &Path, engine: mpsc::Sender<Command>) -> anyhow::Result<JoinHandle<()>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let _ = std::fs::remove_file(path);
    let listener =
        UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
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

async fn connection(stream: UnixStream, engine: mpsc::Sender<Command>) -> anyhow::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut lines = BufReader::new(r).lines();
    while let Some(line) = lines.next_line().await? {
        let response = match serde_json::from_str::<Request>(&line) {
            Ok(req) => handle(req, &engine).await,
            Err(e) => Response::Error(format!("bad request: {e}")),
        };
        let mut out = serde_json::to_string(&response)?;
        out.push('\n');
        w.write_all(out.as_bytes()).await?;
    }
    Ok(())
}

async fn handle(req: Request, engine: &mpsc::Sender<Command>) -> Response {
    let result: Result<serde_json::Value, String> = async {
        match req {
            Request::Status => {
                let (reply, rx) = oneshot::channel();
                engine
                    .send(Command::Status { reply })
                    .await
                    .map_err(|_| "engine stopped")?;
                let r = rx.await.map_err(|_| "engine stopped")?;
                serde_json::to_value(r).map_err(|e| e.to_string())
            }
            Request::Explain { name, client } => {
                let mut name =
                    Name::from_ascii(&name).map_err(|e| format!("bad name {name:?}: {e}"))?;
                // Names on the command line are absolute.
                name.set_fqdn(true);
                let (reply, rx) = oneshot::channel();
                engine
                    .send(Command::Explain {
                        name,
                        client,
                        reply,
                    })
                    .await
                    .map_err(|_| "engine stopped")?;
                let r = rx.await.map_err(|_| "engine stopped")??;
                serde_json::to_value(r).map_err(|e| e.to_string())
            }
            Request::Admin { server, state } => {
                let state = match state.as_str() {
                    "enabled" | "enable" => AdminState::Enabled,
                    "disabled" | "disable" => AdminState::Disabled,
                    "draining" | "drain" => AdminState::Draining,
                    other => return Err(format!("unknown admin state {other:?}")),
                };
                let (reply, rx) = oneshot::channel();
                engine
                    .send(Command::SetAdmin {
                        server,
                        state,
                        reply,
                    })
                    .await
                    .map_err(|_| "engine stopped")?;
                rx.await.map_err(|_| "engine stopped")??;
                Ok(serde_json::Value::Null)
            }
        }
    }
    .await;
    match result {
        Ok(v) => Response::Ok(v),
        Err(e) => Response::Error(e),
    }
}

/// A connection to the daemon's control socket, for several requests.
pub struct Client {
    tx: Sender,
    rx: Receiver,
}

impl Client {
    /// Connects to the socket at `path`.
    pub async fn connect(path: &Path) -> anyhow::Result<Client> {
        let stream = UnixStream::connect(path).await.with_context(|| {
            format!(
                "connecting to {} (is `gslb run` running with --control?)",
                path.display()
            )
        })?;
        let (r, writer) = stream.into_split();
        Ok(Client {
            tx: Sender { writer },
            rx: Receiver {
                reader: BufReader::new(r).lines(),
            },
        })
    }

    /// Sends one request; the JSON result.
    pub async fn request(&mut self, req: &Request) -> anyhow::Result<serde_json::Value> {
        self.tx.send(req).await?;
        self.rx.receive().await
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
    pub async fn send(&mut self, req: &Request) -> anyhow::Result<()> {
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
    /// Reads the response to the oldest request not yet answered.
    pub async fn receive(&mut self) -> anyhow::Result<serde_json::Value> {
        let Some(resp) = self.reader.next_line().await? else {
            bail!("the daemon closed the control connection");
        };
        match serde_json::from_str::<Response>(&resp)? {
            Response::Ok(v) => Ok(v),
            Response::Error(e) => bail!("{e}"),
        }
    }
}

/// Sends one request to the daemon's socket; the JSON result.
pub async fn request(path: &Path, req: &Request) -> anyhow::Result<serde_json::Value> {
    Client::connect(path).await?.request(req).await
}
