//! [`ClientMap`]: the partition of the address space into client groups,
//! built from the config's topology rules, regions and geo databases.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    net::IpAddr,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    sync::Arc,
    time::SystemTime,
};

use gslb_common::maps::{ClientGroup, ClientPrefix};
use ipnet::IpNet;

use super::{
    geo::{GeoData, GeoDbs},
    partition::{self, Cell},
    profile::{Profile, Topology},
    ClientsError,
};
use crate::{
    config::{ClientMatch, Config, PoolConfig, VirtualServerConfig},
    state::ids::{GroupId, Registry},
};

/// One prefix of the partition: a `CLIENT_GROUPS` trie entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientEntry {
    /// First key (IPv4 mapped `::ffff:a.b.c.d`).
    pub start: u128,
    /// 128-bit prefix length (IPv4: 96 + the IPv4 length).
    pub len: u8,
    /// Its group.
    pub group: GroupId,
}

impl ClientEntry {
    /// The trie key's address bytes (network order).
    pub fn addr(&self) -> ClientPrefix {
        self.start.to_be_bytes()
    }

    /// The trie value.
    pub fn value(&self) -> ClientGroup {
        ClientGroup {
            group: self.group.get(),
            prefix_len: self.len,
            _pad: [0; 3],
        }
    }

    /// The prefix as an address prefix (IPv4 inside `::ffff:0:0/96`).
    pub fn net(&self) -> IpNet {
        partition::to_net(self.start, self.len)
    }
}

/// A matched topology rule, for explain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchedRule {
    /// Index in `Config::topology`.
    pub index: u32,
    /// The rule as written (`client -> server`).
    pub text: String,
    /// Its score.
    pub score: u32,
}

/// What the client data says of one address.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientExplain {
    /// The partition prefix it falls in (`None` when the map is empty).
    pub prefix: Option<IpNet>,
    /// Its group.
    pub group: GroupId,
    /// ECS scope for client-aware names: the prefix's length in the
    /// address's family (0 when the map is empty).
    pub scope: u8,
    /// The topology rules whose client side matches, in precedence order.
    pub rules: Vec<MatchedRule>,
    /// What the geo databases say (`None` without `[geoip]`).
    pub geo: Option<GeoData>,
    /// Datacenter names nearest first by biased distance, when
    /// geo_proximity is in use and the address has a location.
    pub ranking: Option<Vec<String>>,
}

/// The client groups: partition, profiles, and the config parts that
/// scoring needs. Immutable; a rebuild makes a new one
/// ([`ClientMap::rebuild`] keeps the group ids of unchanged profiles).
#[derive(Clone, Debug, Default)]
pub struct ClientMap {
    /// The IPv4 partition (disjoint prefixes in key order covering
    /// `::ffff:0:0/96`), then the IPv6 one (covering the whole key space
    /// but meant for IPv6 keys: an IPv6 entry may contain the IPv4 range,
    /// whose own entries are longer). Empty when no client data exists.
    entries: Vec<ClientEntry>,
    /// How many of `entries` are IPv4.
    v4_len: usize,
    /// Every live group's profile (group 0 always).
    profiles: BTreeMap<GroupId, Profile>,
    registry: Registry<Profile, GroupId>,
    topology: Topology,
    geo: Option<Arc<GeoDbs>>,
    /// What the geo databases gave this build, for the next one.
    geo_sources: Option<Arc<GeoSources>>,
}

/// A database file as last read: a rebuild reads it again only when
/// one of these changed (a new file renamed over it, or one written in
/// place).
#[derive(Clone, Debug, PartialEq, Eq)]
struct FileId {
    path: PathBuf,
    dev: u64,
    ino: u64,
    len: u64,
    modified: Option<SystemTime>,
}

impl FileId {
    /// Taken before the file is read, so that what was read is at least
    /// as new as the identity kept for it. `None` when there is no file
    /// (the open then says why).
    fn of(path: &Path) -> Option<FileId> {
        let m = std::fs::metadata(path).ok()?;
        Some(FileId {
            path: path.to_path_buf(),
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            modified: m.modified().ok(),
        })
    }
}

