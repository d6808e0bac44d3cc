//! The gslb daemon library: configuration, run-time state and the slow
//! path (the user-space DNS responder behind the XDP program).

pub mod attached;
pub mod config;
pub mod control;
pub mod decision;
pub mod engine;
pub mod health;
pub mod lookup;
pub mod maps;
pub mod mmsg;
pub mod model;
pub mod negative;
pub mod rdata;
pub mod report;
pub mod responder;
pub mod server;
pub mod slots;
pub mod statics;
pub mod stats;
pub mod xdp;
