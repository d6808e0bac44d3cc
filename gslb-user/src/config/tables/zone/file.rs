//! `[[zone]] file = "…"`: the records of an RFC 1035 §5 master file.
//!
//! hickory's zone file parser ([`hickory_proto::serialize::txt::Parser`])
//! reads the records, but its errors carry no position and its result no
//! line per record. So the file is walked entry by entry here: an entry is
//! a line, or several joined by parentheses (RFC 1035 §5.1); the control
//! entries (`$ORIGIN`, `$TTL`, `$INCLUDE`) and the owner, TTL and class
//! inheritance are followed here, and each record entry is handed to
//! hickory's parser on its own, with its owner made absolute and its TTL
//! resolved. Every record and every error so knows its `FILE:LINE:COL`.

use std::{
    path::{Path, PathBuf},
    str::FromStr,
    sync::Arc,
};

use hickory_proto::{
    rr::{DNSClass, Name, RData, Record, RecordType},
    serialize::{
        binary::BinEncodable,
        txt::{parse_ttl, Parser},
    },
};

use crate::{
    config::{diagnostics::Diagnostic, MAX_TTL},
    dns::rdata::SUPPORTED_TYPES,
};

/// Deepest `$INCLUDE` nesting (BIND and NSD allow some; loops end here).
const MAX_INCLUDE_DEPTH: usize = 8;

/// A record read from a zone file, and where.
#[derive(Debug)]
pub(in crate::config::tables) struct FileRecord {
    /// Owner absolute and lowercase, TTL resolved, class IN.
    pub(in crate::config::tables) record: Record,
    /// The file it was read from (an `$INCLUDE`d file for its records).
    pub(in crate::config::tables) file: Arc<str>,
    /// 1-based line of the entry.
    pub(in crate::config::tables) line: usize,
}

/// Reads the zone file at `path` for the zone `origin`: every record that
/// parses, and a diagnostic for every entry that does not. `default_ttl`
/// is the TTL of records before any `$TTL` or explicit TTL. The error is
/// that the file cannot be read.
pub(in crate::config::tables) fn read(
    path: &Path,
    origin: &Name,
    default_ttl: u32,
) -> std::io::Result<(Vec<FileRecord>, Vec<Diagnostic>)> {
    let text = std::fs::read_to_string(path)?;
    let mut reader = Reader {
        records: Vec::new(),
        diags: Vec::new(),
        zone: origin.clone(),
    };
    let mut cx = Context {
        origin: origin.clone(),
        owner: None,
        default_ttl: None,
        last_ttl: None,
        zone_ttl: default_ttl,
    };
    reader.file(&text, path, &mut cx, 0);
    Ok((reader.records, reader.diags))
}

/// What earlier entries set for later ones (RFC 1035 §5.1).
struct Context {
    origin: Name,
    /// The last owner written, for entries starting with a blank.
    owner: Option<Name>,
    /// `$TTL` (RFC 2308 §4).
    default_ttl: Option<u32>,
    /// The last TTL written on a record.
    last_ttl: Option<u32>,
    /// The zone's `ttl`, when nothing above applies.
    zone_ttl: u32,
}

impl Context {
    fn ttl(&self) -> u32 {
        self.default_ttl.or(self.last_ttl).unwrap_or(self.zone_ttl)
    }
}

struct Reader {
    records: Vec<FileRecord>,
    diags: Vec<Diagnostic>,
    zone: Name,
}

/// One word of an entry: its text (quotes removed), whether it was
/// quoted, and its byte offset in the file.
struct Word<'a> {
    text: &'a str,
    quoted: bool,
    offset: usize,
}

/// An entry: where it starts in the file, whether it starts with a blank
/// (same owner as the previous record), and its words.
struct Entry<'a> {
    start: usize,
    blank_owner: bool,
    words: Vec<Word<'a>>,
}

impl Reader {
    fn error(&mut self, file: &Path, text: &str, offset: usize, message: String) {
        let (line, column) = crate::config::diagnostics::position(text, offset);
        self.diags.push(Diagnostic {
            origin: file.display().to_string(),
            line,
            column,
            message,
        });
    }

