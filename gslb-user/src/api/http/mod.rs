//! The HTTP listener of `[api]`: the JSON API under `/api/v1/`, the
//! Prometheus `/metrics` and the status page, one axum router. It speaks
//! to the engine through the same command channel as the control socket
//! and serves the same request and reply types.
//!
//! - `routes.rs`: the route table and the handlers
//! - `auth.rs`: who may call what (bearer token), a reusable middleware
//! - `error.rs`: errors as JSON with their HTTP status
//! - `listener.rs`: the TCP listener's bounds (connections, idle reads)
//! - `metrics.rs`: the Prometheus exposition
//! - `model.rs`: the running model (`/api/v1/model`)
//! - `openapi.json`: the OpenAPI 3 description of the routes
//!
//! Routes and metrics are listed in docs/operations.md.

use std::{net::SocketAddr, path::Path, sync::Arc, time::SystemTime};

use axum::{
    http::{Method, StatusCode, Uri},
    Router,
};
use tokio::{net::TcpListener, sync::mpsc, task::JoinHandle};
use tracing::{info, warn};

use crate::{config::ApiConfig, engine::Command};

pub mod auth;
pub mod error;
pub mod listener;
pub mod metrics;
pub mod model;
pub mod routes;

use self::error::ApiError;

/// What every handler has.
#[derive(Clone)]
pub struct Ctx {
    /// The engine.
    pub commands: mpsc::Sender<Command>,
    /// The XDP counters (`None` without XDP).
    pub counters: Option<Arc<metrics::XdpCounters>>,
    /// When the daemon started.
    pub started: SystemTime,
}

/// The API's router: every route of [`routes::routes`] behind its
/// [`auth::guard`], the status page's routes (`api/page/`), JSON errors
/// for unknown paths and methods.
pub fn router(ctx: Ctx) -> Router {
    let mut router: Router<Ctx> = Router::new();
    for r in routes::routes() {
        let guard = axum::middleware::from_fn_with_state(
            auth::Guard {
                commands: ctx.commands.clone(),
                access: r.access,
            },
            auth::guard,
        );
        router = router.route(r.path, r.handler.route_layer(guard));
    }
    let page = crate::api::page::routes(ctx.commands.clone());
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(ctx)
        .merge(page)
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}", uri.path()),
    )
}

/// Why the listener could not start.
#[derive(Debug, thiserror::Error)]
#[error("binding the HTTP API to {addr} ([api] listen): {source}")]
pub struct BindError {
    /// The address.
    pub addr: SocketAddr,
    /// The cause.
    #[source]
    pub source: std::io::Error,
}

/// Binds the listener (before anything else of the daemon changes the
/// system, so that a taken port stops the start cleanly).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, BindError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| BindError { addr, source })
}

/// Starts the API on `listener` (bound with [`bind`]) for the engine
/// behind `commands`, with the XDP counters pinned in `pin_dir` (`None`
/// without XDP): serves until aborted. Call before the daemon drops its
/// capabilities (the counters' pin is opened here).
pub fn start(
    listener: TcpListener,
    commands: mpsc::Sender<Command>,
    pin_dir: Option<&Path>,
    api: &ApiConfig,
) -> JoinHandle<()> {
    let counters = pin_dir.and_then(|dir| match metrics::XdpCounters::open(dir) {
        Ok(c) => Some(Arc::new(c)),
        Err(e) => {
            warn!(error = %e, "no XDP counters in /metrics");
            None
        }
    });
    let addr = listener.local_addr().map_or(api.listen, |a| a);
    if api.token.is_none() && !addr.ip().is_loopback() {
        warn!(%addr, "the HTTP API listens beyond loopback without a token: anyone who can reach it reads the status (admin verbs stay refused)");
    }
    info!(%addr, token = api.token.is_some(), read_only_without_token = api.read_only_without_token, "HTTP API listening");
    let ctx = Ctx {
        commands,
        counters,
        started: SystemTime::now(),
    };
    serve(listener, router(ctx))
}

