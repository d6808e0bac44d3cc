//! The daemon's side of `NAME_SLOTS` (see `gslb_common::maps::NAME_SLOTS`):
//! the array is mapped into our memory and written directly, so that the
//! order of the writes is ours. Every change to a slot the program may be
//! reading goes sequence byte odd, content, sequence byte even; a reader
//! that sees the byte odd or changed passes the query to the slow path, so
//! it never uses a half-written entry.

use std::{
    collections::HashMap,
    os::fd::AsFd,
    sync::atomic::{fence, AtomicU8, Ordering},
};

use aya::maps::{Map, MapData};
use gslb_common::maps::{slot_hash, NameEntry, NameSlot, SLOT_PROBES, SLOT_SEQ, SLOT_TOMBSTONE};

use super::MapsError;

/// Smallest table.
pub const MIN_SLOTS: u32 = 64;

/// Number of slots for `names` short names: a power of two with the load
/// factor at most 2/3, so that probes stay short.
pub fn capacity(names: usize) -> u32 {
    let want = names.saturating_mul(3) / 2;
    (want.max(MIN_SLOTS as usize).next_power_of_two()).min(1 << 30) as u32
}

pub use gslb_common::maps::slot_fits as fits;

/// The mapped table.
pub struct Slots {
    _map: MapData,
    base: *mut NameSlot,
    len: u32,
    bytes: usize,
    /// Wire key → slot index.
    index: HashMap<Vec<u8>, u32>,
}

// SAFETY: the mapping is owned by this value and only written through
// `&mut self`; the kernel side synchronizes with the sequence byte.
unsafe impl Send for Slots {}

impl Drop for Slots {
    fn drop(&mut self) {
        // SAFETY: unmapping what `new` mapped.
        unsafe { libc::munmap(self.base.cast(), self.bytes) };
    }
}

/// The words `slot_hash` and the program read from a key.
fn words(key: &[u8; 32]) -> [u64; 4] {
    let mut w = [0u64; 4];
    for (i, word) in w.iter_mut().enumerate() {
        *word = u64::from_le_bytes(key[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    }
    w
}

impl Slots {
    /// Maps the `NAME_SLOTS` array taken from the object.
    pub fn new(map: Map) -> Result<Slots, MapsError> {
        let Map::Array(data) = map else {
            return Err(MapsError::SlotsNotArray);
        };
        let len = data.info()?.max_entries();
        if !len.is_power_of_two() {
            return Err(MapsError::SlotsSize(len));
        }
        let page = 4096usize;
        let bytes = (len as usize * size_of::<NameSlot>()).div_ceil(page) * page;
        use std::os::fd::AsRawFd;
        let fd = data.fd().as_fd().as_raw_fd();
        // SAFETY: a shared mapping of an mmapable array map of `bytes`.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(MapsError::SlotsMmap(std::io::Error::last_os_error()));
        }
        Ok(Slots {
            _map: data,
            base: ptr.cast(),
            len,
            bytes,
            index: HashMap::new(),
        })
    }

    /// Slot count minus one, for the program's config.
    pub fn mask(&self) -> u32 {
        self.len - 1
    }

    fn slot(&self, i: u32) -> *mut NameSlot {
        // SAFETY: `i & mask` is within the mapping.
        unsafe { self.base.add((i & self.mask()) as usize) }
    }

    fn read(&self, i: u32) -> NameSlot {
        // SAFETY: a slot inside the mapping; the program never writes.
        unsafe { std::ptr::read_volatile(self.slot(i)) }
    }

    fn seq(&self, i: u32) -> &AtomicU8 {
        // SAFETY: a byte inside the mapping, only written by us.
        unsafe { AtomicU8::from_ptr((*self.slot(i)).key.as_mut_ptr().add(SLOT_SEQ)) }
    }

    /// Rewrites slot `i` to `key` (sequence byte ignored) and `entry` under
    /// the sequence protocol.
    fn write(&mut self, i: u32, key: [u8; 32], entry: NameEntry) {
        let seq = self.seq(i);
        let s = seq.load(Ordering::Relaxed);
        seq.store(s | 1, Ordering::Relaxed);
        fence(Ordering::Release);
        let slot = self.slot(i);
        // SAFETY: a slot inside the mapping; readers check the sequence
        // byte, which these writes leave odd.
        unsafe {
            let k = (*slot).key.as_mut_ptr();
            for (j, b) in key.iter().enumerate().take(SLOT_SEQ) {
                std::ptr::write_volatile(k.add(j), *b);
            }
            std::ptr::write_volatile(&mut (*slot).entry, entry);
        }
        fence(Ordering::Release);
        self.seq(i)
            .store((s | 1).wrapping_add(1), Ordering::Release);
    }

    /// Sets (`Some`) or removes (`None`) the entry of wire key `key`.
    /// Returns `false` when a new name finds no free slot within
    /// `SLOT_PROBES` of its home (it belongs in `NAMES_32` then).
    pub fn set(&mut self, key: &[u8], entry: Option<NameEntry>) -> bool {
        let mut k = [0u8; 32];
        k[..key.len()].copy_from_slice(key);
        match (self.index.get(key).copied(), entry) {
            (Some(i), Some(e)) => {
                self.write(i, k, e);
                true
            }
            (Some(i), None) => {
                let mut dead = self.read(i).key;
                dead[0] = SLOT_TOMBSTONE;
                self.write(i, dead, NameEntry::EMPTY);
                self.index.remove(key);
                true
            }
            (None, None) => true,
            (None, Some(e)) => {
                let home = slot_hash(words(&k)) as u32;
                for p in 0..SLOT_PROBES {
                    let i = home.wrapping_add(p) & self.mask();
                    let first = self.read(i).key[0];
                    if first == 0 || first == SLOT_TOMBSTONE {
                        self.write(i, k, e);
                        self.index.insert(key.to_vec(), i);
                        return true;
                    }
                }
                false
            }
        }
    }
}
