//! The daemon's control interface: the request and reply types
//! ([`protocol`]), the control socket that carries them ([`control`]) and
//! the text reports of its replies ([`report`]).

pub mod control;
pub mod http;
pub mod page;
pub mod protocol;
pub mod report;
