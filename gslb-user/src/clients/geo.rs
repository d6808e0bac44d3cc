//! The geo databases (MaxMind MMDB): what they say about client
//! prefixes (country, continent, location; ASN), read with the
//! `maxminddb` crate, and great-circle distances.

use std::{collections::HashMap, net::IpAddr, path::Path};

use ipnet::IpNet;
use maxminddb::{Reader, WithinOptions};
use serde::Deserialize;

use super::ClientsError;
use crate::config::GeoipConfig;

/// What the geo databases know of a client.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GeoData {
    /// ISO 3166 alpha-2 country code.
    pub country: Option<String>,
    /// Two-letter continent code (EU, NA, ...).
    pub continent: Option<String>,
    /// Autonomous system number.
    pub asn: Option<u32>,
    /// Latitude and longitude, degrees.
    pub location: Option<(f64, f64)>,
}

/// The opened databases.
pub struct GeoDbs {
    city: Reader<Vec<u8>>,
    asn: Option<Reader<Vec<u8>>>,
}

impl std::fmt::Debug for GeoDbs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoDbs")
            .field("city", &self.city.metadata.database_type)
            .field("asn", &self.asn.as_ref().map(|r| &r.metadata.database_type))
            .finish()
    }
}

/// The fields of a City/Country record the client groups use.
#[derive(Deserialize, Default)]
struct CityRecord<'a> {
    #[serde(borrow, default)]
    country: Option<Code<'a>>,
    #[serde(borrow, default)]
    continent: Option<Code<'a>>,
    #[serde(default)]
    location: Option<Location>,
}

#[derive(Deserialize, Default)]
struct Code<'a> {
    #[serde(default)]
    iso_code: Option<&'a str>,
    #[serde(default)]
    code: Option<&'a str>,
}

#[derive(Deserialize, Default)]
struct Location {
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
}

#[derive(Deserialize, Default)]
struct AsnRecord {
    #[serde(default)]
    autonomous_system_number: Option<u32>,
}

fn open(path: &Path) -> Result<Reader<Vec<u8>>, ClientsError> {
    Reader::open_readfile(path).map_err(|e| ClientsError::Geo(format!("{}: {e}", path.display())))
}

fn geo_err(path: &str, e: maxminddb::MaxMindDbError) -> ClientsError {
    ClientsError::Geo(format!("{path}: {e}"))
}

impl CityRecord<'_> {
    fn data(&self) -> GeoData {
        GeoData {
            country: self
                .country
                .as_ref()
                .and_then(|c| c.iso_code)
                .map(str::to_ascii_uppercase),
            continent: self
                .continent
                .as_ref()
                .and_then(|c| c.code)
                .map(str::to_ascii_uppercase),
            asn: None,
            location: self
                .location
                .as_ref()
                .and_then(|l| Some((l.latitude?, l.longitude?))),
        }
    }
}

/// A database network as a prefix; IPv4 for the IPv4 part of an IPv6
/// database, `None` for the IPv4-compatible `::/96` copy.
fn prefix(ip: IpAddr, len: u8) -> Option<IpNet> {
    match ip {
        IpAddr::V6(v6) if len >= 96 && u128::from(v6) >> 32 == 0 => None,
        _ => IpNet::new(ip, len).ok(),
    }
}

impl GeoDbs {
    /// Opens the databases of `[geoip]`.
    pub fn open(cfg: &GeoipConfig) -> Result<GeoDbs, ClientsError> {
        Ok(GeoDbs {
            city: open(&cfg.database)?,
            asn: cfg.asn_database.as_deref().map(open).transpose()?,
        })
    }

    /// What the databases say of `ip`.
    pub fn lookup(&self, ip: IpAddr) -> GeoData {
        let mut out = self
            .city
            .lookup(ip)
            .ok()
            .and_then(|r| r.decode::<CityRecord>().ok().flatten())
            .map(|c| c.data())
            .unwrap_or_default();
        out.asn = self.asn.as_ref().and_then(|a| {
            a.lookup(ip)
                .ok()?
                .decode::<AsnRecord>()
                .ok()??
                .autonomous_system_number
        });
        out
    }

    /// Every network of the City database with its data, through `f`
    /// (IPv4 networks as IPv4 prefixes).
    pub fn city_networks(&self, mut f: impl FnMut(IpNet, &GeoData)) -> Result<(), ClientsError> {
        let mut cache: HashMap<usize, GeoData> = HashMap::new();
        each_network(&self.city, "database", |net, lookup| {
            let Some(offset) = lookup.offset() else {
                return Ok(());
            };
            let data = match cache.entry(offset) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    let rec: CityRecord = lookup.decode()?.unwrap_or_default();
                    e.insert(rec.data())
                }
            };
            f(net, data);
            Ok(())
        })
    }

    /// Every network of the ASN database with its number, through `f`.
    pub fn asn_networks(&self, mut f: impl FnMut(IpNet, u32)) -> Result<(), ClientsError> {
        let Some(asn) = &self.asn else { return Ok(()) };
        each_network(asn, "asn_database", |net, lookup| {
            let rec: Option<AsnRecord> = lookup.decode()?;
            if let Some(n) = rec.and_then(|r| r.autonomous_system_number) {
                f(net, n);
            }
            Ok(())
        })
    }
}

/// Walks every network with data of `reader`: IPv4 (`0.0.0.0/0`) and,
/// for an IPv6 database, IPv6 (`::/0`, without the IPv4 aliases).
fn each_network(
    reader: &Reader<Vec<u8>>,
    which: &str,
    mut f: impl FnMut(
        IpNet,
        &maxminddb::LookupResult<'_, Vec<u8>>,
    ) -> Result<(), maxminddb::MaxMindDbError>,
) -> Result<(), ClientsError> {
    let mut roots = vec!["0.0.0.0/0"];
    if reader.metadata.ip_version == 6 {
        roots.push("::/0");
    }
    for root in roots {
        let iter = reader
            .within(
                root.parse().expect("literal network"),
                WithinOptions::default(),
            )
            .map_err(|e| geo_err(which, e))?;
        for item in iter {
            let lookup = item.map_err(|e| geo_err(which, e))?;
            let net = lookup.network().map_err(|e| geo_err(which, e))?;
            let Some(net) = prefix(net.ip(), net.prefix()) else {
                continue;
            };
            if root == "::/0" && matches!(net, IpNet::V4(_)) {
                continue;
            }
            f(net, &lookup).map_err(|e| geo_err(which, e))?;
        }
    }
    Ok(())
}

/// Great-circle distance in km between two (lat, lon) points in degrees
/// (haversine, mean Earth radius).
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    const R: f64 = 6371.0;
    let (la1, lo1) = (a.0.to_radians(), a.1.to_radians());
    let (la2, lo2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * R * h.sqrt().min(1.0).asin()
}

/// Distance scaled by a datacenter's bias (Route 53 geoproximity):
/// `distance × (1 - bias/100)`.
pub fn biased(distance: f64, bias: i8) -> f64 {
    distance * (1.0 - f64::from(bias) / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        let ams = (52.37, 4.90);
        let nyc = (40.71, -74.01);
        let d = distance_km(ams, nyc);
        assert!((5800.0..5900.0).contains(&d), "{d}");
        assert_eq!(distance_km(ams, ams), 0.0);
        assert_eq!(biased(100.0, 50), 50.0);
        assert_eq!(biased(100.0, -50), 150.0);
    }
}
