//! The network-namespace testbed shared by the integration tests
//! (`gslb-tests`) and the bench (`xtask bench`): bounded command runs
//! ([`cmd`]), namespaces with unique, pid-tagged names that are removed on
//! drop and, when their process died, by the next run ([`ns`]), veth pairs
//! and their addresses ([`link`]), and the pass-through XDP program on the
//! client end of a pair ([`XdpPass`]).
//!
//! Programs that must see the host's bpffs pins run with
//! `nsenter --net=/run/netns/NAME` ([`ns::nsenter`]), not `ip netns exec`:
//! the latter remounts /sys in a private mount namespace, which hides
//! /sys/fs/bpf (and shows the namespace's own /sys/class/net, which is what
//! [`ns::netns_exec`] is for).

pub mod cmd;
pub mod link;
pub mod ns;
mod xdp_pass;

pub use xdp_pass::XdpPass;

/// What a testbed step can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A command could not be started.
    #[error("cannot start `{cmdline}`: {source}")]
    Start {
        /// The command line.
        cmdline: String,
        /// Why.
        source: std::io::Error,
    },
    /// A command exited non-zero or ran too long.
    #[error("{0}")]
    Failed(Box<cmd::CmdOutput>),
    /// Anything else (a file, a missing line in a log), with what was done.
    #[error("{0}")]
    Other(String),
}

/// Result of a testbed step.
pub type Result<T> = std::result::Result<T, Error>;
