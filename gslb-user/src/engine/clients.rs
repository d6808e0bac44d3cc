//! Reloading the client data (`gslb clients reload`): region files and
//! geo databases read again, the client groups rebuilt, and the switch
//! made without a moment where a client finds no answer or a mix:
//!
//! 1. the slow path's state and the maps get the answer sets of the old
//!    and the new groups together (the old partition still in use);
//! 2. the `CLIENT_GROUPS` trie moves to the new partition (new entries
//!    first, then the stale ones deleted);
//! 3. the new partition and groups replace the old ones in the state, and
//!    the stale groups' answer sets go.
//!
//! Each query therefore sees the old data or the new.

use std::{sync::Arc, time::Instant};

use gslb_common::maps::CONFIG_CLIENT_GROUPS;
use tracing::{info, warn};

use super::Engine;
use crate::{
    api::protocol::{ClientsReport, RequestError},
    clients::ClientMap,
    fastpath::clients::ClientTrie,
};

impl Engine {
    /// Hands the engine the `CLIENT_GROUPS` trie (written at start), so
    /// that reloads can update it.
    pub fn set_client_trie(&mut self, trie: ClientTrie) {
        self.client_trie = Some(trie);
    }

    /// Publishes `clients` as the state's client data.
    fn store_clients(&self, clients: Arc<ClientMap>) {
        let mut state = (**self.state.load()).clone();
        state.clients = clients;
        self.state.store(Arc::new(state));
    }

    /// Rebuilds the client groups from the config's region files and geo
    /// databases (read again) and switches to them (module doc).
    pub fn reload_clients(&mut self) -> Result<ClientsReport, RequestError> {
        let started = Instant::now();
        let old = Arc::clone(&self.state.load().clients);
        let new = Arc::new(
            ClientMap::rebuild(&self.cfg, &old)
                .map_err(|e| RequestError::Clients(e.to_string()))?,
        );
        let stale = old.stale_groups(&new);
        let new_groups = new.stale_groups(&old).len();
        // 1. Answer sets of both generations.
        self.store_clients(Arc::new(old.with_groups_of(&new)));
        self.recompute();
        // 2. The trie.
        let mut trie_changes = 0;
        if let Some(trie) = self.client_trie.as_mut() {
            trie_changes = trie
                .write(&new)
                .map_err(|e| RequestError::Clients(e.to_string()))?;
            if let Some(maps) = self.maps.as_mut() {
                maps.set_flag(CONFIG_CLIENT_GROUPS, !new.is_empty())
                    .map_err(|e| RequestError::Clients(e.to_string()))?;
            }
        }
        // 3. The new data alone.
        self.store_clients(Arc::clone(&new));
        self.recompute();
        let report = ClientsReport {
            prefixes: new.entries().len(),
            groups: new.group_count(),
            new_groups,
            stale_groups: stale.len(),
            trie_changes,
            geo_read: new.geo_read_since(&old),
            elapsed_ms: started.elapsed().as_millis() as u64,
        };
        if new_groups > 0 && self.maps.is_some() {
            warn!(
                new_groups,
                "client groups added: the answer maps have room for three times the groups \
                 there were at start (a restart sizes them anew)"
            );
        }
        info!(?report, "client data reloaded");
        Ok(report)
    }
}
