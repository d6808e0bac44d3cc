//! Dropping the capabilities the daemon no longer needs once it is
//! serving: the XDP program is loaded and attached, the maps created and
//! pinned, the listeners and the control socket bound. What it still
//! does from then on needs little:
//!
//! - map reads and writes (health flips, admin changes, config and client
//!   data reloads, persistence records) go through the map fds it already
//!   holds, which needs no capability since Linux 6.5 (before it, with
//!   `kernel.unprivileged_bpf_disabled` set, every `bpf()` command needs
//!   `CAP_BPF`, which is then kept);
//! - ICMP monitors need `CAP_NET_RAW` when the kernel has no ping socket
//!   for the daemon's group (`net.ipv4.ping_group_range`): kept, since a
//!   reload may add an ICMP monitor;
//! - reloads never re-bind or re-attach: listen addresses and interfaces
//!   are restart-only settings, so `CAP_NET_BIND_SERVICE`,
//!   `CAP_NET_ADMIN`, `CAP_PERFMON`, `CAP_SYS_RESOURCE` and
//!   `CAP_SYS_ADMIN` go; a restart is a new process with the service's
//!   full set (the systemd unit's `CapabilityBoundingSet`).
//!
//! Every capability else is dropped from the effective, permitted,
//! inheritable and ambient sets, and from the bounding set when the
//! daemon holds `CAP_SETPCAP` (the systemd unit does not grant it: its
//! `CapabilityBoundingSet` is already the short list). `no_new_privs` is
//! set as well, so that a program the daemon runs (an external monitor)
//! cannot get more than the kept set back through a root `execve`.
//!
//! Capabilities are per thread on Linux, and the Tokio runtime's threads
//! exist before the daemon is ready: each thread drops its own. The
//! calling thread does so directly; every other thread of the process is
//! sent a real-time signal whose handler makes the same async-signal-safe
//! system calls, until `/proc/self/task/*/status` shows every thread with
//! the reduced sets (threads started later inherit them).

use std::{
    fs,
    sync::atomic::{AtomicI32, AtomicU64, Ordering},
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};
use caps::Capability;

/// What the daemon keeps (see the module doc).
pub fn kept() -> Vec<Capability> {
    let mut keep = vec![Capability::CAP_NET_RAW];
    if bpf_needs_cap() {
        keep.push(Capability::CAP_BPF);
    }
    keep
}

/// Whether map operations through an open fd need `CAP_BPF`: kernels
/// before 6.5 check `kernel.unprivileged_bpf_disabled` for every `bpf()`
/// command.
fn bpf_needs_cap() -> bool {
    let disabled = fs::read_to_string("/proc/sys/kernel/unprivileged_bpf_disabled")
        .map(|s| s.trim() != "0")
        .unwrap_or(true);
    disabled && !kernel_at_least(6, 5)
}

/// Whether the running kernel's version is at least `major.minor`.
fn kernel_at_least(major: u32, minor: u32) -> bool {
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let have = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    have >= (major, minor)
}

/// The bit mask of `caps`.
pub fn mask(caps: &[Capability]) -> u64 {
    caps.iter().fold(0, |m, c| m | c.bitmask())
}

/// The names of the capabilities in `mask`, lowercase as `capsh` and
/// systemd print them.
pub fn names(mask: u64) -> Vec<String> {
    caps::all()
        .into_iter()
        .filter(|c| mask & c.bitmask() != 0)
        .map(|c| c.to_string().to_lowercase())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The signal that asks a thread to drop its capabilities.
fn signal() -> libc::c_int {
    libc::SIGRTMIN() + 5
}

/// The mask every thread keeps.
static KEEP: AtomicU64 = AtomicU64::new(0);
/// The highest capability number the kernel knows.
static LAST_CAP: AtomicI32 = AtomicI32::new(40);

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

/// `struct __user_cap_data_struct`.
#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// `_LINUX_CAPABILITY_VERSION_3`: 64-bit sets in two words.
const CAP_VERSION_3: u32 = 0x2008_0522;

/// Drops every capability not in [`KEEP`] from the calling thread's
/// sets: bounding first (it needs `CAP_SETPCAP`), ambient, then the
/// effective, permitted and inheritable sets. Only async-signal-safe
/// system calls. Returns whether `capset` succeeded.
fn drop_this_thread() -> bool {
    let keep = KEEP.load(Ordering::SeqCst);
    let last = LAST_CAP.load(Ordering::SeqCst);
    for cap in 0..=last {
        if keep & (1u64 << cap) == 0 {
            // SAFETY: a plain prctl; EINVAL for a number the kernel does
            // not know is harmless.
            unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
        }
    }
    // No exec'd program (an external monitor) gains privileges back: a
    // root daemon's children would otherwise get the bounding set, which
    // cannot shrink without CAP_SETPCAP (systemd's unit leaves it out).
    // SAFETY: plain prctls.
    unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    // SAFETY: as above.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    let header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let lo = keep as u32;
    let hi = (keep >> 32) as u32;
    let data = [
        CapData {
            effective: lo,
            permitted: lo,
            inheritable: 0,
        },
        CapData {
            effective: hi,
            permitted: hi,
            inheritable: 0,
        },
    ];
    // SAFETY: valid header and two data words, as version 3 requires.
    let r = unsafe { libc::syscall(libc::SYS_capset, &raw const header, data.as_ptr()) };
    r == 0
}

extern "C" fn on_signal(_: libc::c_int) {
    drop_this_thread();
}

/// One thread's capability sets, from its `status` file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThreadCaps {
    /// `CapEff`.
    pub effective: u64,
    /// `CapPrm`.
    pub permitted: u64,
    /// `CapInh`.
    pub inheritable: u64,
    /// `CapBnd`.
    pub bounding: u64,
    /// `CapAmb`.
    pub ambient: u64,
}

