//! `cargo xtask install [--prefix /usr/local] [--destdir D]`: builds the
//! release binary (the eBPF object embedded, as `cargo xtask build
//! --release` does) and installs it with the systemd unit, an example
//! config and the operations docs:
//!
//! | file | to |
//! |---|---|
//! | `target/release/gslb` | `PREFIX/bin/gslb` |
//! | `dist/gslb.service` | `PREFIX/lib/systemd/system/gslb.service` (paths rewritten for `PREFIX`) |
//! | `gslb-user/src/default.toml` | `/etc/gslb/gslb.toml`, unless one is there already |
//! | `docs/operations.md`, `docs/configuration.md` | `PREFIX/share/doc/gslb/` |
//!
//! `--destdir` stages everything under a directory (packaging), as
//! `make install DESTDIR=…` does; the paths inside the files stay the
//! final ones.

use std::{
    fs,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context as _, Result};

use crate::{cmd, setup};

/// Options of `cargo xtask install`.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// Installation prefix: the binary goes to PREFIX/bin, the unit to
    /// PREFIX/lib/systemd/system.
    #[arg(long, default_value = "/usr/local")]
    prefix: PathBuf,
    /// Stage the files under this directory instead of the root.
    #[arg(long)]
    destdir: Option<PathBuf>,
    /// Install target/release/gslb as it is, without building it.
    #[arg(long)]
    no_build: bool,
}

/// The unit file in the repository.
const UNIT: &str = "dist/gslb.service";
/// The prefix the unit's paths are written for.
const UNIT_PREFIX: &str = "/usr/local";
/// The example config.
const EXAMPLE_CONFIG: &str = "gslb-user/src/default.toml";
/// Where the unit runs the config from.
const CONFIG: &str = "/etc/gslb/gslb.toml";
/// The docs installed beside the binary (the unit's `Documentation=`).
const DOCS: [&str; 2] = ["docs/operations.md", "docs/configuration.md"];

/// Entry point of `cargo xtask install`.
pub fn install(opts: &Options) -> Result<()> {
    if !opts.prefix.is_absolute() {
        bail!("--prefix {} is not an absolute path", opts.prefix.display());
    }
    if !opts.no_build {
        setup::ensure(&[], false)?;
        let mut cargo = cmd::cargo();
        cargo.args(["build", "--release", "-p", "gslb-user", "--bin", "gslb"]);
        cmd::run(&mut cargo)?;
    }
    let binary = cmd::target_dir().join("release").join("gslb");
    if !binary.is_file() {
        bail!(
            "{} is missing: build it first (`cargo xtask build --release`) or drop --no-build",
            binary.display()
        );
    }
    let root = opts.destdir.clone().unwrap_or_else(|| PathBuf::from("/"));
    let done = install_files(cmd::workspace_root(), &binary, &opts.prefix, &root)?;
    for line in &done {
        println!("{line}");
    }
    if opts.destdir.is_none() {
        println!();
        println!("Next: edit {CONFIG}, check it with `gslb check {CONFIG}`, then");
        println!("  systemctl daemon-reload && systemctl enable --now gslb");
        println!(
            "Stopping the service leaves the XDP program answering; `gslb detach` removes it."
        );
    }
    Ok(())
}

