//! The slow path: the user-space DNS server behind the XDP program. It
//! answers what the fast path passes up (and everything with `--no-xdp`)
//! from the same state and by the same rules.

pub mod lookup;
pub mod mmsg;
pub mod rdata;
pub mod responder;
pub mod server;
pub mod wire;
