//! What outlives the daemon in its pin directory (a bpffs directory,
//! `--pin-dir`), so that a restart or an upgrade loses no query and
//! `kill -9` leaves the fast path answering:
//!
//! - `link_<iface>`: the XDP `bpf_link` of each interface. While it is
//!   pinned the program stays attached with no process holding it; a new
//!   daemon adopts it and swaps its own program in with one
//!   `bpf_link_update` (atomic: a packet sees the old program or the new).
//! - `program`: the program the links run now (for `bpftool`).
//! - `COUNTERS`, `PERSIST`, `SERVER_GEN`: the maps a new daemon takes
//!   over, so counters continue and persistence records survive. Every
//!   other map (names, answer sets, client groups) is created afresh by
//!   each daemon and filled completely before its program replaces the
//!   old one, so the two never mix.
//!
//! `gslb detach` ([`detach`]) removes all of it.

use std::{
    ffi::CString,
    fs, io,
    path::{Path, PathBuf},
};

use aya::{
    maps::MapInfo,
    programs::{
        links::{FdLink, PinnedLink},
        xdp::XdpLink,
        Xdp, XdpMode,
    },
};
use gslb_common::{
    maps::{PersistKey, PersistRecord, COUNTERS, MAX_SERVERS, PERSIST, SERVER_GEN},
    Counter,
};
use tracing::{info, warn};

use super::{
    attached::{attached_xdp, AttachedProgram},
    loader::{AttachMode, XdpError},
};

/// Pin name of the program the links run.
pub const PROGRAM_PIN: &str = "program";
/// Prefix of the link pins: `link_<iface>`.
pub const LINK_PREFIX: &str = "link_";

/// Where the link of `iface` is pinned.
pub fn link_path(dir: &Path, iface: &str) -> PathBuf {
    dir.join(format!("{LINK_PREFIX}{iface}"))
}

/// Who holds an interface's XDP hook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Holder {
    /// Nobody.
    Free,
    /// The link pinned in our pin directory (a previous daemon's): adopt it.
    Ours(AttachedProgram),
    /// Another program (another gslb pin directory, another XDP user).
    Other(AttachedProgram),
}

/// Who holds `iface`. A link pin whose link no longer runs on the
/// interface (the interface was recreated, or someone detached it) is
/// stale and removed.
pub fn holder(dir: &Path, iface: &str) -> io::Result<Holder> {
    let attached = attached_xdp(iface)?;
    let path = link_path(dir, iface);
    let pinned = if path.exists() {
        pinned_link_program(&path)
    } else {
        None
    };
    match attached {
        Some(p) if pinned == Some(p.id) => Ok(Holder::Ours(p)),
        other => {
            if path.exists() {
                info!(path = %path.display(), "removing a stale link pin");
                let _ = fs::remove_file(&path);
            }
            Ok(other.map_or(Holder::Free, Holder::Other))
        }
    }
}

/// The id of the program the link pinned at `path` runs.
fn pinned_link_program(path: &Path) -> Option<u32> {
    let link = PinnedLink::from_pin(path).ok()?;
    let link: FdLink = link.into();
    link.info().ok().map(|i| i.program_id())
}

/// The size of a map a new daemon may take over from the pin directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapShape {
    /// Its name (and pin name).
    pub name: &'static str,
    /// Key size in bytes.
    pub key: u32,
    /// Value size in bytes.
    pub value: u32,
    /// Capacity.
    pub entries: u32,
}

/// The maps kept across restarts, as this build declares them.
/// `persist_records` is `[server] persist_records`.
pub fn shared_maps(persist_records: u32) -> [MapShape; 3] {
    let size = |n: usize| n as u32;
    [
        MapShape {
            name: COUNTERS,
            key: 4,
            value: 8,
            entries: Counter::COUNT,
        },
        MapShape {
            name: PERSIST,
            key: size(std::mem::size_of::<PersistKey>()),
            value: size(std::mem::size_of::<PersistRecord>()),
            entries: persist_records,
        },
        MapShape {
            name: SERVER_GEN,
            key: 4,
            value: 4,
            entries: MAX_SERVERS,
        },
    ]
}

