//! The gslb daemon library: configuration, run-time state and the slow
//! path (the user-space DNS responder behind the XDP program).

pub mod config;
pub mod decision;
pub mod lookup;
pub mod maps;
pub mod model;
pub mod rdata;
pub mod responder;
pub mod server;
pub mod stats;
pub mod xdp;
