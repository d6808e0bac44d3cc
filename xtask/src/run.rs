//! `cargo xtask run [-- ARGS]`: setup, build, then replace this process with
//! `target/release/gslb run ARGS`, so Ctrl-C and SIGTERM reach the daemon
//! directly.

use std::{ffi::OsString, os::unix::process::CommandExt as _, process::Command};

use anyhow::{Context as _, Result};

use crate::{build, cmd, setup};

/// Options of `cargo xtask run`.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// Build and run the release binary (the default).
    #[arg(long, conflicts_with = "debug")]
    release: bool,
    /// Build and run the debug binary instead.
    #[arg(long)]
    debug: bool,
    /// Arguments for `gslb run` (none: the embedded default config on lo,
    /// listening on `127.0.0.1:53` and `[::1]:53`).
    #[arg(last = true)]
    pub(crate) args: Vec<OsString>,
}

/// Entry point of `cargo xtask run`.
pub fn run(opts: &Options) -> Result<()> {
    setup::ensure(&[], false)?;
    let release = !opts.debug;
    build::build_bins(release)?;

    let profile = if release { "release" } else { "debug" };
    let gslb = cmd::target_dir().join(profile).join("gslb");
    let shown = gslb
        .strip_prefix(cmd::workspace_root())
        .unwrap_or(&gslb)
        .display()
        .to_string();
    println!();
    println!("Starting `{shown} run`. Query it with:");
    println!("  dig @127.0.0.1 www.example.test A");
    println!("  dig @127.0.0.1 -p 53 example.test SOA");
    println!("  gslb stats: {shown} stats");
    println!("Ctrl-C stops it.");
    println!();

    let mut daemon = Command::new(&gslb);
    daemon
        .current_dir(cmd::workspace_root())
        .arg("run")
        .args(&opts.args);
    let line = cmd::display(&daemon);
    // exec only returns on failure.
    Err(daemon.exec()).with_context(|| format!("failed to exec `{line}`"))
}
