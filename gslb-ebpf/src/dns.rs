//! DNS query parsing and in-place response building in the per-CPU scratch
//! buffer. Every index is masked with [`MASK`] so the verifier can prove
//! each access in bounds; semantic bounds (`< len`) are checked separately.

use gslb_common::{
    dns::{
        is_data_type, CLASSIC_UDP_LIMIT, CLASS_IN, EDNS_DO, FLAG_AA, FLAG_CD, FLAG_QR, FLAG_RD,
        FLAG_TC, HEADER_LEN, MAX_LABEL_LEN, MAX_NAME_LEN, OPCODE_MASK, OPT_CODE_ECS, OPT_CODE_NSID,
        OPT_LEN, TYPE_OPT,
    },
    maps::{name_class, Canned, CANNED_MAX, MAX_ADDRS, NAME_CLASSES},
    select::Selection,
    Counter,
};

use crate::{
    csum,
    maps::{Scratch, MASK, MAX_QUERY, SCRATCH_LEN},
};

/// Most labels in a name: 127 one-byte labels and the root fit 255 bytes.
const MAX_LABELS: usize = 128;
/// Most EDNS options we walk before giving up (passing the query).
const MAX_OPTIONS: usize = 16;

/// What the fast path needs to know about a parsed query.
pub struct Query {
    /// Offset just past the question (QTYPE/QCLASS included).
    pub q_end: usize,
    /// QTYPE, a data type (see `is_data_type`).
    pub qtype: u16,
    /// Wire length of QNAME (root label included).
    pub name_len: usize,
    /// Length of the QNAME's first label (0 for the root).
    pub first_label: usize,
    /// The query had an OPT record.
    pub has_opt: bool,
    /// Largest response the client accepts over UDP.
    pub udp_limit: usize,
    /// OPT flags word of the query (for the DO bit).
    pub opt_flags: u16,
    /// Header flags of the query.
    pub flags: u16,
    /// Unfolded checksum sum of the question (QNAME, QTYPE, QCLASS) in
    /// place at offset 12, so the response's checksum needs no pass over it.
    pub qsum: u64,
    /// What `parse`'s `on_key` returned (the QNAME's home slot).
    pub home: u32,
    /// FAMILY of the query's EDNS Client Subnet option (1 IPv4, 2 IPv6;
    /// its address in `Scratch::ecs`), or 0: no option, or one not used
    /// (untrusted resolver, `ecs = "none"`), not echoed.
    pub ecs_family: u8,
    /// SOURCE PREFIX-LENGTH of the ECS option.
    pub ecs_source: u8,
    /// The OPT record has an NSID option (RFC 5001): passed when an NSID
    /// is configured, since this program writes no options but ECS.
    pub nsid: bool,
}

impl Query {
    /// Bytes of the ECS option's ADDRESS: ceil(SOURCE / 8).
    #[inline(always)]
    pub fn ecs_addr_len(&self) -> usize {
        (usize::from(self.ecs_source) + 7) >> 3
    }

