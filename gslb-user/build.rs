//! Builds the XDP program (`gslb-ebpf`) with the nightly toolchain and
//! bpf-linker, and leaves the object in `OUT_DIR/gslb.bpf.o` for
//! `include_bytes_aligned!`. `cargo xtask setup` installs what this needs.

use std::{env, fs, path::PathBuf, process::Command};

use anyhow::{bail, Context as _, Result};

fn main() -> Result<()> {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let root = manifest.parent().context("workspace root")?.to_path_buf();
    for dir in ["gslb-ebpf/src", "gslb-common/src"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    for file in ["gslb-ebpf/Cargo.toml", "gslb-ebpf/.cargo/config.toml"] {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }
    // A separate target dir: the outer cargo holds the lock on `target/`.
    let target_dir = root.join("target/bpf");
    let mut cmd = Command::new("cargo");
    cmd.current_dir(root.join("gslb-ebpf"))
        .args([
            "+nightly",
            "build",
            "--release",
            "--target",
            "bpfel-unknown-none",
        ])
        .args(["-Z", "build-std=core", "--target-dir"])
        .arg(&target_dir);
    // The outer build's settings must not leak into the BPF build.
    for (key, _) in env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("CARGO_") && key != "CARGO_HOME"
            || key.starts_with("RUSTC")
            || key == "RUSTFLAGS"
            || key == "RUSTUP_TOOLCHAIN"
        {
            cmd.env_remove(&key);
        }
    }
    let status = cmd
        .status()
        .context("running `cargo +nightly build` for gslb-ebpf (run `cargo xtask setup`)")?;
    if !status.success() {
        bail!("building gslb-ebpf failed ({status}); `cargo xtask setup` installs nightly rust-src and bpf-linker");
    }
    let obj = target_dir.join("bpfel-unknown-none/release/gslb");
    let out = PathBuf::from(env::var("OUT_DIR")?).join("gslb.bpf.o");
    fs::copy(&obj, &out).with_context(|| format!("copying {}", obj.display()))?;
    Ok(())
}
