//! External monitor: runs a command (no shell) with `{address}` and
//! `{port}` replaced in the program and its arguments; exit status 0 is up.
//! The message is the first non-empty line of stderr, else of stdout.
//!
//! The command runs in its own process group, which is killed (SIGKILL)
//! when the command exits, when the probe times out or when the probe task
//! stops, so that nothing it started outlives the probe.

use std::{net::IpAddr, os::unix::process::ExitStatusExt, process::Stdio};

use tokio::{
    io::{AsyncRead, AsyncReadExt},
    process::Command,
};

use super::Outcome;

/// Output kept per stream.
const MAX_OUTPUT: usize = 4096;
/// Longest message taken from the output.
const MAX_MESSAGE: usize = 200;

/// Runs the command to completion (the caller bounds it with the monitor's
/// timeout; dropping the future kills the command).
pub async fn check(command: &[String], address: IpAddr, port: u16) -> Outcome {
    let Some((program, args)) = command.split_first() else {
        return Err("empty command".to_string());
    };
    let address = address.to_string();
    let port = port.to_string();
    let substitute = |s: &String| s.replace("{address}", &address).replace("{port}", &port);

    let mut cmd = Command::new(substitute(program));
    cmd.args(args.iter().map(substitute))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let group = GroupKiller(child.id());
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();

    let reading = async { tokio::join!(read_limited(stdout), read_limited(stderr)) };
    let waiting = async {
        let status = child.wait().await;
        // Whatever the command left behind dies now (and its pipes close).
        group.kill();
        status
    };
    let (status, (out, err)) = tokio::join!(waiting, reading);
    let status = status.map_err(|e| format!("waiting for {program}: {e}"))?;

    let line = first_line(&err).or_else(|| first_line(&out));
    if status.success() {
        Ok(line.unwrap_or_else(|| "exit 0".to_string()))
    } else {
        let how = match (status.code(), status.signal()) {
            (Some(code), _) => format!("exit {code}"),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            (None, None) => status.to_string(),
        };
        Err(match line {
            Some(line) => format!("{how}: {line}"),
            None => how,
        })
    }
}

/// Reads a stream to its end, keeping the first [`MAX_OUTPUT`] bytes (the
/// rest is drained so the command never blocks on a full pipe).
async fn read_limited(stream: Option<impl AsyncRead + Unpin>) -> Vec<u8> {
    let mut kept = Vec::new();
    let Some(mut stream) = stream else {
        return kept;
    };
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let take = n.min(MAX_OUTPUT - kept.len());
        kept.extend_from_slice(&buf[..take]);
    }
    kept
}

/// The first non-empty line, trimmed and shortened.
fn first_line(output: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(output);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    Some(line.chars().take(MAX_MESSAGE).collect())
}

/// Kills the command's process group when dropped (and on demand).
struct GroupKiller(Option<u32>);

impl GroupKiller {
    fn kill(&self) {
        if let Some(pid) = self.0.and_then(|p| i32::try_from(p).ok()) {
            if pid > 0 {
                // SAFETY: kill(2) has no memory effects; a negative pid
                // names the process group we created for the command.
                unsafe {
                    libc::kill(-pid, libc::SIGKILL);
                }
            }
        }
    }
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::first_line;

    #[test]
    fn first_non_empty_line() {
        assert_eq!(
            first_line(b"\n  \n  hello world \nsecond"),
            Some("hello world".into())
        );
        assert_eq!(first_line(b"\n\n"), None);
        assert_eq!(first_line(&[b'x'; 500]).unwrap().len(), 200);
    }
}
