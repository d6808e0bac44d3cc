//! The run-time state both paths answer from: the zones and gslb names
//! ([`model`]) and what each name answers now ([`decision`]).

pub mod decision;
pub mod model;