    fn file(&mut self, text: &str, path: &Path, cx: &mut Context, depth: usize) {
        let file: Arc<str> = Arc::from(path.display().to_string());
        let entries = match entries(text) {
            Ok(entries) => entries,
            Err((offset, message)) => {
                self.error(path, text, offset, message);
                return;
            }
        };
        for entry in entries {
            let first = &entry.words[0];
            if !entry.blank_owner && first.text.starts_with('$') && !first.quoted {
                self.control(text, path, &entry, cx, depth);
                continue;
            }
            if let Err((offset, message)) = self.record(text, &entry, cx, &file) {
                self.error(path, text, offset, message);
            }
        }
    }

    /// `$ORIGIN`, `$TTL`, `$INCLUDE`.
    fn control(&mut self, text: &str, path: &Path, entry: &Entry, cx: &mut Context, depth: usize) {
        let words = &entry.words;
        let directive = words[0].text.to_ascii_uppercase();
        let arg = words.get(1);
        let fail = |reader: &mut Reader, offset: usize, message: String| {
            reader.error(path, text, offset, message);
        };
        let Some(arg) = arg else {
            return fail(
                self,
                words[0].offset,
                format!("{directive} needs an argument"),
            );
        };
        match directive.as_str() {
            "$ORIGIN" if words.len() == 2 => match parse_name(arg.text, &cx.origin) {
                Ok(name) => cx.origin = name,
                Err(e) => fail(self, arg.offset, format!("invalid $ORIGIN: {e}")),
            },
            "$TTL" if words.len() == 2 => match ttl(arg.text) {
                Ok(t) => cx.default_ttl = Some(t),
                Err(e) => fail(self, arg.offset, e),
            },
            "$INCLUDE" if words.len() <= 3 => {
                if depth >= MAX_INCLUDE_DEPTH {
                    let msg = format!("$INCLUDE nested deeper than {MAX_INCLUDE_DEPTH} files");
                    return fail(self, words[0].offset, msg);
                }
                // Relative to the including file, as BIND and hickory do.
                let included = match path.parent() {
                    Some(dir) if Path::new(arg.text).is_relative() => dir.join(arg.text),
                    _ => PathBuf::from(arg.text),
                };
                // RFC 1035 §5.1: the included file may get its own origin;
                // nothing it sets changes the including file's context.
                let origin = match words.get(2).map(|w| (w, parse_name(w.text, &cx.origin))) {
                    None => cx.origin.clone(),
                    Some((_, Ok(name))) => name,
                    Some((w, Err(e))) => {
                        return fail(self, w.offset, format!("invalid $INCLUDE origin: {e}"))
                    }
                };
                match std::fs::read_to_string(&included) {
                    Ok(inner) => {
                        let mut inner_cx = Context {
                            origin,
                            owner: cx.owner.clone(),
                            default_ttl: cx.default_ttl,
                            last_ttl: cx.last_ttl,
                            zone_ttl: cx.zone_ttl,
                        };
                        self.file(&inner, &included, &mut inner_cx, depth + 1);
                    }
                    Err(e) => fail(
                        self,
                        arg.offset,
                        format!("cannot read $INCLUDE file {}: {e}", included.display()),
                    ),
                }
            }
            "$ORIGIN" | "$TTL" | "$INCLUDE" => {
                fail(
                    self,
                    words[0].offset,
                    format!("{directive}: too many arguments"),
                );
            }
            _ => fail(
                self,
                words[0].offset,
                format!("unknown control entry {directive} (one of $ORIGIN, $TTL, $INCLUDE)"),
            ),
        }
    }

