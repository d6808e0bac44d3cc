//! Loading and attaching the XDP program, and pinning what `gslb stats`
//! reads. The object is built by `build.rs` and embedded in the binary.

use std::{
    fs,
    path::{Path, PathBuf},
};

use aya::{
    programs::{Xdp, XdpMode},
    Ebpf, EbpfLoader,
};
use gslb_common::maps::COUNTERS;
use thiserror::Error;
use tracing::info;

/// The compiled XDP object.
pub static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/gslb.bpf.o"));

/// Name of the answering program in the object.
pub const PROGRAM: &str = "gslb";
/// Name of the pass-through program (for the far end of a veth pair).
pub const PASS_PROGRAM: &str = "gslb_pass";
/// Default directory of pinned maps (a bpffs mount).
pub const DEFAULT_PIN_DIR: &str = "/sys/fs/bpf/gslb";

/// Errors of loading, attaching and pinning.
#[derive(Debug, Error)]
pub enum XdpError {
    /// The object could not be loaded (verifier rejection, missing BPF).
    #[error("loading the XDP object: {0}")]
    Load(#[from] aya::EbpfError),
    /// A program could not be loaded or attached.
    #[error("XDP program {what}: {source}")]
    Program {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: aya::programs::ProgramError,
    },
    /// Pinning failed.
    #[error("pinning {path}: {message}")]
    Pin {
        /// Pin path.
        path: PathBuf,
        /// The cause.
        message: String,
    },
}

/// How a program got attached to an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachMode {
    /// In the driver (native XDP).
    Native,
    /// Generic XDP in the network stack (`lo`, drivers without XDP).
    Generic,
}

impl std::fmt::Display for AttachMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AttachMode::Native => "native",
            AttachMode::Generic => "generic",
        })
    }
}

/// Loads the object (programs not yet loaded into the kernel).
pub fn load_object() -> Result<Ebpf, XdpError> {
    load_sized(&super::maps::capacities(None))
}

/// Loads the object with the name and answer maps sized for `state`: a
/// hash map's bucket array has as many buckets as its capacity (rounded
/// up to a power of two), and a small one stays in the CPU caches.
pub fn load_object_for(state: &crate::state::model::State) -> Result<Ebpf, XdpError> {
    load_sized(&capacities_for(state))
}

/// The `(map, max_entries)` capacities of the object for `state`.
pub fn capacities_for(state: &crate::state::model::State) -> Vec<(&'static str, u32)> {
    let mut capacities = super::maps::capacities(Some(state));
    capacities.push((
        gslb_common::maps::CLIENT_GROUPS,
        super::clients::capacity(state.clients.entries().len()),
    ));
    // `[server] persist_records`: the LRU map's capacity.
    capacities.push((gslb_common::maps::PERSIST, state.server.persist_records));
    capacities
}

/// Loads the object with the given `(map, max_entries)` capacities (tests
/// use it to force small tables).
pub fn load_sized(capacities: &[(&str, u32)]) -> Result<Ebpf, XdpError> {
    load_sized_in(capacities, None)
}

