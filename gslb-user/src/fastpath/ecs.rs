//! `[server] ecs` in the XDP program's maps: the `ECS_TRUSTED` trie of
//! trusted resolver prefixes and the `CONFIG_ECS` / `CONFIG_ECS_TRUSTED`
//! flags (docs/maps.md).

use std::net::IpAddr;

use aya::{
    maps::{
        lpm_trie::{Key, LpmTrie},
        MapData,
    },
    Ebpf,
};
use gslb_common::maps::{ClientPrefix, CONFIG_ECS, CONFIG_ECS_TRUSTED, ECS_TRUSTED, V4_MAPPED_LEN};
use ipnet::IpNet;

use super::{maps::Maps, MapsError};
use crate::config::EcsTrust;

/// The trie key of a resolver prefix: IPv4 mapped into `::ffff:0:0/96`.
pub fn trie_key(net: &IpNet) -> (ClientPrefix, u8) {
    match net.trunc().addr() {
        IpAddr::V4(a) => (
            a.to_ipv6_mapped().octets(),
            V4_MAPPED_LEN + net.prefix_len(),
        ),
        IpAddr::V6(a) => (a.octets(), net.prefix_len()),
    }
}

/// The `ECS_TRUSTED` trie, held for as long as the program runs (a map
/// taken out of the object is closed when dropped), and the prefixes
/// written to it (a reload rewrites it).
pub struct EcsTrusted {
    trie: LpmTrie<MapData, ClientPrefix, u8>,
    current: std::collections::BTreeSet<(ClientPrefix, u8)>,
    /// How many prefixes were written.
    pub written: usize,
}

/// Writes the trusted prefixes (before the flag that makes the program
/// read them), then the flags: `"all"` sets `CONFIG_ECS`, a list sets
/// `CONFIG_ECS_TRUSTED`, `"none"` neither.
pub fn write(ebpf: &mut Ebpf, maps: &mut Maps, trust: &EcsTrust) -> Result<EcsTrusted, MapsError> {
    let map = ebpf
        .take_map(ECS_TRUSTED)
        .ok_or_else(|| MapsError::Missing(ECS_TRUSTED.to_owned()))?;
    let mut out = EcsTrusted {
        trie: map.try_into()?,
        current: Default::default(),
        written: 0,
    };
    out.rewrite(maps, trust)?;
    Ok(out)
}

impl EcsTrusted {
    /// Switches to `trust` so that every query sees the old setting or
    /// the new one: new prefixes first, then the flags (the new mode's
    /// flag set before the old one's is cleared: with both set the
    /// program trusts every resolver, as `"all"` does), then the stale
    /// prefixes removed. Returns the prefixes written or removed.
    pub fn rewrite(&mut self, maps: &mut Maps, trust: &EcsTrust) -> Result<usize, MapsError> {
        let want: std::collections::BTreeSet<(ClientPrefix, u8)> = match trust {
            EcsTrust::Resolvers(nets) => nets.iter().map(trie_key).collect(),
            _ => Default::default(),
        };
        let mut changes = 0;
        for &(addr, len) in want.difference(&self.current) {
            self.trie.insert(&Key::new(u32::from(len), addr), 1, 0)?;
            changes += 1;
        }
        let all = *trust == EcsTrust::All;
        let listed = matches!(trust, EcsTrust::Resolvers(_));
        // The flag being turned on first.
        if all {
            maps.set_flag(CONFIG_ECS, true)?;
            maps.set_flag(CONFIG_ECS_TRUSTED, false)?;
        } else {
            maps.set_flag(CONFIG_ECS_TRUSTED, listed)?;
            maps.set_flag(CONFIG_ECS, false)?;
        }
        for &(addr, len) in self.current.difference(&want) {
            self.trie.remove(&Key::new(u32::from(len), addr))?;
            changes += 1;
        }
        self.written = want.len();
        self.current = want;
        Ok(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_v4_into_the_v6_space() {
        let k = trie_key(&"198.18.5.0/24".parse().unwrap());
        assert_eq!(k.1, 120);
        assert_eq!(&k.0[10..], &[0xff, 0xff, 198, 18, 5, 0]);
        let k = trie_key(&"2001:db8::/32".parse().unwrap());
        assert_eq!(k.1, 32);
        assert_eq!(&k.0[..4], &[0x20, 0x01, 0x0d, 0xb8]);
    }
}
