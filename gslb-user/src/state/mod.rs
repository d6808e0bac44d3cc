//! The run-time state both paths answer from: the zones and gslb names
//! ([`model`]), what each name answers now ([`decision`]), and the typed
//! ids that name the configured objects across config changes ([`ids`]),
//! and the persistence records with a TTL ([`persist`]).

pub mod counts;
pub mod decision;
pub mod ids;
pub mod model;
pub mod persist;
