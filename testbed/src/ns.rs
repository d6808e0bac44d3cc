//! Network namespaces: created under names that carry the creating
//! process's id (`<prefix><pid>-...`), removed on drop, and removed by a
//! later run when their process died without cleaning up (SIGKILL, a
//! timeout). Commands and threads that run inside one.

use std::{
    ffi::OsStr,
    fs::{self, File},
    process::Command,
    sync::{Mutex, Once},
    thread,
};

use crate::{
    cmd::{run_bounded, run_ok, CMD_TIMEOUT},
    Result,
};

/// Serializes `ip netns add/del`: the first `ip netns add` of a boot sets up
/// the /run/netns mount, which is racy when several run at once.
static NETNS_LOCK: Mutex<()> = Mutex::new(());

/// Where bpffs pin directories live.
pub const BPFFS: &str = "/sys/fs/bpf";

/// A command that runs `program` in namespace `ns` with `nsenter`: unlike
/// `ip netns exec`, it keeps the host's /sys (and so /sys/fs/bpf) visible.
pub fn nsenter(ns: &str, program: impl AsRef<OsStr>) -> Command {
    let mut c = Command::new("nsenter");
    c.arg(format!("--net=/run/netns/{ns}"))
        .arg("--")
        .arg(program);
    c
}

/// A command that runs `program` in namespace `ns` with `ip netns exec`,
/// which remounts /sys so that /sys/class/net shows the namespace's own
/// devices (and hides the host's bpffs).
pub fn netns_exec(ns: &str, program: impl AsRef<OsStr>) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns]).arg(program);
    c
}

/// Runs `f` on a new thread that first enters the network namespace
/// `/run/netns/<ns>` (setns affects only that thread), and returns its
/// result. Sockets created in `f` stay in that namespace wherever they are
/// used afterwards. Panics if the namespace cannot be entered or `f`
/// panics.
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{ns}");
    thread::spawn(move || {
        let file = File::open(&path).unwrap_or_else(|e| panic!("opening {path}: {e}"));
        // SAFETY: setns(2) on a valid namespace fd; it changes the network
        // namespace of this (dedicated) thread only.
        let r = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&file), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns({path}): {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .expect("namespace thread panicked")
}

/// Moves the calling thread into the network namespace `/run/netns/<ns>`
/// (for a dedicated thread that keeps working there, e.g. one that holds
/// an XDP attachment and must detach it in the same namespace).
pub fn enter(ns: &str) -> std::io::Result<()> {
    let file = File::open(format!("/run/netns/{ns}"))?;
    // SAFETY: setns(2) on a valid namespace fd; it changes the network
    // namespace of the calling thread only.
    let r = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&file), libc::CLONE_NEWNET) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// A network namespace we created; deleted (with what still runs in it) on
/// drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// `ip netns add name`.
    pub fn add(name: &str) -> Result<Netns> {
        let _g = NETNS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        run_ok(Command::new("ip").args(["netns", "add", name]))?;
        Ok(Netns {
            name: name.to_owned(),
        })
    }

    /// Its name (`/run/netns/<name>`).
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = remove(&self.name) {
            eprintln!("cleanup: {e}");
        }
    }
}

/// Kills the processes left in namespace `ns` and deletes it (deleting a
/// namespace deletes the veth ends in it, hence their pairs).
pub fn remove(ns: &str) -> Result<()> {
    if let Ok(pids) = run_bounded(Command::new("ip").args(["netns", "pids", ns]), CMD_TIMEOUT) {
        for pid in pids
            .stdout
            .split_whitespace()
            .filter_map(|p| p.parse::<libc::pid_t>().ok())
        {
            // SAFETY: plain kill(2).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    let _g = NETNS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    run_ok(Command::new("ip").args(["netns", "del", ns])).map(drop)
}

/// Whether process `pid` exists.
fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks for existence and permission.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The owner's pid in a `<prefix><pid>[-...]` name.
pub fn owner_pid(prefix: &str, name: &str) -> Option<u32> {
    name.strip_prefix(prefix)?.split('-').next()?.parse().ok()
}

/// Whether `name` is of the `<prefix><pid>` scheme and its pid is gone.
pub fn is_stale(prefix: &str, name: &str) -> bool {
    owner_pid(prefix, name).is_some_and(|p| !pid_alive(p))
}

/// Removes what processes that died without cleaning up left behind:
/// their namespaces (killing the processes still inside, which they
/// started) and bpffs pin directories. Only names `<prefix><pid>...` whose
/// pid is gone. Returns the namespaces removed.
pub fn clean_stale(prefix: &str) -> Vec<String> {
    let mut removed = Vec::new();
    if let Ok(list) = run_bounded(Command::new("ip").args(["netns", "list"]), CMD_TIMEOUT) {
        for ns in list
            .stdout
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|ns| is_stale(prefix, ns))
        {
            let _ = remove(ns);
            removed.push(ns.to_owned());
        }
    }
    if let Ok(rd) = fs::read_dir(BPFFS) {
        for e in rd.filter_map(std::result::Result::ok) {
            if is_stale(prefix, &e.file_name().to_string_lossy()) {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
    removed
}

/// [`clean_stale`] once per process.
pub fn clean_stale_once(prefix: &str) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        clean_stale(prefix);
    });
}

/// Removes the bpffs pin directories whose path starts with `prefix` (a
/// daemon unpins its maps on exit; its directory stays).
pub fn remove_pin_dirs(prefix: &str) {
    let Ok(entries) = fs::read_dir(BPFFS) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.to_string_lossy().starts_with(prefix) {
            let _ = fs::remove_dir_all(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pids_and_stale_names() {
        assert_eq!(owner_pid("gslbt-", "gslbt-123-4-x-s"), Some(123));
        assert_eq!(owner_pid("gslbb-", "gslbb-77"), Some(77));
        assert_eq!(owner_pid("gslbb-", "gslbt-77-s"), None);
        assert_eq!(owner_pid("gslbt-", "gslbt-x-s"), None);
        let me = format!("gslbt-{}-1-s", std::process::id());
        assert!(!is_stale("gslbt-", &me));
        assert!(!is_stale("gslbt-", "other"));
    }
}
