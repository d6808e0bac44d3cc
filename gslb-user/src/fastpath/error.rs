//! Why taking, writing or reading the XDP program's maps failed.

use std::path::PathBuf;

/// An error of the fast path's maps.
#[derive(Debug, thiserror::Error)]
pub enum MapsError {
    /// The loaded object lacks a map the writer needs.
    #[error("map {0} missing from the XDP object")]
    Missing(String),
    /// `NAME_SLOTS` is not an array map.
    #[error("NAME_SLOTS is not an array map")]
    SlotsNotArray,
    /// `NAME_SLOTS` has a size the slot hash cannot mask.
    #[error("NAME_SLOTS size {0} is not a power of two")]
    SlotsSize(u32),
    /// `mmap` of `NAME_SLOTS` failed.
    #[error("mapping NAME_SLOTS: {0}")]
    SlotsMmap(std::io::Error),
    /// A wire name longer than DNS allows.
    #[error("name longer than 255 bytes")]
    NameTooLong,
    /// `gslb stats` found no pinned counters.
    #[error(
        "no pinned counters at {}: {error} (is `gslb run` running with this --pin-dir?)",
        path.display()
    )]
    NotPinned {
        /// Where it looked.
        path: PathBuf,
        /// What opening the pin said.
        error: aya::maps::MapError,
    },
    /// A map operation failed.
    #[error(transparent)]
    Map(#[from] aya::maps::MapError),
}
