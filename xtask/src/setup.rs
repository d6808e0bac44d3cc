//! `cargo xtask setup`: bootstraps a fresh Debian machine (as root) for
//! building and testing. Every step checks first, so a second run only
//! checks; each step prints one line saying `present` or `installed`.

use std::{
    env, fs,
    os::unix::fs::symlink,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context as _, Result};

use crate::cmd;

/// The bpf-linker release we build against nightly's libLLVM.
const BPF_LINKER_VERSION: &str = "0.13.0";

/// Debian packages every verb needs: DNS clients (`dig`; `kdig`,
/// `kxdpgun`), interface and XDP tools, packet capture, `dnsperf`, and
/// `unbound` (the resolver sending EDNS Client Subnet in the ECS tests),
/// `nsd` (the reference server of the zone file differential test) and
/// `python3-pip` (for [`PIP_PACKAGES`]).
/// Verbs that need more pass them to [`ensure`] as `extra_packages`.
pub const APT_PACKAGES: &[&str] = &[
    "dnsutils",
    "knot-dnsutils",
    "iproute2",
    "ethtool",
    "bpftool",
    "tcpdump",
    "dnsperf",
    "unbound",
    "nsd",
    "python3-pip",
];

/// Python packages the tests and the bench import from `python3`, as
/// (package, module): `mmdb-writer` writes the MMDB geo databases the
/// geo tests use; `maxminddb-geolite2` ships the 2018 `GeoLite2-City`
/// database (the real-scale client data of the bench).
pub const PIP_PACKAGES: &[(&str, &str)] = &[
    ("mmdb-writer", "mmdb_writer"),
    ("maxminddb-geolite2", "geolite2"),
];

/// Options of `cargo xtask setup`.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// Rebuild and reinstall bpf-linker even when a working one is present
    /// (honours `CARGO_INSTALL_ROOT`).
    #[arg(long)]
    reinstall_bpf_linker: bool,
}

/// Entry point of `cargo xtask setup`.
pub fn setup(opts: &Options) -> Result<()> {
    ensure(&[], opts.reinstall_bpf_linker)
}

/// Makes sure the toolchain pieces and Debian packages (`APT_PACKAGES` plus
/// `extra_packages`) are installed.
pub fn ensure(extra_packages: &[&str], reinstall_bpf_linker: bool) -> Result<()> {
    ensure_rust_src()?;
    ensure_bpf_linker(reinstall_bpf_linker)?;
    let mut packages = APT_PACKAGES.to_vec();
    packages.extend(extra_packages.iter().filter(|p| !APT_PACKAGES.contains(p)));
    ensure_apt_packages(&packages)?;
    ensure_pip_packages()
}

/// `rustc +nightly --print sysroot`.
fn nightly_sysroot() -> Result<PathBuf> {
    let out = cmd::output(Command::new("rustc").args(["+nightly", "--print", "sysroot"]))?;
    Ok(PathBuf::from(out.trim()))
}

/// Step 1: the nightly toolchain (normally preinstalled) and its `rust-src`
/// component, which `-Z build-std` needs for the BPF target.
fn ensure_rust_src() -> Result<()> {
    let toolchains = cmd::output(Command::new("rustup").args(["toolchain", "list"]))?;
    if !toolchains.lines().any(|l| l.starts_with("nightly")) {
        cmd::run(Command::new("rustup").args([
            "toolchain",
            "install",
            "nightly",
            "--profile",
            "minimal",
        ]))
        .context("the nightly toolchain is missing and could not be installed")?;
        println!("setup: nightly toolchain: installed");
    }

    let src = nightly_sysroot()?.join("lib/rustlib/src/rust/library");
    if src.is_dir() {
        println!("setup: nightly rust-src: present");
        return Ok(());
    }
    cmd::run(Command::new("rustup").args([
        "component",
        "add",
        "rust-src",
        "--toolchain",
        "nightly",
    ]))?;
    if !src.is_dir() {
        bail!("rust-src was added but {} does not exist", src.display());
    }
    println!("setup: nightly rust-src: installed");
    Ok(())
}

