//! `[log]`: the query log of the slow path (off by default).
//!
//! ```toml
//! [log]
//! queries = "/var/log/gslb/queries.jsonl"   # or "stderr"; absent: no query log
//! format = "json"                           # JSON lines (the only format)
//! sample = 100                              # log 1 query in 100 (1: every query)
//! ```
//!
//! Only the queries the slow path answers can be logged: the XDP program
//! answers without leaving the kernel, and its answers are counted
//! (`gslb stats`), not logged. A relative path is relative to the config
//! file's directory; the file is opened for appending when the daemon
//! starts.

use std::path::PathBuf;

use serde::Deserialize;

use crate::config::{
    checks::Validator,
    raw::{Int, Str},
};

/// Where the query log goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryLogTarget {
    /// The daemon's standard error, between its other log lines.
    Stderr,
    /// A file, appended to.
    File(PathBuf),
}

/// How each logged query is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum QueryLogFormat {
    /// One JSON object per line.
    #[default]
    Json,
}

/// Most `sample`: one query in a million.
pub const MAX_QUERY_LOG_SAMPLE: u32 = 1_000_000;

/// `[log]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// The query log's destination; `None`: no query log.
    pub queries: Option<QueryLogTarget>,
    /// Its format.
    pub format: QueryLogFormat,
    /// One query in `sample` is logged (1: all).
    pub sample: u32,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            queries: None,
            format: QueryLogFormat::Json,
            sample: 1,
        }
    }
}

/// `[log]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawLog {
    pub(in crate::config) queries: Option<Str>,
    pub(in crate::config) format: Option<Str>,
    pub(in crate::config) sample: Option<Int>,
}

impl Validator<'_> {
    /// `[log]`, defaults filled in.
    pub(super) fn log(&mut self, raw: Option<&RawLog>) -> LogConfig {
        let mut log = LogConfig::default();
        let Some(raw) = raw else { return log };
        if let Some(q) = &raw.queries {
            let text = q.get_ref().trim();
            if text.is_empty() {
                self.error(
                    &q.span(),
                    "log.queries is empty: a file path or \"stderr\" (leave the key out for no \
                     query log)",
                );
            } else if text == "stderr" {
                log.queries = Some(QueryLogTarget::Stderr);
            } else {
                log.queries = Some(QueryLogTarget::File(self.relative_to_config(text)));
            }
        }
        if let Some(f) = &raw.format {
            match f.get_ref().as_str() {
                "json" => log.format = QueryLogFormat::Json,
                "dnstap" => self.error(
                    &f.span(),
                    "log.format \"dnstap\" is not supported: the query log is written as JSON \
                     lines (format = \"json\")",
                ),
                other => self.error(
                    &f.span(),
                    format!("invalid log.format `{other}`: expected \"json\""),
                ),
            }
        }
        if let Some(n) = &raw.sample {
            match u32::try_from(*n.get_ref()) {
                Ok(v) if (1..=MAX_QUERY_LOG_SAMPLE).contains(&v) => log.sample = v,
                _ => self.error(
                    &n.span(),
                    format!(
                        "log.sample {} is out of range 1..={MAX_QUERY_LOG_SAMPLE} (1 in N queries \
                         is logged)",
                        n.get_ref()
                    ),
                ),
            }
        }
        log
    }
}