/// Prepares the pin directory for a load that takes over the pinned
/// shared maps: creates it (mounting bpffs on /sys/fs/bpf if needed),
/// removes every pinned map whose shape this build does not declare (an
/// upgrade that changed it, another `persist_records`), and the
/// persistence maps unless `keep_persistence` (their records name servers
/// and sets by ids another config may give to others). Returns the names
/// of the maps the load will take over.
pub fn prepare(
    dir: &Path,
    shapes: &[MapShape],
    keep_persistence: bool,
) -> Result<Vec<&'static str>, XdpError> {
    let pin_err = |path: &Path, message: String| XdpError::Pin {
        path: path.to_path_buf(),
        message,
    };
    super::loader::ensure_bpffs(dir).map_err(|m| pin_err(dir, m))?;
    fs::create_dir_all(dir).map_err(|e| pin_err(dir, e.to_string()))?;
    let mut kept = Vec::new();
    for shape in shapes {
        let path = dir.join(shape.name);
        if !path.exists() {
            continue;
        }
        let persistence = shape.name == PERSIST || shape.name == SERVER_GEN;
        let why = match MapInfo::from_pin(&path) {
            Err(e) => Some(format!("not a map: {e}")),
            Ok(i)
                if (i.key_size(), i.value_size(), i.max_entries())
                    != (shape.key, shape.value, shape.entries) =>
            {
                Some(format!(
                    "pinned with key {} B, value {} B, {} entries; this build has {} B, {} B, {}",
                    i.key_size(),
                    i.value_size(),
                    i.max_entries(),
                    shape.key,
                    shape.value,
                    shape.entries
                ))
            }
            Ok(_) if persistence && !keep_persistence => {
                Some("the server and set ids changed since it was written".into())
            }
            Ok(_) => None,
        };
        match why {
            None => kept.push(shape.name),
            Some(why) => {
                info!(map = shape.name, %why, "not taking over the pinned map: a new one replaces it");
                fs::remove_file(&path).map_err(|e| pin_err(&path, e.to_string()))?;
            }
        }
    }
    Ok(kept)
}

/// How the program got onto an interface.
#[derive(Clone, Debug)]
pub struct Attached {
    /// Native or generic.
    pub mode: AttachMode,
    /// The program id the link ran before, when the link was adopted.
    pub replaced: Option<u32>,
    /// The program id it runs now.
    pub program: u32,
}

/// Attaches `prog` to `iface` through a pinned link: the link pinned in
/// `dir` when `adopt` (its program is replaced atomically), else a new
/// link (native mode where the driver has it, else generic), pinned.
pub fn attach(prog: &mut Xdp, dir: &Path, iface: &str, adopt: bool) -> Result<Attached, XdpError> {
    let path = link_path(dir, iface);
    let prog_err = |what: String, source| XdpError::Program { what, source };
    let program = prog.info().map_err(|e| prog_err("info".into(), e))?.id();
    if adopt {
        let link: FdLink = PinnedLink::from_pin(&path)
            .map_err(|e| XdpError::Pin {
                path: path.clone(),
                message: e.to_string(),
            })?
            .into();
        let before = link.info().ok().map(|i| i.program_id());
        let link = XdpLink::try_from(link).map_err(|e| XdpError::Pin {
            path: path.clone(),
            message: format!("not an XDP link: {e}"),
        })?;
        prog.attach_to_link(link)
            .map_err(|e| prog_err(format!("replace on the link of {iface}"), e))?;
        let mode = match attached_xdp(iface) {
            Ok(Some(p)) if p.mode == "generic" => AttachMode::Generic,
            _ => AttachMode::Native,
        };
        return Ok(Attached {
            mode,
            replaced: before,
            program,
        });
    }
    let (id, mode) = match prog.attach(iface, XdpMode::Driver) {
        Ok(id) => (id, AttachMode::Native),
        Err(native) => {
            if let Ok(Some(other)) = attached_xdp(iface) {
                return Err(prog_err(
                    format!("attach to {iface}: {other} is already attached"),
                    native,
                ));
            }
            info!(%iface, error = %native, "native XDP unavailable, using generic mode");
            let id = prog
                .attach(iface, XdpMode::Skb)
                .map_err(|e| prog_err(format!("attach to {iface}"), e))?;
            (id, AttachMode::Generic)
        }
    };
    let link = prog
        .take_link(id)
        .map_err(|e| prog_err(format!("link of {iface}"), e))?;
    let link = FdLink::try_from(link).map_err(|e| XdpError::Pin {
        path: path.clone(),
        message: format!(
            "the kernel attached {iface} without a bpf_link ({e}); gslb needs Linux 5.9 or later"
        ),
    })?;
    link.pin(&path).map_err(|e| XdpError::Pin {
        path: path.clone(),
        message: e.to_string(),
    })?;
    Ok(Attached {
        mode,
        replaced: None,
        program,
    })
}

/// Pins `prog` as the program the links run (replacing the previous pin).
pub fn pin_program(prog: &mut Xdp, dir: &Path) -> Result<(), XdpError> {
    let path = dir.join(PROGRAM_PIN);
    let _ = fs::remove_file(&path);
    prog.pin(&path).map_err(|e| XdpError::Pin {
        path,
        message: e.to_string(),
    })
}

/// What [`detach`] removed.
#[derive(Debug, Default)]
pub struct Detached {
    /// Interfaces whose link was detached.
    pub links: Vec<String>,
    /// Pins removed.
    pub pins: usize,
}