/// The geo databases' part of a build: the opened databases, and the
/// networks they gave with what the rules asked of them. Reading every
/// network of a City database of the world takes seconds; a rebuild on
/// the same files (`gslb reload` of an unrelated change, say) asking the
/// same questions takes these instead.
struct GeoSources {
    /// The files (City, then ASN).
    files: Vec<FileId>,
    /// The questions: countries, continents and ASNs the rules name, and
    /// whether locations count (geo_proximity).
    asked: (BTreeSet<String>, BTreeSet<String>, BTreeSet<u32>, bool),
    dbs: Arc<GeoDbs>,
    sources: Sources,
    cities: Vec<GeoData>,
}

impl std::fmt::Debug for GeoSources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoSources")
            .field("files", &self.files)
            .field("sources", &self.sources.len())
            .field("cities", &self.cities.len())
            .finish()
    }
}

/// The identities of `[geoip]`'s files, `None` if one cannot be read.
fn geo_files(cfg: &crate::config::GeoipConfig) -> Option<Vec<FileId>> {
    std::iter::once(&cfg.database)
        .chain(cfg.asn_database.as_ref())
        .map(|p| FileId::of(p))
        .collect()
}

/// Prefixes with their meaning, the sweep's input.
type Sources = Vec<(IpNet, Label)>;

/// A source prefix's meaning in the sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Label {
    /// A cidr rule (its index).
    Rule(u32),
    /// A region (index in `Config::regions`).
    Region(u32),
    /// City data (index of the interned relevant part).
    City(u32),
    /// An autonomous system number (one that some rule names).
    Asn(u32),
}

/// The parts of city data that some rule or method looks at.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct CityKey {
    country: Option<String>,
    continent: Option<String>,
    location: Option<(u64, u64)>,
}

impl ClientMap {
    /// An empty map: every client in group 0, no trie entries.
    pub fn empty() -> ClientMap {
        let mut map = ClientMap::default();
        map.profiles.insert(GroupId::DEFAULT, Profile::default());
        let _ = map.registry.assign([&Profile::default()]);
        map
    }

    /// Builds the client groups of `cfg`: reads the region files and the
    /// geo databases (again: they may have changed since validation).
    pub fn build(cfg: &Config) -> Result<ClientMap, ClientsError> {
        Self::rebuild(cfg, &ClientMap::empty())
    }

