//! Headless Chromium (Debian's `chromium`) driven over the DevTools
//! protocol on a pipe (`--remote-debugging-pipe`: the browser reads
//! NUL-terminated JSON messages on fd 3 and writes on fd 4), so a test
//! can read a live page's DOM while it refreshes itself, and take a
//! screenshot of it. No port, no WebSocket: the pipe is private to the
//! test.
//!
//! Every read is bounded in time; the browser is killed and its profile
//! directory removed on drop.

use std::{
    fs::File,
    io::{BufRead, BufReader, Write},
    os::{
        fd::{AsRawFd, FromRawFd, OwnedFd},
        unix::process::CommandExt,
    },
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use serde_json::{json, Value};

use crate::netns::terminate;

/// Bound of one DevTools call.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// A headless Chromium showing one page, attached over the DevTools
/// pipe. Killed on drop.
pub struct Chromium {
    child: Option<Child>,
    to: File,
    from: mpsc::Receiver<Value>,
    next: u64,
    session: String,
    profile: PathBuf,
}

/// A pipe whose ends close on exec.
fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2(2) fills two fds we then own.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: both are fresh fds owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// The arguments every run takes: headless, no sandbox (we are root), no
/// GPU, a private profile, no first-run or background noise.
pub fn base_args(profile: &Path, width: u32, height: u32) -> Vec<String> {
    vec![
        "--headless".into(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-dev-shm-usage".into(),
        "--no-first-run".into(),
        "--no-default-browser-check".into(),
        "--disable-extensions".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--hide-scrollbars".into(),
        format!("--user-data-dir={}", profile.display()),
        format!("--window-size={width},{height}"),
    ]
}

impl Chromium {
    /// Starts `chromium` through `launcher` (e.g. `nsenter --net=...
    /// chromium`, whose arguments are added here) on `url` with a window
    /// of `width` × `height`, and attaches to the page.
    pub fn open(mut launcher: Command, url: &str, width: u32, height: u32) -> Chromium {
        let profile = std::env::temp_dir().join(format!(
            "gslbt-{}-chromium-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&profile).expect("chromium profile dir");
        let (their_in, our_out) = pipe();
        let (our_in, their_out) = pipe();
        let (r, w) = (their_in.as_raw_fd(), their_out.as_raw_fd());
        launcher
            .args(base_args(&profile, width, height))
            .arg("--remote-debugging-pipe")
            .arg(url)
            .env("HOME", &profile)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: only async-signal-safe calls between fork and exec. The
        // ends are first moved above 10 (they may be 3 or 4 themselves),
        // then onto 3 and 4 without close-on-exec.
        unsafe {
            launcher.pre_exec(move || {
                let hr = libc::fcntl(r, libc::F_DUPFD_CLOEXEC, 10);
                let hw = libc::fcntl(w, libc::F_DUPFD_CLOEXEC, 10);
                if hr < 0 || hw < 0 || libc::dup2(hr, 3) < 0 || libc::dup2(hw, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = launcher
            .spawn()
            .unwrap_or_else(|e| panic!("starting chromium: {e} (is Debian's chromium installed?)"));
        drop((their_in, their_out));
        let (tx, rx) = mpsc::channel();
        let reader = BufReader::new(File::from(our_in));
        thread::spawn(move || {
            for msg in reader.split(0) {
                let Ok(msg) = msg else { break };
                let Ok(v) = serde_json::from_slice::<Value>(&msg) else {
                    continue;
                };
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let mut c = Chromium {
            child: Some(child),
            to: File::from(our_out),
            from: rx,
            next: 1,
            session: String::new(),
            profile,
        };
        let targets = c.call("Target.getTargets", json!({}), None);
        let page = targets["targetInfos"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["type"] == "page"))
            .and_then(|t| t["targetId"].as_str())
            .unwrap_or_else(|| panic!("chromium has no page target: {targets}"))
            .to_owned();
        let attached = c.call(
            "Target.attachToTarget",
            json!({ "targetId": page, "flatten": true }),
            None,
        );
        c.session = attached["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("attachToTarget: {attached}"))
            .to_owned();
        c
    }

    /// One DevTools call (on the page's session unless `session` is
    /// `None` and none is attached yet); its `result`, or a panic with
    /// its error or after [`CALL_TIMEOUT`].
    fn call(&mut self, method: &str, params: Value, session: Option<&str>) -> Value {
        let id = self.next;
        self.next += 1;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        let session = session.or((!self.session.is_empty()).then_some(self.session.as_str()));
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).expect("a JSON message");
        bytes.push(0);
        self.to
            .write_all(&bytes)
            .unwrap_or_else(|e| panic!("writing to chromium ({method}): {e}"));
        let deadline = Instant::now() + CALL_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self.from.recv_timeout(left).unwrap_or_else(|e| {
                panic!("no reply from chromium to {method} within {CALL_TIMEOUT:?}: {e}")
            });
            if v["id"] != id {
                continue; // an event, or a late reply
            }
            if let Some(err) = v.get("error") {
                panic!("chromium {method}: {err}");
            }
            return v["result"].clone();
        }
    }

    /// Evaluates `expression` in the page; its value (JSON-able).
    pub fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true }),
            None,
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("evaluating {expression:?} in the page: {e}");
        }
        r["result"]["value"].clone()
    }

    /// The page's DOM as HTML (`document.documentElement.outerHTML`).
    pub fn dom(&mut self) -> String {
        self.eval("document.documentElement.outerHTML")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// A PNG screenshot of the page as it is now.
    pub fn screenshot(&mut self) -> Vec<u8> {
        let r = self.call(
            "Page.captureScreenshot",
            json!({ "format": "png", "captureBeyondViewport": true }),
            None,
        );
        let data = r["data"].as_str().unwrap_or_default();
        base64_decode(data).unwrap_or_else(|| panic!("screenshot data is not base64"))
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            terminate(&mut c, Duration::from_secs(5));
        }
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Standard base64 (RFC 4648 §4) with padding; `None` on a bad character.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    }
    let text = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= value(c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

/// What a PNG's header says: width and height, after checking the
/// signature, that the first chunk is a well-formed IHDR and the last an
/// IEND.
pub fn png_size(png: &[u8]) -> Result<(u32, u32), String> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if !png.starts_with(SIGNATURE) {
        return Err("no PNG signature".into());
    }
    let ihdr = png.get(8..33).ok_or("shorter than a PNG header")?;
    if &ihdr[0..8] != b"\0\0\0\x0dIHDR" {
        return Err("the first chunk is not a 13-byte IHDR".into());
    }
    if !png.ends_with(b"IEND\xae\x42\x60\x82") {
        return Err("does not end with an IEND chunk".into());
    }
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    Ok((be(&ihdr[8..12]), be(&ihdr[12..16])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        assert_eq!(base64_decode("").unwrap(), b"");
        assert_eq!(base64_decode("Zg==").unwrap(), b"f");
        assert_eq!(base64_decode("Zm8=").unwrap(), b"fo");
        assert_eq!(base64_decode("Zm9v").unwrap(), b"foo");
        assert_eq!(base64_decode("Zm9vYmFy").unwrap(), b"foobar");
        assert!(base64_decode("Zm9v!").is_none());
    }

    #[test]
    fn png_header() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&1280u32.to_be_bytes());
        png.extend_from_slice(&720u32.to_be_bytes());
        png.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
        png.extend_from_slice(b"\0\0\0\0IEND\xae\x42\x60\x82");
        assert_eq!(png_size(&png), Ok((1280, 720)));
        assert!(png_size(b"GIF89a").is_err());
    }
}
