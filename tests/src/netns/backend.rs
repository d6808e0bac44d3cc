//! Test backends in the server namespace ([`Backend`]): HTTP `/health`
//! and TCP connects, stopped and resumed at will.

use std::{
    net::{SocketAddr, TcpListener},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    thread,
    time::Duration,
};

use super::{in_netns, Net};
use crate::http;

/// A test backend: a TCP listener in a namespace that answers HTTP
/// requests (`GET /health` → 200 with the configured body, anything else
/// → 404; a flapping backend answers `/health` alternately 200 and 503)
/// and accepts plain TCP connects. [`Backend::stop`] closes the
/// listener (connects are then refused), [`Backend::resume`] opens it
/// again. Stopped on drop.
pub struct Backend {
    /// Listening address.
    pub addr: SocketAddr,
    ns: String,
    body: String,
    flapping: bool,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
    /// HTTP requests answered so far.
    pub requests: Arc<AtomicU64>,
}

impl Backend {
    /// Starts a backend listening on `addr` in the server namespace of
    /// `net` (the address must be on one of its interfaces).
    pub fn start(net: &Net, addr: SocketAddr, body: &str) -> Backend {
        Backend::new(net, addr, body, false)
    }

    /// Like [`Backend::start`], but `/health` answers alternately 200 (with
    /// `body`) and 503, starting with 200: an HTTP monitor sees it flap on
    /// every probe.
    pub fn start_flapping(net: &Net, addr: SocketAddr, body: &str) -> Backend {
        Backend::new(net, addr, body, true)
    }

    fn new(net: &Net, addr: SocketAddr, body: &str, flapping: bool) -> Backend {
        let mut b = Backend {
            addr,
            ns: net.srv_ns.clone(),
            body: body.to_string(),
            flapping,
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
            requests: Arc::new(AtomicU64::new(0)),
        };
        b.resume();
        b
    }

    /// Whether it is listening.
    pub fn running(&self) -> bool {
        self.thread.is_some()
    }

    /// Opens the listener again (no-op when running). Returns once it
    /// listens.
    pub fn resume(&mut self) {
        if self.thread.is_some() {
            return;
        }
        let addr = self.addr;
        let listener = in_netns(&self.ns, move || TcpListener::bind(addr))
            .unwrap_or_else(|e| panic!("backend: binding {addr}: {e}"));
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        self.stop.store(false, Ordering::SeqCst);
        let stop = self.stop.clone();
        let body = self.body.clone();
        let requests = self.requests.clone();
        let flapping = self.flapping;
        self.thread = Some(thread::spawn(move || {
            serve_backend(listener, &stop, &body, flapping, &requests)
        }));
    }

    /// Closes the listener; returns once it is closed (new connects are
    /// refused from then on).
    pub fn stop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.stop.store(true, Ordering::SeqCst);
            let _ = t.join();
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve_backend(
    listener: TcpListener,
    stop: &AtomicBool,
    body: &str,
    flapping: bool,
    requests: &AtomicU64,
) {
    use std::io::Write as _;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&listener);
    while !stop.load(Ordering::SeqCst) {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll(2) on one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, 5) };
        let Ok((mut conn, _)) = listener.accept() else {
            continue;
        };
        let _ = conn.set_nonblocking(false);
        let _ = conn.set_read_timeout(Some(Duration::from_millis(500)));
        // A TCP monitor sends nothing and closes.
        let req = http::read_request_head(&mut conn);
        if req.is_empty() {
            continue;
        }
        let head = String::from_utf8_lossy(&req);
        let path = head.split_whitespace().nth(1).unwrap_or("");
        let n = requests.fetch_add(1, Ordering::Relaxed);
        let (status, text) = if path == "/health" && flapping && n % 2 == 1 {
            ("503 Service Unavailable", "flapping\n")
        } else if path == "/health" {
            ("200 OK", body)
        } else {
            ("404 Not Found", "not found\n")
        };
        let _ = conn.write_all(http::response(status, "text/plain", text).as_bytes());
    }
}
