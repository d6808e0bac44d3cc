//! DNS wire constants (RFC 1035 §4.1, RFC 6891) used by both sides.

/// DNS header length.
pub const HEADER_LEN: usize = 12;
/// Longest name in wire format, including the root label (RFC 1035 §3.1).
pub const MAX_NAME_LEN: usize = 255;
/// Longest label (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;
/// UDP payload limit for a query without OPT (RFC 1035 §4.2.1).
pub const CLASSIC_UDP_LIMIT: u16 = 512;

/// Header flag masks of the second 16-bit word (RFC 1035 §4.1.1, RFC 4035).
pub const FLAG_QR: u16 = 0x8000;
/// Opcode field mask (4 bits).
pub const OPCODE_MASK: u16 = 0x7800;
/// Authoritative answer.
pub const FLAG_AA: u16 = 0x0400;
/// Truncated.
pub const FLAG_TC: u16 = 0x0200;
/// Recursion desired.
pub const FLAG_RD: u16 = 0x0100;
/// Checking disabled (RFC 4035 §3.2.2: copied into the response).
pub const FLAG_CD: u16 = 0x0010;

/// Record type A.
pub const TYPE_A: u16 = 1;
/// Record type AAAA.
pub const TYPE_AAAA: u16 = 28;
/// Record type SOA.
pub const TYPE_SOA: u16 = 6;
/// Record type OPT.
pub const TYPE_OPT: u16 = 41;
/// Size of an OPT record without options (root owner, type, payload size,
/// extended RCODE and flags, RDLENGTH 0).
pub const OPT_LEN: usize = 11;
/// Class IN.
pub const CLASS_IN: u16 = 1;
/// EDNS option code of EDNS Client Subnet (RFC 7871).
pub const OPT_CODE_ECS: u16 = 8;
/// EDNS option code of the name server identifier, NSID (RFC 5001).
pub const OPT_CODE_NSID: u16 = 3;
/// DO bit in the OPT TTL field's low 16 bits (RFC 3225).
pub const EDNS_DO: u16 = 0x8000;
/// RCODE NXDOMAIN (RFC 1035 §4.1.1), in the low bits of the flags word.
pub const RCODE_NXDOMAIN: u16 = 3;

/// Whether `qtype` is a question the fast path may answer negatively: a
/// data type, not 0, OPT or a meta/query type (RFC 6895 §3.1: 128..=255,
/// e.g. ANY, AXFR, IXFR), which the slow path handles.
pub const fn is_data_type(qtype: u16) -> bool {
    qtype != 0 && qtype != TYPE_OPT && !(qtype >= 128 && qtype <= 255)
}
