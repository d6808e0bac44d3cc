//! The `gslb` command line as an operator uses it: `--version`, `check`
//! (positional file, warnings, errors naming the key), and a slow-path-only
//! daemon (`run --no-xdp` on an ephemeral loopback port, its own control
//! socket) driven by `server`, `status` and SIGTERM. Every command is
//! bounded in time.

use std::{
    fs,
    io::Read as _,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    thread,
    time::{Duration, Instant},
};

const BIN: &str = env!("CARGO_BIN_EXE_gslb");
const TIMEOUT: Duration = Duration::from_secs(20);

/// A scratch directory of this test, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("gslb-cli-{}-{test}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs `gslb ARGS`, killed after [`TIMEOUT`].
fn gslb(args: &[&str]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + TIMEOUT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "`gslb {}` did not finish within {TIMEOUT:?}",
                args.join(" ")
            );
        }
        thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A config with a gslb name on a round-robin pool of one server, and a
/// spare server that no pool uses.
const POOL_CONFIG: &str = r#"[[zone]]
name = "example.test"
ns = ["ns1"]
[[zone.record]]
name = "ns1"
type = "A"
data = "198.18.0.53"

[[datacenter]]
name = "dc"
lat = 0.0
lon = 0.0

[[vserver]]
name = "s1"
address = "198.18.7.1"
datacenter = "dc"

[[vserver]]
name = "spare"
address = "198.18.7.2"
datacenter = "dc"

[[pool]]
name = "p"
members = ["s1"]
preferred = "round_robin"
fallback = "return_to_dns"

[[gslb]]
name = "www.example.test"
pools = ["p"]
"#;

#[test]
fn version_names_the_command() {
    let out = gslb(&["--version"]);
    assert!(out.status.success());
    let v = text(&out.stdout);
    assert!(v.starts_with("gslb "), "{v}");
}

#[test]
fn check_takes_the_file_as_argument_or_option() {
    let dir = Scratch::new("check-file");
    let cfg = dir.file("ok.toml", POOL_CONFIG);
    let path = cfg.to_str().unwrap();
    for args in [
        &["check", path][..],
        &["check", "--config", path],
        &["check", "-c", path],
    ] {
        let out = gslb(args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), format!("{path}: ok\n"));
    }
    assert!(!gslb(&["check"]).status.success());
    assert!(!gslb(&["check", path, "--config", path]).status.success());
}

#[test]
fn check_warns_about_empty_configs_and_unused_entries() {
    let dir = Scratch::new("check-warn");
    let empty = dir.file("empty.toml", "");
    let out = gslb(&["check", empty.to_str().unwrap()]);
    assert!(out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("warning: {}:1:1: no [[zone]]", empty.display())),
        "{err}"
    );
    let cfg = dir.file("pool.toml", POOL_CONFIG);
    let out = gslb(&["check", cfg.to_str().unwrap()]);
    assert!(out.status.success());
    let line = POOL_CONFIG
        .lines()
        .position(|l| l == "name = \"spare\"")
        .unwrap()
        + 1;
    let err = text(&out.stderr);
    assert_eq!(
        err,
        format!(
            "warning: {}:{line}:8: vserver `spare` is not used: no [[pool]] lists it in `members`\n",
            cfg.display()
        )
    );
}

