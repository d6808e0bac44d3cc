//! The fast path from user space: everything that turns decisions into the
//! XDP program's maps, and loads, attaches and pins the program.

pub mod attached;
pub mod clients;
pub mod ecs;
mod error;
pub mod loader;
pub mod maps;
pub(crate) mod negative;
pub mod pins;
pub(crate) mod slots;
pub(crate) mod statics;
pub mod stats;

pub use self::error::MapsError;
