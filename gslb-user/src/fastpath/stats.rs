//! `gslb stats`: the XDP program's per-CPU counters, summed, read from the
//! pinned map without the daemon's help.

use std::path::Path;

use aya::maps::{Map, MapData, PerCpuArray};
use gslb_common::{maps::COUNTERS, Counter};

/// Counter values by [`Counter`] index, summed over CPUs.
pub fn read_pinned(pin_dir: &Path) -> anyhow::Result<Vec<(Counter, u64)>> {
    let path = pin_dir.join(COUNTERS);
    let data = MapData::from_pin(&path).map_err(|e| {
        anyhow::anyhow!(
            "no pinned counters at {}: {e} (is `gslb run` running with this --pin-dir?)",
            path.display()
        )
    })?;
    let map: PerCpuArray<MapData, u64> = Map::PerCpuArray(data).try_into()?;
    read(&map)
}

/// Sums every counter of `map` over CPUs.
pub fn read<T: std::borrow::Borrow<MapData>>(
    map: &PerCpuArray<T, u64>,
) -> anyhow::Result<Vec<(Counter, u64)>> {
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
