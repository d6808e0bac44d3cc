//! Test support: packet builders for BPF_PROG_TEST_RUN tables and the
//! network-namespace harness.

pub mod clients;
pub mod config;
pub mod harness;
pub mod http;
pub mod mmdb;
pub mod netns;
pub mod packet;
