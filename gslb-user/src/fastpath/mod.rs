//! The fast path from user space: everything that turns decisions into the
//! XDP program's maps, and loads, attaches and pins the program.

pub mod attached;
pub mod loader;
pub mod maps;
pub mod negative;
pub mod slots;
pub mod statics;
pub mod stats;