    /// Length of the ECS option echoed in the reply's OPT record (code,
    /// length, FAMILY, SOURCE, SCOPE, ADDRESS), 0 when none is.
    #[inline(always)]
    pub fn ecs_echo_len(&self) -> usize {
        if self.ecs_family == 0 {
            0
        } else {
            8 + self.ecs_addr_len()
        }
    }
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
/// `s.key` (zero padded). `on_key` is called as soon as the key is written,
/// before the rest of the question is parsed (so that a lookup it starts
/// overlaps that work); its result is kept in [`Query::home`]. `Err`
/// carries the pass reason.
#[inline(always)]
pub fn parse(
    s: &mut Scratch,
    len: usize,
    on_key: impl FnOnce(&Scratch, usize) -> u32,
) -> Result<Query, Counter> {
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

    // QNAME (RFC 1035 §3.1): hop from length byte to length byte. Lengths
    // above 63 are compression pointers (RFC 1035 §4.1.4) or extended
    // labels: never in a question we answer. The position lives in map
    // memory (`s.tmp`), not in a register, so the verifier sees the same
    // state at every hop (see `Scratch::opaque`).
    s.tmp = HEADER_LEN as u64;
    let mut name_len = 0;
    for _ in 0..MAX_LABELS {
        // SAFETY: plain read of our own per-CPU field.
        let p = unsafe { core::ptr::read_volatile(&s.tmp) } as usize;
        if p >= len {
            return Err(Counter::PassMalformed);
        }
        let l = usize::from(s.msg[p & MASK]);
        if l == 0 {
            name_len = p + 1 - HEADER_LEN;
            break;
        }
        let next = p + 1 + l;
        // The root label still has to fit in 255 bytes.
        if l > MAX_LABEL_LEN || next - HEADER_LEN >= MAX_NAME_LEN {
            return Err(Counter::PassMalformed);
        }
        unsafe { core::ptr::write_volatile(&mut s.tmp, next as u64) };
    }
    // Each loop exit knows a different lower bound of `len` (and an exact
    // `name_len`); launder both so all exits share one state.
    let name_len = s.opaque(name_len);
    let len = s.opaque(len);
    if len > MAX_QUERY || name_len == 0 || name_len > MAX_NAME_LEN {
        // No root label within 255 bytes.
        return Err(Counter::PassMalformed);
    }
    let name_sum = build_key(s, 0, name_len);
    let home = on_key(s, name_len);
    let m = &s.msg;
    let first_label = usize::from(m[HEADER_LEN]) & MAX_LABEL_LEN;
    let mut pos = HEADER_LEN + name_len;
    if pos + 4 > len {
        return Err(Counter::PassMalformed);
    }
    let qtype = rd16(m, pos);
    let qclass = rd16(m, pos + 2);
    pos += 4;
    let q_end = pos;
    // QTYPE and QCLASS follow the name, at offset 12 + name_len.
    let tc = csum::at(csum::be(qtype) + csum::be(qclass), name_len);

    let mut q = Query {
        q_end,
        qtype,
        name_len,
        first_label,
        has_opt: false,
        udp_limit: usize::from(CLASSIC_UDP_LIMIT),
        opt_flags: 0,
        flags,
        qsum: name_sum + tc,
        home,
        ecs_family: 0,
        ecs_source: 0,
        nsid: false,
    };
    if arcount == 1 {
        parse_opt(m, &mut s.ecs, pos, len, &mut q)?;
    } else if pos != len {
        return Err(Counter::PassMalformed);
    }
    if qclass != CLASS_IN {
        return Err(Counter::PassClass);
    }
    if !is_data_type(qtype) {
        return Err(Counter::PassType);
    }
    Ok(q)
}

/// ASCII lowercase of eight bytes at once: `| 0x20` on the bytes in
/// 'A'..='Z' only. Length bytes (at most 63) are never in that range.
#[inline(always)]
fn lower8(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let low7 = w & (0x7f * ONES);
    let above_z = low7 + (0x25 * ONES); // high bit set where byte > 'Z'
    let from_a = low7 + (0x3f * ONES); // high bit set where byte >= 'A'
    let upper = from_a & !above_z & !w & (0x80 * ONES);
    w | (upper >> 2)
}

/// Writes the name map key: the `name_len` bytes of the name at
/// `HEADER_LEN + skip` in `s.msg` (the QNAME, or with `skip` its first
/// label's length plus one, its parent), lowercased, then zeros up to the
/// size of its name class, by 64-bit words. Returns the checksum sum of
/// the name bytes as read (not lowercased).
#[inline(always)]
pub fn build_key(s: &mut Scratch, skip: usize, name_len: usize) -> u64 {
    // The class size as a word count, through map memory: four distinct
    // constants would each get their own copy of the rest of the program.
    let class = match name_class(s.opaque(name_len)) {
        Some(c) => NAME_CLASSES[c & 3],
        None => return 0,
    };
    let mut sum = 0;
    let class = s.opaque(class);
    // A label is at most 63 bytes: the mask keeps the reads below within
    // `msg` for the verifier (`skip` is checked by the caller).
    let skip = skip & 127;
    for k in 0..32 {
        // SAFETY: at most 12 + 127 + 256 bytes into the 1024-byte `msg`.
        let src = unsafe { s.msg.as_ptr().add(HEADER_LEN + skip).cast::<u64>() };
        let dst = s.key.as_mut_ptr().cast::<u64>();
        let at = k * 8;
        if at >= class {
            break;
        }
        // A laundered copy: comparing `name_len` itself would give every
        // iteration its own range of it, multiplying the verifier's states.
        let name_len = s.opaque(name_len);
        let w = if at < name_len {
            // SAFETY: within `msg` (above); bytes past the name are masked
            // off. `msg[12..]` is 8-byte aligned (asserted in `maps`); the
            // parent's words are not (see `.cargo/config.toml`).
            let w = unsafe { src.add(k).read_unaligned() };
            let left = name_len - at;
            let keep = if left >= 8 {
                u64::MAX
            } else {
                (1u64 << (left * 8)) - 1
            };
            sum += csum::word(w & keep);
            lower8(w) & keep
        } else {
            0
        };
        // SAFETY: `key` is 256 bytes at offset 0 of the map value.
        unsafe { dst.add(k).write(w) };
    }
    sum
}

/// Parses the OPT pseudo-record at `pos` (RFC 6891 §6.1.2), which must end
/// the message, and its EDNS Client Subnet option if any (into `ecs`).
#[inline(always)]
fn parse_opt(
    m: &[u8; SCRATCH_LEN],
    ecs: &mut [u8; 16],
    pos: usize,
    len: usize,
    q: &mut Query,
) -> Result<(), Counter> {
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
    // Where the ECS option starts (0: none). Only noted in the loop: it is
    // parsed once after it, so that its checks do not multiply the
    // verifier's states per option.
    let mut ecs_at = 0;
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
            // A second one, or one that overruns the record (RFC 7871 §6:
            // FORMERR from the slow path).
            if ecs_at != 0 || o + 4 + olen > end {
                return Err(Counter::PassEcs);
            }
            ecs_at = o;
        }
        if code == OPT_CODE_NSID {
            q.nsid = true;
        }
        // COOKIE (RFC 7873), padding (RFC 7830) and the rest: not echoed.
        o += 4 + olen;
    }
    if o != end {
        // Options overrun the record, or more than MAX_OPTIONS of them.
        return Err(Counter::PassMalformed);
    }
    if ecs_at != 0 {
        parse_ecs(m, ecs, ecs_at, q)?;
    }
    q.has_opt = true;
    q.opt_flags = opt_flags;
    // RFC 6891 §6.2.5: values below 512 are treated as 512.
    q.udp_limit = usize::from(udp_size.max(CLASSIC_UDP_LIMIT));
    Ok(())
}