/// Cargo's home: `$CARGO_HOME`, else `~/.cargo`.
fn cargo_home() -> Result<PathBuf> {
    if let Some(dir) = env::var_os("CARGO_HOME") {
        return Ok(PathBuf::from(dir));
    }
    Ok(home()?.join(".cargo"))
}

fn home() -> Result<PathBuf> {
    env::var_os("HOME")
        .map(PathBuf::from)
        .context("HOME is not set")
}

/// Where `cargo install` puts binaries: `$CARGO_INSTALL_ROOT/bin`, else
/// `$CARGO_HOME/bin`.
fn install_bin_dir() -> Result<PathBuf> {
    match env::var_os("CARGO_INSTALL_ROOT") {
        Some(root) => Ok(PathBuf::from(root).join("bin")),
        None => Ok(cargo_home()?.join("bin")),
    }
}

/// The `libLLVM.so.*` file (its soname) in nightly's `lib/`, and the LLVM
/// major version rustc reports (`LLVM version: 22.1.4` → `22`).
fn nightly_llvm() -> Result<(PathBuf, String)> {
    let lib = nightly_sysroot()?.join("lib");
    let mut found = Vec::new();
    for entry in fs::read_dir(&lib).with_context(|| format!("failed to list {}", lib.display()))? {
        let entry = entry.with_context(|| format!("failed to list {}", lib.display()))?;
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with("libLLVM.so.")
        {
            found.push(entry.path());
        }
    }
    let soname_file = match found.as_slice() {
        [one] => one.clone(),
        [] => bail!("no libLLVM.so.* in {}", lib.display()),
        many => bail!("several libLLVM.so.* in {}: {many:?}", lib.display()),
    };

    let vv = cmd::output(Command::new("rustc").args(["+nightly", "-vV"]))?;
    let major = vv
        .lines()
        .find_map(|l| l.strip_prefix("LLVM version:"))
        .and_then(|v| v.trim().split('.').next())
        .filter(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()))
        .with_context(|| format!("no `LLVM version: N.x` line in `rustc +nightly -vV`:\n{vv}"))?
        .to_owned();
    Ok((soname_file, major))
}

/// Why an installed bpf-linker will not do, or `None` when it will.
fn bpf_linker_problem(path: &Path, nightly_soname: &str) -> Option<String> {
    let version = match cmd::output(Command::new(path).arg("--version")) {
        Ok(v) => v.trim().to_owned(),
        Err(e) => return Some(format!("{e:#}")),
    };
    if version.split_whitespace().nth(1) != Some(BPF_LINKER_VERSION) {
        return Some(format!("found `{version}`, want {BPF_LINKER_VERSION}"));
    }
    // A dynamically linked bpf-linker must load the same libLLVM as
    // nightly rustc, or it cannot read the bitcode rustc emits. (A static
    // build shows no libLLVM here and is taken as is.)
    if let Ok(ldd) = cmd::output(Command::new("ldd").arg(path)) {
        let linked = ldd
            .split_whitespace()
            .find(|word| word.starts_with("libLLVM"));
        if let Some(linked) = linked {
            if linked != nightly_soname {
                return Some(format!(
                    "it loads {linked}, nightly rustc uses {nightly_soname}"
                ));
            }
        }
    }
    None
}

