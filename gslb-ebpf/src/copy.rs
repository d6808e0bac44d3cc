//! The DNS message between the packet and the per-CPU scratch buffer, by
//! 8-byte words with direct packet access: no helper call (and its
//! `memcpy`) per query. Loop positions live in map memory (`s.tmp`) so the
//! verifier checks one state for every iteration (see `dns::parse`).

use aya_ebpf::programs::XdpContext;
use gslb_common::dns::HEADER_LEN;

use crate::{
    headers::bytes_at,
    maps::{Scratch, MASK, MAX_QUERY},
};

/// 8-byte words after the question of the longest response (508 bytes).
const MAX_ANSWER_WORDS: usize = 64;

/// Copies the DNS message, `len` bytes (8..=`MAX_QUERY`) at `dns_off`,
/// into `s.msg`: words at 0, 8, ... while they fit, then one ending at
/// `len` (overlapping the word before it). `false` if the packet is
/// shorter (cannot happen after the UDP length check).
#[inline(always)]
pub fn read_query(ctx: &XdpContext, s: &mut Scratch, dns_off: usize, len: usize) -> bool {
    if !(8..=MAX_QUERY).contains(&len) {
        return false;
    }
    s.tmp = 0;
    for _ in 0..MAX_QUERY / 8 {
        // SAFETY: plain read of our own per-CPU field.
        let at = unsafe { core::ptr::read_volatile(&s.tmp) } as usize;
        if at + 8 > len {
            break;
        }
        if !copy_in(ctx, s, dns_off, at & MASK) {
            return false;
        }
        // SAFETY: as above.
        unsafe { core::ptr::write_volatile(&mut s.tmp, (at + 8) as u64) };
    }
    len.is_multiple_of(8) || copy_in(ctx, s, dns_off, (len - 8) & MASK)
}

/// One word of the packet's DNS message at `at` into `s.msg[at..]`.
#[inline(always)]
fn copy_in(ctx: &XdpContext, s: &mut Scratch, dns_off: usize, at: usize) -> bool {
    let Some(p) = bytes_at::<8>(ctx, dns_off + at) else {
        return false;
    };
    // SAFETY: 8 packet bytes checked above; `at + 8` is within the
    // 1024-byte `msg`.
    unsafe {
        let w = p.cast::<u64>().read_unaligned();
        s.msg.as_mut_ptr().add(at).cast::<u64>().write_unaligned(w);
    }
    true
}

/// Turns the query in the packet's DNS payload (at `dns_off`) into the
/// response built in `s.msg`, writing only what differs: the header's
/// flags and counts, and `s.msg[from..to]` (all that follows the
/// question). Direct writes, no helper call: the part after the question
/// goes by 8-byte words from its end backwards, the lowest word starting
/// up to 7 bytes before `from` (question bytes rewritten with their own
/// values). `false` if the packet is shorter than `dns_off + to` (cannot
/// happen after the resize).
#[inline(always)]
pub fn write_changes(
    ctx: &XdpContext,
    s: &mut Scratch,
    dns_off: usize,
    from: usize,
    to: usize,
) -> bool {
    let Some(h) = bytes_at::<HEADER_LEN>(ctx, dns_off) else {
        return false;
    };
    // SAFETY: 12 bytes checked above; `msg` holds at least 12 bytes, and
    // `msg[4..]` is 8-byte aligned (asserted in `maps`).
    unsafe {
        let h = h.cast::<u8>();
        let m = s.msg.as_ptr();
        h.add(2)
            .cast::<u16>()
            .write_unaligned(m.add(2).cast::<u16>().read_unaligned());
        h.add(4)
            .cast::<u64>()
            .write_unaligned(m.add(4).cast::<u64>().read());
    }
    // The write position lives in map memory between iterations (see
    // `dns::parse`): one verifier state for every iteration.
    s.tmp = to as u64;
    for _ in 0..MAX_ANSWER_WORDS {
        // SAFETY: plain read of our own per-CPU field.
        let end = unsafe { core::ptr::read_volatile(&s.tmp) } as usize;
        if end <= from || end < 8 {
            return true;
        }
        let start = (end - 8) & MASK;
        let Some(p) = bytes_at::<8>(ctx, dns_off + start) else {
            return false;
        };
        // SAFETY: 8 packet bytes checked above; `start + 8` is within the
        // 1024-byte `msg`.
        unsafe {
            let w = s.msg.as_ptr().add(start).cast::<u64>().read_unaligned();
            p.cast::<u64>().write_unaligned(w);
            core::ptr::write_volatile(&mut s.tmp, start as u64);
        }
    }
    // More words than any response has.
    false
}
