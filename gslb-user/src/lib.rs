//! The gslb daemon library: configuration, run-time state and the slow
//! path (the user-space DNS responder behind the XDP program).

pub mod config;
pub mod control;
pub mod decision;
pub mod dns;
pub mod engine;
pub mod fastpath;
pub mod health;
pub mod model;
pub mod report;