/// Serves `router` on `listener` until aborted, with the bounds of
/// [`listener`] (connections at once, idle reads).
pub fn serve(listener: TcpListener, router: Router) -> JoinHandle<()> {
    let listener =
        listener::Bounded::new(listener, listener::MAX_CONNECTIONS, listener::IDLE_TIMEOUT);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            warn!(error = %e, "the HTTP API stopped");
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::mpsc;

    use super::*;
    use crate::{
        api::protocol::{RequestError, StatusReport},
        config::{ApiToken, Config},
    };

    /// A fake engine: the config with `api`, an empty status, `s1` the
    /// only server, an empty history.
    fn engine(api: ApiConfig) -> mpsc::Sender<Command> {
        let mut cfg = crate::config::load_default().expect("default config");
        cfg.api = Some(api);
        let cfg: Arc<Config> = Arc::new(cfg);
        let (tx, mut rx) = mpsc::channel(16);
        tokio::spawn(async move {
            while let Some(cmd) = rx.recv().await {
                match cmd {
                    Command::Config { reply } => {
                        let _ = reply.send(cfg.clone());
                    }
                    Command::Status { reply } => {
                        let _ = reply.send(StatusReport {
                            servers: Vec::new(),
                            pools: Vec::new(),
                            names: Vec::new(),
                            reload: Default::default(),
                            start: Default::default(),
                        });
                    }
                    Command::SetAdmin { server, reply, .. } => {
                        let _ = reply.send(if server == "s1" {
                            Ok(())
                        } else {
                            Err(RequestError::NoServer(server))
                        });
                    }
                    Command::History { reply } => {
                        let _ = reply.send(Default::default());
                    }
                    _ => {}
                }
            }
        });
        tx
    }

    /// Serves the router of a fake engine on an ephemeral loopback port.
    async fn serve_fake(api: ApiConfig) -> SocketAddr {
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let ctx = Ctx {
            commands: engine(api),
            counters: None,
            started: SystemTime::now(),
        };
        serve(listener, router(ctx));
        addr
    }

    /// (status, `WWW-Authenticate`, body) of one request.
    async fn call(
        addr: SocketAddr,
        method: &str,
        path: &str,
        token: Option<&str>,
    ) -> (u16, Option<String>, String) {
        let client = reqwest::Client::new();
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = client.request(method, format!("http://{addr}{path}"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("response");
        let challenge = resp
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_string());
        (
            resp.status().as_u16(),
            challenge,
            resp.text().await.unwrap(),
        )
    }

    fn error_status(body: &str) -> Option<u64> {
        let v: serde_json::Value = serde_json::from_str(body).ok()?;
        v["error"].as_str()?;
        v["status"].as_u64()
    }

    /// The router over HTTP: the guard on the API's routes and on the
    /// merged status page's JSON, open page and description, JSON errors
    /// for unknown paths, methods and servers.
    #[tokio::test]
    async fn router_guards_routes_and_answers_json_errors() {
        let addr = serve_fake(ApiConfig {
            token: Some(ApiToken::new("tok")),
            ..ApiConfig::default()
        })
        .await;
        for path in [
            "/api/v1/status",
            "/api/v1/history",
            "/metrics",
            "/api/v1/model",
        ] {
            let (code, challenge, body) = call(addr, "GET", path, None).await;
            assert_eq!(
                (code, error_status(&body)),
                (401, Some(401)),
                "{path}: {body}"
            );
            assert_eq!(
                challenge.as_deref(),
                Some("Bearer realm=\"gslb\""),
                "{path}"
            );
            let (code, _, body) = call(addr, "GET", path, Some("tok")).await;
            assert_eq!(code, 200, "{path}: {body}");
        }
        for path in ["/", "/api/v1/openapi.json"] {
            let (code, _, body) = call(addr, "GET", path, None).await;
            assert_eq!(code, 200, "{path}: {body}");
        }
        let (code, _, body) = call(addr, "POST", "/api/v1/servers/s1/drain", Some("tok")).await;
        // The fake status has no s1 after the change: 204.
        assert_eq!(code, 204, "{body}");
        for (method, path, want) in [
            ("POST", "/api/v1/servers/s9/drain", 404),
            ("GET", "/api/v1/nothing", 404),
            ("DELETE", "/api/v1/status", 405),
            ("GET", "/api/v1/explain/a..b", 400),
        ] {
            let (code, _, body) = call(addr, method, path, Some("tok")).await;
            assert_eq!(
                (code, error_status(&body)),
                (want, Some(u64::from(want))),
                "{method} {path}: {body}"
            );
        }
    }

    /// Each route of the table answers its own method at its path (the
    /// table's method and its handler's agree): neither 404 nor 405.
    #[tokio::test]
    async fn every_route_answers_its_method() {
        let addr = serve_fake(ApiConfig {
            token: Some(ApiToken::new("tok")),
            ..ApiConfig::default()
        })
        .await;
        for r in routes::routes() {
            let path = r.path.replace("{name}", "s1");
            let (code, _, body) = call(addr, r.method, &path, Some("tok")).await;
            assert!(
                code != 404 && code != 405,
                "{} {}: {code} {body}",
                r.method,
                r.path
            );
        }
    }

    /// No token configured: reads open, admin verbs 403.
    #[tokio::test]
    async fn no_token_admin_is_forbidden() {
        let addr = serve_fake(ApiConfig::default()).await;
        let (code, _, _) = call(addr, "GET", "/api/v1/status", None).await;
        assert_eq!(code, 200);
        let (code, _, body) = call(addr, "POST", "/api/v1/servers/s1/drain", Some("x")).await;
        assert_eq!((code, error_status(&body)), (403, Some(403)), "{body}");
    }
}