    /// As [`ClientMap::build`], keeping `previous`'s group ids for the
    /// profiles that still exist (answer sets keyed by group stay valid).
    pub fn rebuild(cfg: &Config, previous: &ClientMap) -> Result<ClientMap, ClientsError> {
        let topology = Topology::new(cfg);
        // The same database files, unchanged, as the previous build's:
        // its opened databases (and maybe its networks) serve again.
        let files = cfg.geoip.as_ref().and_then(geo_files);
        let kept = previous
            .geo_sources
            .as_ref()
            .filter(|g| files.as_ref() == Some(&g.files));
        let geo = match (&cfg.geoip, kept) {
            (None, _) => None,
            (Some(_), Some(k)) => Some(Arc::clone(&k.dbs)),
            (Some(g), None) => Some(Arc::new(GeoDbs::open(g)?)),
        };
        let mut registry = previous.registry.clone();
        if cfg.topology.is_empty() && !topology.geo_proximity {
            registry.assign([&Profile::default()])?;
            let mut map = ClientMap::empty();
            map.registry = registry;
            map.topology = topology;
            map.geo_sources = match (&geo, files) {
                (Some(dbs), Some(files)) => Some(Arc::new(GeoSources {
                    files,
                    asked: Default::default(),
                    dbs: Arc::clone(dbs),
                    sources: Vec::new(),
                    cities: Vec::new(),
                })),
                _ => None,
            };
            map.geo = geo;
            return Ok(map);
        }
        let rules = &cfg.topology;
        let mut sources: Vec<(IpNet, Label)> = Vec::new();
        let mut used_regions: HashSet<&str> = HashSet::new();
        let (mut countries, mut continents, mut asns) =
            (HashSet::new(), HashSet::new(), HashSet::new());
        for (i, r) in rules.iter().enumerate() {
            match &r.client {
                ClientMatch::Cidr(net) => sources.push((*net, Label::Rule(i as u32))),
                ClientMatch::Region(name) => {
                    used_regions.insert(name);
                }
                ClientMatch::Country(c) => {
                    countries.insert(c.clone());
                }
                ClientMatch::Continent(c) => {
                    continents.insert(c.clone());
                }
                ClientMatch::Asn(a) => {
                    asns.insert(*a);
                }
                ClientMatch::Any => {}
            }
        }
        for (i, region) in cfg.regions.iter().enumerate() {
            if !used_regions.contains(region.name.as_str()) {
                continue;
            }
            let prefixes = region
                .all_prefixes()
                .map_err(|message| ClientsError::Region {
                    region: region.name.clone(),
                    message,
                })?;
            sources.extend(prefixes.into_iter().map(|p| (p, Label::Region(i as u32))));
        }
        let asked = (
            countries.iter().cloned().collect::<BTreeSet<String>>(),
            continents.iter().cloned().collect::<BTreeSet<String>>(),
            asns.iter().copied().collect::<BTreeSet<u32>>(),
            topology.geo_proximity,
        );
        let (geo_part, cities, geo_sources) = match (&geo, kept) {
            (Some(_), Some(k)) if k.asked == asked => {
                (k.sources.clone(), k.cities.clone(), Some(Arc::clone(k)))
            }
            (Some(geo), _) => {
                let (part, cities) = geo_networks(geo, &countries, &continents, &asns, &topology)?;
                let kept = files.map(|files| {
                    Arc::new(GeoSources {
                        files,
                        asked,
                        dbs: Arc::clone(geo),
                        sources: part.clone(),
                        cities: cities.clone(),
                    })
                });
                (part, cities, kept)
            }
            (None, _) => (Vec::new(), Vec::new(), None),
        };
        sources.extend(geo_part);
        // Labels → local profile index; equal profiles share one.
        let mut profiles: Vec<Profile> = vec![Profile::default()];
        let mut by_profile: HashMap<Profile, u32> = HashMap::from([(Profile::default(), 0)]);
        let mut by_labels: HashMap<Vec<Label>, u32> = HashMap::new();
        let mut uniq: Vec<Label> = Vec::new();
        let (v4, v6): (Vec<Cell<u32>>, Vec<Cell<u32>>) =
            partition::flatten(sources, |labels: &[Label]| {
                uniq.clear();
                uniq.extend_from_slice(labels);
                uniq.dedup();
                if let Some(&i) = by_labels.get(&uniq) {
                    return i;
                }
                let mut geo_data = GeoData::default();
                for l in &uniq {
                    match *l {
                        Label::City(c) => {
                            let c = &cities[c as usize];
                            geo_data.country = c.country.clone();
                            geo_data.continent = c.continent.clone();
                            geo_data.location = c.location;
                        }
                        Label::Asn(a) => geo_data.asn = Some(a),
                        _ => {}
                    }
                }
                let profile = topology.profile(
                    |rule| uniq.contains(&Label::Rule(rule)),
                    |name| {
                        cfg.regions
                            .iter()
                            .position(|r| r.name == name)
                            .is_some_and(|i| uniq.contains(&Label::Region(i as u32)))
                    },
                    &geo_data,
                );
                let next = profiles.len() as u32;
                let i = *by_profile.entry(profile.clone()).or_insert_with(|| {
                    profiles.push(profile);
                    next
                });
                by_labels.insert(uniq.clone(), i);
                i
            });
        let assignment = registry.assign(profiles.iter())?;
        let ids = assignment.ids;
        let v4_len = v4.len();
        let entries = v4
            .into_iter()
            .chain(v6)
            .map(|c| ClientEntry {
                start: c.start,
                len: c.len,
                group: ids[c.value as usize],
            })
            .collect();
        let profiles = ids.iter().copied().zip(profiles).collect();
        Ok(ClientMap {
            entries,
            v4_len,
            profiles,
            registry,
            topology,
            geo,
            geo_sources,
        })
    }

