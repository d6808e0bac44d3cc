//! `[[datacenter]]`: where virtual servers are.
//!
//! ```toml
//! [[datacenter]]
//! name = "ams"
//! lat = 52.37                  # -90..=90
//! lon = 4.90                   # -180..=180
//! region = "eu"                # optional
//! country = "NL"               # optional, ISO 3166 alpha-2 (stored uppercase)
//! bias = 20                    # optional, -99..=99 (default 0): geo_proximity
//!                              # sees it at distance × (1 - bias/100)
//! ```

use serde::Deserialize;

use crate::config::{
    checks::{Declared, Validator},
    raw::{Float, Int, Str},
};

/// One `[[datacenter]]`.
#[derive(Clone, Debug, PartialEq)]
pub struct DatacenterConfig {
    /// Unique name.
    pub name: String,
    /// Latitude, degrees, -90..=90.
    pub lat: f64,
    /// Longitude, degrees, -180..=180.
    pub lon: f64,
    /// Optional region tag.
    pub region: Option<String>,
    /// Optional ISO 3166 alpha-2 country code, uppercase.
    pub country: Option<String>,
    /// geo_proximity bias, -99..=99: the client's distance to it counts as
    /// distance × (1 - bias/100).
    pub bias: i8,
}

/// Validated coordinates are never NaN, so equality is total.
impl Eq for DatacenterConfig {}

/// One `[[datacenter]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawDatacenter {
    pub(in crate::config) name: Str,
    pub(in crate::config) lat: Float,
    pub(in crate::config) lon: Float,
    pub(in crate::config) region: Option<Str>,
    pub(in crate::config) country: Option<Str>,
    pub(in crate::config) bias: Option<Int>,
}

impl Validator<'_> {
    pub(super) fn datacenters(&mut self, raw: &[RawDatacenter]) -> Declared<DatacenterConfig> {
        let mut decl = Declared::new();
        for dc in raw {
            let name = self.declare(&mut decl, &dc.name, "datacenter");
            let lat = self.degrees(&dc.lat, "latitude", 90.0);
            let lon = self.degrees(&dc.lon, "longitude", 180.0);
            let region = dc
                .region
                .as_ref()
                .and_then(|r| self.token_like(r, "region"));
            let country = dc.country.as_ref().and_then(|c| {
                let text = c.get_ref();
                if text.len() == 2 && text.bytes().all(|b| b.is_ascii_alphabetic()) {
                    Some(text.to_ascii_uppercase())
                } else {
                    self.error(
                        &c.span(),
                        format!(
                            "invalid country `{text}`: expected an ISO 3166 alpha-2 code \
                             such as \"NL\""
                        ),
                    );
                    None
                }
            });
            let bias = self.opt_int_in(dc.bias.as_ref(), -99..=99, 0, "bias") as i8;
            if let Some(name) = name {
                decl.items.push(DatacenterConfig {
                    name,
                    lat,
                    lon,
                    region,
                    country,
                    bias,
                });
            }
        }
        decl
    }

    fn degrees(&mut self, value: &Float, what: &str, max: f64) -> f64 {
        let v = *value.get_ref();
        if (-max..=max).contains(&v) {
            v
        } else {
            self.error(
                &value.span(),
                format!("{what} {v} is out of range -{max}..={max} (degrees)"),
            );
            0.0
        }
    }
}