/// Parses the EDNS Client Subnet option at `o` (RFC 7871 §6), whose
/// OPTION-LENGTH is known to fit the record: FAMILY 1 or 2, SOURCE
/// PREFIX-LENGTH at most the family's address length, exactly
/// ceil(SOURCE / 8) address bytes, no bit set past SOURCE. The address
/// goes into `ecs` (zero padded), FAMILY and SOURCE into `q`; anything
/// else passes the query (`PassEcs`).
#[inline(always)]
fn parse_ecs(
    m: &[u8; SCRATCH_LEN],
    ecs: &mut [u8; 16],
    o: usize,
    q: &mut Query,
) -> Result<(), Counter> {
    let olen = usize::from(rd16(m, o + 2));
    if olen < 4 {
        return Err(Counter::PassEcs);
    }
    let family = rd16(m, o + 4);
    let source = usize::from(m[(o + 6) & MASK]);
    let max_source = match family {
        1 => 32,
        2 => 128,
        _ => return Err(Counter::PassEcs),
    };
    let alen = (source + 7) >> 3;
    if source > max_source || olen != 4 + alen {
        return Err(Counter::PassEcs);
    }
    // The address by two big-endian words, then masked to SOURCE bits:
    // bytes past the option read from `msg` fall in the masked part.
    let at = (o + 8) & MASK;
    // SAFETY: `at + 16` is within the 1024-byte `msg`.
    let (hi, lo) = unsafe {
        let p = m.as_ptr().add(at).cast::<u64>();
        (
            u64::from_be(p.read_unaligned()),
            u64::from_be(p.add(1).read_unaligned()),
        )
    };
    // The bits of the address bytes past SOURCE must be zero: those of
    // its last byte (the only partial one).
    let rest = source & 7;
    if rest != 0 && m[(at + alen - 1) & MASK] & (0xffu8 >> rest) != 0 {
        return Err(Counter::PassEcs);
    }
    let (mhi, mlo) = prefix_mask(source);
    let w = [(hi & mhi).to_be_bytes(), (lo & mlo).to_be_bytes()];
    ecs[..8].copy_from_slice(&w[0]);
    ecs[8..].copy_from_slice(&w[1]);
    q.ecs_family = family as u8;
    q.ecs_source = source as u8;
    Ok(())
}

