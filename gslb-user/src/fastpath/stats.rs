//! `gslb stats`: the XDP program's per-CPU counters, summed, read from the
//! pinned map without the daemon's help.

use std::path::Path;

use aya::maps::{Map, MapData, PerCpuArray};
use gslb_common::{maps::COUNTERS, Counter};

use super::MapsError;

/// Counter values by [`Counter`] index, summed over CPUs.
pub fn read_pinned(pin_dir: &Path) -> Result<Vec<(Counter, u64)>, MapsError> {
    let path = pin_dir.join(COUNTERS);
    let data = match MapData::from_pin(&path) {
        Ok(data) => data,
        Err(error) => return Err(MapsError::NotPinned { path, error }),
    };
    let map: PerCpuArray<MapData, u64> = Map::PerCpuArray(data).try_into()?;
    read(&map)
}

/// Sums every counter of `map` over CPUs.
pub fn read<T: std::borrow::Borrow<MapData>>(
    map: &PerCpuArray<T, u64>,
) -> Result<Vec<(Counter, u64)>, MapsError> {
    Counter::ALL
        .iter()
        .map(|&c| Ok((c, map.get(&(c as u32), 0)?.iter().sum())))
        .collect()
}

/// One flat JSON object: `{"xdp_answered": 3, ...}`.
pub fn to_json(counters: &[(Counter, u64)]) -> serde_json::Value {
    counters
        .iter()
        .map(|(c, v)| (c.name().to_string(), serde_json::Value::from(*v)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// Aligned `name value` lines.
pub fn to_text(counters: &[(Counter, u64)]) -> String {
    counters
        .iter()
        .map(|(c, v)| format!("{:<28} {v}\n", c.name()))
        .collect()
}