/// `gslb detach`: detaches every pinned link in `dir` (even while a
/// daemon holds it open), then removes every pin and the directory.
pub fn detach(dir: &Path) -> io::Result<Detached> {
    let mut out = Detached::default();
    let entries = match fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(Result::ok).collect::<Vec<_>>(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for e in &entries {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(iface) = name.strip_prefix(LINK_PREFIX) {
            match link_detach(&e.path()) {
                Ok(()) => out.links.push(iface.to_string()),
                // Without CAP_BPF (a daemon that dropped it, at exit):
                // the link goes when its pin is removed below and the
                // last descriptor (the exiting daemon's) is closed.
                Err(err) if err.raw_os_error() == Some(libc::EPERM) => {
                    info!(%iface, "link unpinned: detached when its last holder exits");
                    out.links.push(iface.to_string());
                }
                Err(err) => warn!(path = %e.path().display(), error = %err, "detaching the link"),
            }
        }
    }
    for e in &entries {
        fs::remove_file(e.path())?;
        out.pins += 1;
    }
    fs::remove_dir(dir)?;
    Ok(out)
}

/// Detaches and unpins the links pinned in `dir` for interfaces not in
/// `keep` (a previous daemon's interfaces this config no longer lists);
/// returns those interfaces.
pub fn detach_others(dir: &Path, keep: &[String]) -> Vec<String> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut gone = Vec::new();
    for e in rd.filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(iface) = name.strip_prefix(LINK_PREFIX) else {
            continue;
        };
        if keep.iter().any(|k| k == iface) {
            continue;
        }
        if let Err(err) = link_detach(&e.path()) {
            warn!(%iface, error = %err, "detaching the link of an interface no longer configured");
        }
        let _ = fs::remove_file(e.path());
        gone.push(iface.to_string());
    }
    gone
}

/// `BPF_OBJ_GET` and `BPF_LINK_DETACH` (Linux 5.9): aya has no call for
/// the forced detach, which works while other descriptors hold the link.
fn link_detach(path: &Path) -> io::Result<()> {
    const BPF_OBJ_GET: libc::c_long = 7;
    const BPF_LINK_DETACH: libc::c_long = 34;
    let c = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // union bpf_attr, zero padded: { pathname: u64, bpf_fd: u32, file_flags: u32 }
    // for BPF_OBJ_GET, { link_fd: u32 } for BPF_LINK_DETACH.
    let mut attr = [0u64; 16];
    attr[0] = c.as_ptr() as u64;
    // SAFETY: attr outlives the call and is larger than the kernel reads.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_OBJ_GET,
            attr.as_mut_ptr(),
            std::mem::size_of_val(&attr),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut attr = [0u64; 16];
    attr[0] = fd as u64;
    // SAFETY: as above; `fd` is ours and closed below.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_LINK_DETACH,
            attr.as_mut_ptr(),
            std::mem::size_of_val(&attr),
        )
    };
    let err = io::Error::last_os_error();
    // SAFETY: closes the descriptor BPF_OBJ_GET returned.
    unsafe { libc::close(fd as i32) };
    if r < 0 {
        return Err(err);
    }
    Ok(())
}

/// The object loaded for a start, its maps filled, not attached yet.
pub struct Loaded {
    /// The object.
    pub ebpf: aya::Ebpf,
    /// Its answer maps, filled from the state.
    pub maps: super::maps::Maps,
    /// Entries written.
    pub written: usize,
    /// Maps taken over from the pin directory.
    pub kept: Vec<&'static str>,
}

impl Loaded {
    /// Whether the persistence records of the previous daemon were kept.
    pub fn persistence_kept(&self) -> bool {
        self.kept.contains(&PERSIST)
    }
}

/// Loads the object for `state`, taking over the shared maps pinned in
/// `dir` (see [`prepare`]), and fills its answer maps. The persistence
/// maps are kept only when `saved_ids` (the previous daemon's
/// [`crate::engine::saved::fingerprint`]) equals this daemon's: otherwise
/// their records could name another server or set, and the object is
/// loaded again with new, empty ones (the old program, still attached,
/// keeps its own until it is replaced).
pub fn load(
    cfg: &crate::config::Config,
    state: &crate::state::model::State,
    dir: &Path,
    saved_ids: Option<&str>,
) -> anyhow::Result<Loaded> {
    use anyhow::Context as _;
    let shapes = shared_maps(state.server.persist_records);
    let names: Vec<&'static str> = shapes.iter().map(|s| s.name).collect();
    let capacities = super::loader::capacities_for(state);
    let mut keep = saved_ids.is_some();
    loop {
        let kept = prepare(dir, &shapes, keep)?;
        let mut ebpf = super::loader::load_sized_in(&capacities, Some((dir, &names)))?;
        let mut maps = super::maps::Maps::new(&mut ebpf)?;
        let written = maps.sync(state).context("filling the XDP maps")?;
        if keep && kept.contains(&PERSIST) {
            let ids = crate::engine::saved::fingerprint_for(cfg, state, &maps);
            if Some(ids.as_str()) != saved_ids {
                info!("the server or set ids changed since the last daemon: its persistence records are not taken over");
                keep = false;
                continue;
            }
        }
        return Ok(Loaded {
            ebpf,
            maps,
            written,
            kept,
        });
    }
}