/// Loads the object with the given capacities; with a pin directory, the
/// maps `shared` are taken from it where pinned there (else created and
/// pinned there): see [`super::pins`].
pub fn load_sized_in(
    capacities: &[(&str, u32)],
    pins: Option<(&Path, &[&'static str])>,
) -> Result<Ebpf, XdpError> {
    let mut loader = EbpfLoader::new();
    for &(map, entries) in capacities {
        loader.map_max_entries(map, entries);
    }
    if let Some((dir, shared)) = pins {
        for &map in shared {
            loader.map_pin_path(map, dir.join(map));
        }
    }
    Ok(loader.load(OBJECT)?)
}

/// Loads program `name` of `ebpf` into the kernel (for attach or test run).
pub fn load_program<'a>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut Xdp, XdpError> {
    let err = |what: &str, source| XdpError::Program {
        what: format!("{name}: {what}"),
        source,
    };
    let prog: &mut Xdp = ebpf
        .program_mut(name)
        .ok_or_else(|| XdpError::Pin {
            path: name.into(),
            message: "no such program in the object".into(),
        })?
        .try_into()
        .map_err(|e| err("type", e))?;
    prog.load().map_err(|e| err("load", e))?;
    Ok(prog)
}

/// Attaches `prog` to `iface`: native mode where the driver has it, else
/// generic.
pub fn attach(prog: &mut Xdp, iface: &str) -> Result<AttachMode, XdpError> {
    match prog.attach(iface, XdpMode::Driver) {
        Ok(_) => Ok(AttachMode::Native),
        Err(native) => {
            // Taken, not unavailable: say by what, and do not try generic.
            if let Ok(Some(prog)) = super::attached::attached_xdp(iface) {
                return Err(XdpError::Program {
                    what: format!("attach to {iface}: {prog} is already attached"),
                    source: native,
                });
            }
            info!(%iface, error = %native, "native XDP unavailable, using generic mode");
            prog.attach(iface, XdpMode::Skb)
                .map_err(|source| XdpError::Program {
                    what: format!("attach to {iface}"),
                    source,
                })?;
            Ok(AttachMode::Generic)
        }
    }
}

/// Takes the per-server hand-out counters out of the object.
pub fn server_hits(
    ebpf: &mut Ebpf,
) -> Result<aya::maps::PerCpuArray<aya::maps::MapData, u64>, XdpError> {
    let map = ebpf
        .take_map(gslb_common::maps::SERVER_HITS)
        .ok_or_else(|| XdpError::Pin {
            path: gslb_common::maps::SERVER_HITS.into(),
            message: "map missing from the object".into(),
        })?;
    map.try_into()
        .map_err(|e: aya::maps::MapError| XdpError::Pin {
            path: gslb_common::maps::SERVER_HITS.into(),
            message: e.to_string(),
        })
}

/// Pinned maps that are unpinned again when dropped.
pub struct Pins {
    paths: Vec<PathBuf>,
}

/// `statfs` magic of the BPF filesystem.
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;
/// Where bpffs is conventionally mounted.
const BPF_FS_ROOT: &str = "/sys/fs/bpf";

fn is_bpffs(path: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid C string and out pointer.
    unsafe { libc::statfs(c.as_ptr(), &mut st) == 0 && st.f_type as i64 == BPF_FS_MAGIC }
}

/// Mounts bpffs on /sys/fs/bpf when `dir` lives there and nothing is
/// mounted yet (as bpftool does); minimal systems and fresh containers
/// often lack the mount.
pub(crate) fn ensure_bpffs(dir: &Path) -> Result<(), String> {
    let root = Path::new(BPF_FS_ROOT);
    if !dir.starts_with(root) || is_bpffs(root) {
        return Ok(());
    }
    info!("mounting bpffs on {BPF_FS_ROOT}");
    let src = c"bpf";
    let target = c"/sys/fs/bpf";
    // SAFETY: constant C strings; no data argument.
    let r = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            src.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if r != 0 {
        return Err(format!(
            "mounting bpffs on {BPF_FS_ROOT}: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Pins the counters map under `dir` (created if missing). A stale pin
/// left by a crashed daemon is replaced.
pub fn pin_counters(ebpf: &Ebpf, dir: &Path) -> Result<Pins, XdpError> {
    let pin_err = |path: &Path, message: String| XdpError::Pin {
        path: path.to_path_buf(),
        message,
    };
    ensure_bpffs(dir).map_err(|m| pin_err(dir, m))?;
    fs::create_dir_all(dir).map_err(|e| pin_err(dir, e.to_string()))?;
    let path = dir.join(COUNTERS);
    if path.exists() {
        info!(path = %path.display(), "replacing a stale pinned map");
        fs::remove_file(&path).map_err(|e| pin_err(&path, e.to_string()))?;
    }
    let map = ebpf
        .map(COUNTERS)
        .ok_or_else(|| pin_err(&path, "map missing from the object".into()))?;
    map.pin(&path).map_err(|e| {
        pin_err(
            &path,
            format!("{e} (is {} on a bpffs mount?)", dir.display()),
        )
    })?;
    Ok(Pins { paths: vec![path] })
}

impl Drop for Pins {
    fn drop(&mut self) {
        for p in &self.paths {
            let _ = fs::remove_file(p);
        }
    }
}
