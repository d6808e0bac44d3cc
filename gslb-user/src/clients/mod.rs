//! Client groups: who is asking, as far as the answers care.
//!
//! A client's [`Profile`] is everything any rule can see of it: the
//! `[[topology]]` rules whose client side matches it (in precedence
//! order) and, when some pool uses `geo_proximity`, the ranking of the
//! datacenters by biased distance from its location. Clients with equal
//! profiles get equal answers from every name, so there is one client
//! group ([`GroupId`]) per distinct profile; ids come from a registry
//! keyed by the profile, stable across rebuilds while the profile exists.
//! Group 0 ([`GroupId::DEFAULT`]) is the profile "no rule matches, no
//! location".
//!
//! [`ClientMap`] is the partition of the address space into disjoint
//! prefixes, each with its group: the content of the kernel's
//! `CLIENT_GROUPS` trie (written by `fastpath::clients`) and the slow
//! path's lookup. The prefix a client falls in is the ECS scope.
//!
//! Modules: `partition` (flattening prefix sources into disjoint
//! prefixes), `geo` (the MMDB databases, distances), `profile` (profiles
//! and topology scoring), `map` (building and querying the
//! [`ClientMap`]).

mod geo;
mod map;
pub mod partition;
mod profile;
#[cfg(test)]
mod tests;

pub use geo::{biased, distance_km, GeoData};
pub use map::{ClientEntry, ClientExplain, ClientMap, MatchedRule};
pub use profile::Profile;

pub use crate::state::ids::GroupId;

/// Why the client data could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientsError {
    /// A region's prefix file.
    #[error("region `{region}`: {message}")]
    Region {
        /// The region's name.
        region: String,
        /// `FILE:LINE: what is wrong`, or why it cannot be read.
        message: String,
    },
    /// A geo database (open or read).
    #[error("geo database: {0}")]
    Geo(String),
    /// More distinct client profiles than group ids.
    #[error("client groups: {0}")]
    Exhausted(#[from] crate::state::ids::Exhausted),
}
