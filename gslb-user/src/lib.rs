//! The gslb daemon library: configuration, run-time state and the slow
//! path (the user-space DNS responder behind the XDP program).

pub mod api;
pub mod config;
pub mod dns;
pub mod engine;
pub mod fastpath;
pub mod health;
pub mod state;
