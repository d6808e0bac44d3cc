//! EDNS Client Subnet (RFC 7871) in the slow path: finding and checking
//! the option of a request, and the option of its reply.
//!
//! hickory-proto decodes the option ([`ClientSubnet`]) and rejects an
//! unknown family, a SOURCE PREFIX-LENGTH longer than the family's
//! address and an address shorter than the prefix needs (the whole
//! message then fails to parse: FORMERR). It accepts an ADDRESS longer
//! than the prefix needs and bits set past the prefix, and keeps every
//! copy of the option; [`find`] reads the option's bytes from the request
//! itself to reject those too (§6: FORMERR).

use std::net::IpAddr;

use hickory_proto::{
    op::Query,
    rr::{
        rdata::opt::{ClientSubnet, EdnsOption},
        Name,
    },
    serialize::binary::{BinDecodable, BinDecoder},
};

/// Option code of ECS (RFC 7871 §6).
const OPTION_ECS: u16 = 8;
/// RR type of OPT.
const TYPE_OPT: u16 = 41;

/// A well-formed ECS option of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ecs {
    /// The address, every bit past `source` zero (an IPv4 option gives an
    /// IPv4 address).
    pub addr: IpAddr,
    /// SOURCE PREFIX-LENGTH.
    pub source: u8,
}

/// Why a request's ECS option is malformed (RFC 7871 §6, §7.1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// FAMILY is neither 1 (IPv4) nor 2 (IPv6).
    #[error("unknown address family {0}")]
    Family(u16),
    /// SOURCE PREFIX-LENGTH longer than the family's address.
    #[error("source prefix length {0} longer than the address")]
    SourceTooLong(u8),
    /// ADDRESS is not exactly ceil(SOURCE PREFIX-LENGTH / 8) octets.
    #[error("address of {got} octets for a source prefix length of {prefix}")]
    AddressLength {
        /// SOURCE PREFIX-LENGTH.
        prefix: u8,
        /// Octets of ADDRESS.
        got: usize,
    },
    /// Bits of ADDRESS past SOURCE PREFIX-LENGTH are set.
    #[error("address bits set past the source prefix length")]
    BitsPastPrefix,
    /// The option is shorter than its fixed part.
    #[error("truncated option")]
    Truncated,
    /// More than one ECS option.
    #[error("more than one client subnet option")]
    Repeated,
}

impl Ecs {
    /// The reply's option: FAMILY, SOURCE PREFIX-LENGTH and ADDRESS as
    /// asked, with `scope` (RFC 7871 §7.2.1).
    pub fn reply(&self, scope: u8) -> EdnsOption {
        EdnsOption::Subnet(ClientSubnet::new(self.addr, self.source, scope))
    }
}

/// The ECS option of the request `msg` (already parsed by hickory, so
/// the header, question and records are well-formed): `Ok(None)`
/// without one.
pub fn find(msg: &[u8]) -> Result<Option<Ecs>, Malformed> {
    let Some(options) = opt_rdata(msg) else {
        return Ok(None);
    };
    let mut found = None;
    let mut rest = options;
    while rest.len() >= 4 {
        let code = u16::from_be_bytes([rest[0], rest[1]]);
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        let data = rest.get(4..4 + len).ok_or(Malformed::Truncated)?;
        rest = &rest[4 + len..];
        if code != OPTION_ECS {
            continue;
        }
        if found.is_some() {
            return Err(Malformed::Repeated);
        }
        found = Some(parse(data)?);
    }
    Ok(found)
}

/// Checks and decodes the data of one ECS option.
fn parse(data: &[u8]) -> Result<Ecs, Malformed> {
    // SCOPE PREFIX-LENGTH "MUST be 0" in queries (§6) but is not
    // checked, as the XDP program does not: it is not used.
    let [f0, f1, source, _scope, address @ ..] = data else {
        return Err(Malformed::Truncated);
    };
    let family = u16::from_be_bytes([*f0, *f1]);
    let bits = match family {
        1 => 32,
        2 => 128,
        f => return Err(Malformed::Family(f)),
    };
    if *source > bits {
        return Err(Malformed::SourceTooLong(*source));
    }
    let want = usize::from(source.div_ceil(8));
    if address.len() != want {
        return Err(Malformed::AddressLength {
            prefix: *source,
            got: address.len(),
        });
    }
    if source % 8 != 0 {
        let last = address[want - 1];
        if last & (0xffu8 >> (source % 8)) != 0 {
            return Err(Malformed::BitsPastPrefix);
        }
    }
    // The checks above leave nothing for hickory to reject.
    let subnet = ClientSubnet::try_from(data).map_err(|_| Malformed::Truncated)?;
    let addr = match subnet.addr() {
        IpAddr::V4(a) if family == 1 => IpAddr::V4(a),
        IpAddr::V6(a) if family == 2 => IpAddr::V6(a),
        _ => return Err(Malformed::Family(family)),
    };
    Ok(Ecs {
        addr,
        source: *source,
    })
}

/// The RDATA of the request's OPT record, if it has one.
fn opt_rdata(msg: &[u8]) -> Option<&[u8]> {
    if msg.len() < 12 {
        return None;
    }
    let count = |i: usize| usize::from(u16::from_be_bytes([msg[i], msg[i + 1]]));
    let (qd, an, ns, ar) = (count(4), count(6), count(8), count(10));
    let mut d = BinDecoder::new(msg);
    d.read_slice(12).ok()?;
    for _ in 0..qd {
        Query::read(&mut d).ok()?;
    }
    for i in 0..an + ns + ar {
        Name::read(&mut d).ok()?;
        let fixed = d.read_slice(10).ok()?.unverified();
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let len = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let rdata = d.read_slice(len).ok()?.unverified();
        if i >= an + ns && rtype == TYPE_OPT {
            return Some(rdata);
        }
    }
    None
}