    /// One record entry: owner, `[TTL] [class] type` in either order, then
    /// the data, parsed by hickory.
    fn record(
        &mut self,
        text: &str,
        entry: &Entry,
        cx: &mut Context,
        file: &Arc<str>,
    ) -> Result<(), (usize, String)> {
        let mut words = entry.words.iter().peekable();
        let owner = if entry.blank_owner {
            cx.owner.clone().ok_or((
                entry.start,
                "no owner name: the first record must name its owner".to_string(),
            ))?
        } else {
            let w = words.next().expect("entries have a word");
            let name = if w.text == "@" {
                cx.origin.clone()
            } else {
                parse_name(w.text, &cx.origin)
                    .map_err(|e| (w.offset, format!("invalid owner name: {e}")))?
            };
            cx.owner = Some(name.clone());
            name
        };
        let mut explicit_ttl = None;
        let rtype = loop {
            let w = words
                .next()
                .ok_or((entry.start, "record without a type".to_string()))?;
            let upper = w.text.to_ascii_uppercase();
            if w.text.starts_with(|c: char| c.is_ascii_digit()) && explicit_ttl.is_none() {
                explicit_ttl = Some(ttl(w.text).map_err(|e| (w.offset, e))?);
            } else if let Ok(class) = DNSClass::from_str(&upper) {
                if class != DNSClass::IN {
                    return Err((w.offset, format!("class {upper}: only IN is served")));
                }
            } else {
                let rtype = RecordType::from_str(&upper)
                    .map_err(|_| (w.offset, format!("unknown record type `{}`", w.text)))?;
                if rtype != RecordType::SOA && !SUPPORTED_TYPES.contains(&rtype) {
                    let names: Vec<String> =
                        SUPPORTED_TYPES.iter().map(ToString::to_string).collect();
                    return Err((
                        w.offset,
                        format!(
                            "unsupported record type {rtype} (supported: SOA, {})",
                            names.join(", ")
                        ),
                    ));
                }
                break (rtype, w.offset + w.text.len());
            }
        };
        let (rtype, data_start) = rtype;
        if let Some(t) = explicit_ttl {
            cx.last_ttl = Some(t);
        }
        let record_ttl = explicit_ttl.unwrap_or_else(|| cx.ttl());
        let data_offset = words.peek().map_or(data_start, |w| w.offset);
        if words.peek().is_none() {
            return Err((data_start, format!("{rtype} record without data")));
        }
        // The data as written (parentheses, quotes and comments included),
        // behind an absolute owner and a resolved TTL: one record for
        // hickory's parser, with the context it would have had.
        // The data words on one line, quoted ones quoted again (escapes
        // kept as written): hickory's lexer keeps the quotes of strings
        // inside parentheses, and takes a lone `@` for an owner only,
        // while in data it is the origin too (RFC 1035 §5.1), as BIND and
        // NSD read it.
        let origin_text = cx.origin.to_string();
        let data: Vec<String> = words
            .map(|w| match (w.quoted, w.text) {
                (true, t) => format!("\"{t}\""),
                (false, "@") => origin_text.clone(),
                (false, t) => t.to_string(),
            })
            .collect();
        let one = format!("{owner} {record_ttl} IN {rtype} {}\n", data.join(" "));
        let parsed = Parser::new(one, None, Some(cx.origin.clone()))
            .parse()
            .map_err(|e| (data_offset, format!("invalid {rtype} record: {e}")))?;
        let mut found = parsed
            .1
            .into_values()
            .flat_map(|set| set.records_without_rrsigs().cloned().collect::<Vec<_>>());
        let mut record = found
            .next()
            .ok_or((data_offset, format!("invalid {rtype} record: no data")))?;
        record.name = record.name.to_lowercase();
        lowercase_names(&mut record.data);
        if !self.zone.zone_of(&record.name) {
            return Err((
                entry.start,
                format!("{} is outside zone {}", record.name, self.zone),
            ));
        }
        // hickory accepts some data it then cannot encode (a TXT string
        // over 255 octets): encode once so it fails here.
        record.to_bytes().map_err(|e| {
            (
                data_offset,
                format!("invalid {rtype} record: cannot be encoded: {e}"),
            )
        })?;
        self.records.push(FileRecord {
            record,
            file: file.clone(),
            line: crate::config::diagnostics::position(text, entry.start).0,
        });
        Ok(())
    }
}

