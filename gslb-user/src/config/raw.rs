//! The value types of the raw schema: every value that is checked beyond
//! its TOML type is `Spanned`, so that errors can point at it. The raw
//! form of each table is in its file under `tables/`.

use toml::Spanned;

pub(super) use super::duration::RawDuration;

pub(super) type Str = Spanned<String>;
pub(super) type Int = Spanned<i64>;
pub(super) type StrList = Spanned<Vec<Str>>;
pub(super) type Float = Spanned<f64>;
pub(super) type IntList = Spanned<Vec<Int>>;
pub(super) type Dur = Spanned<RawDuration>;
