//! The query log (`[log] queries`): one JSON object per line for the
//! queries the slow path answers, all of them or one in `sample`.
//!
//! The XDP program answers in the kernel and cannot log per query; its
//! answers are counted (`gslb stats`), not logged. What reaches this log
//! is what the slow path saw: TCP, everything the fast path passed, and
//! everything with `--no-xdp`.
//!
//! A line:
//!
//! ```json
//! {"time":"2026-12-06T18:30:00.123456Z","client":"198.18.0.2","port":53211,
//!  "transport":"udp","path":"slow","id":4711,"qname":"www.example.test.",
//!  "qtype":"A","rcode":"NOERROR","answers":[{"type":"A","ttl":30,"data":"198.51.100.1"}]}
//! ```
//!
//! A query dropped on purpose (`drop_packet`) has `"rcode":null` and
//! `"dropped":true`. The log is installed once per daemon ([`install`]);
//! while none is installed, [`record`] costs one atomic load.

use std::{
    fs::OpenOptions,
    io::{self, LineWriter, Write},
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Mutex,
    },
    time::SystemTime,
};

use arc_swap::ArcSwapOption;
use hickory_proto::op::Message;
use serde::Serialize;
use tracing::warn;

use super::responder::Transport;
use crate::config::{LogConfig, QueryLogTarget};

/// Whether a log is installed: the one check every query pays.
static ENABLED: AtomicBool = AtomicBool::new(false);
/// The installed log.
static LOG: ArcSwapOption<QueryLog> = ArcSwapOption::const_empty();

/// An open query log.
pub struct QueryLog {
    sink: Mutex<Box<dyn Write + Send>>,
    sample: u64,
    seen: AtomicU64,
    failed: AtomicBool,
}

impl QueryLog {
    /// A log writing to `sink`, one query in `sample` (at least 1).
    pub fn new(sink: Box<dyn Write + Send>, sample: u32) -> QueryLog {
        QueryLog {
            sink: Mutex::new(sink),
            sample: u64::from(sample.max(1)),
            seen: AtomicU64::new(0),
            failed: AtomicBool::new(false),
        }
    }

    /// Opens the log `cfg` names; `None` when it names none.
    pub fn open(cfg: &LogConfig) -> io::Result<Option<QueryLog>> {
        let sink: Box<dyn Write + Send> = match &cfg.queries {
            None => return Ok(None),
            Some(QueryLogTarget::Stderr) => Box::new(io::stderr()),
            Some(QueryLogTarget::File(path)) => {
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| {
                        io::Error::new(
                            e.kind(),
                            format!("opening the query log {}: {e}", path.display()),
                        )
                    })?;
                // A line reaches the file when it is complete.
                Box::new(LineWriter::new(file))
            }
        };
        Ok(Some(QueryLog::new(sink, cfg.sample)))
    }

    /// Logs one exchange if it is the sampled one.
    pub fn log(
        &self,
        request: &[u8],
        response: Option<&[u8]>,
        peer: SocketAddr,
        transport: Transport,
    ) {
        if !self
            .seen
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(self.sample)
        {
            return;
        }
        let mut line = line(request, response, peer, transport);
        line.push('\n');
        let result = match self.sink.lock() {
            Ok(mut sink) => sink.write_all(line.as_bytes()),
            Err(_) => return,
        };
        if let Err(e) = result {
            // Once, not per query: a full disk would flood the log.
            if !self.failed.swap(true, Ordering::Relaxed) {
                warn!(error = %e, "writing the query log failed; further errors are not reported");
            }
        }
    }
}

/// Installs the log `cfg` names (or removes the installed one when it
/// names none). Called at start; a config reload may call it again.
pub fn install(cfg: &LogConfig) -> io::Result<()> {
    let log = QueryLog::open(cfg)?;
    ENABLED.store(log.is_some(), Ordering::Release);
    LOG.store(log.map(std::sync::Arc::new));
    Ok(())
}

/// Logs one slow-path exchange when a query log is installed.
#[inline]
pub fn record(request: &[u8], response: Option<&[u8]>, peer: SocketAddr, transport: Transport) {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    if let Some(log) = LOG.load().as_ref() {
        log.log(request, response, peer, transport);
    }
}

