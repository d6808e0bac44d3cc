//! Test support: packet builders for BPF_PROG_TEST_RUN tables, the
//! network-namespace harness, config builders, client prefixes and
//! MaxMind databases for the namespace tests.

pub mod chromium;
pub mod clients;
pub mod config;
pub mod harness;
pub mod http;
pub mod mmdb;
pub mod netns;
pub mod packet;
