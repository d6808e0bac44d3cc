//! Record data in zone-file syntax (RFC 1035 §5.1) → hickory [`RData`].
//!
//! hickory's [`RData::try_from_str`] parses the presentation format but has
//! no origin, so it leaves relative names relative and rejects `@`. A zone
//! file resolves both against the zone origin (RFC 1035 §5.1), and so does
//! the config: this module substitutes `@`, parses, then makes every
//! embedded name absolute. It also rejects what hickory silently accepts
//! but could never be sent: trailing tokens and data that does not encode.

use std::str::FromStr;

use hickory_proto::{
    rr::{Name, RData, Record, RecordType},
    serialize::binary::BinEncodable,
};

/// Record types accepted in `[[zone.record]]`. SOA is not here: it comes
/// from `[zone.soa]` (exactly one per zone, RFC 1035 §5.2). DNSSEC types
/// are not here: this server does not sign.
pub const SUPPORTED_TYPES: &[RecordType] = &[
    RecordType::A,
    RecordType::AAAA,
    RecordType::CAA,
    RecordType::CNAME,
    RecordType::HINFO,
    RecordType::HTTPS,
    RecordType::MX,
    RecordType::NAPTR,
    RecordType::NS,
    RecordType::PTR,
    RecordType::SRV,
    RecordType::SSHFP,
    RecordType::SVCB,
    RecordType::TLSA,
    RecordType::TXT,
];

/// Parses a record type mnemonic (case-insensitive) and checks that it is
/// one of [`SUPPORTED_TYPES`]. The error is a complete sentence.
pub fn parse_type(text: &str) -> Result<RecordType, String> {
    let upper = text.trim().to_ascii_uppercase();
    let rtype = RecordType::from_str(&upper).map_err(|_| unsupported(text))?;
    if rtype == RecordType::SOA {
        return Err("SOA records come from [zone.soa], not from [[zone.record]]".to_string());
    }
    if SUPPORTED_TYPES.contains(&rtype) {
        Ok(rtype)
    } else {
        Err(unsupported(text))
    }
}

fn unsupported(text: &str) -> String {
    let names: Vec<String> = SUPPORTED_TYPES.iter().map(|t| t.to_string()).collect();
    format!(
        "unsupported record type `{text}` (supported: {})",
        names.join(", ")
    )
}

/// Parses `text` as the RDATA of `rtype` in zone-file syntax, resolving
/// `@` and relative names against `origin` (which must be absolute).
pub fn parse_rdata(rtype: RecordType, text: &str, origin: &Name) -> Result<RData, String> {
    if let Some(count) = fixed_token_count(rtype) {
        let got = text.split_whitespace().count();
        if got != count {
            return Err(format!(
                "{rtype} data needs exactly {count} field{}, found {got}",
                if count == 1 { "" } else { "s" }
            ));
        }
    }
    let text = if has_names(rtype) {
        substitute_at(text, origin)
    } else {
        text.to_string()
    };
    let mut rdata = RData::try_from_str(rtype, &text).map_err(|e| format!("{e}"))?;
    absolutize(&mut rdata, origin)?;
    // hickory accepts some data it then cannot encode (a TXT string over
    // 255 octets, RFC 1035 §3.3): encode once so it fails here, not at
    // query time.
    Record::from_rdata(origin.clone(), 0, rdata.clone())
        .to_bytes()
        .map_err(|e| format!("cannot be encoded: {e}"))?;
    Ok(rdata)
}

/// Types whose data is a fixed number of whitespace-free fields. hickory
/// ignores trailing fields; a zone file would reject them.
fn fixed_token_count(rtype: RecordType) -> Option<usize> {
    match rtype {
        RecordType::A | RecordType::AAAA | RecordType::CNAME | RecordType::NS | RecordType::PTR => {
            Some(1)
        }
        RecordType::MX => Some(2),
        RecordType::SRV => Some(4),
        _ => None,
    }
}

