//! `[health]`: defaults of the health engine.
//!
//! ```toml
//! [health]
//! initial = "up"               # cold start state of every server: up | down (default up)
//! ```

use serde::Deserialize;

use crate::config::{checks::Validator, raw::Str};

/// `[health]`: defaults of the health engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthConfig {
    /// Cold start state of servers without their own `initial` (default
    /// up: a restart must not blackhole traffic).
    pub initial_up: bool,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig { initial_up: true }
    }
}

/// A server's health: up when all its monitors say up (or it has none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Healthy.
    Up,
    /// A monitor says down.
    Down,
}

names!(Health {
    Up = "up",
    Down = "down",
});

impl Health {
    /// `Up` when `up`.
    pub fn from_up(up: bool) -> Health {
        if up {
            Health::Up
        } else {
            Health::Down
        }
    }
}

/// `[health]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawHealth {
    pub(in crate::config) initial: Option<Str>,
}

impl Validator<'_> {
    pub(super) fn health(&mut self, raw: Option<&RawHealth>) -> HealthConfig {
        let mut health = HealthConfig::default();
        if let Some(initial) = raw.and_then(|r| r.initial.as_ref()) {
            if let Some(up) = self.up_down(initial) {
                health.initial_up = up;
            }
        }
        health
    }

    /// `initial = "up" | "down"`.
    pub(super) fn up_down(&mut self, value: &Str) -> Option<bool> {
        let text = value.get_ref();
        let health = Health::from_name(text);
        if health.is_none() {
            self.error(
                &value.span(),
                format!("invalid initial state `{text}`: expected \"up\" or \"down\""),
            );
        }
        health.map(|h| h == Health::Up)
    }
}
