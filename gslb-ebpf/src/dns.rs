//! DNS query parsing and in-place response building in the per-CPU scratch
//! buffer. Every index is masked with [`MASK`] so the verifier can prove
//! each access in bounds; semantic bounds (`< len`) are checked separately.

use gslb_common::{
    dns::{
        CLASSIC_UDP_LIMIT, CLASS_IN, EDNS_DO, FLAG_AA, FLAG_CD, FLAG_QR, FLAG_RD, FLAG_TC,
        HEADER_LEN, MAX_LABEL_LEN, MAX_NAME_LEN, OPCODE_MASK, OPT_CODE_ECS, TYPE_A, TYPE_AAAA,
        TYPE_OPT,
    },
    maps::MAX_ADDRS,
    select::Selection,
    Counter,
};

use crate::maps::{Scratch, MASK, MAX_QUERY, SCRATCH_LEN};

/// Most EDNS options we walk before giving up (passing the query).
const MAX_OPTIONS: usize = 16;
/// Size of an OPT record without options.
pub const OPT_LEN: usize = 11;

/// What the fast path needs to know about a parsed query.
pub struct Query {
    /// Offset just past the question (QTYPE/QCLASS included).
    pub q_end: usize,
    /// QTYPE, A or AAAA.
    pub qtype: u16,
    /// Wire length of QNAME (root label included).
    pub name_len: usize,
    /// The query had an OPT record.
    pub has_opt: bool,
    /// Largest response the client accepts over UDP.
    pub udp_limit: usize,
    /// OPT flags word of the query (for the DO bit).
    pub opt_flags: u16,
    /// Header flags of the query.
    pub flags: u16,
}

#[inline(always)]
fn rd16(m: &[u8; SCRATCH_LEN], i: usize) -> u16 {
    u16::from_be_bytes([m[i & MASK], m[(i + 1) & MASK]])
}

#[inline(always)]
fn wr16(m: &mut [u8; SCRATCH_LEN], i: usize, v: u16) {
    let b = v.to_be_bytes();
    m[i & MASK] = b[0];
    m[(i + 1) & MASK] = b[1];
}

/// Parses the query in `s.msg[..len]` and writes the lowercased QNAME into
/// `s.key` (zero padded). `Err` carries the pass reason.
#[inline(always)]
pub fn parse(s: &mut Scratch, len: usize) -> Result<Query, Counter> {
    let m = &s.msg;
    let flags = rd16(m, 2);
    if flags & (FLAG_QR | OPCODE_MASK | FLAG_TC) != 0 {
        return Err(Counter::PassNotQuery);
    }
    if rd16(m, 4) != 1 || rd16(m, 6) != 0 || rd16(m, 8) != 0 {
        return Err(Counter::PassSectionCounts);
    }
    let arcount = rd16(m, 10);
    if arcount > 1 {
        return Err(Counter::PassAdditional);
    }

    // QNAME: one pass over at most 255 bytes, tracking the bytes left in the
    // current label (RFC 1035 §3.1). Lengths above 63 are compression
    // pointers (RFC 1035 §4.1.4) or extended labels: never in a question we
    // answer.
    // 32 eight-byte stores; a plain loop becomes a byte-wise memset.
    let words = s.key.as_mut_ptr().cast::<u64>();
    for i in 0..32 {
        // SAFETY: `key` is 256 bytes; map values are 8-byte aligned and
        // `key` sits at an 8-byte offset of `Scratch`.
        unsafe { core::ptr::write_volatile(words.add(i), 0) };
    }
    // The bytes left in the current label live in map memory (`s.tmp`), not
    // in a register: the verifier then sees the same state at the top of
    // every iteration and checks the body once per iteration instead of once
    // per path (see `Scratch::opaque`).
    s.tmp = 0;
    let mut name_len = 0;
    for i in 0..MAX_NAME_LEN {
        let p = HEADER_LEN + i;
        if p >= len {
            return Err(Counter::PassMalformed);
        }
        let b = s.msg[p & MASK];
        // SAFETY: plain read of our own per-CPU field.
        let left = unsafe { core::ptr::read_volatile(&s.tmp) };
        let (byte, next) = if left == 0 {
            if b == 0 {
                name_len = i + 1;
                break;
            }
            if usize::from(b) > MAX_LABEL_LEN {
                return Err(Counter::PassMalformed);
            }
            (b, u64::from(b))
        } else {
            (b.to_ascii_lowercase(), left - 1)
        };
        s.key[i & 0xff] = byte;
        unsafe { core::ptr::write_volatile(&mut s.tmp, next) };
    }
    // Each loop exit knows a different lower bound of `len` (and an exact
    // `name_len`); launder both so all exits share one state.
    let name_len = s.opaque(name_len);
    let len = s.opaque(len);
    if len > MAX_QUERY || name_len == 0 || name_len > MAX_NAME_LEN {
        // No root label within 255 bytes.
        return Err(Counter::PassMalformed);
    }
    let m = &s.msg;
    let mut pos = HEADER_LEN + name_len;
    if pos + 4 > len {
        return Err(Counter::PassMalformed);
    }
    let qtype = rd16(m, pos);
    let qclass = rd16(m, pos + 2);
    pos += 4;
    let q_end = pos;

    let mut q = Query {
        q_end,
        qtype,
        name_len,
        has_opt: false,
        udp_limit: usize::from(CLASSIC_UDP_LIMIT),
        opt_flags: 0,
        flags,
    };
    if arcount == 1 {
        parse_opt(m, pos, len, &mut q)?;
    } else if pos != len {
        return Err(Counter::PassMalformed);
    }
    if qclass != CLASS_IN {
        return Err(Counter::PassClass);
    }
    if qtype != TYPE_A && qtype != TYPE_AAAA {
        return Err(Counter::PassType);
    }
    Ok(q)
}