/// The first `len` (0..=128) bits set, as two big-endian words.
#[inline(always)]
fn prefix_mask(len: usize) -> (u64, u64) {
    let word = |l: usize| -> u64 {
        if l >= 64 {
            u64::MAX
        } else if l == 0 {
            0
        } else {
            u64::MAX << (64 - l)
        }
    };
    (word(len), word(len.saturating_sub(64)))
}

/// Length of the response for `n` answers of `rdlen` bytes each.
#[inline(always)]
pub fn response_len(q: &Query, n: usize, rdlen: usize) -> usize {
    q.q_end + n * (12 + rdlen) + opt_len(q)
}

/// Length of our OPT record (with the ECS echo), 0 without one.
#[inline(always)]
fn opt_len(q: &Query) -> usize {
    if q.has_opt {
        OPT_LEN + q.ecs_echo_len()
    } else {
        0
    }
}

/// Writes the response header's flags and counts over the query's
/// (RFC 1035 §4.1.1): QR, AA and `rcode`, RD and CD copied (RFC 4035
/// §3.1.6); QDCOUNT stays 1; ARCOUNT `additional` plus 1 when the query
/// had an OPT record. Returns the header's checksum sum, the ID as it lies.
#[inline(always)]
fn write_header(
    m: &mut [u8; SCRATCH_LEN],
    q: &Query,
    rcode: u16,
    ancount: u16,
    nscount: u16,
    additional: u16,
) -> u64 {
    let flags = FLAG_QR | FLAG_AA | (q.flags & (FLAG_RD | FLAG_CD)) | rcode;
    let arcount = additional + u16::from(q.has_opt);
    wr16(m, 2, flags);
    wr16(m, 6, ancount);
    wr16(m, 8, nscount);
    wr16(m, 10, arcount);
    u64::from(u16::from_ne_bytes([m[0], m[1]]))
        + csum::be(flags)
        + csum::be(1)
        + csum::be(ancount)
        + csum::be(nscount)
        + csum::be(arcount)
}

