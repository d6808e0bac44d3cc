//! `cargo xtask bench`: not implemented yet (issue 3).

use anyhow::Result;

/// Options of `cargo xtask bench`.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// Arguments for the benchmark (ignored for now).
    #[arg(last = true)]
    args: Vec<std::ffi::OsString>,
}

/// Entry point of `cargo xtask bench`: exits 2 until issue 3 lands.
#[allow(
    clippy::unnecessary_wraps,
    reason = "same signature as the other verbs"
)]
pub fn bench(_opts: &Options) -> Result<()> {
    eprintln!("cargo xtask bench: not implemented yet (issue 3)");
    std::process::exit(2);
}
