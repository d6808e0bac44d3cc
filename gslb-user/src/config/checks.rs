//! The checks every table uses: the [`Validator`] that collects
//! diagnostics, integers, TTLs, durations, choices among names, addresses,
//! domain names, and the names of entries (`[[pool]]`, `[[vserver]]`, ...)
//! with the references to them.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr},
    ops::{Range, RangeInclusive},
    time::Duration,
};

use hickory_proto::rr::Name;

use super::{
    diagnostics::{diagnostic, position, Diagnostic},
    raw::{Dur, Int, Str},
    MAX_TTL,
};

/// Longest entry name (datacenter, monitor, server, pool).
pub const MAX_ENTRY_NAME_LEN: usize = 64;

/// Collects diagnostics while building the config.
pub(super) struct Validator<'a> {
    text: &'a str,
    origin: &'a str,
    diags: Vec<Diagnostic>,
}

impl<'a> Validator<'a> {
    /// A validator of `text`, named `origin` in diagnostics.
    pub(super) fn new(text: &'a str, origin: &'a str) -> Self {
        Validator {
            text,
            origin,
            diags: Vec::new(),
        }
    }

    /// Every problem found.
    pub(super) fn into_diagnostics(self) -> Vec<Diagnostic> {
        self.diags
    }

    /// A path named in the config: relative ones are relative to the
    /// config file's directory.
    pub(super) fn relative_to_config(&self, path: &str) -> std::path::PathBuf {
        let path = std::path::Path::new(path);
        match std::path::Path::new(self.origin).parent() {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_path_buf(),
        }
    }
}

impl Validator<'_> {
    pub(super) fn error(&mut self, span: &Range<usize>, message: impl Into<String>) {
        let d = diagnostic(self.text, self.origin, span.start, message.into());
        self.diags.push(d);
    }

    /// A diagnostic located in another file (a zone file named by the
    /// config).
    pub(super) fn push(&mut self, diagnostic: Diagnostic) {
        self.diags.push(diagnostic);
    }

    /// `LINE:COL` of a span, to refer to another value in a message.
    pub(super) fn at(&self, span: &Range<usize>) -> String {
        let (line, column) = position(self.text, span.start);
        format!("{line}:{column}")
    }

    pub(super) fn ttl(&mut self, value: Option<&Int>, default: u32) -> u32 {
        let Some(value) = value else { return default };
        match u32::try_from(*value.get_ref()) {
            Ok(ttl) if ttl <= MAX_TTL => ttl,
            _ => {
                self.error(
                    &value.span(),
                    format!(
                        "TTL {} is out of range 0..={MAX_TTL} (RFC 2181 §8)",
                        value.get_ref()
                    ),
                );
                default
            }
        }
    }

    /// An integer in `range`; `None` (and an error) when out of it.
    pub(super) fn int_in(
        &mut self,
        value: &Int,
        range: RangeInclusive<i64>,
        what: &str,
    ) -> Option<i64> {
        let v = *value.get_ref();
        if range.contains(&v) {
            Some(v)
        } else {
            let msg = if *range.end() == i64::MAX {
                format!(
                    "{what} {v} is out of range: it must be at least {}",
                    range.start()
                )
            } else {
                format!(
                    "{what} {v} is out of range {}..={}",
                    range.start(),
                    range.end()
                )
            };
            self.error(&value.span(), msg);
            None
        }
    }

    /// An optional integer in `range`, `default` when absent or invalid.
    pub(super) fn opt_int_in(
        &mut self,
        value: Option<&Int>,
        range: RangeInclusive<i64>,
        default: i64,
        what: &str,
    ) -> i64 {
        value
            .and_then(|v| self.int_in(v, range, what))
            .unwrap_or(default)
    }

    /// One of `choices` (config spellings).
    pub(super) fn choice<T: Clone>(
        &mut self,
        value: &Str,
        what: &str,
        choices: &[(T, &str)],
    ) -> Option<T> {
        let text = value.get_ref();
        if let Some((v, _)) = choices.iter().find(|(_, n)| *n == text.as_str()) {
            return Some(v.clone());
        }
        let names: Vec<&str> = choices.iter().map(|(_, n)| *n).collect();
        self.error(
            &value.span(),
            format!("unknown {what} `{text}` (one of: {})", names.join(", ")),
        );
        None
    }

    pub(super) fn duration(&mut self, value: &Dur, what: &str) -> Option<Duration> {
        match value.get_ref().parse(what) {
            Ok(d) => Some(d),
            Err(e) => {
                self.error(&value.span(), e);
                None
            }
        }
    }

    /// A non-empty string without whitespace or control characters.
    pub(super) fn token_like(&mut self, value: &Str, what: &str) -> Option<String> {
        let text = value.get_ref();
        if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            self.error(
                &value.span(),
                format!("invalid {what} `{text}`: empty or contains whitespace"),
            );
            None
        } else {
            Some(text.clone())
        }
    }

    pub(super) fn ip(&mut self, value: &Str, what: &str) -> Option<IpAddr> {
        let text = value.get_ref();
        match text.trim().parse::<IpAddr>() {
            Err(_) => {
                self.error(
                    &value.span(),
                    format!("invalid {what} `{text}`: expected an IPv4 or IPv6 address"),
                );
                None
            }
            Ok(ip) if unusable_address(ip) => {
                self.error(
                    &value.span(),
                    format!(
                        "{ip} cannot be a server address (unspecified, broadcast or multicast)"
                    ),
                );
                None
            }
            Ok(ip) => Some(ip),
        }
    }

    /// Checks an entry name and declares it; `Some` when the entry is new
    /// and its name valid.
    pub(super) fn declare<T>(
        &mut self,
        decl: &mut Declared<T>,
        name: &Str,
        table: &str,
    ) -> Option<String> {
        let text = name.get_ref();
        let span = name.span();
        if let Some(first) = decl.names.get(text) {
            let msg = format!(
                "duplicate [[{table}]] name `{text}` (first defined at {})",
                self.at(first)
            );
            self.error(&span, msg);
            return None;
        }
        decl.names.insert(text.clone(), span.clone());
        if text.is_empty()
            || text.chars().count() > MAX_ENTRY_NAME_LEN
            || !text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            self.error(
                &span,
                format!(
                    "invalid [[{table}]] name `{text}`: 1 to {MAX_ENTRY_NAME_LEN} letters, \
                     digits, '.', '_' or '-'"
                ),
            );
            return None;
        }
        Some(text.clone())
    }

    /// A reference to an entry of `decl`: its name, if declared.
    pub(super) fn reference<T>(
        &mut self,
        decl: &Declared<T>,
        name: &Str,
        table: &str,
        key: &str,
    ) -> Option<String> {
        let text = name.get_ref();
        if decl.contains(text) {
            Some(text.clone())
        } else {
            self.error(
                &name.span(),
                format!("`{key}`: unknown {table} `{text}` (no [[{table}]] has that name)"),
            );
            None
        }
    }
}

