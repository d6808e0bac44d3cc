//! The status page the HTTP listener serves at `/`: one HTML page, its
//! script and its style sheet, embedded in the binary (no CDN, nothing
//! fetched from elsewhere), and `GET /api/v1/history`, the answers per
//! gslb name over the last minutes and the recent health and admin
//! changes it draws.
//!
//! The page reads `/api/v1/status` (the HTTP API's) and
//! `/api/v1/history` every two seconds and redraws itself. When a read
//! needs a token, the page asks for one and keeps it in the tab's
//! `sessionStorage` (or takes it from the address's fragment,
//! `/#token=...`, and drops it from the address bar); it sends it as
//! `Authorization: Bearer`.

use axum::{
    extract::State,
    http::header,
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use tokio::sync::{mpsc, oneshot};

use crate::{
    api::http::{
        auth::{protect, Access},
        error::ApiError,
    },
    engine::{history::HistoryReport, Command},
};

/// The page.
const INDEX: &str = include_str!("index.html");
/// Its script.
const SCRIPT: &str = include_str!("page.js");
/// Its style sheet.
const STYLE: &str = include_str!("page.css");

/// What the page may load: only its own assets and its own API.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

/// The page's routes, with their state: `/`, `/static/page.js`,
/// `/static/page.css` (open: they hold no data), and `GET
/// /api/v1/history`, a read under the API's token rules, answered by
/// the engine behind `commands`.
pub fn routes(commands: mpsc::Sender<Command>) -> Router {
    let reads = protect(
        Router::new().route("/api/v1/history", get(history)),
        commands.clone(),
        Access::Read,
    );
    Router::new()
        .route("/", get(index))
        .route("/static/page.js", get(script))
        .route("/static/page.css", get(style))
        .merge(reads)
        .with_state(commands)
}

/// An embedded asset with its type; revalidated on every load
/// (`no-cache`), so a new binary's page is what the next load gets.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

/// `GET /api/v1/history`: a [`HistoryReport`], or the API's error when
/// the engine is gone (the daemon is stopping).
async fn history(State(commands): State<mpsc::Sender<Command>>) -> Response {
    match ask_history(&commands).await {
        Some(report) => ([(header::CACHE_CONTROL, "no-store")], Json(report)).into_response(),
        None => ApiError::engine_stopped().into_response(),
    }
}

/// The engine's history report; `None` when the engine is gone.
pub async fn ask_history(commands: &mpsc::Sender<Command>) -> Option<HistoryReport> {
    let (reply, rx) = oneshot::channel();
    commands.send(Command::History { reply }).await.ok()?;
    rx.await.ok()
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    /// The page refers only to its own assets: nothing from another host
    /// (the CSP would block it anyway), and every asset it names is
    /// served.
    #[test]
    fn assets_are_local() {
        for text in [INDEX, SCRIPT, STYLE] {
            // SVG's namespace is a name, not a place the page loads from.
            let text = text.replace("\"http://www.w3.org/2000/svg\"", "");
            for bad in ["http://", "https://", "//cdn", "@import", "url("] {
                assert!(!text.contains(bad), "an asset refers to {bad}");
            }
        }
        assert!(INDEX.contains("src=\"/static/page.js\""));
        assert!(INDEX.contains("href=\"/static/page.css\""));
    }

    /// The handlers answer with their types, and the history comes from
    /// the engine's channel (503 once the engine is gone).
    #[tokio::test]
    async fn serves_page_assets_and_history() {
        let (tx, mut rx) = mpsc::channel(4);
        let engine = tokio::spawn(async move {
            if let Some(Command::History { reply }) = rx.recv().await {
                let _ = reply.send(HistoryReport {
                    tick_s: 1.0,
                    ..HistoryReport::default()
                });
            }
        });
        let content_type = |r: &Response| {
            r.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert!(content_type(&index().await).starts_with("text/html"));
        assert!(content_type(&script().await).starts_with("text/javascript"));
        assert!(content_type(&style().await).starts_with("text/css"));
        let r = history(State(tx.clone())).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(content_type(&r).starts_with("application/json"));
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["tick_s"], 1.0);
        engine.await.unwrap();
        let r = history(State(tx)).await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
