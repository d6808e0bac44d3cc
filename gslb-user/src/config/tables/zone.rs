//! `[[zone]]` and its `[[zone.record]]` entries: the zones served with
//! authority, their SOA, name servers and static records. The checks that
//! need a whole zone at once are in `consistency`.
//!
//! ```toml
//! [[zone]]
//! name = "example.test"          # absolute (a trailing dot is optional)
//! ttl = 3600                     # default TTL of the zone's records
//! ns = ["ns1"]                   # NS at the apex; zone-file names (RFC 1035 §5.1)
//! [zone.soa]                    # optional; timers default to 7200, 3600, 1209600, 300
//! mname = "ns1"                  # default the first `ns`
//! rname = "hostmaster"           # a mailbox as a name (default hostmaster)
//! serial = 1
//! [[zone.record]]
//! name = "ns1"                   # relative to the zone, "@" is the apex
//! type = "A"
//! data = "192.0.2.53"
//! ttl = 300                      # optional
//! ```
//!
//! `file = "example.test.db"` adds the records of an RFC 1035 master file
//! (relative to the config file), read in `file`; its SOA, if any, is the
//! zone's. Record owners may be wildcards (`*.w`, RFC 4592), in TOML and
//! in files.

mod consistency;
mod file;

use std::{collections::HashMap, ops::Range, sync::Arc};

use hickory_proto::rr::{
    rdata::{NS, SOA},
    LowerName, Name, RData, Record, RecordType,
};
use serde::Deserialize;

use crate::{
    config::{
        checks::{absolute_name, zone_file_name, Validator},
        diagnostics::Diagnostic,
        raw::{Int, Str},
        MAX_TTL,
    },
    dns::rdata,
};

/// Default `zone.ttl`.
pub const DEFAULT_ZONE_TTL: u32 = 3600;

/// One `[[zone]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneConfig {
    /// The apex: absolute, lowercase.
    pub name: Name,
    /// TTL of records without their own `ttl`, and of the SOA and `ns` NS
    /// records.
    pub ttl: u32,
    /// Name servers of the zone (NS records at the apex), absolute.
    pub ns: Vec<Name>,
    /// The SOA record data (names absolute).
    pub soa: SOA,
    /// TTL of the SOA record: the zone file's SOA record's, else `ttl`.
    pub soa_ttl: u32,
    /// The `[[zone.record]]` entries: owner absolute and lowercase, TTL
    /// resolved, class IN.
    pub records: Vec<Record>,
}

/// One `[[zone]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawZone {
    pub(in crate::config) name: Str,
    pub(in crate::config) ttl: Option<Int>,
    #[serde(default)]
    pub(in crate::config) ns: Vec<Str>,
    pub(in crate::config) soa: Option<RawSoa>,
    #[serde(default)]
    pub(in crate::config) record: Vec<RawRecord>,
    /// A master file with more of the zone's records.
    pub(in crate::config) file: Option<Str>,
}

/// `[zone.soa]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawSoa {
    pub(in crate::config) mname: Option<Str>,
    pub(in crate::config) rname: Option<Str>,
    pub(in crate::config) serial: Option<Int>,
    pub(in crate::config) refresh: Option<Int>,
    pub(in crate::config) retry: Option<Int>,
    pub(in crate::config) expire: Option<Int>,
    pub(in crate::config) minimum: Option<Int>,
}

/// One `[[zone.record]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::config) struct RawRecord {
    pub(in crate::config) name: Str,
    #[serde(rename = "type")]
    pub(in crate::config) rtype: Str,
    pub(in crate::config) data: Str,
    pub(in crate::config) ttl: Option<Int>,
}

/// Where a record was written: in the config, or in a zone file.
#[derive(Clone)]
pub(super) enum Place {
    /// A span of the config text.
    Config(Range<usize>),
    /// A line of a zone file.
    File {
        /// The file as named in diagnostics.
        file: Arc<str>,
        /// 1-based.
        line: usize,
    },
}

/// A record of a zone and where it came from, for the cross-record checks.
pub(super) struct Entry {
    pub(super) owner: LowerName,
    pub(super) rtype: RecordType,
    pub(super) ttl: u32,
    pub(super) rdata: RData,
    /// The owner name (or the `ns` list entry, or the zone file line).
    pub(super) span: Place,
    /// The explicit TTL, if any.
    pub(super) ttl_span: Option<Place>,
}