/// The entries of one kind that passed their checks, and every name
/// declared for that kind (also those of invalid entries, so that a
/// reference to an invalid entry does not add a second error).
pub(in crate::config) struct Declared<T> {
    pub(super) items: Vec<T>,
    /// Name → where it was first declared.
    names: HashMap<String, Range<usize>>,
}

impl<T> Declared<T> {
    pub(super) fn new() -> Self {
        Declared {
            items: Vec::new(),
            names: HashMap::new(),
        }
    }

    pub(super) fn contains(&self, name: &str) -> bool {
        self.names.contains_key(name)
    }
}

/// Whether `ip` cannot be handed out as a server address (unspecified,
/// broadcast or multicast).
pub(super) fn unusable_address(ip: IpAddr) -> bool {
    ip.is_unspecified() || ip.is_multicast() || ip == IpAddr::V4(Ipv4Addr::BROADCAST)
}

/// A name that is absolute whether or not it ends with a dot (zone and
/// gslb names), lowercase.
pub(super) fn absolute_name(text: &str) -> Result<Name, String> {
    zone_file_name(text, &Name::root())
}

/// A name in zone-file syntax relative to `origin` (RFC 1035 §5.1),
/// lowercase. Wildcards are rejected: this server does not synthesize
/// (RFC 4592), so a `*` label would be served literally, surprising
/// everyone.
pub(super) fn zone_file_name(text: &str, origin: &Name) -> Result<Name, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty name".to_string());
    }
    let name = if text == "@" {
        origin.clone()
    } else {
        Name::parse(text, Some(origin)).map_err(|e| format!("`{text}`: {e}"))?
    };
    if name.iter().any(|label| label == b"*") {
        return Err(format!("`{text}`: wildcard names are not supported"));
    }
    Ok(name.to_lowercase())
}
