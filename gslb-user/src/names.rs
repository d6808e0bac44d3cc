//! One spelling per value of the vocabulary enums (admin states, health
//! states, methods, all-down behaviours, ...): [`names!`] generates
//! `name()`, `from_name()`, `Display` and the serde forms from a single
//! table, so the config parser, the control protocol's replies and the
//! CLI read and write the same words.

/// Generates, from `Type { Variant = "spelling", ... }`: `ALL` (every
/// value with its spelling), `NAMES`, `name()`, `from_name()` (exact),
/// `Display`, and `Serialize` / `Deserialize` as the spelling.
macro_rules! names {
    ($ty:ty { $($variant:ident = $name:literal),* $(,)? }) => {
        impl $ty {
            /// Every value with its spelling.
            pub const ALL: &'static [($ty, &'static str)] = &[$((<$ty>::$variant, $name)),*];

            /// Every spelling.
            pub const NAMES: &'static [&'static str] = &[$($name),*];

            /// The spelling (config, control protocol, CLI).
            pub fn name(&self) -> &'static str {
                match self {
                    $(<$ty>::$variant => $name,)*
                }
            }

            /// Parses the spelling (exact, snake_case).
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($name => Some(<$ty>::$variant),)*
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let name = <String as serde::Deserialize>::deserialize(d)?;
                <$ty>::from_name(&name).ok_or_else(|| {
                    <D::Error as serde::de::Error>::unknown_variant(&name, <$ty>::NAMES)
                })
            }
        }
    };
}