/// A TTL in zone-file syntax (`3600`, `1h30m`, RFC 2308 §4 units).
fn ttl(text: &str) -> Result<u32, String> {
    match parse_ttl(text) {
        Ok(t) if t <= MAX_TTL => Ok(t),
        Ok(t) => Err(format!(
            "TTL {t} is out of range 0..={MAX_TTL} (RFC 2181 §8)"
        )),
        Err(_) => Err(format!("invalid TTL `{text}`")),
    }
}

/// A name relative to `origin`; `*` only as the leftmost label (RFC 4592
/// §2.1.1: elsewhere it is no wildcard and surely a mistake).
pub(in crate::config::tables) fn parse_name(text: &str, origin: &Name) -> Result<Name, String> {
    let name = if text == "@" {
        origin.clone()
    } else {
        Name::parse(text, Some(origin)).map_err(|e| format!("`{text}`: {e}"))?
    };
    if name.iter().skip(1).any(|label| label == b"*") {
        return Err(format!(
            "`{text}`: `*` is a wildcard only as the leftmost label (RFC 4592 §2.1.1)"
        ));
    }
    Ok(name.to_lowercase())
}

/// Names inside data are stored lowercase, as those of `[[zone.record]]`.
fn lowercase_names(data: &mut RData) {
    match data {
        RData::CNAME(n) => n.0 = n.0.to_lowercase(),
        RData::NS(n) => n.0 = n.0.to_lowercase(),
        RData::PTR(n) => n.0 = n.0.to_lowercase(),
        RData::MX(mx) => mx.exchange = mx.exchange.to_lowercase(),
        RData::SRV(srv) => srv.target = srv.target.to_lowercase(),
        RData::SOA(soa) => {
            soa.mname = soa.mname.to_lowercase();
            soa.rname = soa.rname.to_lowercase();
        }
        _ => {}
    }
}

/// Splits a zone file into entries (RFC 1035 §5.1): a line, or lines
/// joined by parentheses; `;` starts a comment, `"…"` a quoted word, `\`
/// escapes the next character. Blank and comment-only lines are no
/// entries. The error is an unbalanced parenthesis or quote, with the
/// offset of where it opened.
fn entries(text: &str) -> Result<Vec<Entry<'_>>, (usize, String)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let blank_owner = matches!(bytes[i], b' ' | b'\t');
        let mut words = Vec::new();
        let mut open_paren: Option<usize> = None;
        while let Some(&c) = bytes.get(i) {
            match c {
                b'\n' if open_paren.is_none() => break,
                b' ' | b'\t' | b'\r' | b'\n' => i += 1,
                b';' => {
                    while i < bytes.len() && bytes[i] != b'\n' {
                        i += 1;
                    }
                }
                b'(' => {
                    if open_paren.is_some() {
                        return Err((i, "nested parentheses".to_string()));
                    }
                    open_paren = Some(i);
                    i += 1;
                }
                b')' => {
                    if open_paren.take().is_none() {
                        return Err((i, "`)` without `(`".to_string()));
                    }
                    i += 1;
                }
                b'"' => {
                    let open = i;
                    i += 1;
                    while i < bytes.len() && bytes[i] != b'"' {
                        i += if bytes[i] == b'\\' { 2 } else { 1 };
                    }
                    if i >= bytes.len() {
                        return Err((open, "unterminated quoted string".to_string()));
                    }
                    words.push(Word {
                        text: &text[open + 1..i],
                        quoted: true,
                        offset: open,
                    });
                    i += 1;
                }
                _ => {
                    let begin = i;
                    while i < bytes.len() && !b" \t\r\n;()\"".contains(&bytes[i]) {
                        i += if bytes[i] == b'\\' { 2 } else { 1 };
                    }
                    let i_end = i.min(bytes.len());
                    i = i_end;
                    words.push(Word {
                        text: &text[begin..i_end],
                        quoted: false,
                        offset: begin,
                    });
                }
            }
        }
        if let Some(open) = open_paren {
            return Err((open, "`(` without `)`".to_string()));
        }
        let end = i.min(bytes.len());
        if !words.is_empty() {
            out.push(Entry {
                start,
                blank_owner,
                words,
            });
        }
        i = end + 1;
    }
    Ok(out)
}