/// Parses the OPT pseudo-record at `pos` (RFC 6891 §6.1.2), which must end
/// the message.
#[inline(always)]
fn parse_opt(m: &[u8; SCRATCH_LEN], pos: usize, len: usize, q: &mut Query) -> Result<(), Counter> {
    if pos + OPT_LEN > len {
        return Err(Counter::PassMalformed);
    }
    if m[pos & MASK] != 0 || rd16(m, pos + 1) != TYPE_OPT {
        return Err(Counter::PassAdditional);
    }
    let udp_size = rd16(m, pos + 3);
    let version = m[(pos + 6) & MASK];
    let opt_flags = rd16(m, pos + 7);
    let rdlen = usize::from(rd16(m, pos + 9));
    let mut o = pos + OPT_LEN;
    let end = o + rdlen;
    if end != len {
        return Err(Counter::PassMalformed);
    }
    if version != 0 {
        return Err(Counter::PassEdnsVersion);
    }
    for _ in 0..MAX_OPTIONS {
        if o >= end {
            break;
        }
        if o + 4 > end {
            return Err(Counter::PassMalformed);
        }
        let code = rd16(m, o);
        let olen = usize::from(rd16(m, o + 2));
        if code == OPT_CODE_ECS {
            return Err(Counter::PassEcs);
        }
        // COOKIE (RFC 7873), padding (RFC 7830) and the rest: not echoed.
        o += 4 + olen;
    }
    if o != end {
        // Options overrun the record, or more than MAX_OPTIONS of them.
        return Err(Counter::PassMalformed);
    }
    q.has_opt = true;
    q.opt_flags = opt_flags;
    // RFC 6891 §6.2.5: values below 512 are treated as 512.
    q.udp_limit = usize::from(udp_size.max(CLASSIC_UDP_LIMIT));
    Ok(())
}

/// Length of the response for `n` answers of `rdlen` bytes each.
#[inline(always)]
pub fn response_len(q: &Query, n: usize, rdlen: usize) -> usize {
    q.q_end + n * (12 + rdlen) + if q.has_opt { OPT_LEN } else { 0 }
}

/// Turns the query in `s.msg` into the response: header, answers after the
/// question, OPT last. The answers are the first `n` candidates of `addrs`
/// (`N`-byte addresses) listed in `s.order`. Returns the response length.
#[inline(always)]
pub fn build<const N: usize>(
    s: &mut Scratch,
    q: &Query,
    sel: &Selection,
    addrs: &[[u8; N]; MAX_ADDRS],
    n: usize,
    edns_udp_size: u16,
) -> usize {
    let m = &mut s.msg;
    // Header (RFC 1035 §4.1.1): QR, AA; RD and CD copied (RFC 4035 §3.1.6).
    wr16(m, 2, FLAG_QR | FLAG_AA | (q.flags & (FLAG_RD | FLAG_CD)));
    wr16(m, 6, n as u16);
    wr16(m, 10, u16::from(q.has_opt));
    let ttl = sel.ttl.to_be_bytes();
    // The write offset lives in map memory between iterations, for the
    // same reason as the label counter in `parse`.
    s.tmp = q.q_end as u64;
    for k in 0..MAX_ADDRS {
        if k >= n {
            break;
        }
        let addr = &addrs[usize::from(s.order[k]) & (MAX_ADDRS - 1)];
        // SAFETY: plain read of our own per-CPU field.
        let o = unsafe { core::ptr::read_volatile(&s.tmp) } as usize;
        let m = &mut s.msg;
        // Owner: compression pointer to the question name at offset 12.
        m[o & MASK] = 0xc0;
        m[(o + 1) & MASK] = HEADER_LEN as u8;
        wr16(m, o + 2, q.qtype);
        wr16(m, o + 4, CLASS_IN);
        for (j, b) in ttl.iter().enumerate() {
            m[(o + 6 + j) & MASK] = *b;
        }
        wr16(m, o + 10, N as u16);
        for (j, b) in addr.iter().enumerate() {
            m[(o + 12 + j) & MASK] = *b;
        }
        unsafe { core::ptr::write_volatile(&mut s.tmp, (o + 12 + N) as u64) };
    }
    let mut o = unsafe { core::ptr::read_volatile(&s.tmp) } as usize;
    if q.has_opt {
        let m = &mut s.msg;
        // OPT (RFC 6891 §6.1.2): root owner, our payload size, version 0,
        // DO copied (RFC 3225 §3), no options.
        m[o & MASK] = 0;
        wr16(m, o + 1, TYPE_OPT);
        wr16(m, o + 3, edns_udp_size);
        m[(o + 5) & MASK] = 0;
        m[(o + 6) & MASK] = 0;
        wr16(m, o + 7, q.opt_flags & EDNS_DO);
        wr16(m, o + 9, 0);
        o += OPT_LEN;
    }
    o
}