/// Turns the query in `s.msg` into the response: header, answers after the
/// question, OPT last (echoing the ECS option with SCOPE PREFIX-LENGTH
/// `scope`). The answers are the first `n` candidates of `addrs`
/// (`N`-byte addresses) listed in `s.order`. Returns the response length
/// and its unfolded checksum sum, added up while it is written.
#[inline(always)]
pub fn build<const N: usize, const M: usize>(
    s: &mut Scratch,
    q: &Query,
    sel: &Selection,
    addrs: &[[u8; N]; M],
    n: usize,
    edns_udp_size: u16,
    scope: u8,
) -> (usize, u64) {
    let header = write_header(&mut s.msg, q, 0, n as u16, 0, 0);
    // Every record below has an even length: all start at the parity of
    // `q_end`. The fixed part of a record: pointer, type, class, TTL,
    // RDLENGTH.
    let ttl = sel.ttl.to_be_bytes();
    let fixed = csum::be(0xc000 | HEADER_LEN as u16)
        + csum::be(q.qtype)
        + csum::be(CLASS_IN)
        + csum::be(u16::from_be_bytes([ttl[0], ttl[1]]))
        + csum::be(u16::from_be_bytes([ttl[2], ttl[3]]))
        + csum::be(N as u16);
    // The fixed part of every record, as it lies in the message: owner (a
    // compression pointer to the question name at offset 12), type, class,
    // TTL, RDLENGTH; written as one 8-byte and one 4-byte word.
    let qt = q.qtype.to_be_bytes();
    let rr = [
        0xc0,
        HEADER_LEN as u8,
        qt[0],
        qt[1],
        0,
        CLASS_IN as u8,
        ttl[0],
        ttl[1],
    ];
    let rr_lo = u64::from_ne_bytes(rr);
    let rr_hi = u32::from_ne_bytes([ttl[2], ttl[3], 0, N as u8]);
    let mut tail = 0u64;
    // The write offset lives in map memory between iterations, for the
    // same reason as the label counter in `parse`.
    s.tmp = q.q_end as u64;
    for k in 0..MAX_ADDRS {
        if k >= n {
            break;
        }
        // `M` is a power of two (8, or 4 inline).
        let addr = &addrs[usize::from(s.order[k]) & (M - 1)];
        // SAFETY: plain read of our own per-CPU field.
        let o = unsafe { core::ptr::read_volatile(&s.tmp) } as usize;
        // SAFETY: `(o & MASK) + 12 + N` is at most 539, within the
        // 1024-byte `msg` (a response over 508 bytes is never sent).
        unsafe {
            let p = s.msg.as_mut_ptr().add(o & MASK);
            p.cast::<u64>().write_unaligned(rr_lo);
            p.add(8).cast::<u32>().write_unaligned(rr_hi);
            core::ptr::copy_nonoverlapping(addr.as_ptr(), p.add(12), N);
        }
        tail += fixed;
        for j in 0..N / 4 {
            tail += u64::from(u32::from_ne_bytes([
                addr[4 * j],
                addr[4 * j + 1],
                addr[4 * j + 2],
                addr[4 * j + 3],
            ]));
        }
        unsafe { core::ptr::write_volatile(&mut s.tmp, (o + 12 + N) as u64) };
    }
    let o = unsafe { core::ptr::read_volatile(&s.tmp) } as usize;
    let end = write_opt(&mut s.msg, &s.ecs, o, q, edns_udp_size, scope);
    if q.has_opt {
        // The OPT record starts at the parity of `q_end`, its ECS option
        // (after 11 bytes) at the other.
        tail += opt_sum(q, edns_udp_size);
        if q.ecs_family != 0 {
            tail += csum::at(ecs_sum(q, &s.ecs, scope), 1);
        }
    }
    (end, header + q.qsum + csum::at(tail, q.q_end))
}

/// Checksum sum of the OPT record [`write_opt`] writes, without its
/// option, at an even offset: its bytes are 00 | 00 29 | size | 00 00 |
/// flags | rdlength, so the 16-bit words are 0000, 29 size_hi, size_lo
/// 00, 00 flags_hi, flags_lo rdlen_hi, rdlen_lo (and the option's first
/// byte): type, size, flags and RDLENGTH with their bytes in the other
/// halves.
#[inline(always)]
fn opt_sum(q: &Query, edns_udp_size: u16) -> u64 {
    u64::from(TYPE_OPT)
        + u64::from(edns_udp_size)
        + u64::from(q.opt_flags & EDNS_DO)
        + q.ecs_echo_len() as u64
}

