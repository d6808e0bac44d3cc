//! The HTTP listener of `[api]`: the JSON API under `/api/v1/`, the
//! Prometheus `/metrics` and the status page, one axum router. It speaks
//! to the engine through the same command channel as the control socket
//! and serves the same request and reply types.
//!
//! - `routes.rs`: the route table and the handlers
//! - `auth.rs`: who may call what (bearer token), a reusable middleware
//! - `error.rs`: errors as JSON with their HTTP status
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

/// Serves `router` on `listener` until aborted.
pub fn serve(listener: TcpListener, router: Router) -> JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            warn!(error = %e, "the HTTP API stopped");
        }
    })
}
