//! Types and constants shared by the gslb XDP program (`gslb-ebpf`) and the
//! daemon (`gslb-user`). This crate is the single source of truth for every
//! map key, map value and counter index the two sides exchange.
//!
//! Every shared struct is `#[repr(C)]`, `Copy`, has no implicit padding and
//! has its size asserted at compile time, so the kernel and user views can
//! never drift apart.
#![no_std]

pub mod counters;
pub mod dns;
pub mod maps;
pub mod select;

pub use counters::Counter;
