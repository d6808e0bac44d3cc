//! Reading the TOML document into the raw schema: every syntax error, or
//! the first value of the wrong type (or unknown key) with its key path.

use super::{
    diagnostics::{diagnostic, Diagnostic},
    tables::RawConfig,
    ConfigError,
};

/// The document deserialized into the schema: every syntax error, or the
/// first type error with its key path.
pub(super) fn read_raw(text: &str, origin: &str) -> Result<RawConfig, ConfigError> {
    // toml's messages alone: its Display adds a multi-line excerpt.
    let message = |e: &toml::de::Error| e.message().trim().replace('\n', "; ");
    let (table, errors) = toml::de::DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        let mut diags: Vec<Diagnostic> = errors
            .iter()
            .map(|e| diagnostic(text, origin, e.span().map_or(0, |s| s.start), message(e)))
            .collect();
        diags.sort_by_key(|d| (d.line, d.column));
        return Err(ConfigError::Invalid(diags));
    }
    serde_path_to_error::deserialize(toml::de::Deserializer::from(table)).map_err(|e| {
        let key = key_path(e.path());
        let inner = e.inner();
        let offset = inner.span().map_or(0, |s| s.start);
        let message = if key.is_empty() {
            message(inner)
        } else {
            format!("`{key}`: {}", message(inner))
        };
        ConfigError::Invalid(vec![diagnostic(text, origin, offset, message)])
    })
}

/// A key path as written in the config (`pool[1].ratio`), without the
/// fields serde uses internally for spans.
fn key_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } if key.starts_with("$__") => {}
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    out
}