/// Checksum sum of the ECS option [`write_opt`] echoes, as if at an even
/// offset (0 when none): code, length, FAMILY, SOURCE and SCOPE, then the
/// address bytes (zero padded: the padding adds nothing).
#[inline(always)]
fn ecs_sum(q: &Query, ecs: &[u8; 16], scope: u8) -> u64 {
    if q.ecs_family == 0 {
        return 0;
    }
    // SAFETY: two words of a 16-byte array.
    let (a, b) = unsafe {
        let p = ecs.as_ptr().cast::<u64>();
        (p.read_unaligned(), p.add(1).read_unaligned())
    };
    csum::be(OPT_CODE_ECS)
        + csum::be((4 + q.ecs_addr_len()) as u16)
        + csum::be(u16::from(q.ecs_family))
        + csum::be(u16::from_be_bytes([q.ecs_source, scope]))
        + csum::word(a)
        + csum::word(b)
}

/// Appends our OPT record at `o` when the query had one, with the ECS
/// option echoed (address from `ecs`) when the query's is used; returns
/// the end.
#[inline(always)]
fn write_opt(
    m: &mut [u8; SCRATCH_LEN],
    ecs: &[u8; 16],
    o: usize,
    q: &Query,
    edns_udp_size: u16,
    scope: u8,
) -> usize {
    if !q.has_opt {
        return o;
    }
    // OPT (RFC 6891 §6.1.2): root owner, our payload size, version 0, DO
    // copied (RFC 3225 §3), no other option.
    let echo = q.ecs_echo_len();
    m[o & MASK] = 0;
    wr16(m, o + 1, TYPE_OPT);
    wr16(m, o + 3, edns_udp_size);
    m[(o + 5) & MASK] = 0;
    m[(o + 6) & MASK] = 0;
    wr16(m, o + 7, q.opt_flags & EDNS_DO);
    wr16(m, o + 9, echo as u16);
    if echo != 0 {
        // RFC 7871 §7.2.1: FAMILY, SOURCE PREFIX-LENGTH and ADDRESS as
        // they came, our SCOPE PREFIX-LENGTH. The address goes as 16
        // bytes; those past its length are overwritten or not sent.
        let e = o + OPT_LEN;
        wr16(m, e, OPT_CODE_ECS);
        wr16(m, e + 2, (4 + q.ecs_addr_len()) as u16);
        wr16(m, e + 4, u16::from(q.ecs_family));
        m[(e + 6) & MASK] = q.ecs_source;
        m[(e + 7) & MASK] = scope;
        // SAFETY: `(e + 8) & MASK` plus 16 is within the 1024-byte `msg`.
        unsafe {
            let src = ecs.as_ptr().cast::<u64>();
            let dst = m.as_mut_ptr().add((e + 8) & MASK).cast::<u64>();
            dst.write_unaligned(src.read_unaligned());
            dst.add(1).write_unaligned(src.add(1).read_unaligned());
        }
    }
    o + OPT_LEN + echo
}

/// Length of the response with the canned sections `c`.
#[inline(always)]
pub fn canned_len(q: &Query, c: &Canned) -> usize {
    q.q_end + 2 + usize::from(c.len) + opt_len(q)
}

