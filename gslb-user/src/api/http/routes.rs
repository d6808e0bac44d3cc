//! The routes: one table ([`routes`]) of method, path, access and
//! handler, from which the router is built and against which the
//! OpenAPI document is tested. Each handler turns its request into the
//! engine [`Command`] the control socket would send (see
//! `api/control.rs`) and its reply into JSON.

use std::net::IpAddr;

use axum::{
    extract::{rejection::QueryRejection, Path, Query, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{delete, get, post, MethodRouter},
    Json,
};
use hickory_proto::rr::Name;
use serde::Deserialize;
use tokio::sync::oneshot;

use super::{
    auth::{self, Access},
    error::ApiError,
    metrics::{self, Snapshot},
    model::{ConfigReport, ModelReport},
    Ctx,
};
use crate::{
    api::{
        control::parse_prefix,
        protocol::{AdminAction, ExplainReport, PersistReport, RequestError, StatusReport},
    },
    engine::Command,
};

/// One route.
pub struct Route {
    /// `GET`, `POST`, `DELETE`.
    pub method: &'static str,
    /// The path, parameters in braces (`/api/v1/explain/{name}`).
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// The handler.
    pub handler: MethodRouter<Ctx>,
}

fn route(
    method: &'static str,
    path: &'static str,
    access: Access,
    handler: MethodRouter<Ctx>,
) -> Route {
    Route {
        method,
        path,
        access,
        handler,
    }
}

/// Every route of the API.
pub fn routes() -> Vec<Route> {
    use Access::{Admin, Open, Read};
    vec![
        route("GET", "/api/v1/status", Read, get(status)),
        route("GET", "/api/v1/explain/{name}", Read, get(explain)),
        route("GET", "/api/v1/persist", Read, get(persist_list)),
        route("DELETE", "/api/v1/persist", Admin, delete(persist_clear)),
        route(
            "POST",
            "/api/v1/servers/{name}/enable",
            Admin,
            post(|s, p| admin(s, p, AdminAction::Enable)),
        ),
        route(
            "POST",
            "/api/v1/servers/{name}/disable",
            Admin,
            post(|s, p| admin(s, p, AdminAction::Disable)),
        ),
        route(
            "POST",
            "/api/v1/servers/{name}/drain",
            Admin,
            post(|s, p| admin(s, p, AdminAction::Drain)),
        ),
        route("POST", "/api/v1/reload", Admin, post(reload)),
        route(
            "POST",
            "/api/v1/clients/reload",
            Admin,
            post(clients_reload),
        ),
        route("GET", "/api/v1/model", Read, get(model)),
        route("GET", "/api/v1/config", Read, get(config)),
        route("GET", "/api/v1/openapi.json", Open, get(openapi)),
        route("GET", "/metrics", Read, get(prometheus)),
    ]
}

/// The API routes the status page (`api/page/`) serves, under the same
/// rules and in the same OpenAPI document.
pub const PAGE_ROUTES: &[(&str, &str, Access)] = &[("GET", "/api/v1/history", Access::Read)];

/// Sends the engine the command `make` builds around a reply channel;
/// its reply.
async fn ask<T>(
    ctx: &Ctx,
    make: impl FnOnce(oneshot::Sender<T>) -> Command,
) -> Result<T, ApiError> {
    let (reply, rx) = oneshot::channel();
    ctx.commands
        .send(make(reply))
        .await
        .map_err(|_| ApiError::engine_stopped())?;
    rx.await.map_err(|_| ApiError::engine_stopped())
}

/// A query string that does not fit its route: 400.
fn bad_query(e: &QueryRejection) -> ApiError {
    ApiError::bad_request(format!("bad query string: {}", e.body_text()))
}

/// A gslb name as given (absolute whether or not it ends in a dot).
fn parse_name(name: &str) -> Result<Name, ApiError> {
    let mut n = Name::from_ascii(name).map_err(|e| RequestError::BadName {
        name: name.to_string(),
        reason: e.to_string(),
    })?;
    n.set_fqdn(true);
    Ok(n)
}

async fn status(State(ctx): State<Ctx>) -> Result<Json<StatusReport>, ApiError> {
    Ok(Json(ask(&ctx, |reply| Command::Status { reply }).await?))
}

/// `explain`'s query: `?client=ADDR&ecs=ADDR/LEN`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExplainQuery {
    client: Option<String>,
    ecs: Option<String>,
}

async fn explain(
    State(ctx): State<Ctx>,
    Path(name): Path<String>,
    query: Result<Query<ExplainQuery>, QueryRejection>,
) -> Result<Json<ExplainReport>, ApiError> {
    let Query(q) = query.map_err(|e| bad_query(&e))?;
    let client = q
        .client
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(|c| {
            c.parse::<IpAddr>()
                .map_err(|_| ApiError::bad_request(format!("bad client address {c:?}")))
        })
        .transpose()?;
    let ecs = q
        .ecs
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(|e| {
            e.parse::<ipnet::IpNet>()
                .map_err(|err| ApiError::bad_request(format!("bad ECS prefix {e:?}: {err}")))
        })
        .transpose()?;
    let name = parse_name(&name)?;
    let make = |reply| Command::Explain {
        name,
        client,
        ecs,
        reply,
    };
    Ok(Json(ask(&ctx, make).await??))
}