#[test]
fn check_errors_name_the_key() {
    let dir = Scratch::new("check-key");
    let cfg = dir.file(
        "bad.toml",
        &POOL_CONFIG.replace(
            "datacenter = \"dc\"\n\n[[vserver]]",
            "datacenter = \"dc\"\nratio = \"two\"\n\n[[vserver]]",
        ),
    );
    let out = gslb(&["check", cfg.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("`vserver[0].ratio`: invalid type: string \"two\", expected i64"),
        "{err}"
    );
    // Every syntax error, each with its position.
    let cfg = dir.file(
        "syntax.toml",
        "[server]\nlisten = \n[[zone]]\nname = = \"x\"\n",
    );
    let out = gslb(&["check", cfg.to_str().unwrap()]);
    let err = text(&out.stderr);
    let p = cfg.display();
    assert!(
        err.contains(&format!("{p}:2:")) && err.contains(&format!("{p}:4:")),
        "{err}"
    );
}

/// `gslb run --no-xdp` on 127.0.0.1:0 with its own control socket; killed
/// on drop.
struct Daemon {
    child: Child,
    log: PathBuf,
    control: PathBuf,
}

impl Daemon {
    fn start(dir: &Scratch, config: &Path) -> Daemon {
        let log = dir.0.join("daemon.log");
        let control = dir.0.join("control.sock");
        let file = fs::File::create(&log).unwrap();
        let child = Command::new(BIN)
            .args(["run", "--no-xdp", "--listen", "127.0.0.1:0", "--config"])
            .arg(config)
            .arg("--control")
            .arg(&control)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        let mut d = Daemon {
            child,
            log,
            control,
        };
        d.wait_log("gslb ready");
        d
    }

    fn log_text(&self) -> String {
        let mut s = String::new();
        let _ = fs::File::open(&self.log).and_then(|mut f| f.read_to_string(&mut s));
        s
    }

    fn wait_log(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let log = self.log_text();
            if log.contains(needle) {
                return log;
            }
            if let Some(st) = self.child.try_wait().unwrap() {
                panic!("the daemon exited with {st} before {needle:?}:\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in the log:\n{log}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn ctl(&self, args: &[&str]) -> Output {
        let mut all = args.to_vec();
        all.extend(["--control", self.control.to_str().unwrap()]);
        gslb(&all)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_slow_path_daemon_is_managed_from_the_command_line() {
    let dir = Scratch::new("daemon");
    let cfg = dir.file("pool.toml", POOL_CONFIG);
    let mut d = Daemon::start(&dir, &cfg);
    let log = d.log_text();
    assert!(log.contains("vserver `spare` is not used"), "{log}");

    // Admin actions print the state reached.
    for (action, state) in [
        ("drain", "draining"),
        ("disable", "disabled"),
        ("enable", "enabled"),
    ] {
        let out = d.ctl(&["server", action, "s1"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout), format!("s1: {state}\n"));
    }
    let out = d.ctl(&["server", "disable", "s1"]);
    assert!(out.status.success());

    // Status: config spellings, pool availability, the gslb names.
    let out = d.ctl(&["status", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["pools"][0]["methods"][0], "round_robin", "{v}");
    assert_eq!(v["pools"][0]["methods"][2], "return_to_dns", "{v}");
    assert_eq!(v["pools"][0]["available"], false, "{v}");
    assert_eq!(v["pools"][0]["available_members"], 0, "{v}");
    assert_eq!(v["names"][0]["name"], "www.example.test.", "{v}");
    assert_eq!(v["names"][0]["pools"][0], "p", "{v}");
    assert_eq!(v["names"][0]["pool_method"], "global_availability", "{v}");
    let out = d.ctl(&["status"]);
    let t = text(&out.stdout);
    assert!(
        t.contains("round_robin") && !t.contains("RoundRobin"),
        "{t}"
    );
    assert!(t.contains("AVAILABLE") && t.contains("0/1"), "{t}");
    assert!(
        t.contains("www.example.test.") && t.contains("global_availability"),
        "{t}"
    );
    assert!(d.ctl(&["server", "enable", "s1"]).status.success());
    let v: serde_json::Value =
        serde_json::from_slice(&d.ctl(&["status", "--json"]).stdout).unwrap();
    assert_eq!(v["pools"][0]["available_members"], 1, "{v}");

    // SIGHUP reloads the config, SIGTERM stops it; no XDP to detach.
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(d.child.id() as libc::pid_t, libc::SIGHUP) };
    d.wait_log("SIGHUP: config reloaded");
    assert!(d.ctl(&["status"]).status.success());
    // SAFETY: as above.
    unsafe { libc::kill(d.child.id() as libc::pid_t, libc::SIGTERM) };
    let log = d.wait_log("shutting down");
    assert!(!log.contains("XDP"), "{log}");
    let deadline = Instant::now() + TIMEOUT;
    while d.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        thread::sleep(Duration::from_millis(20));
    }
    assert!(!d.control.exists(), "the control socket was left behind");
}