/// Parses the `Cap*` lines of a `/proc/.../status` file.
pub fn parse_status(text: &str) -> ThreadCaps {
    let mut c = ThreadCaps::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let Ok(v) = u64::from_str_radix(value.trim(), 16) else {
            continue;
        };
        match key {
            "CapEff" => c.effective = v,
            "CapPrm" => c.permitted = v,
            "CapInh" => c.inheritable = v,
            "CapBnd" => c.bounding = v,
            "CapAmb" => c.ambient = v,
            _ => {}
        }
    }
    c
}

/// The threads of this process whose sets are not yet reduced to `keep`.
fn pending(keep: u64) -> Vec<libc::pid_t> {
    let Ok(dir) = fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<libc::pid_t>().ok())
        .filter(|tid| {
            // A thread that exited meanwhile has no status left.
            fs::read_to_string(format!("/proc/self/task/{tid}/status")).is_ok_and(|s| {
                let c = parse_status(&s);
                // The bounding set shrinks only with CAP_SETPCAP: not
                // checked (no_new_privs keeps its surplus unusable).
                let done = c.effective == keep
                    && c.permitted == keep
                    && c.inheritable == 0
                    && c.ambient == 0
                    && s.lines()
                        .any(|l| l.split_whitespace().eq(["NoNewPrivs:", "1"]));
                !done
            })
        })
        .collect()
}

/// Reduces every thread of the process to `keep` (see the module doc);
/// returns the mask kept (`keep` less what the process did not hold).
pub fn drop_to(keep: &[Capability]) -> Result<u64> {
    // What the process does not hold it cannot keep (an unprivileged
    // `--no-xdp` daemon holds nothing): capset would refuse to raise it.
    let permitted = caps::read(None, caps::CapSet::Permitted)
        .map(|set| mask(&set.into_iter().collect::<Vec<_>>()))
        .unwrap_or(u64::MAX);
    let keep = mask(keep) & permitted;
    let last = fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40);
    LAST_CAP.store(last, Ordering::SeqCst);
    // A kernel past 64 capabilities would need another version of capset.
    let keep = keep & (u64::MAX >> (63 - last.clamp(0, 63)));
    KEEP.store(keep, Ordering::SeqCst);
    // SAFETY: installing a handler that only makes async-signal-safe
    // system calls and reads atomics.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&raw mut action.sa_mask);
        if libc::sigaction(signal(), &raw const action, std::ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error()).context("installing the signal handler");
        }
    }
    if !drop_this_thread() {
        return Err(std::io::Error::last_os_error()).context("capset");
    }
    // SAFETY: getpid never fails.
    let pid = unsafe { libc::getpid() };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = pending(keep);
        if left.is_empty() {
            return Ok(keep);
        }
        if Instant::now() > deadline {
            bail!(
                "threads {left:?} still hold capabilities beyond {:?}",
                names(keep)
            );
        }
        for tid in left {
            // SAFETY: a signal to a thread of our own process; one that
            // exited meanwhile gives ESRCH, which is fine.
            unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, signal()) };
        }
        thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_parse() {
        let text = "Name:\tgslb\nCapInh:\t0000000000000000\nCapPrm:\t0000000000002000\n\
                    CapEff:\t0000000000002000\nCapBnd:\t0000000000002000\n\
                    CapAmb:\t0000000000000000\n";
        let c = parse_status(text);
        assert_eq!(c.effective, 1 << 13);
        assert_eq!(c.bounding, 1 << 13);
        assert_eq!(names(c.effective), ["cap_net_raw"]);
    }

    #[test]
    fn the_kept_set_has_net_raw_and_nothing_that_loads_or_attaches() {
        let keep = mask(&kept());
        assert_ne!(keep & Capability::CAP_NET_RAW.bitmask(), 0);
        for gone in [
            Capability::CAP_SYS_ADMIN,
            Capability::CAP_NET_ADMIN,
            Capability::CAP_PERFMON,
            Capability::CAP_SYS_RESOURCE,
            Capability::CAP_NET_BIND_SERVICE,
            Capability::CAP_DAC_OVERRIDE,
        ] {
            assert_eq!(keep & gone.bitmask(), 0, "{gone}");
        }
    }

    #[test]
    fn kernel_versions_compare() {
        assert!(kernel_at_least(2, 6));
        assert!(!kernel_at_least(999, 0));
    }
}
