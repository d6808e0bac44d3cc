//! Finding the QNAME's entry: short names in the open-addressed
//! `NAME_SLOTS` table (its home slot loaded early, while the rest of the
//! query is parsed), longer ones and a full probe's overflow in the hash
//! map of their size class, and the parent of a name that is in none.

use gslb_common::{
    maps::{
        name_class, slot_fits, slot_hash, Config, NameEntry, CONFIG_SLOT_OVERFLOW, SLOT_PROBES,
        SLOT_TOMBSTONE,
    },
    Counter,
};

use crate::{
    dns::{self, Query},
    maps::{Scratch, NAMES_128, NAMES_256, NAMES_32, NAMES_64, NAME_SLOTS},
};

/// Returns the home slot of a QNAME that fits `NAME_SLOTS`, and starts
/// loading that slot: the load, a cache miss with many names, then runs
/// while the rest of the query is parsed instead of after it.
#[inline(always)]
pub fn prefetch_slot(s: &Scratch, cfg: &Config, name_len: usize) -> u32 {
    if !slot_fits(name_len) {
        return 0;
    }
    let home = slot_home(s);
    // The home slot and the next one, where a probe most often goes on.
    for i in 0..2 {
        if let Some(slot) = NAME_SLOTS.get_ptr(home.wrapping_add(i) & cfg.slot_mask) {
            // SAFETY: a valid map value; the value read is not used.
            unsafe { core::ptr::read_volatile(slot.cast::<u64>()) };
        }
    }
    home
}

/// The entry of the name whose key is in `s.key` (home slot `home`, see
/// [`slot_home`]): from `NAME_SLOTS` for a short name, else from the hash
/// map of its size class. A short name is looked for in `NAMES_32` only
/// when it may have overflowed there: the daemon puts a name there only
/// when all `SLOT_PROBES` slots from its home are taken, and a taken slot
/// never becomes empty again (removal leaves a tombstone), so a probe that
/// meets an empty slot has its answer. `Err` when the name's slot is being
/// rewritten (the query is passed).
#[inline(always)]
pub fn find_name(
    s: &mut Scratch,
    cfg: &Config,
    name_len: usize,
    home: u32,
) -> Result<Option<NameEntry>, Counter> {
    if slot_fits(name_len) {
        match lookup_slot(s, cfg.slot_mask, home)? {
            Probe::Found(e) => return Ok(Some(e)),
            Probe::Absent => return Ok(None),
            Probe::Full if cfg.flags & CONFIG_SLOT_OVERFLOW == 0 => return Ok(None),
            Probe::Full => {}
        }
    }
    Ok(lookup_name(s, name_len))
}

/// Looks up the QNAME without its first label (the root has no parent),
/// its key built from the query in `s.msg`.
#[inline(always)]
pub fn lookup_parent(
    s: &mut Scratch,
    cfg: &Config,
    q: &Query,
) -> Result<Option<NameEntry>, Counter> {
    let skip = q.first_label + 1;
    if q.first_label == 0 || skip >= q.name_len {
        return Ok(None);
    }
    let len = s.opaque(q.name_len - skip);
    if len == 0 || len > 255 {
        return Ok(None);
    }
    dns::build_key(s, skip, len);
    find_name(s, cfg, len, slot_home(s))
}

/// Outcome of a probe of `NAME_SLOTS`.
enum Probe {
    /// The name's entry.
    Found(NameEntry),
    /// An empty slot ended the probe: the name is in no name map.
    Absent,
    /// Every probed slot held another name (or a tombstone): the name may
    /// be in `NAMES_32`.
    Full,
}

/// Probes `NAME_SLOTS` from slot `home` for the key in `s.key` (see
/// `gslb_common::maps::NAME_SLOTS` for the sequence-byte protocol).
#[inline(always)]
fn lookup_slot(s: &mut Scratch, mask: u32, home: u32) -> Result<Probe, Counter> {
    let w = key_words(s);
    for i in 0..SLOT_PROBES {
        let idx = home.wrapping_add(i) & mask;
        let Some(slot) = NAME_SLOTS.get_ptr(idx) else {
            return Ok(Probe::Full);
        };
        let sk = slot.cast::<u64>();
        // SAFETY: a valid map value of 64 bytes; volatile keeps the reads
        // in this order (sequence byte first, entry, sequence byte again).
        unsafe {
            let w3 = core::ptr::read_volatile(sk.add(3));
            let w0 = core::ptr::read_volatile(sk);
            if w0 == 0 {
                return Ok(Probe::Absent);
            }
            if w0 as u8 == SLOT_TOMBSTONE || w0 != w[0] {
                continue;
            }
            let w1 = core::ptr::read_volatile(sk.add(1));
            let w2 = core::ptr::read_volatile(sk.add(2));
            if w1 != w[1] || w2 != w[2] || (w3 & 0x00ff_ffff_ffff_ffff) != w[3] {
                continue;
            }
            let seq = (w3 >> 56) as u8;
            if seq & 1 != 0 {
                return Err(Counter::PassInternal);
            }
            let e = core::ptr::read_volatile(&(*slot).entry);
            let again = core::ptr::read_volatile(&(*slot).key[31]);
            if again != seq {
                return Err(Counter::PassInternal);
            }
            return Ok(Probe::Found(e));
        }
    }
    Ok(Probe::Full)
}

/// Finds the name in the map of its size class. The key is the whole
/// zero-padded class-sized prefix of `s.key`.
#[inline(always)]
#[allow(
    clippy::needless_borrows_for_generic_args,
    reason = "by value would copy up to 256 bytes of key onto the BPF stack"
)]
fn lookup_name(s: &Scratch, name_len: usize) -> Option<NameEntry> {
    let k = s.key.as_ptr();
    // SAFETY: `key` is 256 bytes, every class is at most 256 bytes.
    unsafe {
        match name_class(name_len)? {
            0 => NAMES_32.get(&*k.cast::<[u8; 32]>()).copied(),
            1 => NAMES_64.get(&*k.cast::<[u8; 64]>()).copied(),
            2 => NAMES_128.get(&*k.cast::<[u8; 128]>()).copied(),
            _ => NAMES_256.get(&*k.cast::<[u8; 256]>()).copied(),
        }
    }
}

/// The first four words of the key in `s.key`: a `NAME_SLOTS` key.
#[inline(always)]
fn key_words(s: &Scratch) -> [u64; 4] {
    let k = s.key.as_ptr().cast::<u64>();
    // SAFETY: `key` is 256 bytes at offset 0 of the (8-byte aligned) value.
    unsafe { [k.read(), k.add(1).read(), k.add(2).read(), k.add(3).read()] }
}

/// Home slot of the key in `s.key` in `NAME_SLOTS` (unmasked).
#[inline(always)]
fn slot_home(s: &Scratch) -> u32 {
    slot_hash(key_words(s)) as u32
}
