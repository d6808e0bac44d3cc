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
/// taken out of the object is closed when dropped).
pub struct EcsTrusted {
    _trie: Option<LpmTrie<MapData, ClientPrefix, u8>>,
    /// How many prefixes were written.
    pub written: usize,
}

/// Writes the trusted prefixes (before the flag that makes the program
/// read them), then the flags: `"all"` sets `CONFIG_ECS`, a list sets
/// `CONFIG_ECS_TRUSTED`, `"none"` neither.
pub fn write(ebpf: &mut Ebpf, maps: &mut Maps, trust: &EcsTrust) -> Result<EcsTrusted, MapsError> {
    let mut out = EcsTrusted {
        _trie: None,
        written: 0,
    };
    if let EcsTrust::Resolvers(nets) = trust {
        let map = ebpf
            .take_map(ECS_TRUSTED)
            .ok_or_else(|| MapsError::Missing(ECS_TRUSTED.to_owned()))?;
        let mut trie: LpmTrie<MapData, ClientPrefix, u8> = map.try_into()?;
        for net in nets {
            let (addr, len) = trie_key(net);
            trie.insert(&Key::new(u32::from(len), addr), 1, 0)?;
            out.written += 1;
        }
        out._trie = Some(trie);
    }
    maps.set_flag(CONFIG_ECS, *trust == EcsTrust::All)?;
    maps.set_flag(CONFIG_ECS_TRUSTED, matches!(trust, EcsTrust::Resolvers(_)))?;
    Ok(out)
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
