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

/// The sum of a big-endian 16-bit field as it lies in memory (the fields
/// are summed in memory order, see the module doc): its bytes swapped, as
/// BPF is little-endian.
#[inline(always)]
pub fn be(v: u16) -> u64 {
    u64::from(v.swap_bytes())
}

/// Moves a sum of bytes that start at an even offset to where they are:
/// at an odd offset every byte sits in the other half of its 16-bit word
/// (RFC 1071 §2(B): swapping the bytes of the folded sum). Branch free: a
/// branch on the offset's parity would teach the verifier that bit of the
/// offset and double the states it checks for the rest of the program.
#[inline(always)]
pub fn at(sum: u64, offset: usize) -> u64 {
    let f = u64::from(fold(sum));
    let sh = (offset as u64 & 1) * 8;
    ((f << sh) | (f >> sh)) & 0xffff
}

/// Sum of a 64-bit word as two 32-bit halves.
#[inline(always)]
pub fn word(w: u64) -> u64 {
    (w & 0xffff_ffff) + (w >> 32)
}
