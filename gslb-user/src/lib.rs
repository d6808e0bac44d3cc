//! The gslb daemon library: configuration, run-time state and the slow
//! path (the user-space DNS responder behind the XDP program).

pub mod attached;
pub mod config;
pub mod control;
pub mod decision;
pub mod dns;
pub mod engine;
pub mod health;
pub mod maps;
pub mod model;
pub mod negative;
pub mod report;
pub mod slots;
pub mod statics;
pub mod stats;
pub mod xdp;
