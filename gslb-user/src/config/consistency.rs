//! Checks that need all the data of a zone at once.

use std::collections::HashMap;

use hickory_proto::rr::{LowerName, Name, RData, RecordType};

use super::validate::{longest_zone, Entry, GslbDraft, Validator, ZoneDraft};

impl Validator<'_> {
    /// Checks that need all the data of one zone: NS at the apex, CNAME
    /// exclusivity, gslb names vs static records, RRset TTLs, duplicates,
    /// delegations and glue.
    pub(super) fn zone_consistency(
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

        // Delegation points: NS below the apex (RFC 1034 §4.2.1, §4.3.2).
        let cuts: HashMap<LowerName, &Entry> = entries
            .iter()
            .filter(|e| e.rtype == RecordType::NS && e.owner != apex)
            .map(|e| (e.owner.clone(), e))
            .collect();
        let cut_of = |name: &LowerName| -> Option<(LowerName, bool)> {
            // The highest cut at or above `name`, and whether it is `name`.
            let mut n: Name = (**name).clone();
            let mut found = None;
            while n.num_labels() > apex.num_labels() {
                let key = LowerName::new(&n);
                if cuts.contains_key(&key) {
                    found = Some((key.clone(), &key == name));
                }
                n = n.base_name();
            }
            found
        };

        for (i, e) in entries.iter().enumerate() {
            let earlier = &entries[..i];
            let same_owner = || entries.iter().filter(|o| o.owner == e.owner);

            if e.rtype == RecordType::CNAME {
                if e.owner == apex {
                    self.error(
                        &e.span,
                        "CNAME at the zone apex: the apex has SOA and NS records and a CNAME \
                         cannot coexist with other data (RFC 1034 §3.6.2)",
                    );
                } else if let Some(first) = earlier
                    .iter()
                    .find(|o| o.owner == e.owner && o.rtype == RecordType::CNAME)
                {
                    let msg = format!(
                        "second CNAME at {} (first at {}); a name has at most one CNAME (RFC 2181 §10.1)",
                        *e.owner,
                        self.at(&first.span)
                    );
                    self.error(&e.span, msg);
                } else if let Some(other) = same_owner().find(|o| o.rtype != RecordType::CNAME) {
                    let msg = format!(
                        "CNAME at {} beside other data ({} at {}); a CNAME cannot coexist \
                         with other records (RFC 1034 §3.6.2, RFC 2181 §10.1)",
                        *e.owner,
                        other.rtype,
                        self.at(&other.span)
                    );
                    self.error(&e.span, msg);
                }
            }

            if let Some(g) = gslb_at.get(&e.owner) {
                if matches!(
                    e.rtype,
                    RecordType::A | RecordType::AAAA | RecordType::CNAME
                ) {
                    let msg = format!(
                        "static {} record on gslb name {} (defined at {}); the gslb name \
                         answers A and AAAA, and a CNAME cannot coexist with it",
                        e.rtype,
                        g.config.name,
                        self.at(&g.span)
                    );
                    self.error(&e.span, msg);
                    continue;
                }
            }

            if let Some(first) = earlier
                .iter()
                .find(|o| o.owner == e.owner && o.rtype == e.rtype && o.rdata == e.rdata)
            {
                let msg = format!(
                    "duplicate {} record (first at {})",
                    e.rtype,
                    self.at(&first.span)
                );
                self.error(&e.span, msg);
                continue;
            }
            if let Some(first) = earlier
                .iter()
                .find(|o| o.owner == e.owner && o.rtype == e.rtype && o.ttl != e.ttl)
            {
                let msg = format!(
                    "TTL {} differs from TTL {} of the {} record at {}; all records of an \
                     RRset have the same TTL (RFC 2181 §5.2)",
                    e.ttl,
                    first.ttl,
                    e.rtype,
                    self.at(&first.span)
                );
                let span = e.ttl_span.clone().unwrap_or_else(|| e.span.clone());
                self.error(&span, msg);
            }

            if let Some((cut, at_cut)) = cut_of(&e.owner) {
                let glue = matches!(e.rtype, RecordType::A | RecordType::AAAA);
                let allowed = glue || (at_cut && e.rtype == RecordType::NS);
                if !allowed {
                    let msg = format!(
                        "{} record at {} is {} the delegation to {} (NS at {}); only NS and glue \
                         addresses are served there (RFC 1034 §4.2.1)",
                        e.rtype,
                        *e.owner,
                        if at_cut { "at" } else { "below" },
                        *cut,
                        self.at(&cuts[&cut].span)
                    );
                    self.error(&e.span, msg);
                }
            }

            // In-zone name servers need addresses, else nobody can reach
            // them (BIND refuses such zones too).
            if let RData::NS(target) = &e.rdata {
                let target = LowerName::new(&target.0);
                if longest_zone(&target, index).map(|z| z.0) == Some(my_index)
                    && !gslb_at.contains_key(&target)
                    && !entries.iter().any(|o| {
                        o.owner == target && matches!(o.rtype, RecordType::A | RecordType::AAAA)
                    })
                {
                    let msg = format!(
                        "name server {} is inside zone {} but has no A or AAAA record",
                        *target, draft.name
                    );
                    self.error(&e.span, msg);
                }
            }
        }

        for g in gslb {
            if let Some((cut, _)) = cut_of(&LowerName::new(&g.config.name)) {
                let msg = format!(
                    "gslb name {} is inside the delegation to {} (NS at {}); it would never be answered",
                    g.config.name,
                    *cut,
                    self.at(&cuts[&cut].span)
                );
                self.error(&g.span, msg);
            }
        }
    }
}