/// Step 2: bpf-linker, linked against nightly rustc's own libLLVM so that
/// it reads the bitcode rustc emits for the BPF target.
fn ensure_bpf_linker(reinstall: bool) -> Result<()> {
    let (soname_file, major) = nightly_llvm()?;
    let soname = soname_file
        .file_name()
        .context("libLLVM path has no file name")?
        .to_string_lossy()
        .into_owned();

    let existing = cmd::which("bpf-linker").or_else(|| {
        let p = cargo_home().ok()?.join("bin/bpf-linker");
        p.is_file().then_some(p)
    });
    let reason = match &existing {
        _ if reinstall => "--reinstall-bpf-linker".to_owned(),
        None => "not found".to_owned(),
        Some(path) => match bpf_linker_problem(path, &soname) {
            None => {
                println!(
                    "setup: bpf-linker {BPF_LINKER_VERSION} (LLVM {major}): present ({})",
                    path.display()
                );
                return Ok(());
            }
            Some(problem) => format!("{}: {problem}", path.display()),
        },
    };
    println!("setup: bpf-linker: installing {BPF_LINKER_VERSION} for LLVM {major} ({reason})");

    // A prefix whose lib/ holds libLLVM.so (for the link) and the soname
    // (for bpf-linker's rpath at run time), both pointing at nightly's
    // libLLVM. It must outlive the install: the binary loads through it.
    let prefix = home()?.join(".local/share/gslb/llvm");
    let lib = prefix.join("lib");
    fs::create_dir_all(&lib).with_context(|| format!("failed to create {}", lib.display()))?;
    for entry in fs::read_dir(&lib).with_context(|| format!("failed to list {}", lib.display()))? {
        let path = entry
            .with_context(|| format!("failed to list {}", lib.display()))?
            .path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("libLLVM"))
        {
            fs::remove_file(&path)
                .with_context(|| format!("failed to remove stale {}", path.display()))?;
        }
    }
    for name in ["libLLVM.so", soname.as_str()] {
        let link = lib.join(name);
        symlink(&soname_file, &link).with_context(|| {
            format!(
                "failed to link {} -> {}",
                link.display(),
                soname_file.display()
            )
        })?;
    }

    let features = format!("llvm-{major}");
    let mut install = cmd::cargo();
    install
        // Outside the workspace, so its .cargo/config.toml plays no part.
        .current_dir(&prefix)
        .env("LLVM_PREFIX", &prefix)
        .args([
            "install",
            "bpf-linker",
            "--version",
            BPF_LINKER_VERSION,
            "--locked",
        ])
        .args(["--no-default-features", "--features", &features, "--force"]);
    cmd::run(&mut install)?;

    let installed = install_bin_dir()?.join("bpf-linker");
    if let Some(problem) = bpf_linker_problem(&installed, &soname) {
        bail!(
            "bpf-linker was installed but does not work: {}: {problem}",
            installed.display()
        );
    }
    if cmd::which("bpf-linker").as_deref() != Some(installed.as_path()) {
        println!(
            "setup: note: `bpf-linker` on PATH is not {}; put {} first on PATH",
            installed.display(),
            installed.parent().unwrap_or(Path::new(".")).display()
        );
    }
    println!(
        "setup: bpf-linker {BPF_LINKER_VERSION} (LLVM {major}): installed ({})",
        installed.display()
    );
    Ok(())
}

/// Whether dpkg reports `pkg` as installed.
fn dpkg_installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .output()
        .is_ok_and(|out| out.status.success() && out.stdout == b"install ok installed")
}

/// Whether `python3` (the one on `PATH`, as the tests run it) imports
/// `module`.
fn python_has(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Step 4: Python packages for `python3`, installed only when missing
/// (with `--break-system-packages` when the interpreter is Debian's,
/// which refuses pip installs without it).
fn ensure_pip_packages() -> Result<()> {
    let missing: Vec<&str> = PIP_PACKAGES
        .iter()
        .filter(|(_, module)| !python_has(module))
        .map(|(pkg, _)| *pkg)
        .collect();
    let names: Vec<&str> = PIP_PACKAGES.iter().map(|(p, _)| *p).collect();
    if missing.is_empty() {
        println!("setup: PyPI packages: present ({})", names.join(" "));
        return Ok(());
    }
    let pip = |extra: &[&str]| {
        Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--root-user-action=ignore",
            ])
            .args(extra)
            .args(&missing)
            .status()
            .is_ok_and(|s| s.success())
    };
    if !pip(&[]) && !pip(&["--break-system-packages"]) {
        bail!("python3 -m pip install {} failed", missing.join(" "));
    }
    println!("setup: PyPI packages: installed {}", missing.join(" "));
    Ok(())
}

/// Step 3: Debian packages, installed only when missing.
fn ensure_apt_packages(packages: &[&str]) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| !dpkg_installed(p))
        .collect();
    if missing.is_empty() {
        println!("setup: Debian packages: present ({})", packages.join(" "));
        return Ok(());
    }
    cmd::run(Command::new("apt-get").arg("update")).context("apt-get needs root")?;
    cmd::run(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "--no-install-recommends"])
            .args(&missing),
    )?;
    println!("setup: Debian packages: installed {}", missing.join(" "));
    Ok(())
}
