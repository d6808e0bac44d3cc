//! The daemon's side of a config reload: the health monitors and metrics
//! pollers follow the config the engine runs ([`Workers`]), and SIGHUP
//! asks the engine for a reload ([`hangup`]).
//!
//! After a reload a monitor whose target (server id, address, monitor
//! settings) is unchanged keeps running, rise/fall count and all, so a
//! reload never flaps a server; a changed or new one starts from the
//! engine's current state of that (server, monitor), which for a server
//! that was there is its health now, not `initial`; one of a removed
//! server or monitor stops. Pollers are restarted for the new config
//! (their last readings stay with the engine).

use std::collections::HashMap;

use anyhow::Result;
use gslb::{
    config::Config,
    engine::{self, reload::Reloaded, Command},
    health::{self, HealthEvent, Monitors, Target},
    state::ids::ServerId,
};
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};
use tracing::{error, info, warn};

/// The running monitors (one task per target) and pollers.
pub struct Workers {
    monitors: HashMap<(ServerId, String), (Target, Monitors)>,
    pollers: Vec<JoinHandle<()>>,
    health: mpsc::UnboundedSender<HealthEvent>,
    commands: mpsc::Sender<Command>,
}

impl Drop for Workers {
    fn drop(&mut self) {
        for p in &self.pollers {
            p.abort();
        }
    }
}

impl Workers {
    /// Starts the monitors of `cfg` (servers `ids`, in config order),
    /// each from its state in `states` (up when absent), and its
    /// pollers. Must be called inside the runtime.
    pub fn start(
        cfg: &Config,
        ids: &[ServerId],
        states: &HashMap<(ServerId, String), bool>,
        health: mpsc::UnboundedSender<HealthEvent>,
        commands: mpsc::Sender<Command>,
    ) -> Result<Workers> {
        let mut w = Workers {
            monitors: HashMap::new(),
            pollers: Vec::new(),
            health,
            commands,
        };
        w.apply(cfg, ids, states)?;
        Ok(w)
    }

    /// Follows `cfg`: keeps the monitors whose target is unchanged,
    /// starts the others from `states`, stops those no longer
    /// configured, restarts the pollers. Returns (kept, started,
    /// stopped) monitors.
    fn apply(
        &mut self,
        cfg: &Config,
        ids: &[ServerId],
        states: &HashMap<(ServerId, String), bool>,
    ) -> Result<(usize, usize, usize)> {
        let mut next = HashMap::new();
        let (mut kept, mut started) = (0, 0);
        for target in health::targets(&cfg.servers, ids, &cfg.monitors) {
            let key = (target.server, target.monitor.name.clone());
            match self.monitors.remove(&key) {
                Some((running, tasks)) if running == target => {
                    kept += 1;
                    next.insert(key, (running, tasks));
                }
                // Changed (dropped here, which stops it) or new.
                _ => {
                    let up = states.get(&key).copied().unwrap_or(true);
                    let tasks =
                        health::spawn_with(vec![target.clone()], |_, _| up, self.health.clone());
                    started += 1;
                    next.insert(key, (target, tasks));
                }
            }
        }
        let stopped = self.monitors.len();
        // The remaining ones are no longer configured: dropped, stopped.
        self.monitors = next;
        for p in self.pollers.drain(..) {
            p.abort();
        }
        self.pollers =
            engine::metrics::spawn_all(cfg, ids, &self.commands).map_err(anyhow::Error::msg)?;
        Ok((kept, started, stopped))
    }
}

/// Runs `workers` until aborted, following every config the engine
/// reports reloaded. Aborting the task stops the monitors and pollers.
pub fn follow(
    mut workers: Workers,
    mut reloaded: mpsc::UnboundedReceiver<Reloaded>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(r) = reloaded.recv().await {
            match workers.apply(&r.cfg, &r.ids, &r.monitors) {
                Ok((kept, started, stopped)) => info!(
                    kept,
                    started,
                    stopped,
                    pollers = workers.pollers.len(),
                    "monitors and pollers follow the reloaded config"
                ),
                Err(e) => {
                    error!(error = %e, "restarting the metrics pollers after a reload failed")
                }
            }
        }
    })
}

/// SIGHUP: asks the engine for a reload (in a task, so the signal loop
/// goes on); the engine logs the outcome. The service manager is told
/// `RELOADING=1`, then `READY=1` when it is over (`Type=notify-reload`).
pub fn hangup(commands: &mpsc::Sender<Command>) {
    info!("SIGHUP: reloading the config");
    super::notify::reloading();
    let commands = commands.clone();
    tokio::spawn(async move {
        let (reply, rx) = oneshot::channel();
        let status = if commands.send(Command::Reload { reply }).await.is_err() {
            warn!("SIGHUP: the engine is gone, no reload");
            "reload failed: the engine is gone".to_string()
        } else {
            // The engine has logged the details.
            match rx.await {
                Ok(Ok(r)) => {
                    info!(elapsed_ms = r.elapsed_ms, "SIGHUP: config reloaded");
                    format!("config reloaded from {}", r.config)
                }
                Ok(Err(e)) => {
                    error!(error = %e, "SIGHUP: reload refused");
                    "reload refused: the old config keeps serving".to_string()
                }
                Err(_) => {
                    warn!("SIGHUP: the engine stopped before answering");
                    "reload failed: the engine stopped".to_string()
                }
            }
        };
        super::notify::ready(&status);
    });
}