    /// Whether building this map read the geo databases: `None` without
    /// them, `false` when `previous`'s opened databases served again (the
    /// files unchanged since it read them).
    pub fn geo_read_since(&self, previous: &ClientMap) -> Option<bool> {
        let dbs = self.geo.as_ref()?;
        Some(!previous.geo.as_ref().is_some_and(|p| Arc::ptr_eq(p, dbs)))
    }

    /// This partition with the groups of both maps: while the answer sets
    /// of `next`'s groups are written and the trie moves to `next`'s
    /// partition, an address leads to an old group or a new one, and
    /// both have their sets (the profiles of one id are equal in both,
    /// as `next` was rebuilt from this map).
    pub fn with_groups_of(&self, next: &ClientMap) -> ClientMap {
        let mut out = self.clone();
        for (g, p) in next.groups() {
            out.profiles.entry(g).or_insert_with(|| p.clone());
        }
        out.topology = next.topology.clone();
        out
    }

    /// The groups of `self` that `next` no longer has.
    pub fn stale_groups(&self, next: &ClientMap) -> Vec<GroupId> {
        self.profiles
            .keys()
            .filter(|g| next.profile(**g).is_none())
            .copied()
            .collect()
    }

    /// No client data: no trie entries, every client in group 0
    /// (`CONFIG_CLIENT_GROUPS` off).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The partition (the `CLIENT_GROUPS` trie entries): the IPv4
    /// entries in key order, then the IPv6 ones.
    pub fn entries(&self) -> &[ClientEntry] {
        &self.entries
    }

    /// Every live group with its profile, group 0 first.
    pub fn groups(&self) -> impl Iterator<Item = (GroupId, &Profile)> {
        self.profiles.iter().map(|(g, p)| (*g, p))
    }

    /// How many groups are live (group 0 included).
    pub fn group_count(&self) -> usize {
        self.profiles.len()
    }

    /// A group's profile.
    pub fn profile(&self, group: GroupId) -> Option<&Profile> {
        self.profiles.get(&group)
    }

    /// The entry `addr` falls in (`None` when the map is empty).
    pub fn entry(&self, addr: IpAddr) -> Option<&ClientEntry> {
        let (v4, v6) = self.entries.split_at(self.v4_len);
        let cells = if addr.is_ipv4() { v4 } else { v6 };
        let key = partition::key(addr);
        let i = cells.partition_point(|e| e.start <= key);
        cells.get(i.checked_sub(1)?)
    }

    /// The group of `addr` and the ECS scope its answers carry for
    /// client-aware names: the length, in the address's family, of the
    /// partition prefix it falls in. An empty map: `(GroupId::DEFAULT,
    /// 0)`.
    pub fn lookup(&self, addr: IpAddr) -> (GroupId, u8) {
        match self.entry(addr) {
            Some(e) => (e.group, e.value().scope(addr.is_ipv4())),
            None => (GroupId::DEFAULT, 0),
        }
    }

    /// Some pool's chain uses `geo_proximity`.
    pub fn uses_geo_proximity(&self) -> bool {
        self.topology.geo_proximity
    }

    /// The topology score of `server` for a client of `profile`: the
    /// score of the first rule of the profile (precedence order) whose
    /// server side matches it (`datacenter:` its datacenter, `region:` /
    /// `country:` its datacenter's tags, `pool:` one of `pools`, all
    /// pools of the config, that lists it). `None`: no rule scores it.
    pub fn score_server(
        &self,
        profile: &Profile,
        server: &VirtualServerConfig,
        pools: &[PoolConfig],
    ) -> Option<u32> {
        profile.rules.iter().find_map(|&i| {
            let rule = &self.topology.rules[i as usize];
            self.topology
                .matches_server(rule, server, pools)
                .then_some(rule.score)
        })
    }