impl Validator<'_> {
    /// An error at a record's place.
    pub(super) fn error_at(&mut self, place: &Place, message: impl Into<String>) {
        match place {
            Place::Config(span) => self.error(span, message),
            Place::File { file, line } => self.push(Diagnostic {
                origin: file.to_string(),
                line: *line,
                column: 1,
                message: message.into(),
            }),
        }
    }

    /// A place to refer to in a message: `LINE:COL` in the config,
    /// `FILE:LINE` in a zone file.
    pub(super) fn place(&self, place: &Place) -> String {
        match place {
            Place::Config(span) => self.at(span),
            Place::File { file, line } => format!("{file}:{line}"),
        }
    }
}

/// A zone being validated.
pub(super) struct ZoneDraft {
    pub(super) name: Name,
    pub(super) span: Range<usize>,
    pub(super) config: Option<ZoneConfig>,
    pub(super) entries: Vec<Entry>,
}

impl Validator<'_> {
    /// Parses every zone name; `None` for invalid and duplicate zones,
    /// whose contents are then not checked (one error, not a cascade).
    pub(super) fn zone_names(&mut self, raw: &[RawZone]) -> Vec<Option<ZoneDraft>> {
        let mut seen: HashMap<LowerName, Range<usize>> = HashMap::new();
        let mut out = Vec::with_capacity(raw.len());
        for zone in raw {
            let span = zone.name.span();
            let draft = match absolute_name(zone.name.get_ref()) {
                Err(e) => {
                    self.error(&span, format!("invalid zone name: {e}"));
                    None
                }
                Ok(name) => {
                    let key = LowerName::new(&name);
                    if let Some(first) = seen.get(&key) {
                        let msg = format!(
                            "duplicate zone {name} (first defined at {})",
                            self.at(first)
                        );
                        self.error(&span, msg);
                        None
                    } else {
                        seen.insert(key, span.clone());
                        Some(ZoneDraft {
                            name,
                            span,
                            config: None,
                            entries: Vec::new(),
                        })
                    }
                }
            };
            out.push(draft);
        }
        out
    }

    /// A 32-bit SOA field: `serial` may use all 32 bits (RFC 1982), the
    /// timers are TTL-like (RFC 2181 §8).
    fn soa_field(&mut self, value: Option<&Int>, default: u32, what: &str, max: u32) -> u32 {
        let Some(value) = value else { return default };
        match u32::try_from(*value.get_ref()) {
            Ok(v) if v <= max => v,
            _ => {
                self.error(
                    &value.span(),
                    format!("SOA {what} {} is out of range 0..={max}", value.get_ref()),
                );
                default
            }
        }
    }

    pub(super) fn zone_body(
        &mut self,
        draft: &mut ZoneDraft,
        raw: &RawZone,
        index: &HashMap<LowerName, usize>,
    ) {
        let origin = draft.name.clone();
        let apex = LowerName::new(&origin);
        let zone_ttl = self.ttl(raw.ttl.as_ref(), DEFAULT_ZONE_TTL);
        let my_index = index.get(&apex).copied();

        let mut ns = Vec::new();
        for item in &raw.ns {
            match zone_file_name(item.get_ref(), &origin) {
                Ok(name) => {
                    if ns.contains(&name) {
                        self.error(&item.span(), format!("duplicate name server {name}"));
                        continue;
                    }
                    draft.entries.push(Entry {
                        owner: apex.clone(),
                        rtype: RecordType::NS,
                        ttl: zone_ttl,
                        rdata: RData::NS(NS(name.clone())),
                        span: Place::Config(item.span()),
                        ttl_span: None,
                    });
                    ns.push(name);
                }
                Err(e) => self.error(&item.span(), format!("invalid name server name: {e}")),
            }
        }

        let mut records = Vec::new();
        let from_file = raw
            .file
            .as_ref()
            .map(|f| self.zone_file(f, draft, raw, index, my_index, zone_ttl, &mut records));
        let (file_soa, file_ns) = from_file.unwrap_or_default();
        // The SOA's MNAME defaults to the first name server, wherever named.
        let all_ns: Vec<Name> = ns.iter().chain(&file_ns).cloned().collect();
        let (soa, soa_ttl) = match file_soa {
            Some((soa, ttl)) => (soa, ttl),
            None => (self.soa(raw.soa.as_ref(), &origin, &all_ns), zone_ttl),
        };

        for rec in &raw.record {
            let Some(owner) = self.record_owner(rec, &origin, index, my_index) else {
                // Still check the rest of the record.
                let _ = self.record_type_and_data(rec, &origin);
                let _ = self.ttl(rec.ttl.as_ref(), zone_ttl);
                continue;
            };
            let ttl = self.ttl(rec.ttl.as_ref(), zone_ttl);
            let Some(rdata) = self.record_type_and_data(rec, &origin) else {
                continue;
            };
            draft.entries.push(Entry {
                owner: LowerName::new(&owner),
                rtype: rdata.record_type(),
                ttl,
                rdata: rdata.clone(),
                span: Place::Config(rec.name.span()),
                ttl_span: rec.ttl.as_ref().map(|t| Place::Config(t.span())),
            });
            records.push(Record::from_rdata(owner, ttl, rdata));
        }

        draft.config = Some(ZoneConfig {
            name: origin,
            ttl: zone_ttl,
            ns,
            soa,
            soa_ttl,
            records,
        });
    }

    /// Reads the zone's master file into `records` and the draft's
    /// entries: the file's SOA (data and TTL) if it has one, and the name
    /// servers it lists at the apex.
    #[allow(clippy::too_many_arguments, reason = "the zone_body context, once")]
    fn zone_file(
        &mut self,
        path: &Str,
        draft: &mut ZoneDraft,
        raw: &RawZone,
        index: &HashMap<LowerName, usize>,
        my_index: Option<usize>,
        zone_ttl: u32,
        records: &mut Vec<Record>,
    ) -> (Option<(SOA, u32)>, Vec<Name>) {
        let full = self.relative_to_config(path.get_ref());
        let (read, diags) = match file::read(&full, &draft.name, zone_ttl) {
            Ok(read) => read,
            Err(e) => {
                let msg = format!("cannot read zone file {}: {e}", full.display());
                self.error(&path.span(), msg);
                return (None, Vec::new());
            }
        };
        for d in diags {
            self.push(d);
        }
        let apex = LowerName::new(&draft.name);
        let mut soa: Option<(SOA, u32, Place)> = None;
        let mut ns = Vec::new();
        for r in read {
            let place = Place::File {
                file: r.file.clone(),
                line: r.line,
            };
            let record = r.record;
            let owner = LowerName::new(&record.name);
            if let Some((z, zone)) = longest_zone(&record.name, index) {
                if Some(z) != my_index {
                    let msg = format!(
                        "{} belongs to zone {zone}, which is configured separately; move the record there",
                        record.name
                    );
                    self.error_at(&place, msg);
                    continue;
                }
            }
            if let RData::SOA(data) = &record.data {
                if owner != apex {
                    let msg = format!(
                        "SOA record at {}: a zone's SOA is at its apex {} (RFC 1035 §5.2)",
                        record.name, draft.name
                    );
                    self.error_at(&place, msg);
                } else if let Some((_, _, first)) = &soa {
                    let msg = format!(
                        "second SOA record (first at {}); a zone has one (RFC 1035 §5.2)",
                        self.place(first)
                    );
                    self.error_at(&place, msg);
                } else if raw.soa.is_some() {
                    self.error_at(
                        &place,
                        "the zone file has an SOA record and the config a [zone.soa]: keep one",
                    );
                } else {
                    soa = Some((data.clone(), record.ttl, place));
                }
                continue;
            }
            if let (RData::NS(target), true) = (&record.data, owner == apex) {
                ns.push(target.0.clone());
            }
            draft.entries.push(Entry {
                owner,
                rtype: record.record_type(),
                ttl: record.ttl,
                rdata: record.data.clone(),
                span: place.clone(),
                ttl_span: None,
            });
            records.push(record);
        }
        (soa.map(|(data, ttl, _)| (data, ttl)), ns)
    }

    fn soa(&mut self, raw: Option<&RawSoa>, origin: &Name, ns: &[Name]) -> SOA {
        let mut mname = ns.first().cloned().unwrap_or_else(|| origin.clone());
        let mut rname = Name::from_ascii("hostmaster")
            .and_then(|n| n.append_domain(origin))
            .unwrap_or_else(|_| origin.clone());
        let Some(raw) = raw else {
            return SOA::new(mname, rname, 1, 7200, 3600, 1_209_600, 300);
        };
        if let Some(m) = &raw.mname {
            match zone_file_name(m.get_ref(), origin) {
                Ok(n) => mname = n,
                Err(e) => self.error(&m.span(), format!("invalid SOA mname: {e}")),
            }
        }
        if let Some(r) = &raw.rname {
            if r.get_ref().contains('@') {
                self.error(
                    &r.span(),
                    "SOA rname is a mailbox written as a name: hostmaster.example.com., \
                     not hostmaster@example.com (RFC 1035 §8)",
                );
            } else {
                match zone_file_name(r.get_ref(), origin) {
                    Ok(n) => rname = n,
                    Err(e) => self.error(&r.span(), format!("invalid SOA rname: {e}")),
                }
            }
        }
        let serial = self.soa_field(raw.serial.as_ref(), 1, "serial", u32::MAX);
        let refresh = self.soa_field(raw.refresh.as_ref(), 7200, "refresh", MAX_TTL);
        let retry = self.soa_field(raw.retry.as_ref(), 3600, "retry", MAX_TTL);
        let expire = self.soa_field(raw.expire.as_ref(), 1_209_600, "expire", MAX_TTL);
        let minimum = self.soa_field(raw.minimum.as_ref(), 300, "minimum", MAX_TTL);
        // The timers are <= MAX_TTL = i32::MAX, so the casts are exact.
        SOA::new(
            mname,
            rname,
            serial,
            refresh as i32,
            retry as i32,
            expire as i32,
            minimum,
        )
    }

    /// The absolute owner name of a record, checked to be in this zone and
    /// not in a more specific zone of the config.
    fn record_owner(
        &mut self,
        rec: &RawRecord,
        origin: &Name,
        index: &HashMap<LowerName, usize>,
        my_index: Option<usize>,
    ) -> Option<Name> {
        let span = rec.name.span();
        // A wildcard owner (`*.w`, RFC 4592) is allowed here, and only
        // here: not as a zone, gslb or name server name.
        let text = rec.name.get_ref().trim();
        let owner = match if text.contains('*') {
            file::parse_name(text, origin)
        } else {
            zone_file_name(text, origin)
        } {
            Ok(n) => n,
            Err(e) => {
                self.error(&span, format!("invalid record name: {e}"));
                return None;
            }
        };
        if !origin.zone_of(&owner) {
            self.error(&span, format!("{owner} is outside zone {origin}"));
            return None;
        }
        if let Some((z, zone)) = longest_zone(&owner, index) {
            if Some(z) != my_index {
                self.error(
                    &span,
                    format!("{owner} belongs to zone {zone}, which is configured separately; move the record there"),
                );
                return None;
            }
        }
        Some(owner)
    }

    fn record_type_and_data(&mut self, rec: &RawRecord, origin: &Name) -> Option<RData> {
        let rtype = match rdata::parse_type(rec.rtype.get_ref()) {
            Ok(t) => t,
            Err(e) => {
                self.error(&rec.rtype.span(), e);
                return None;
            }
        };
        match rdata::parse_rdata(rtype, rec.data.get_ref(), origin) {
            Ok(d) => Some(d),
            Err(e) => {
                self.error(&rec.data.span(), format!("invalid {rtype} data: {e}"));
                None
            }
        }
    }
}

/// The index and name of the configured zone that is the longest suffix
/// of `name`.
pub(super) fn longest_zone(
    name: &Name,
    index: &HashMap<LowerName, usize>,
) -> Option<(usize, Name)> {
    let mut n = name.clone();
    loop {
        if let Some(&i) = index.get(&LowerName::new(&n)) {
            return Some((i, n));
        }
        if n.is_root() {
            return None;
        }
        n = n.base_name();
    }
}
