//! The daemon's side of restarts: attaching through pinned links (adopting
//! a previous daemon's), restoring the state file, and what stays behind
//! at exit. The mechanisms are in `fastpath/pins.rs` and
//! `engine/saved.rs`.

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::{Context as _, Result};
use aya::programs::Xdp;
use gslb::{
    engine::{
        saved::{self, SavedState, StartStatus, StateFile},
        Engine,
    },
    fastpath::{loader, pins},
};
use tracing::{info, warn};

/// The state file's contents, if there is one and it can be read (a
/// broken one is logged and ignored: the daemon starts from its config).
pub fn read_saved(path: Option<&Path>) -> Option<SavedState> {
    let path = path?;
    match saved::read(path) {
        Ok(Some(s)) => {
            info!(path = %path.display(), servers = s.servers.len(), "state file read");
            Some(s)
        }
        Ok(None) => None,
        Err(e) => {
            warn!(error = %e, "ignoring the state file: starting from the config");
            None
        }
    }
}

/// Attaches `prog` to every interface through its pinned link, adopting
/// (replacing the program of) the links in `adopt`, then pins the
/// program.
pub fn attach(
    ebpf: &mut aya::Ebpf,
    dir: &Path,
    ifaces: &[String],
    adopt: &HashSet<String>,
    start: &mut StartStatus,
) -> Result<()> {
    let prog: &mut Xdp = ebpf
        .program_mut(loader::PROGRAM)
        .context("no XDP program in the object")?
        .try_into()?;
    for iface in ifaces {
        let adopted = adopt.contains(iface);
        let a = pins::attach(prog, dir, iface, adopted)?;
        let mode = a.mode;
        match a.replaced {
            Some(old) => {
                start.adopted = true;
                start.program_replaced |= old != a.program;
                info!(%iface, %mode, adopted, old_program = old, program = a.program,
                    "XDP program attached: replaced the program on the pinned link");
            }
            None => {
                info!(%iface, %mode, adopted, program = a.program, link = %pins::link_path(dir, iface).display(),
                "XDP program attached through a pinned link")
            }
        }
    }
    pins::pin_program(prog, dir)?;
    for iface in pins::detach_others(dir, ifaces) {
        info!(%iface, "XDP detached from an interface the config no longer lists");
    }
    Ok(())
}

/// Applies the saved state to the engine before it starts and hands it
/// the state file to keep; returns the file (flushed at exit).
pub fn restore(
    engine: &mut Engine,
    path: Option<PathBuf>,
    saved: Option<SavedState>,
    mut start: StartStatus,
) -> Option<Arc<StateFile>> {
    if let Some(s) = &saved {
        let touched = engine.restore(s);
        start.state_restored = true;
        info!(servers = touched, "state restored from the state file");
    }
    let file = path.map(|p| StateFile::new(p, saved));
    engine.set_restart(file.clone(), start);
    file
}

/// At exit: leaves the fast path attached and pinned (it answers the
/// last state until a new daemon adopts it), or with `detach` removes
/// it.
pub fn leave(dir: &Path, detach: bool) {
    if !detach {
        info!(pin_dir = %dir.display(),
            "XDP program left attached and pinned: it keeps answering the last state until a new \
             `gslb run` adopts it; `gslb detach --pin-dir {}` removes it", dir.display());
        return;
    }
    match pins::detach(dir) {
        Ok(d) => {
            info!(links = ?d.links, pins = d.pins, "XDP detached and unpinned (--detach-on-exit)")
        }
        Err(e) => warn!(pin_dir = %dir.display(), error = %e, "detaching XDP at exit"),
    }
}
