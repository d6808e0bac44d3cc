//! `cargo xtask build [--release]`: setup, then the workspace's host
//! binaries (the daemon's build script compiles and embeds the eBPF object).

use anyhow::Result;

use crate::{cmd, setup};

/// Options of `cargo xtask build`.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// Build with the release profile.
    #[arg(long)]
    release: bool,
}

/// Entry point of `cargo xtask build`.
pub fn build(opts: &Options) -> Result<()> {
    setup::ensure(&[], false)?;
    build_bins(opts.release)
}

/// `cargo build [--release] --workspace --exclude gslb-ebpf --bins`.
pub fn build_bins(release: bool) -> Result<()> {
    let mut cargo = cmd::cargo();
    cargo
        .arg("build")
        .args(cmd::host_workspace_args())
        .arg("--bins");
    if release {
        cargo.arg("--release");
    }
    cmd::run(&mut cargo)
}
