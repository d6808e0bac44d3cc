//! Wildcard matching (RFC 4592 §3.3.1): which `*` name, if any, answers
//! for a name that does not exist in its zone.
//!
//! The closest encloser of a name is its longest ancestor that exists
//! (owners, gslb names, empty non-terminals: [`Zone::exists`]); the only
//! wildcard that can answer is `*.` + the closest encloser. A name that
//! exists never matches (NODATA instead), and a name below an existing
//! name other than the wildcard's parent matches nothing: that name is
//! its closest encloser.

use std::collections::HashSet;

use hickory_proto::rr::{LowerName, Name};

use crate::state::model::Zone;

/// The source of synthesis for `name` in `zone`: the wildcard at its
/// closest encloser, when `name` does not exist and that wildcard does
/// (with data, or as an empty non-terminal, which answers NODATA).
pub fn source_of_synthesis(zone: &Zone, name: &Name) -> Option<LowerName> {
    let apex_labels = zone.origin().num_labels();
    if name.num_labels() <= apex_labels || zone.exists(&LowerName::new(name)) {
        return None;
    }
    let mut encloser = name.base_name();
    while encloser.num_labels() > apex_labels && !zone.exists(&LowerName::new(&encloser)) {
        encloser = encloser.base_name();
    }
    let wildcard = Name::from_labels([&b"*"[..]])
        .ok()?
        .append_name(&encloser)
        .ok()?;
    let key = LowerName::new(&wildcard);
    zone.exists(&key).then_some(key)
}

/// The names among `names` that have a wildcard child (`*.name`): names
/// below them that do not exist may still be answered, so the fast
/// path's NXDOMAIN must not cover them. One pass that allocates only for
/// wildcards (the fast path's entries are computed on every update).
pub fn parents<'a>(names: impl Iterator<Item = &'a LowerName>) -> HashSet<LowerName> {
    names
        .filter(|n| n.iter().next() == Some(&b"*"[..]))
        .map(|n| LowerName::new(&n.base_name()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{config, state::model::State};

    fn state() -> State {
        let cfg = config::parse(
            r#"
[[zone]]
name = "example.test"
ns = ["ns1"]
[[zone.record]]
name = "ns1"
type = "A"
data = "198.18.0.53"
[[zone.record]]
name = "*.w"
type = "A"
data = "198.18.0.1"
[[zone.record]]
name = "host.w"
type = "TXT"
data = "\"x\""
[[zone.record]]
name = "a.ent.w"
type = "TXT"
data = "\"y\""
"#,
            "test",
        )
        .unwrap();
        State::from_config(&cfg)
    }

    fn source(state: &State, name: &str) -> Option<String> {
        let name = Name::from_ascii(name).unwrap();
        source_of_synthesis(&state.zones[0], &name).map(|n| n.to_string())
    }

    #[test]
    fn closest_encloser_rules() {
        let s = state();
        let w = Some("*.w.example.test.".to_string());
        assert_eq!(source(&s, "nx.w.example.test."), w, "child of the parent");
        assert_eq!(
            source(&s, "a.b.w.example.test."),
            w,
            "deeper, nothing between"
        );
        assert_eq!(source(&s, "NX.W.example.test."), w, "case-insensitive");
        assert_eq!(source(&s, "host.w.example.test."), None, "existing name");
        assert_eq!(source(&s, "*.w.example.test."), None, "the wildcard itself");
        assert_eq!(source(&s, "w.example.test."), None, "the parent (ENT)");
        assert_eq!(
            source(&s, "x.host.w.example.test."),
            None,
            "below another name"
        );
        assert_eq!(source(&s, "x.ent.w.example.test."), None, "below an ENT");
        assert_eq!(
            source(&s, "x.*.w.example.test."),
            None,
            "below the wildcard"
        );
        assert_eq!(
            source(&s, "nx.example.test."),
            None,
            "no wildcard at the apex"
        );
        let parents: Vec<String> = parents(s.zones[0].names())
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(parents, ["w.example.test."]);
    }

    #[test]
    fn lookup_synthesizes_from_the_wildcard() {
        use hickory_proto::{op::ResponseCode, rr::RecordType};

        use crate::dns::lookup::lookup;

        let cfg = config::parse(
            r#"
[[zone]]
name = "example.test"
ns = ["ns1"]
[[zone.record]]
name = "ns1"
type = "A"
data = "198.18.0.53"
[[zone.record]]
name = "*.w"
type = "A"
data = "198.18.0.7"
[[zone.record]]
name = "host.w"
type = "TXT"
data = "\"x\""
[[zone.record]]
name = "*.c"
type = "CNAME"
data = "ns1"
"#,
            "test",
        )
        .unwrap();
        let s = State::from_config(&cfg);
        let ask = |name: &str, t: RecordType| lookup(&s, &Name::from_ascii(name).unwrap(), t, None);

        let a = ask("Foo.W.example.test.", RecordType::A);
        assert_eq!((a.rcode, a.authoritative), (ResponseCode::NoError, true));
        assert_eq!(a.answers.len(), 1);
        assert_eq!(a.answers[0].name.to_string(), "Foo.W.example.test.");
        assert!(a.authorities.is_empty());

        let nodata = ask("a.b.w.example.test.", RecordType::MX);
        assert_eq!(nodata.rcode, ResponseCode::NoError);
        assert!(nodata.answers.is_empty());
        assert_eq!(nodata.authorities[0].record_type(), RecordType::SOA);

        let exists = ask("host.w.example.test.", RecordType::A);
        assert_eq!(exists.rcode, ResponseCode::NoError);
        assert!(
            exists.answers.is_empty(),
            "an existing name is not synthesized"
        );

        for nx in [
            "x.host.w.example.test.",
            "x.*.w.example.test.",
            "nx.example.test.",
        ] {
            assert_eq!(ask(nx, RecordType::A).rcode, ResponseCode::NXDomain, "{nx}");
        }

        let cname = ask("q.c.example.test.", RecordType::A);
        let got: Vec<String> = cname
            .answers
            .iter()
            .map(|r| format!("{} {}", r.name, r.record_type()))
            .collect();
        assert_eq!(got, ["q.c.example.test. CNAME", "ns1.example.test. A"]);
    }
}
