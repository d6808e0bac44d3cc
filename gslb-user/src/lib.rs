//! The gslb daemon library, one module per role: `config` (TOML,
//! validation, diagnostics), `clients` (client groups: topology, geo),
//! `state` (what both paths answer from),
//! `engine` (selection), `health` (monitors), `fastpath` (the XDP program
//! and its maps), `dns` (the slow path) and `api` (the control socket).
//! The `gslb` binary's `daemon` module wires them together.

#[macro_use]
mod names;

pub mod api;
pub mod clients;
pub mod config;
pub mod dns;
pub mod engine;
pub mod fastpath;
pub mod health;
pub mod state;
