//! Checks that need all the data of a zone at once.

use std::collections::HashMap;

use hickory_proto::rr::{LowerName, Name, RData, RecordType};

use super::{longest_zone, Entry, ZoneDraft};
use crate::config::{checks::Validator, tables::gslb::GslbDraft};

impl Validator<'_> {
    /// Checks that need all the data of one zone: NS at the apex, CNAME
    /// exclusivity, gslb names vs static records, RRset TTLs, duplicates,
    /// delegations and glue.
    pub(in crate::config::tables) fn zone_consistency(
        &mut self,
        draft: &ZoneDraft,
        gslb: &[&GslbDraft],
        index: &HashMap<LowerName, usize>,
        my_index: usize,
    ) {
        let apex = LowerName::new(&draft.name);
        let entries = &draft.entries;
        let gslb_at: HashMap<LowerName, &GslbDraft> = gslb
            .iter()
            .map(|g| (LowerName::new(&g.config.name), *g))
            .collect();

        // RFC 1034 §4.2.1: every zone has NS records at its apex.
        if !entries
            .iter()
            .any(|e| e.owner == apex && e.rtype == RecordType::NS)
        {
            self.error(
                &draft.span,
                format!(
                    "zone {} has no name servers: set `ns` or add NS records at \"@\" (RFC 1034 §4.2.1)",
                    draft.name
                ),
            );
        }

        // Records by owner, in config order, so each check only looks at
        // the records of one name.
        let mut by_owner: HashMap<&LowerName, Vec<&Entry>> = HashMap::new();
        for e in entries {
            by_owner.entry(&e.owner).or_default().push(e);
        }

        // Delegation points: NS below the apex (RFC 1034 §4.2.1, §4.3.2).
        let cuts: HashMap<&LowerName, &Entry> = entries
            .iter()
            .filter(|e| e.rtype == RecordType::NS && e.owner != apex)
            .map(|e| (&e.owner, e))
            .collect();
        // The highest cut at or above `name`: its NS entry, its name, and
        // whether it is `name` itself.
        let cut_of = |name: &Name| -> Option<(&Entry, bool)> {
            let mut n = name.clone();
            let mut found = None;
            while n.num_labels() > apex.num_labels() {
                let key = LowerName::new(&n);
                if let Some(ns) = cuts.get(&key) {
                    found = Some((*ns, n.num_labels() == name.num_labels()));
                }
                n = n.base_name();
            }
            found
        };

        for e in entries {
            let same_owner = &by_owner[&e.owner];
            let earlier = || same_owner.iter().take_while(|o| !std::ptr::eq(**o, e));
            let problem = if e.rtype == RecordType::CNAME && e.owner == apex {
                Some(
                    "CNAME at the zone apex: the apex has SOA and NS records and a CNAME \
                     cannot coexist with other data (RFC 1034 §3.6.2)"
                        .to_string(),
                )
            } else if let Some(first) =
                earlier().find(|o| e.rtype == RecordType::CNAME && o.rtype == RecordType::CNAME)
            {
                Some(format!(
                    "second CNAME at {} (first at {}); a name has at most one CNAME \
                     (RFC 2181 §10.1)",
                    *e.owner,
                    self.place(&first.span)
                ))
            } else if let Some(other) = same_owner
                .iter()
                .find(|o| e.rtype == RecordType::CNAME && o.rtype != RecordType::CNAME)
            {
                Some(format!(
                    "CNAME at {} beside other data ({} at {}); a CNAME cannot coexist \
                     with other records (RFC 1034 §3.6.2, RFC 2181 §10.1)",
                    *e.owner,
                    other.rtype,
                    self.place(&other.span)
                ))
            } else if let Some(g) = gslb_at.get(&e.owner).filter(|g| {
                // With pools, static A/AAAA records at the name are what
                // "return to DNS" answers; fixed `a`/`aaaa` lists leave
                // no room for them.
                e.rtype == RecordType::CNAME
                    || (matches!(e.rtype, RecordType::A | RecordType::AAAA)
                        && g.config.pools.is_empty())
            }) {
                Some(format!(
                    "static {} record on gslb name {} (defined at {}); the gslb name \
                     answers A and AAAA (static A/AAAA records are allowed only beside \
                     `pools`, for return_to_dns), and a CNAME cannot coexist with it",
                    e.rtype,
                    g.config.name,
                    self.at(&g.span)
                ))
            } else if let Some(first) = earlier().find(|o| o.rtype == e.rtype && o.rdata == e.rdata)
            {
                Some(format!(
                    "duplicate {} record (first at {})",
                    e.rtype,
                    self.place(&first.span)
                ))
            } else if let Some(first) = earlier().find(|o| o.rtype == e.rtype && o.ttl != e.ttl) {
                let msg = format!(
                    "TTL {} differs from TTL {} of the {} record at {}; all records of an \
                     RRset have the same TTL (RFC 2181 §5.2)",
                    e.ttl,
                    first.ttl,
                    e.rtype,
                    self.place(&first.span)
                );
                // Point at the TTL that differs, if it was written.
                self.error_at(e.ttl_span.as_ref().unwrap_or(&e.span), msg);
                None
            } else if let Some((cut, at_cut)) = cut_of(&e.owner).filter(|(_, at_cut)| {
                let glue = matches!(e.rtype, RecordType::A | RecordType::AAAA);
                !(glue || (*at_cut && e.rtype == RecordType::NS))
            }) {
                Some(format!(
                    "{} record at {} is {} the delegation to {} (NS at {}); only NS and \
                     glue addresses are served there (RFC 1034 §4.2.1)",
                    e.rtype,
                    *e.owner,
                    if at_cut { "at" } else { "below" },
                    *cut.owner,
                    self.place(&cut.span)
                ))
            } else {
                self.ns_address_problem(e, &by_owner, &gslb_at, index, my_index, &draft.name)
            };
            if let Some(message) = problem {
                self.error_at(&e.span, message);
            }
        }

        // RFC 4592 §4.2: a wildcard NS RRset would synthesize delegations,
        // which resolvers and servers handle differently: refused here.
        for e in entries.iter().filter(|e| e.rtype == RecordType::NS) {
            if e.owner.iter().next() == Some(&b"*"[..]) {
                self.error_at(
                    &e.span,
                    format!(
                        "NS record at wildcard {}: wildcard delegations are not served \
                         (RFC 4592 §4.2)",
                        *e.owner
                    ),
                );
            }
        }

        for g in gslb {
            if let Some((cut, _)) = cut_of(&g.config.name) {
                let msg = format!(
                    "gslb name {} is inside the delegation to {} (NS at {}); it would \
                     never be answered",
                    g.config.name,
                    *cut.owner,
                    self.place(&cut.span)
                );
                self.error(&g.span, msg);
            }
        }
    }

    /// In-zone name servers need addresses, else nobody can reach them
    /// (BIND refuses such zones too).
    fn ns_address_problem(
        &self,
        e: &Entry,
        by_owner: &HashMap<&LowerName, Vec<&Entry>>,
        gslb_at: &HashMap<LowerName, &GslbDraft>,
        index: &HashMap<LowerName, usize>,
        my_index: usize,
        zone: &Name,
    ) -> Option<String> {
        let RData::NS(target) = &e.rdata else {
            return None;
        };
        let target = LowerName::new(&target.0);
        let in_this_zone = longest_zone(&target, index).map(|z| z.0) == Some(my_index);
        let has_address = gslb_at.contains_key(&target)
            || by_owner.get(&target).is_some_and(|records| {
                records
                    .iter()
                    .any(|o| matches!(o.rtype, RecordType::A | RecordType::AAAA))
            });
        (in_this_zone && !has_address).then(|| {
            format!(
                "name server {} is inside zone {zone} but has no A or AAAA record",
                *target
            )
        })
    }
}
