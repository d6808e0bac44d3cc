//! The TOML configuration: parsing and complete validation.
//!
//! [`parse`] either returns a [`Config`] that is fully valid (every name,
//! address, TTL and record has been checked, and the zone data is
//! consistent) or a [`ConfigError`] listing every problem as
//! `FILE:LINE:COL: what is wrong`, the position being that of the offending
//! value. `gslb check` is this function; the daemon never applies a config
//! that did not pass it (docs/ARCHITECTURE.md, "Invariants").
//!
//! The format is documented by example in `default.toml`
//! ([`DEFAULT_CONFIG`]) and `examples/gslb.toml` ([`GSLB_EXAMPLE_CONFIG`]),
//! and table by table in the files of `config/tables/`.
//!
//! Layout: `read` turns the text into the raw schema (syntax and type
//! errors), `tables` holds one file per table (raw form, validated form,
//! checks) and assembles the [`Config`], `checks` the checks all tables
//! share, `duration` the duration syntax, `diagnostics` the
//! `FILE:LINE:COL` messages, `usage` the warnings about unused entries.
//! Every public type is re-exported here: `crate::config::PoolConfig`.
//!
//! Names: `zone.name` and `gslb.name` are always absolute (a trailing dot
//! is optional). `zone.ns`, `zone.soa.mname`/`rname`, `zone.record.name`
//! and names inside record data follow zone-file rules (RFC 1035 §5.1):
//! absolute with a trailing dot, otherwise relative to the zone, `@` being
//! the zone apex. All names are stored lowercase.

use std::path::Path;

pub use diagnostics::{ConfigError, Diagnostic};
pub use tables::*;

/// The embedded default configuration, used when no config file is given.
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");
/// A complete example exercising every table, GSLB engine included.
pub const GSLB_EXAMPLE_CONFIG: &str = include_str!("examples/gslb.toml");
/// The origin (file name) reported in errors about [`DEFAULT_CONFIG`].
pub const DEFAULT_CONFIG_ORIGIN: &str = "<embedded default config>";

/// Largest TTL (RFC 2181 §8: a TTL is an unsigned 31-bit number).
pub const MAX_TTL: u32 = 0x7fff_ffff;
/// Most addresses of one type in a gslb name (the XDP answer-set size).
pub const MAX_GSLB_ADDRS: usize = gslb_common::maps::MAX_ADDRS;

/// Reads and validates the config file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, &path.display().to_string())
}

/// Parses and validates the embedded [`DEFAULT_CONFIG`].
pub fn load_default() -> Result<Config, ConfigError> {
    parse(DEFAULT_CONFIG, DEFAULT_CONFIG_ORIGIN)
}

/// Parses and validates `text`; `origin` names it in error messages.
/// Every problem found is reported, in text order.
pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
    parse_with_warnings(text, origin).map(|(config, _)| config)
}

/// Reads and validates the config file at `path`, like [`load`]; also
/// returns the warnings (see [`parse_with_warnings`]).
pub fn load_with_warnings(path: &Path) -> Result<(Config, Vec<Diagnostic>), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_with_warnings(&text, &path.display().to_string())
}

/// Parses and validates `text` like [`parse`]; a valid config comes with
/// warnings about what is legal but likely a mistake: no zone at all,
/// servers, pools and monitors that nothing refers to.
///
/// Every syntax error is reported (the TOML parser recovers after each).
/// A value of the wrong type or an unknown key stops the reading of the
/// document there, so only the first of those is reported, with its key
/// path (`pool[1].max_answers`); the checks of the values then report
/// every problem.
pub fn parse_with_warnings(
    text: &str,
    origin: &str,
) -> Result<(Config, Vec<Diagnostic>), ConfigError> {
    let raw = read::read_raw(text, origin)?;
    let warnings = usage::warnings(&raw, text, origin);
    let (config, mut diags) = tables::validate(raw, text, origin);
    if diags.is_empty() {
        Ok((config, warnings))
    } else {
        diags.sort_by_key(|d| (d.line, d.column));
        Err(ConfigError::Invalid(diags))
    }
}

mod checks;
mod diagnostics;
mod duration;
mod raw;
mod read;
mod tables;
#[cfg(test)]
mod tests;
mod usage;
