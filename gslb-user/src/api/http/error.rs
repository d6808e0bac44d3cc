//! The API's errors: JSON `{"error": "...", "status": N}` with the HTTP
//! status code N, and the `WWW-Authenticate` challenge of a 401
//! (RFC 6750 §3).

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::{Deserialize, Serialize};

use crate::api::protocol::RequestError;

/// The body of every error response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, in words.
    pub error: String,
    /// The HTTP status code, repeated.
    pub status: u16,
}

/// An error response.
#[derive(Clone, Debug)]
pub struct ApiError {
    /// Its status code.
    pub status: StatusCode,
    /// Its message.
    pub message: String,
    /// The `WWW-Authenticate` value of a 401.
    challenge: Option<&'static str>,
}

/// The challenge when no credentials came (RFC 6750 §3.1: no error code).
const CHALLENGE: &str = "Bearer realm=\"gslb\"";
/// The challenge when the credentials are wrong.
const CHALLENGE_INVALID: &str = "Bearer realm=\"gslb\", error=\"invalid_token\"";

impl ApiError {
    /// An error with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            challenge: None,
        }
    }

    /// 400: the request's input is not valid.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    /// 401 without credentials.
    pub fn token_required(message: impl Into<String>) -> ApiError {
        ApiError {
            challenge: Some(CHALLENGE),
            ..ApiError::new(StatusCode::UNAUTHORIZED, message)
        }
    }

    /// 401 with wrong or malformed credentials.
    pub fn token_invalid(message: impl Into<String>) -> ApiError {
        ApiError {
            challenge: Some(CHALLENGE_INVALID),
            ..ApiError::new(StatusCode::UNAUTHORIZED, message)
        }
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }

    /// 503: the engine is gone (the daemon is stopping).
    pub fn engine_stopped() -> ApiError {
        RequestError::EngineStopped.into()
    }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> ApiError {
        let status = match &e {
            RequestError::BadRequest(_) | RequestError::BadName { .. } => StatusCode::BAD_REQUEST,
            RequestError::NoServer(_) | RequestError::NotGslbName(_) => StatusCode::NOT_FOUND,
            // The client data could not be rebuilt: the request was
            // understood, its effect cannot be had.
            RequestError::Clients(_) => StatusCode::UNPROCESSABLE_ENTITY,
            // The new config was refused: the old one keeps serving.
            RequestError::Reload(_) => StatusCode::UNPROCESSABLE_ENTITY,
            RequestError::EngineStopped => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.message,
            status: self.status.as_u16(),
        };
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(c) = self.challenge {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(c));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_errors_have_their_status() {
        for (e, code) in [
            (RequestError::BadRequest("x".into()), 400),
            (
                RequestError::BadName {
                    name: "a..b".into(),
                    reason: "empty label".into(),
                },
                400,
            ),
            (RequestError::NoServer("s".into()), 404),
            (RequestError::NotGslbName("n.".into()), 404),
            (RequestError::Clients("bad".into()), 422),
            (RequestError::Reload("t.toml:1:1: bad".into()), 422),
            (RequestError::EngineStopped, 503),
        ] {
            let msg = e.to_string();
            let a = ApiError::from(e);
            assert_eq!((a.status.as_u16(), a.message), (code, msg));
        }
    }

    #[test]
    fn unauthorized_carries_the_challenge() {
        let r = ApiError::token_invalid("wrong").into_response();
        assert_eq!(r.status(), 401);
        assert_eq!(
            r.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"gslb\", error=\"invalid_token\""
        );
        let r = ApiError::forbidden("no").into_response();
        assert!(r.headers().get(header::WWW_AUTHENTICATE).is_none());
    }
}
