//! `gslb persist list|clear`: the persistence records as the operator
//! sees them (gslb names, client prefix, server, age, time left).

use std::collections::HashMap;

use gslb_common::select::{self, Selection};
use hickory_proto::rr::Name;
use ipnet::IpNet;

use super::{Engine, PersistEntry, PersistReport};
use crate::{
    dns::wire::wire_key,
    state::{decision::Decision, persist::key_prefix},
};

/// Whether two prefixes overlap (one holds the other).
fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

impl Engine {
    /// The records of `name` (all names: `None`) whose client prefix
    /// overlaps `client`; removed from the store when `clear`.
    pub(super) fn persist_records(
        &self,
        name: Option<&Name>,
        client: Option<IpNet>,
        clear: bool,
    ) -> PersistReport {
        let state = self.state.load();
        let store = &state.persist;
        // The gslb names by wire key, with their sets' selections (the
        // default group's: persistence is a pool setting, the same in
        // every group).
        let mut by_wire: HashMap<Vec<u8>, (String, [Option<Selection>; 2])> = HashMap::new();
        for g in &state.gslb {
            let sel = |d: &Decision| match d {
                Decision::Answer(s) => Some(s.sel),
                _ => None,
            };
            by_wire.insert(
                wire_key(&g.name),
                (g.name.to_string(), [sel(&g.a()), sel(&g.aaaa())]),
            );
        }
        let wanted = name.map(wire_key);
        let mut report = PersistReport {
            cleared: clear,
            records: Vec::new(),
        };
        let mut keys = Vec::new();
        for r in store.list() {
            let wires = store.names_of(r.key.set);
            if let Some(w) = &wanted {
                if !wires.contains(w) {
                    continue;
                }
            }
            let prefix = key_prefix(&r.key);
            if let Some(c) = &client {
                if !overlaps(c, &prefix) {
                    continue;
                }
            }
            let family = usize::from(r.key.family == 6);
            let sel = wires
                .iter()
                .find_map(|w| by_wire.get(w).and_then(|(_, sels)| sels[family]));
            let expires_in_s = sel.and_then(|sel| {
                let live = r.current
                    && select::keep_index(&sel, r.record.server).is_some()
                    && r.age.as_secs_f64() < f64::from(sel.sticky_ttl);
                live.then(|| f64::from(sel.sticky_ttl) - r.age.as_secs_f64())
            });
            let server = self
                .servers
                .ids()
                .iter()
                .position(|id| id.get() == r.record.server)
                .map_or_else(
                    || format!("#{}", r.record.server),
                    |pos| self.cfg.servers[pos].name.clone(),
                );
            report.records.push(PersistEntry {
                names: wires
                    .iter()
                    .filter_map(|w| by_wire.get(w).map(|(n, _)| n.clone()))
                    .collect(),
                rtype: if family == 1 { "AAAA" } else { "A" }.to_string(),
                client: prefix.to_string(),
                server,
                age_s: r.age.as_secs_f64(),
                expires_in_s,
            });
            keys.push(r.key);
        }
        if clear {
            store.remove(&keys);
        }
        report
    }
}