    /// The topology score of a pool for a client of `profile` (for
    /// `pool_method = "topology"`): the first rule of the profile whose
    /// server side matches the pool (`pool:` its name; `datacenter:`,
    /// `region:`, `country:` when any member's datacenter matches).
    pub fn score_pool(&self, profile: &Profile, pool: &PoolConfig) -> Option<u32> {
        profile.rules.iter().find_map(|&i| {
            let rule = &self.topology.rules[i as usize];
            self.topology.matches_pool(rule, pool).then_some(rule.score)
        })
    }

    /// For `geo_proximity`: the rank (0 = nearest by biased distance) of
    /// `server`'s datacenter for a client of `profile`; `None` when the
    /// client has no location (the chain goes on) or the server's
    /// datacenter is unknown.
    pub fn proximity_rank(&self, profile: &Profile, server: &VirtualServerConfig) -> Option<usize> {
        let ranking = profile.ranking.as_ref()?;
        let dc = *self.topology.server_dc.get(&server.name)?;
        ranking.iter().position(|&d| d as usize == dc)
    }

    /// What the client data says of `addr`: prefix, group, scope,
    /// matched rules, geo data, datacenter ranking.
    pub fn explain(&self, addr: IpAddr) -> ClientExplain {
        let entry = self.entry(addr);
        let (group, scope) = self.lookup(addr);
        let profile = self.profile(group).cloned().unwrap_or_default();
        ClientExplain {
            prefix: entry.map(|e| e.net()),
            group,
            scope,
            rules: profile
                .rules
                .iter()
                .map(|&i| {
                    let r = &self.topology.rules[i as usize];
                    MatchedRule {
                        index: i,
                        text: r.text.clone(),
                        score: r.score,
                    }
                })
                .collect(),
            geo: self.geo.as_ref().map(|g| g.lookup(addr)),
            ranking: profile.ranking.as_ref().map(|r| {
                r.iter()
                    .map(|&i| self.topology.datacenters[i as usize].name.clone())
                    .collect()
            }),
        }
    }
}

/// The networks of the geo databases that some rule or method asks
/// about, labelled: City data (interned: `cities[id]`) and ASNs.
fn geo_networks(
    geo: &GeoDbs,
    countries: &HashSet<String>,
    continents: &HashSet<String>,
    asns: &HashSet<u32>,
    topology: &Topology,
) -> Result<(Sources, Vec<GeoData>), ClientsError> {
    let mut sources = Vec::new();
    let mut cities: Vec<GeoData> = Vec::new();

    let mut interned: HashMap<CityKey, u32> = HashMap::new();
    let want_location = topology.geo_proximity;
    geo.city_networks(|net, data| {
        let country = data.country.clone().filter(|c| countries.contains(c));
        let continent = data.continent.clone().filter(|c| continents.contains(c));
        let location = data
            .location
            .filter(|_| want_location)
            .map(|(a, b)| (a.to_bits(), b.to_bits()));
        if country.is_none() && continent.is_none() && location.is_none() {
            return;
        }
        let key = CityKey {
            country,
            continent,
            location,
        };
        let next = interned.len() as u32;
        let id = *interned.entry(key.clone()).or_insert_with(|| {
            cities.push(GeoData {
                country: key.country.clone(),
                continent: key.continent.clone(),
                asn: None,
                location: key
                    .location
                    .map(|(a, b)| (f64::from_bits(a), f64::from_bits(b))),
            });
            next
        });
        sources.push((net, Label::City(id)));
    })?;
    if !asns.is_empty() {
        geo.asn_networks(|net, asn| {
            if asns.contains(&asn) {
                sources.push((net, Label::Asn(asn)));
            }
        })?;
    }
    Ok((sources, cities))
}
