//! The `[engine]` table: parameters of the selection engine.
//!
//! ```toml
//! [engine]
//! fewest_selected_window = "60s"   # hand-outs counted for fewest_selected, 1s..=10m
//! ```

use std::time::Duration;

use serde::Deserialize;

use crate::config::{checks::Validator, raw::Dur};

/// Default `fewest_selected_window`.
pub const DEFAULT_FEWEST_SELECTED_WINDOW: Duration = Duration::from_secs(60);
/// Shortest `fewest_selected_window`: one engine tick.
pub const MIN_FEWEST_SELECTED_WINDOW: Duration = Duration::from_secs(1);
/// Longest `fewest_selected_window` (the daemon keeps one row of
/// per-server counts per second of it).
pub const MAX_FEWEST_SELECTED_WINDOW: Duration = Duration::from_secs(600);

/// `[engine]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// `fewest_selected` compares how often each server was handed out
    /// first within this sliding window (both paths).
    pub fewest_selected_window: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            fewest_selected_window: DEFAULT_FEWEST_SELECTED_WINDOW,
        }
    }
}

/// `[engine]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawEngine {
    pub(in crate::config) fewest_selected_window: Option<Dur>,
}

impl Validator<'_> {
    /// `[engine]`, defaults filled in.
    pub(super) fn engine(&mut self, raw: Option<&RawEngine>) -> EngineConfig {
        let mut e = EngineConfig::default();
        let Some(v) = raw.and_then(|r| r.fewest_selected_window.as_ref()) else {
            return e;
        };
        match self.duration(v, "engine.fewest_selected_window") {
            Some(d) if (MIN_FEWEST_SELECTED_WINDOW..=MAX_FEWEST_SELECTED_WINDOW).contains(&d) => {
                e.fewest_selected_window = d;
            }
            Some(d) => self.error(
                &v.span(),
                format!(
                    "engine.fewest_selected_window {d:?} is out of range: \
                     {MIN_FEWEST_SELECTED_WINDOW:?} to {MAX_FEWEST_SELECTED_WINDOW:?}"
                ),
            ),
            None => {}
        }
        e
    }
}
