//! The control protocol's request and reply types: one JSON object per
//! line each way on the control socket.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

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
