//! Durations (`interval`, `timeout`, `max_age`, ...): a string with a
//! unit as humantime reads it (`"250ms"`, `"2s"`, `"1.5s"`, `"10m"`,
//! `"1h"`, also `"1m 30s"`), or an integer number of seconds.

use std::time::Duration;

use serde::Deserialize;

/// A duration as written. Checked in validation, where the span is known.
pub(super) enum RawDuration {
    Seconds(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for RawDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = RawDuration;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "a duration such as \"250ms\", \"2s\" or \"1m\", \
                     or an integer number of seconds",
                )
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawDuration, E> {
                Ok(RawDuration::Seconds(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawDuration, E> {
                Ok(RawDuration::Seconds(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawDuration, E> {
                Ok(RawDuration::Text(v.to_string()))
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl RawDuration {
    /// The duration, or why it is not one; `what` names the key.
    pub(super) fn parse(&self, what: &str) -> Result<Duration, String> {
        match self {
            RawDuration::Seconds(s) => u64::try_from(*s)
                .map(Duration::from_secs)
                .map_err(|_| format!("{what} {s} is negative")),
            RawDuration::Text(t) => parse_duration(t).map_err(|e| format!("{what}: {e}")),
        }
    }
}

/// Parses a duration with a unit (humantime's syntax, nanosecond
/// precision), with messages that show the text and the usual units.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    use humantime::DurationError as E;
    const UNITS: &str = "units: ms, s, m, h, ...";
    humantime::parse_duration(text.trim()).map_err(|e| match e {
        E::UnknownUnit { unit, value, .. } if unit.is_empty() => {
            format!("duration `{text}` has no unit: write e.g. \"{value}s\" ({UNITS})")
        }
        E::UnknownUnit { unit, .. } => {
            format!("invalid duration `{text}`: unknown unit `{unit}` ({UNITS})")
        }
        E::NumberOverflow => {
            format!("duration `{text}` is too long, or finer than a nanosecond")
        }
        E::Empty => "empty duration: write e.g. \"250ms\", \"2s\", \"1m\"".to_string(),
        e => format!(
            "invalid duration `{text}` ({e}): expected a number and a unit, \
             e.g. \"250ms\", \"2s\", \"1m\""
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Every spelling docs/configuration.md and the examples use, and the finer ones
    /// the old hand-written parser took.
    #[test]
    fn spellings() {
        for (text, want) in [
            ("250ms", ms(250)),
            ("500ms", ms(500)),
            ("200ms", ms(200)),
            ("1s", ms(1000)),
            ("2s", ms(2000)),
            ("5s", ms(5000)),
            ("10s", ms(10_000)),
            ("15s", ms(15_000)),
            ("60s", ms(60_000)),
            ("1.5s", ms(1500)),
            ("1m", ms(60_000)),
            ("10m", ms(600_000)),
            ("1h", ms(3_600_000)),
            ("2h", ms(7_200_000)),
            ("1m 30s", ms(90_000)),
            (" 10ms ", ms(10)),
            ("0.0015ms", Duration::from_nanos(1500)),
        ] {
            assert_eq!(parse_duration(text), Ok(want), "`{text}`");
        }
    }

    #[test]
    fn errors() {
        for bad in ["", "s", "5", "1x", "-1s", "1.2.3s", "ms5", ".", "1."] {
            assert!(parse_duration(bad).is_err(), "`{bad}` accepted");
        }
        assert!(parse_duration("5").unwrap_err().contains("has no unit"));
        assert!(parse_duration("1x")
            .unwrap_err()
            .contains("unknown unit `x`"));
        assert!(parse_duration("99999999999999999999999h")
            .unwrap_err()
            .contains("too long"));
    }
}
