//! `cargo xtask test [-- ARGS]`: setup, build the debug binaries the tests
//! run (`target/debug/gslb`), then `cargo test --workspace ARGS`, streaming
//! its output and closing with one `N passed, N failed` line summed over
//! cargo's `test result:` lines.

use std::{
    ffi::OsString,
    io::{self, Read as _, Write as _},
    process::{self, Stdio},
};

use anyhow::{Context as _, Result};

use crate::{build, cmd, setup};

/// Debian packages only the tests need, beyond [`setup::APT_PACKAGES`]:
/// `chromium`, the headless browser of the status page test, and a font
/// for its screenshot (apt leaves chromium's recommended fonts out).
pub const TEST_PACKAGES: &[&str] = &["chromium", "fonts-dejavu-core"];

/// Options of `cargo xtask test`.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// Arguments for `cargo test` (e.g. `-- -p gslb-tests -- --nocapture`).
    #[arg(last = true)]
    pub(crate) args: Vec<OsString>,
}

/// Counts summed over `test result:` lines.
#[derive(Debug, Default, PartialEq, Eq)]
struct Totals {
    passed: u64,
    failed: u64,
    ignored: u64,
    /// Number of `test result:` lines seen.
    results: u64,
}

impl Totals {
    /// Adds the counts of one output line if it is a libtest summary:
    /// `test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; ...`.
    fn add_line(&mut self, line: &str) {
        let line = strip_ansi(line);
        let Some(rest) = line.trim_start().strip_prefix("test result:") else {
            return;
        };
        self.results += 1;
        for part in rest.split(';') {
            // The first part is `ok. 3 passed`: the count is the second to last word.
            let mut words = part.split_whitespace().rev();
            let (Some(what), Some(n)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = n.parse::<u64>() else { continue };
            match what {
                "passed" => self.passed += n,
                "failed" => self.failed += n,
                "ignored" => self.ignored += n,
                _ => {}
            }
        }
    }

    /// The closing line.
    fn summary(&self) -> String {
        let s = format!("{} passed, {} failed", self.passed, self.failed);
        if self.ignored > 0 {
            format!("{s}, {} skipped", self.ignored)
        } else {
            s
        }
    }
}

/// Drops ANSI escape sequences (`ESC [ ... letter`), in case colour was
/// forced on.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Entry point of `cargo xtask test`; exits with cargo test's status.
pub fn test(opts: &Options) -> Result<()> {
    setup::ensure(TEST_PACKAGES, false)?;
    build::build_bins(false)?;

    let mut cargo = cmd::cargo();
    cargo
        .arg("test")
        .args(cmd::host_workspace_args())
        .args(&opts.args)
        .stdout(Stdio::piped());
    let line = cmd::display(&cargo);
    let mut child = cargo
        .spawn()
        .with_context(|| format!("failed to start `{line}`"))?;
    let mut pipe = child.stdout.take().context("child stdout was not piped")?;

    // Forward bytes as they come (progress lines show before they end) and
    // parse complete lines on the side.
    let mut totals = Totals::default();
    let mut pending = Vec::new();
    let mut buf = [0u8; 8192];
    let stdout = io::stdout();
    loop {
        let n = match pipe.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("failed to read from `{line}`")),
        };
        let mut out = stdout.lock();
        // A closed stdout (e.g. `| head`) must not stop the tests.
        let _ = out.write_all(&buf[..n]).and_then(|()| out.flush());
        pending.extend_from_slice(&buf[..n]);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let text: Vec<u8> = pending.drain(..=end).collect();
            totals.add_line(&String::from_utf8_lossy(&text));
        }
    }
    totals.add_line(&String::from_utf8_lossy(&pending));

    let status = child
        .wait()
        .with_context(|| format!("failed to wait for `{line}`"))?;
    println!();
    if !status.success() && totals.failed == 0 {
        println!("`{line}` failed ({status})");
    } else if totals.results == 0 {
        println!("no `test result:` lines in the output of `{line}`");
    }
    println!("{}", totals.summary());
    if status.success() {
        Ok(())
    } else {
        process::exit(status.code().unwrap_or(1));
    }
}

#[cfg(test)]
mod tests {
    use super::Totals;

    #[test]
    fn sums_result_lines() {
        let mut t = Totals::default();
        for line in [
            "running 3 tests",
            "test a ... ok",
            "test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s",
            "test result: FAILED. 2 passed; 5 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.20s",
            "   Doc-tests gslb",
            "test result: \u{1b}[32mok\u{1b}[0m. 4 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out",
        ] {
            t.add_line(line);
        }
        assert_eq!(
            t,
            Totals {
                passed: 9,
                failed: 5,
                ignored: 1,
                results: 3
            }
        );
        assert_eq!(t.summary(), "9 passed, 5 failed, 1 skipped");
    }

    #[test]
    fn no_results() {
        let t = Totals::default();
        assert_eq!(t.summary(), "0 passed, 0 failed");
    }
}