/// Types whose data contains domain names (and no quoted strings that a
/// naive `@` substitution could damage).
fn has_names(rtype: RecordType) -> bool {
    matches!(
        rtype,
        RecordType::CNAME
            | RecordType::NS
            | RecordType::PTR
            | RecordType::MX
            | RecordType::SRV
            | RecordType::SVCB
            | RecordType::HTTPS
    )
}

/// Replaces each whitespace-separated `@` token by the origin (RFC 1035
/// §5.1: "A free standing @ is used to denote the current origin").
fn substitute_at(text: &str, origin: &Name) -> String {
    let origin = origin.to_string();
    text.split_whitespace()
        .map(|t| if t == "@" { origin.as_str() } else { t })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Makes every name embedded in `rdata` absolute by appending `origin` to
/// relative ones (RFC 1035 §5.1).
fn absolutize(rdata: &mut RData, origin: &Name) -> Result<(), String> {
    let name = match rdata {
        RData::CNAME(n) => &mut n.0,
        RData::NS(n) => &mut n.0,
        RData::PTR(n) => &mut n.0,
        RData::MX(mx) => &mut mx.exchange,
        RData::SRV(srv) => &mut srv.target,
        RData::NAPTR(naptr) => &mut naptr.replacement,
        RData::SVCB(svcb) => &mut svcb.target_name,
        RData::HTTPS(https) => &mut https.0.target_name,
        _ => return Ok(()),
    };
    if !name.is_fqdn() {
        *name = name
            .clone()
            .append_domain(origin)
            .map_err(|e| format!("name `{name}` is too long below `{origin}`: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Name {
        Name::from_ascii("example.test.").unwrap()
    }

    fn parse(rtype: RecordType, text: &str) -> Result<String, String> {
        parse_rdata(rtype, text, &origin()).map(|r| r.to_string())
    }

    #[test]
    fn relative_and_at_names_use_the_origin() {
        assert_eq!(
            parse(RecordType::MX, "10 mail").unwrap(),
            "10 mail.example.test."
        );
        assert_eq!(parse(RecordType::CNAME, "@").unwrap(), "example.test.");
        assert_eq!(
            parse(RecordType::CNAME, "www.example.net.").unwrap(),
            "www.example.net."
        );
        assert_eq!(
            parse(RecordType::SRV, "10 60 5060 sip").unwrap(),
            "10 60 5060 sip.example.test."
        );
    }

    #[test]
    fn typical_data_parses() {
        assert_eq!(parse(RecordType::A, "198.18.0.1").unwrap(), "198.18.0.1");
        assert_eq!(
            parse(RecordType::AAAA, "2001:db8::1").unwrap(),
            "2001:db8::1"
        );
        assert!(parse(RecordType::TXT, "\"v=spf1 mx -all\"").is_ok());
        assert!(parse(RecordType::CAA, "0 issue \"ca.example.net\"").is_ok());
        assert!(parse(RecordType::HTTPS, "1 . alpn=h2").is_ok());
    }

    #[test]
    fn bad_data_is_rejected() {
        assert!(parse(RecordType::A, "198.18.0.300").is_err());
        assert!(parse(RecordType::A, "2001:db8::1").is_err());
        assert!(parse(RecordType::A, "198.18.0.1 198.18.0.2").is_err());
        assert!(parse(RecordType::MX, "mail").is_err());
        assert!(parse(RecordType::SRV, "10 60 sip").is_err());
        let long = format!("\"{}\"", "x".repeat(300));
        assert!(parse(RecordType::TXT, &long).is_err());
    }

    #[test]
    fn types() {
        assert_eq!(parse_type("mx"), Ok(RecordType::MX));
        assert!(parse_type("SOA").unwrap_err().contains("[zone.soa]"));
        assert!(parse_type("BOGUS").unwrap_err().contains("unsupported"));
        assert!(parse_type("OPT").is_err());
    }
}