/// `persist`'s query: `?name=NAME&client=PREFIX`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PersistQuery {
    name: Option<String>,
    client: Option<String>,
}

async fn persist(ctx: &Ctx, q: PersistQuery, clear: bool) -> Result<Json<PersistReport>, ApiError> {
    let client = q
        .client
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(parse_prefix)
        .transpose()
        .map_err(ApiError::bad_request)?;
    let name = q
        .name
        .as_deref()
        .filter(|n| !n.is_empty())
        .map(parse_name)
        .transpose()?;
    let make = |reply| Command::Persist {
        name,
        client,
        clear,
        reply,
    };
    Ok(Json(ask(ctx, make).await?))
}

async fn persist_list(
    State(ctx): State<Ctx>,
    query: Result<Query<PersistQuery>, QueryRejection>,
) -> Result<Json<PersistReport>, ApiError> {
    let Query(q) = query.map_err(|e| bad_query(&e))?;
    persist(&ctx, q, false).await
}

async fn persist_clear(
    State(ctx): State<Ctx>,
    query: Result<Query<PersistQuery>, QueryRejection>,
) -> Result<Json<PersistReport>, ApiError> {
    let Query(q) = query.map_err(|e| bad_query(&e))?;
    persist(&ctx, q, true).await
}

/// Sets the server's admin state; its status after the change.
async fn admin(
    State(ctx): State<Ctx>,
    Path(server): Path<String>,
    action: AdminAction,
) -> Result<Response, ApiError> {
    let state = action.state();
    let name = server.clone();
    let make = |reply| Command::SetAdmin {
        server: name,
        state,
        reply,
    };
    ask(&ctx, make).await??;
    let status = ask(&ctx, |reply| Command::Status { reply }).await?;
    match status.servers.into_iter().find(|s| s.name == server) {
        Some(s) => Ok(Json(s).into_response()),
        // Removed by a reload in between: the change was made.
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// Reads the config file again and switches to it; a refused config
/// (422) leaves the running one in place.
async fn reload(State(ctx): State<Ctx>) -> Result<Response, ApiError> {
    let report = ask(&ctx, |reply| Command::Reload { reply }).await??;
    Ok(Json(report).into_response())
}

async fn clients_reload(State(ctx): State<Ctx>) -> Result<Response, ApiError> {
    let report = ask(&ctx, |reply| Command::ReloadClients { reply }).await??;
    Ok(Json(report).into_response())
}

async fn model(State(ctx): State<Ctx>) -> Result<Json<ModelReport>, ApiError> {
    let cfg = auth::running_config(&ctx.commands).await?;
    Ok(Json(ModelReport::of(&cfg)))
}

async fn config(State(ctx): State<Ctx>) -> Result<Json<ConfigReport>, ApiError> {
    let cfg = auth::running_config(&ctx.commands).await?;
    Ok(Json(ConfigReport::of(&cfg)))
}

/// The OpenAPI description of these routes.
pub const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn prometheus(State(ctx): State<Ctx>, headers: HeaderMap) -> Result<Response, ApiError> {
    let status = ask(&ctx, |reply| Command::Status { reply }).await?;
    let xdp = match ctx.counters.clone() {
        Some(c) => tokio::task::spawn_blocking(move || c.read())
            .await
            .unwrap_or(None),
        None => None,
    };
    let snapshot = Snapshot {
        status,
        xdp,
        started: ctx.started,
    };
    let openmetrics =
        metrics::wants_openmetrics(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let body = metrics::render(snapshot, openmetrics);
    let content_type = if openmetrics {
        metrics::OPENMETRICS_TEXT
    } else {
        metrics::PROMETHEUS_TEXT
    };
    Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route is described in the OpenAPI document with its method,
    /// and the document describes no route the router lacks.
    #[test]
    fn openapi_describes_every_route() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
        assert!(
            doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
            "not OpenAPI 3: {}",
            doc["openapi"]
        );
        let all: Vec<(&str, &str, Access)> = routes()
            .iter()
            .map(|r| (r.method, r.path, r.access))
            .chain(PAGE_ROUTES.iter().copied())
            .collect();
        let paths = doc["paths"].as_object().expect("paths");
        let mut described = 0;
        for (path, ops) in paths {
            for method in ops.as_object().expect("operations").keys() {
                if method == "parameters" {
                    continue;
                }
                described += 1;
                assert!(
                    all.iter()
                        .any(|(m, p, _)| p == path && m.eq_ignore_ascii_case(method)),
                    "openapi.json describes {method} {path}, which is not a route"
                );
            }
        }
        for &(method, path, access) in &all {
            let op = &doc["paths"][path][method.to_ascii_lowercase()];
            assert!(op.is_object(), "{method} {path} is not in openapi.json");
            // The document says who may call it.
            let security = op.get("security").and_then(|s| s.as_array());
            if access == Access::Open {
                assert!(
                    security.is_some_and(Vec::is_empty),
                    "{method} {path}: an open route has `security: []`"
                );
            }
            assert_eq!(
                op["x-gslb-access"],
                access.name(),
                "{method} {path}: x-gslb-access"
            );
        }
        assert_eq!(described, all.len());
    }
}
