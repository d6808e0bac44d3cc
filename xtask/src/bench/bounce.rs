//! The setup's ceiling: `gslb_bounce` of the XDP object (a bare program
//! that turns each query into its own reply with `XDP_TX`, no maps read)
//! attached to the server end. Loaded here with aya from the object the
//! daemon's build left in `target/bpf`, on a thread of its own inside the
//! server namespace (attach and detach both name the interface in that
//! namespace); detached when dropped.

use std::{
    path::{Path, PathBuf},
    sync::mpsc,
    thread,
    time::Duration,
};

use anyhow::{anyhow, Context as _, Result};
use aya::{
    programs::{Xdp, XdpMode},
    EbpfLoader,
};

use crate::cmd;

/// Name of the program in the object.
const PROGRAM: &str = "gslb_bounce";

/// The XDP object the last build of the daemon embedded.
pub fn object() -> PathBuf {
    cmd::workspace_root().join("target/bpf/bpfel-unknown-none/release/gslb")
}

/// `gslb_bounce` attached to an interface until dropped.
pub struct Bounce {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
    /// The program's id (for its run-time statistics).
    pub prog_id: u32,
    /// `native` or `generic`.
    pub mode: &'static str,
}

impl Bounce {
    /// Loads `gslb_bounce` from `object` and attaches it to `iface` in
    /// namespace `ns` (native mode, else generic).
    pub fn start(object: &Path, ns: &str, iface: &str) -> Result<Self> {
        let bytes = std::fs::read(object).with_context(|| {
            format!(
                "reading {} (built with the daemon; `cargo xtask build --release`)",
                object.display()
            )
        })?;
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(u32, &'static str), String>>();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let (ns, iface) = (ns.to_owned(), iface.to_owned());
        let thread = thread::spawn(move || {
            let attached = (|| -> Result<_> {
                gslb_testbed::ns::enter(&ns).with_context(|| format!("entering {ns}"))?;
                let mut ebpf = EbpfLoader::new()
                    .load(&bytes)
                    .context("loading the object")?;
                let prog: &mut Xdp = ebpf
                    .program_mut(PROGRAM)
                    .with_context(|| format!("no {PROGRAM} in the object"))?
                    .try_into()?;
                prog.load().with_context(|| format!("loading {PROGRAM}"))?;
                let id = prog.info()?.id();
                let mode = if prog.attach(&iface, XdpMode::Driver).is_ok() {
                    "native"
                } else {
                    prog.attach(&iface, XdpMode::Skb)
                        .with_context(|| format!("attaching {PROGRAM} to {iface}"))?;
                    "generic"
                };
                Ok((ebpf, id, mode))
            })();
            match attached {
                Ok((ebpf, id, mode)) => {
                    let _ = ready_tx.send(Ok((id, mode)));
                    // Held (attached) until asked to stop or the sender
                    // is gone; detached by the drop, in this namespace.
                    let _ = stop_rx.recv();
                    drop(ebpf);
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("{e:#}")));
                }
            }
        });
        let (prog_id, mode) = ready_rx
            .recv_timeout(Duration::from_secs(30))
            .map_err(|e| anyhow!("{PROGRAM}: no answer from the loader: {e}"))?
            .map_err(|e| anyhow!(e))?;
        Ok(Bounce {
            stop: Some(stop_tx),
            thread: Some(thread),
            prog_id,
            mode,
        })
    }
}

impl Drop for Bounce {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