/// `path` (absolute) under `root`.
fn under(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

/// Copies `from` to `to` with `mode`, creating the parent directories.
fn put(from: &[u8], to: &Path, mode: u32) -> Result<()> {
    let dir = to.parent().context("a file path has a parent")?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // Through a temporary name: a running binary is replaced, not
    // rewritten in place (ETXTBSY).
    let tmp = to.with_extension("xtask-new");
    fs::write(&tmp, from).with_context(|| format!("writing {}", tmp.display()))?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", tmp.display()))?;
    fs::rename(&tmp, to).with_context(|| format!("installing {}", to.display()))?;
    Ok(())
}

/// The unit text with its paths moved from `/usr/local` to `prefix`.
pub fn unit_for(text: &str, prefix: &Path) -> String {
    let prefix = prefix.to_string_lossy();
    let prefix = prefix.trim_end_matches('/');
    text.replace(&format!("{UNIT_PREFIX}/"), &format!("{prefix}/"))
}

/// Installs the files of the workspace at `workspace` (`binary` as the
/// daemon) for `prefix` under `root`; one line per file saying what was
/// done.
pub fn install_files(
    workspace: &Path,
    binary: &Path,
    prefix: &Path,
    root: &Path,
) -> Result<Vec<String>> {
    let mut done = Vec::new();
    let read = |rel: &str| fs::read(workspace.join(rel)).with_context(|| format!("reading {rel}"));

    let bin = under(root, &prefix.join("bin/gslb"));
    let bytes = fs::read(binary).with_context(|| format!("reading {}", binary.display()))?;
    put(&bytes, &bin, 0o755)?;
    done.push(format!("installed {}", bin.display()));

    let unit_text = String::from_utf8(read(UNIT)?).context("the unit is not UTF-8")?;
    let unit = under(root, &prefix.join("lib/systemd/system/gslb.service"));
    put(unit_for(&unit_text, prefix).as_bytes(), &unit, 0o644)?;
    done.push(format!("installed {}", unit.display()));

    let config = under(root, Path::new(CONFIG));
    if config.exists() {
        done.push(format!("kept {} (not overwritten)", config.display()));
    } else {
        put(&read(EXAMPLE_CONFIG)?, &config, 0o644)?;
        done.push(format!(
            "installed {} (the example config)",
            config.display()
        ));
    }

    for doc in DOCS {
        let name = Path::new(doc).file_name().context("a doc has a name")?;
        let to = under(root, &prefix.join("share/doc/gslb").join(name));
        put(&read(doc)?, &to, 0o644)?;
        done.push(format!("installed {}", to.display()));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch directory removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str) -> Scratch {
            let p =
                std::env::temp_dir().join(format!("xtask-install-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(&p).unwrap();
            Scratch(p)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn unit_text() -> String {
        fs::read_to_string(cmd::workspace_root().join(UNIT)).unwrap()
    }

    /// `KEY=VALUE` lines of the unit, comments and sections left out.
    fn directives(text: &str) -> Vec<(String, String)> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('['))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect()
    }

    fn value<'a>(d: &'a [(String, String)], key: &str) -> &'a str {
        d.iter()
            .find(|(k, _)| k == key)
            .map_or_else(|| panic!("no {key}= in the unit"), |(_, v)| v.as_str())
    }

    #[test]
    fn the_unit_has_what_the_daemon_needs() {
        let d = directives(&unit_text());
        assert_eq!(value(&d, "Type"), "notify");
        assert_eq!(
            value(&d, "ExecStart"),
            "/usr/local/bin/gslb run --config /etc/gslb/gslb.toml"
        );
        assert_eq!(value(&d, "ExecReload"), "/bin/kill -HUP $MAINPID");
        assert_eq!(value(&d, "Restart"), "on-failure");
        // Stopping leaves the fast path pinned: nothing detaches it.
        assert!(!d
            .iter()
            .any(|(k, v)| k.starts_with("ExecStop") && v.contains("detach")));
        let bounding: Vec<&str> = value(&d, "CapabilityBoundingSet").split(' ').collect();
        assert_eq!(
            bounding,
            [
                "CAP_BPF",
                "CAP_PERFMON",
                "CAP_NET_ADMIN",
                "CAP_NET_BIND_SERVICE",
                "CAP_NET_RAW"
            ]
        );
        assert_eq!(value(&d, "AmbientCapabilities"), "");
        assert_eq!(value(&d, "ProtectSystem"), "strict");
        assert_eq!(value(&d, "ReadWritePaths"), "/sys/fs/bpf");
        // /sys must stay writable for the pins.
        assert!(!d
            .iter()
            .any(|(k, v)| k == "ProtectKernelTunables" && v == "yes"));
        assert_eq!(value(&d, "RuntimeDirectory"), "gslb");
        assert_eq!(value(&d, "StateDirectory"), "gslb");
    }

    /// `systemd-analyze verify` on the unit as installed, its binary
    /// replaced by one that exists (verify checks that it does).
    #[test]
    fn systemd_analyze_verifies_the_unit() {
        let Some(analyze) = cmd::which("systemd-analyze") else {
            // Not a systemd machine: the directives test above stands.
            eprintln!("systemd-analyze not found: unit not verified");
            return;
        };
        let dir = Scratch::new("verify");
        let text = unit_text().replace("/usr/local/bin/gslb", "/bin/true");
        let unit = dir.0.join("gslb.service");
        fs::write(&unit, text).unwrap();
        let out = std::process::Command::new(analyze)
            .arg("verify")
            .arg(&unit)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "systemd-analyze verify failed:\n{stderr}"
        );
        assert!(
            !stderr.contains("gslb.service"),
            "systemd-analyze verify warns:\n{stderr}"
        );
    }

    #[test]
    fn installs_under_destdir_and_keeps_an_existing_config() {
        let dir = Scratch::new("destdir");
        let binary = dir.0.join("fake-gslb");
        fs::write(&binary, b"#!/bin/sh\n").unwrap();
        let root = dir.0.join("stage");
        let done = install_files(cmd::workspace_root(), &binary, Path::new("/usr"), &root).unwrap();
        assert_eq!(done.len(), 5, "{done:?}");
        let bin = root.join("usr/bin/gslb");
        assert_eq!(fs::read(&bin).unwrap(), b"#!/bin/sh\n");
        assert_eq!(
            fs::metadata(&bin).unwrap().permissions().mode() & 0o777,
            0o755
        );
        let unit = fs::read_to_string(root.join("usr/lib/systemd/system/gslb.service")).unwrap();
        assert!(unit.contains("ExecStart=/usr/bin/gslb run --config /etc/gslb/gslb.toml"));
        assert!(!unit.contains("/usr/local/"), "{unit}");
        let config = root.join("etc/gslb/gslb.toml");
        let example = fs::read_to_string(cmd::workspace_root().join(EXAMPLE_CONFIG)).unwrap();
        assert_eq!(fs::read_to_string(&config).unwrap(), example);
        assert!(root.join("usr/share/doc/gslb/operations.md").is_file());

        // A second install keeps the operator's config.
        fs::write(&config, "# mine\n").unwrap();
        let done = install_files(cmd::workspace_root(), &binary, Path::new("/usr"), &root).unwrap();
        assert!(done.iter().any(|l| l.starts_with("kept")), "{done:?}");
        assert_eq!(fs::read_to_string(&config).unwrap(), "# mine\n");
    }

    #[test]
    fn the_unit_follows_the_prefix() {
        let text = "ExecStart=/usr/local/bin/gslb run\nDocumentation=file:/usr/local/share/doc/x\n";
        assert_eq!(
            unit_for(text, Path::new("/opt/gslb/")),
            "ExecStart=/opt/gslb/bin/gslb run\nDocumentation=file:/opt/gslb/share/doc/x\n"
        );
    }
}
