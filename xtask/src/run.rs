//! `cargo xtask run [-- ARGS]`: setup, build, then replace this process with
//! `target/release/gslb run ARGS`, so Ctrl-C and SIGTERM reach the daemon
//! directly.

use std::{
    ffi::OsString, net::SocketAddr, os::unix::process::CommandExt as _, path::Path,
    process::Command,
};

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
    for line in hints(&shown, &opts.args) {
        println!("  {line}");
    }
    println!("Ctrl-C stops it.");
    println!();

    let mut daemon = Command::new(&gslb);
    daemon
        .current_dir(cmd::workspace_root())
        .arg("run")
        .args(&opts.args);
    // A development run cleans up after itself: Ctrl-C detaches the XDP
    // program instead of leaving it answering for the next daemon.
    if !opts.args.iter().any(|a| a == "--detach-on-exit") {
        daemon.arg("--detach-on-exit");
    }
    let line = cmd::display(&daemon);
    // exec only returns on failure.
    Err(daemon.exec()).with_context(|| format!("failed to exec `{line}`"))
}

/// The values of option `name` of `gslb run` in `args`, each occurrence
/// (`--name VALUE` or `--name=VALUE`).
fn option_values(args: &[OsString], name: &str) -> Vec<OsString> {
    let flag = format!("--{name}");
    let prefix = format!("--{name}=");
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let text = a.to_string_lossy();
        if text == flag {
            out.extend(it.next().cloned());
        } else if let Some(value) = text.strip_prefix(&prefix) {
            out.push(value.into());
        }
    }
    out
}

/// `[server] listen` of the config file at `path`, if it has one.
fn config_listen(path: &Path) -> Option<Vec<SocketAddr>> {
    let text = std::fs::read_to_string(path).ok()?;
    let doc: toml::Table = text.parse().ok()?;
    let list = doc.get("server")?.get("listen")?.as_array()?;
    Some(
        list.iter()
            .filter_map(|v| v.as_str()?.trim().parse().ok())
            .collect(),
    )
}

/// The lines that tell how to query the daemon `gslb run ARGS` starts:
/// its first listen address (`--listen`, else the config's
/// `[server] listen`, else the default 127.0.0.1:53) and the pin directory
/// and control socket it was given.
fn hints(shown: &str, args: &[OsString]) -> Vec<String> {
    let listen: Vec<SocketAddr> = option_values(args, "listen")
        .iter()
        .filter_map(|v| v.to_str()?.parse().ok())
        .collect();
    let listen = if listen.is_empty() {
        option_values(args, "config")
            .last()
            .and_then(|p| config_listen(Path::new(p)))
            .unwrap_or_default()
    } else {
        listen
    };
    let addr = listen
        .first()
        .copied()
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 53)));
    let ip = match addr.ip() {
        // A wildcard listens on every address; loopback is one of them.
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => "127.0.0.1".to_string(),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => "::1".to_string(),
        ip => ip.to_string(),
    };
    let port = if addr.port() == 53 {
        String::new()
    } else {
        format!(" -p {}", addr.port())
    };
    let with = |name: &str| {
        option_values(args, name)
            .last()
            .map(|v| format!(" --{name} {}", v.to_string_lossy()))
            .unwrap_or_default()
    };
    vec![
        format!("dig @{ip}{port} www.example.test A"),
        format!("dig @{ip}{port} example.test SOA"),
        format!("{shown} stats{}", with("pin-dir")),
        format!("{shown} status{}", with("control")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn hints_use_the_actual_listen_address() {
        let h = hints("gslb", &args(&[]));
        assert_eq!(h[0], "dig @127.0.0.1 www.example.test A");
        assert_eq!(h[2], "gslb stats");
        let h = hints("gslb", &args(&["--listen", "127.0.0.1:5353"]));
        assert_eq!(h[0], "dig @127.0.0.1 -p 5353 www.example.test A");
        assert_eq!(h[1], "dig @127.0.0.1 -p 5353 example.test SOA");
        let h = hints(
            "gslb",
            &args(&["--listen=[::1]:8053", "--listen", "127.0.0.1:8053"]),
        );
        assert_eq!(h[0], "dig @::1 -p 8053 www.example.test A");
        let h = hints(
            "gslb",
            &args(&["--listen", "0.0.0.0:53", "--pin-dir", "/sys/fs/bpf/x"]),
        );
        assert_eq!(h[0], "dig @127.0.0.1 www.example.test A");
        assert_eq!(h[2], "gslb stats --pin-dir /sys/fs/bpf/x");
        let h = hints("gslb", &args(&["--control=/tmp/c.sock"]));
        assert_eq!(h[3], "gslb status --control /tmp/c.sock");
    }

    #[test]
    fn hints_read_the_listen_address_of_the_config() {
        let path = std::env::temp_dir().join(format!("xtask-hints-{}.toml", std::process::id()));
        std::fs::write(&path, "[server]\nlisten = [\"198.18.0.1:5300\"]\n").unwrap();
        let h = hints("gslb", &args(&["--config", path.to_str().unwrap()]));
        let _ = std::fs::remove_file(&path);
        assert_eq!(h[0], "dig @198.18.0.1 -p 5300 www.example.test A");
        // --listen replaces the config's.
        let h = hints(
            "gslb",
            &args(&["--config", "/nonexistent.toml", "--listen", "127.0.0.2:53"]),
        );
        assert_eq!(h[0], "dig @127.0.0.2 www.example.test A");
    }
}
