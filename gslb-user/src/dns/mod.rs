//! The slow path: the user-space DNS server behind the XDP program. It
//! answers what the fast path passes up (and everything with `--no-xdp`)
//! from the same state and by the same rules.

pub(crate) mod ecs;
pub(crate) mod lookup;
pub(crate) mod mmsg;
pub mod querylog;
pub(crate) mod rdata;
pub mod responder;
pub mod server;
pub(crate) mod wildcard;
pub(crate) mod wire;
