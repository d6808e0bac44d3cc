//! Internet checksums (RFC 1071), incremental updates (RFC 1624).
//!
//! All words are read and written in memory order, so sums need no byte
//! swapping: the one's complement sum is byte-order independent (RFC 1071
//! §2(B)).

/// Folds a 64-bit accumulator into 16 bits.
#[inline(always)]
pub fn fold(mut s: u64) -> u16 {
    s = (s & 0xffff_ffff) + (s >> 32);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s as u16
}

/// RFC 1624 eqn. 3: `HC' = ~(~HC + ~m + m')` for one 16-bit field.
#[inline(always)]
pub fn update16(check: u16, old: u16, new: u16) -> u16 {
    let s = u64::from(!check) + u64::from(!old) + u64::from(new);
    !fold(s)
}
