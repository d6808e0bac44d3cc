//! `[geoip]`: the geo databases (MaxMind MMDB format: GeoLite2/GeoIP2
//! City or Country, and ASN). Needed by topology rules on `country:`,
//! `continent:` (database) and `asn:` (asn_database), and by method
//! `geo_proximity` (the City database's locations). Relative paths are
//! relative to the config file's directory. The files are opened at
//! validation and read again whenever the client data is built.
//!
//! ```toml
//! [geoip]
//! database = "GeoLite2-City.mmdb"
//! asn_database = "GeoLite2-ASN.mmdb"   # optional
//! ```

use std::path::PathBuf;

use serde::Deserialize;

use super::pool::{Method, RawPool};
use crate::config::{checks::Validator, raw::Str};

/// `[geoip]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeoipConfig {
    /// City (or Country) database: country, continent, location.
    pub database: PathBuf,
    /// ASN database.
    pub asn_database: Option<PathBuf>,
}

/// `[geoip]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawGeoip {
    pub(in crate::config) database: Str,
    pub(in crate::config) asn_database: Option<Str>,
}

impl Validator<'_> {
    pub(super) fn geoip(&mut self, raw: Option<&RawGeoip>) -> Option<GeoipConfig> {
        let raw = raw?;
        let database = self.mmdb(&raw.database);
        let asn_database = raw.asn_database.as_ref().map(|a| self.mmdb(a));
        Some(GeoipConfig {
            database: database?,
            asn_database: match asn_database {
                None => None,
                Some(Some(p)) => Some(p),
                Some(None) => return None,
            },
        })
    }

    /// Without `[geoip]`, a pool's `geo_proximity` method has no client
    /// locations to work with: an error at the method.
    pub(super) fn geo_methods_need_geoip(&mut self, pools: &[RawPool]) {
        for p in pools {
            for key in [&p.preferred, &p.alternate, &p.fallback]
                .into_iter()
                .flatten()
            {
                if key.get_ref() == Method::GeoProximity.name() {
                    self.error(
                        &key.span(),
                        "method geo_proximity needs client locations: no [geoip] database \
                         is configured",
                    );
                }
            }
        }
    }

    /// A database path that opens as an MMDB.
    fn mmdb(&mut self, value: &Str) -> Option<PathBuf> {
        let path = self.relative_to_config(value.get_ref());
        match maxminddb::Reader::open_readfile(&path) {
            Ok(_) => Some(path),
            Err(e) => {
                self.error(
                    &value.span(),
                    format!("{}: not a usable MMDB database: {e}", path.display()),
                );
                None
            }
        }
    }
}
