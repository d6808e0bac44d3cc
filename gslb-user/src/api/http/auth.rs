//! Who may do what over HTTP. Every route is a read, an admin verb or
//! open (the OpenAPI document); the rules, from `[api]`:
//!
//! - a token is configured (`token` or `token_file`): admin verbs need
//!   it (`Authorization: Bearer <token>`); reads need it too, unless
//!   `read_only_without_token = true`. A wrong or malformed token is
//!   refused (401) even where none is needed.
//! - no token is configured: reads are open; admin verbs are refused
//!   (403), since nothing could authorise them.
//!
//! The token is the one of the config the engine runs now, asked for on
//! every request, so a reload that changes it (or the file's content)
//! takes effect at once. [`guard`] is the middleware; [`protect`] puts it
//! in front of every route of a router (the status page's JSON uses it).

use axum::{
    extract::{Request, State},
    http::{header, HeaderMap},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    Router,
};
use tokio::sync::{mpsc, oneshot};

use super::error::ApiError;
use crate::{
    config::{ApiConfig, Config},
    engine::Command,
};

/// What a route does, for its authorisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone (the API's description).
    Open,
    /// A read: status, explain, model, metrics, history.
    Read,
    /// An admin verb: changes state.
    Admin,
}

impl Access {
    /// The word the OpenAPI document and the docs use.
    pub fn name(self) -> &'static str {
        match self {
            Access::Open => "open",
            Access::Read => "read",
            Access::Admin => "admin",
        }
    }
}

/// Whether a request with `headers` may do `access` under `api`; the
/// refusal otherwise.
pub fn check(api: &ApiConfig, access: Access, headers: &HeaderMap) -> Result<(), ApiError> {
    if access == Access::Open {
        return Ok(());
    }
    let Some(token) = &api.token else {
        return match access {
            Access::Admin => Err(ApiError::forbidden(
                "no API token is configured (api.token or api.token_file): admin verbs are \
                 refused",
            )),
            _ => Ok(()),
        };
    };
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        if access == Access::Read && api.read_only_without_token {
            return Ok(());
        }
        return Err(ApiError::token_required(format!(
            "this {} needs the API token: send `Authorization: Bearer <token>`",
            if access == Access::Admin {
                "admin verb"
            } else {
                "read"
            }
        )));
    };
    let given = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    match given {
        Some(t) if token.matches(t) => Ok(()),
        Some(_) => Err(ApiError::token_invalid("wrong API token")),
        None => Err(ApiError::token_invalid(
            "malformed Authorization header: expected `Bearer <token>`",
        )),
    }
}

/// The config the engine runs now.
pub async fn running_config(
    commands: &mpsc::Sender<Command>,
) -> Result<std::sync::Arc<Config>, ApiError> {
    let (reply, rx) = oneshot::channel();
    commands
        .send(Command::Config { reply })
        .await
        .map_err(|_| ApiError::engine_stopped())?;
    rx.await.map_err(|_| ApiError::engine_stopped())
}

/// The state of [`guard`]: where to ask for the config, and what the
/// guarded routes do.
#[derive(Clone)]
pub struct Guard {
    /// The engine.
    pub commands: mpsc::Sender<Command>,
    /// What the routes behind it do.
    pub access: Access,
}

/// The middleware: lets the request through when [`check`] allows it,
/// else answers with the refusal.
pub async fn guard(State(g): State<Guard>, req: Request, next: Next) -> Response {
    let cfg = match running_config(&g.commands).await {
        Ok(cfg) => cfg,
        Err(e) => return e.into_response(),
    };
    // A reload that removed `[api]` leaves the listener running (it is
    // bound at start) but nothing allowed.
    let Some(api) = &cfg.api else {
        return ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "the running config has no [api] table: the API is off until a restart",
        )
        .into_response();
    };
    match check(api, g.access, req.headers()) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// `router` with [`guard`] in front of each of its routes (not its
/// fallback: an unknown path stays a 404).
pub fn protect<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    commands: mpsc::Sender<Command>,
    access: Access,
) -> Router<S> {
    router.route_layer(middleware::from_fn_with_state(
        Guard { commands, access },
        guard,
    ))
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderValue, StatusCode};

    use super::*;
    use crate::config::ApiToken;

    fn api(token: Option<&str>, read_only_without_token: bool) -> ApiConfig {
        ApiConfig {
            token: token.map(ApiToken::new),
            read_only_without_token,
            ..ApiConfig::default()
        }
    }

    fn with(auth: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = auth {
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(a).unwrap());
        }
        h
    }

    fn status(api: &ApiConfig, access: Access, auth: Option<&str>) -> u16 {
        match check(api, access, &with(auth)) {
            Ok(()) => 200,
            Err(e) => e.status.as_u16(),
        }
    }

    /// The table of the module's rules.
    #[test]
    fn the_rules() {
        let none = api(None, false);
        let tok = api(Some("t0k"), false);
        let ro = api(Some("t0k"), true);
        let right = Some("Bearer t0k");
        let wrong = Some("Bearer nope");
        for (cfg, access, auth, want) in [
            // No token configured: reads open, admin refused.
            (&none, Access::Read, None, 200),
            (&none, Access::Read, wrong, 200),
            (&none, Access::Admin, None, 403),
            (&none, Access::Admin, right, 403),
            // A token: needed for both.
            (&tok, Access::Read, None, 401),
            (&tok, Access::Read, wrong, 401),
            (&tok, Access::Read, right, 200),
            (&tok, Access::Admin, None, 401),
            (&tok, Access::Admin, wrong, 401),
            (&tok, Access::Admin, right, 200),
            // Read-only without it.
            (&ro, Access::Read, None, 200),
            (&ro, Access::Read, wrong, 401),
            (&ro, Access::Read, right, 200),
            (&ro, Access::Admin, None, 401),
            (&ro, Access::Admin, right, 200),
            // The scheme is case-insensitive; others are malformed.
            (&tok, Access::Admin, Some("bearer t0k"), 200),
            (&tok, Access::Admin, Some("Basic dDBrOg=="), 401),
            (&tok, Access::Admin, Some("t0k"), 401),
            // Open routes need nothing.
            (&tok, Access::Open, None, 200),
        ] {
            assert_eq!(
                status(cfg, access, auth),
                want,
                "{access:?} {auth:?} {cfg:?}"
            );
        }
        let e = check(&none, Access::Admin, &with(None)).unwrap_err();
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        assert!(
            e.message.contains("no API token is configured"),
            "{}",
            e.message
        );
    }
}