/// One answer record of a line.
#[derive(Serialize)]
struct Answer {
    #[serde(rename = "type")]
    rtype: String,
    ttl: u32,
    data: String,
}

/// One line of the log.
#[derive(Serialize)]
struct Line<'a> {
    time: String,
    client: String,
    port: u16,
    transport: &'a str,
    path: &'a str,
    id: Option<u16>,
    qname: Option<String>,
    qtype: Option<String>,
    rcode: Option<String>,
    answers: Vec<Answer>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    dropped: bool,
}

/// The JSON line of one exchange (without the newline).
fn line(request: &[u8], response: Option<&[u8]>, peer: SocketAddr, transport: Transport) -> String {
    let request = Message::from_vec(request).ok();
    let response = response.and_then(|r| Message::from_vec(r).ok());
    let query = request.as_ref().and_then(|m| m.queries.first());
    let answers = response
        .as_ref()
        .map(|m| {
            m.answers
                .iter()
                .map(|r| Answer {
                    rtype: r.record_type().to_string(),
                    ttl: r.ttl,
                    data: r.data.to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    let line = Line {
        time: humantime::format_rfc3339_micros(SystemTime::now()).to_string(),
        client: peer.ip().to_string(),
        port: peer.port(),
        transport: match transport {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        },
        path: "slow",
        id: request.as_ref().map(|m| m.metadata.id),
        qname: query.map(|q| q.name().to_string()),
        qtype: query.map(|q| q.query_type().to_string()),
        rcode: response
            .as_ref()
            .map(|m| rcode_name(u16::from(m.metadata.response_code))),
        answers,
        dropped: response.is_none(),
    };
    serde_json::to_string(&line).unwrap_or_default()
}

/// The RCODE's mnemonic as dig prints it (RFC 6895 §2.3).
fn rcode_name(code: u16) -> String {
    match code {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        16 => "BADVERS".into(),
        n => format!("RCODE{n}"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hickory_proto::{
        op::Query,
        rr::{Name, RecordType},
    };

    use super::*;
    use crate::{config, dns::responder::respond, state::model::State};

    /// A sink the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn query(id: u16, name: &str, rtype: RecordType) -> Vec<u8> {
        let mut msg = Message::query();
        msg.metadata.id = id;
        msg.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
        msg.to_vec().unwrap()
    }

    #[test]
    fn lines_are_json_with_the_answers_and_sampling_holds() {
        let cfg = config::load_default().unwrap();
        let state = State::from_config(&cfg);
        let sink = Shared::default();
        let log = QueryLog::new(Box::new(sink.clone()), 3);
        let peer: SocketAddr = "198.18.0.2:5300".parse().unwrap();
        for id in 0..9 {
            let q = query(id, "www.example.test.", RecordType::A);
            let r = respond(&state, &q, Transport::Tcp, Some(peer.ip()));
            log.log(&q, r.as_deref(), peer, Transport::Tcp);
        }
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        // One in three: queries 0, 3 and 6.
        assert_eq!(lines.len(), 3, "{text}");
        let ids: Vec<u64> = lines.iter().map(|l| l["id"].as_u64().unwrap()).collect();
        assert_eq!(ids, [0, 3, 6]);
        let l = &lines[0];
        assert_eq!(l["client"], "198.18.0.2");
        assert_eq!(l["transport"], "tcp");
        assert_eq!(l["path"], "slow");
        assert_eq!(l["qname"], "www.example.test.");
        assert_eq!(l["qtype"], "A");
        assert_eq!(l["rcode"], "NOERROR");
        assert_eq!(l["answers"].as_array().unwrap().len(), 2, "{l}");
        assert_eq!(l["answers"][0]["type"], "A");
        assert!(l.get("dropped").is_none());
    }

    #[test]
    fn a_dropped_query_and_garbage_still_make_a_line() {
        let sink = Shared::default();
        let log = QueryLog::new(Box::new(sink.clone()), 1);
        let peer: SocketAddr = "[2001:db8::2]:53".parse().unwrap();
        log.log(&[1, 2, 3], None, peer, Transport::Udp);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let l: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(l["client"], "2001:db8::2");
        assert_eq!(l["dropped"], true);
        assert!(l["qname"].is_null());
    }
}
