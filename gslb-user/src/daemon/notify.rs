//! systemd readiness notification (`sd_notify(3)`): with `Type=notify`
//! the service manager passes a datagram socket in `$NOTIFY_SOCKET`, and
//! the daemon sends it newline-separated `KEY=VALUE` assignments:
//! `READY=1` once it answers queries (listeners bound, XDP attached),
//! `RELOADING=1` … `READY=1` around a config reload, `STOPPING=1` when it
//! shuts down, and `STATUS=…` in words for `systemctl status`.
//!
//! The protocol is one `sendto` on an unbound `AF_UNIX` datagram socket
//! (a path, or an abstract name written with a leading `@`); without
//! `$NOTIFY_SOCKET` (not started by systemd) every call does nothing. A
//! failure to notify is logged, never fatal: the daemon serves either way.

use std::{
    io,
    os::unix::net::{SocketAddr, UnixDatagram},
};

use tracing::{debug, warn};

/// The environment variable naming the socket.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Sends `state` (assignments separated by newlines) to the service
/// manager; `Ok(false)` when there is none to tell.
pub fn notify(state: &str) -> io::Result<bool> {
    let Some(path) = std::env::var_os(NOTIFY_SOCKET) else {
        return Ok(false);
    };
    let path = path.to_string_lossy().into_owned();
    let addr = if let Some(name) = path.strip_prefix('@') {
        // Linux abstract namespace.
        use std::os::linux::net::SocketAddrExt as _;
        SocketAddr::from_abstract_name(name.as_bytes())?
    } else if path.starts_with('/') {
        SocketAddr::from_pathname(&path)?
    } else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{NOTIFY_SOCKET}={path} is neither an absolute path nor @abstract"),
        ));
    };
    let socket = UnixDatagram::unbound()?;
    let sent = socket.send_to_addr(state.as_bytes(), &addr)?;
    if sent != state.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "notification sent in part",
        ));
    }
    Ok(true)
}

/// [`notify`], logging a failure instead of returning it.
fn tell(state: &str) {
    match notify(state) {
        Ok(true) => debug!(state, "service manager notified"),
        Ok(false) => {}
        Err(e) => warn!(error = %e, state, "notifying the service manager failed"),
    }
}

/// `READY=1` with a status line: the daemon answers queries.
pub fn ready(status: &str) {
    tell(&format!("READY=1\nSTATUS={status}"));
}

/// `RELOADING=1` (with the monotonic time systemd's `Type=notify-reload`
/// wants): a config reload has begun; [`ready`] ends it.
pub fn reloading() {
    tell(&format!(
        "RELOADING=1\nMONOTONIC_USEC={}\nSTATUS=reloading the config",
        monotonic_usec()
    ));
}

/// `STOPPING=1`: the daemon is shutting down.
pub fn stopping(status: &str) {
    tell(&format!("STOPPING=1\nSTATUS={status}"));
}

/// `CLOCK_MONOTONIC` in microseconds.
fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out pointer; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut ts) };
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000
        + u64::try_from(ts.tv_nsec).unwrap_or(0) / 1_000
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The process environment is shared by the tests of this binary:
    /// everything that sets `NOTIFY_SOCKET` runs in this one test.
    #[test]
    fn sends_to_a_path_and_an_abstract_socket_and_nothing_without_one() {
        let dir = std::env::temp_dir().join(format!("gslb-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let server = UnixDatagram::bind(&path).unwrap();
        // SAFETY: no other thread of this test binary reads the variable.
        unsafe { std::env::set_var(NOTIFY_SOCKET, &path) };
        assert!(notify("READY=1\nSTATUS=x").unwrap());
        let mut buf = [0u8; 256];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=x");

        let name = format!("gslb-notify-test-{}", std::process::id());
        use std::os::linux::net::SocketAddrExt as _;
        let abs = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(&name).unwrap()).unwrap();
        unsafe { std::env::set_var(NOTIFY_SOCKET, format!("@{name}")) };
        assert!(notify("STOPPING=1").unwrap());
        let n = abs.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");

        unsafe { std::env::set_var(NOTIFY_SOCKET, "relative") };
        assert!(notify("READY=1").is_err());
        unsafe { std::env::remove_var(NOTIFY_SOCKET) };
        assert!(!notify("READY=1").unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