/// Turns the query in `s.msg` into a response with the canned sections
/// `c`: a negative answer (RFC 2308; `rcode` NXDOMAIN, or 0 for NODATA;
/// the zone's SOA in the authority section) or a static one (`rcode` 0),
/// OPT last. The first owner is a pointer to its place in the question
/// (a suffix of QNAME). The first record's TTL (bytes 4..8 of the tail)
/// is lowered to `ttl_cap` when above it. Returns the response length and
/// its unfolded checksum sum, added up while it is written (the tail is
/// copied and summed by 8-byte words). `None` when `c` does not fit this query (the
/// query is then passed).
#[inline(always)]
pub fn build_canned(
    s: &mut Scratch,
    q: &Query,
    rcode: u16,
    c: &Canned,
    ttl_cap: u32,
    edns_udp_size: u16,
) -> Option<(usize, u64)> {
    let owner_len = usize::from(c.owner_len);
    if c.valid == 0 || owner_len == 0 || owner_len > q.name_len {
        return None;
    }
    // The tail's length, laundered and bounded after: the verifier then
    // knows the reads below stay within `tail`.
    let n = s.opaque(usize::from(c.len));
    if !(8..=CANNED_MAX).contains(&n) {
        return None;
    }
    let header = write_header(
        &mut s.msg,
        q,
        rcode,
        u16::from(c.ancount),
        u16::from(c.nscount),
        u16::from(c.arcount),
    );
    let o = q.q_end;
    let owner = 0xc000 | (HEADER_LEN + q.name_len - owner_len) as u16;
    wr16(&mut s.msg, o, owner);
    let start = (o + 2) & MASK;
    let src = c.tail.as_ptr();
    // The tail's sum as it lies from its start: whole words from there,
    // then one word ending at `n` (overlapping the word before it), of
    // which only the bytes past the whole words count.
    let mut tail_sum = 0u64;
    for k in 0..CANNED_MAX / 8 {
        let at = k * 8;
        // Laundered (see `build_key`): `n` keeps one range for the rest.
        if at + 8 > s.opaque(n) {
            break;
        }
        // SAFETY: `at + 8 <= n <= CANNED_MAX`; `start + at + 8` is
        // within the 1024-byte `msg`.
        unsafe {
            let w = src.add(at).cast::<u64>().read_unaligned();
            s.msg
                .as_mut_ptr()
                .add(start + at)
                .cast::<u64>()
                .write_unaligned(w);
            tail_sum += csum::word(w);
        }
    }
    let rest = n % 8;
    if rest != 0 {
        let at = n - 8;
        // SAFETY: as above, with `8 <= n`.
        let w = unsafe { src.add(at).cast::<u64>().read_unaligned() };
        unsafe {
            s.msg
                .as_mut_ptr()
                .add(start + at)
                .cast::<u64>()
                .write_unaligned(w)
        };
        // Bytes `at + 8 - rest..` of the tail, at the parity of `at`.
        tail_sum += csum::at(csum::word(w & (u64::MAX << ((8 - rest) * 8))), at);
    }
    // The TTL, bytes 4..8 of the tail (`n >= 8`), rewritten in any case
    // with the first word: the lower of the two is laundered, so that both
    // outcomes of the comparison share one state. It is read from the map
    // value, not back from `msg` (a load from a fresh store). `tail_sum`
    // holds the old TTL as the upper half of the first word: it is
    // replaced exactly.
    // SAFETY: the first 8 bytes of the tail.
    let w0 = unsafe { src.cast::<u64>().read_unaligned() };
    let old = (w0 >> 32) as u32;
    let ttl = s.opaque(u32::from_be(old).min(ttl_cap) as usize) as u32;
    let new = ttl.to_be();
    // SAFETY: the first word of the tail's copy in `msg`.
    unsafe {
        s.msg
            .as_mut_ptr()
            .add(start)
            .cast::<u64>()
            .write_unaligned((w0 & 0xffff_ffff) | (u64::from(new) << 32))
    };
    tail_sum = tail_sum - u64::from(old) + u64::from(new);
    // Negative and static answers do not depend on the client: scope 0.
    let end = write_opt(&mut s.msg, &s.ecs, o + 2 + n, q, edns_udp_size, 0);
    let mut sum = header + q.qsum + csum::at(csum::be(owner), o) + csum::at(tail_sum, o + 2);
    if q.has_opt {
        sum += csum::at(opt_sum(q, edns_udp_size), o + 2 + n)
            + csum::at(ecs_sum(q, &s.ecs, 0), o + 2 + n + OPT_LEN);
    }
    Some((end, sum))
}
