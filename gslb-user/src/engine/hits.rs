//! Hand-out counts over a sliding window, for `fewest_selected`: how often
//! each server was the first answer in the last `fewest_selected_window`,
//! by the XDP program (its per-CPU `SERVER_HITS` counters, read as deltas
//! every tick) and by the slow path ([`crate::state::decision::SlowHits`]).
//!
//! A ring keeps one row of per-server deltas per tick; the window's count
//! of a server is the sum of its column, kept up to date as rows enter and
//! leave. A server that was disabled for a while therefore competes with
//! the others' recent counts, not with everything they got since start.
//!
//! Columns are server ids ([`crate::state::ids::ServerId`]), so a server
//! keeps its counts across a config change that moves it.

/// The per-server counts of the last `intervals` ticks.
#[derive(Clone, Debug)]
pub struct HitWindow {
    /// `intervals` rows of per-server deltas; `next` is the oldest.
    ring: Vec<Vec<u64>>,
    next: usize,
    /// Per server: the sum over the ring.
    window: Vec<u64>,
    /// Per server: every count since start.
    total: Vec<u64>,
    /// Per server: the last cumulative XDP reading (`SERVER_HITS` summed
    /// over the CPUs).
    last_fast: Vec<u64>,
}

impl HitWindow {
    /// A window of `intervals` ticks (at least 1) over `servers` servers.
    pub fn new(servers: usize, intervals: usize) -> HitWindow {
        HitWindow {
            ring: vec![vec![0; servers]; intervals.max(1)],
            next: 0,
            window: vec![0; servers],
            total: vec![0; servers],
            last_fast: vec![0; servers],
        }
    }

    /// The XDP counts since the last reading, from cumulative readings
    /// (`None`: the counter could not be read; no delta). A reading below
    /// the last one means the counters restarted: it is all new.
    pub fn fast_deltas(&mut self, cumulative: &[Option<u64>]) -> Vec<u64> {
        self.last_fast
            .iter_mut()
            .zip(cumulative)
            .map(|(last, now)| match *now {
                Some(now) => {
                    let delta = now.checked_sub(*last).unwrap_or(now);
                    *last = now;
                    delta
                }
                None => 0,
            })
            .collect()
    }

    /// Ends one tick: `deltas` (per server, both paths) enter the window,
    /// the oldest tick's leave it.
    pub fn push(&mut self, deltas: &[u64]) {
        let row = &mut self.ring[self.next];
        for (i, slot) in row.iter_mut().enumerate() {
            let d = deltas.get(i).copied().unwrap_or(0);
            self.window[i] = self.window[i] - *slot + d;
            self.total[i] += d;
            *slot = d;
        }
        self.next = (self.next + 1) % self.ring.len();
    }

    /// Makes room for ids `0..servers` (new columns start at zero).
    pub fn resize(&mut self, servers: usize) {
        if servers <= self.window.len() {
            return;
        }
        for row in &mut self.ring {
            row.resize(servers, 0);
        }
        self.window.resize(servers, 0);
        self.total.resize(servers, 0);
        self.last_fast.resize(servers, 0);
    }

    /// Clears the counts of `id` (its server is gone, or the id now names
    /// another server). The last XDP reading is kept: the counter itself
    /// goes on, and only what it counts from now on is new.
    pub fn forget(&mut self, id: usize) {
        for row in &mut self.ring {
            if let Some(c) = row.get_mut(id) {
                *c = 0;
            }
        }
        if let Some(c) = self.window.get_mut(id) {
            *c = 0;
        }
        if let Some(c) = self.total.get_mut(id) {
            *c = 0;
        }
    }

    /// Hand-outs of server `id` within the window.
    pub fn window(&self, id: usize) -> u64 {
        self.window.get(id).copied().unwrap_or(0)
    }

    /// Hand-outs of server `id` since start.
    pub fn total(&self, id: usize) -> u64 {
        self.total.get(id).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_leave_the_window_after_its_length() {
        let mut w = HitWindow::new(2, 3);
        w.push(&[10, 0]);
        assert_eq!((w.window(0), w.window(1)), (10, 0));
        w.push(&[5, 1]);
        w.push(&[0, 2]);
        assert_eq!((w.window(0), w.window(1)), (15, 3));
        // The first tick leaves.
        w.push(&[0, 0]);
        assert_eq!((w.window(0), w.window(1)), (5, 3));
        w.push(&[0, 0]);
        w.push(&[0, 0]);
        assert_eq!((w.window(0), w.window(1)), (0, 0));
        assert_eq!((w.total(0), w.total(1)), (15, 3));
        // Out of range: nothing.
        assert_eq!((w.window(7), w.total(7)), (0, 0));
    }

    #[test]
    fn a_one_tick_window_holds_the_last_tick() {
        let mut w = HitWindow::new(1, 0);
        w.push(&[4]);
        assert_eq!(w.window(0), 4);
        w.push(&[1]);
        assert_eq!(w.window(0), 1);
    }

    #[test]
    fn fast_readings_become_deltas() {
        let mut w = HitWindow::new(3, 2);
        assert_eq!(w.fast_deltas(&[Some(5), Some(0), None]), vec![5, 0, 0]);
        assert_eq!(w.fast_deltas(&[Some(8), Some(2), Some(1)]), vec![3, 2, 1]);
        // Unreadable: no delta, and the last reading is kept.
        assert_eq!(w.fast_deltas(&[None, Some(2), Some(1)]), vec![0, 0, 0]);
        assert_eq!(w.fast_deltas(&[Some(9), Some(2), Some(1)]), vec![1, 0, 0]);
        // Restarted counters (e.g. a new map): the reading is all new.
        assert_eq!(w.fast_deltas(&[Some(2), Some(2), Some(1)]), vec![2, 0, 0]);
    }

    #[test]
    fn resize_adds_zero_columns_and_forget_clears_one() {
        let mut w = HitWindow::new(2, 3);
        w.push(&[4, 6]);
        w.resize(4);
        w.push(&[1, 1, 2, 3]);
        assert_eq!(
            (0..4).map(|i| w.window(i)).collect::<Vec<_>>(),
            [5, 7, 2, 3]
        );
        w.forget(1);
        assert_eq!((w.window(1), w.total(1)), (0, 0));
        w.push(&[0, 5, 0, 0]);
        w.push(&[0, 0, 0, 0]);
        // The tick before forget leaves without taking anything from it.
        assert_eq!((w.window(0), w.window(1)), (1, 5));
        // A reading continues from the last one kept across forget.
        assert_eq!(
            w.fast_deltas(&[None, Some(10), None, None]),
            vec![0, 10, 0, 0]
        );
        w.forget(1);
        assert_eq!(
            w.fast_deltas(&[None, Some(12), None, None]),
            vec![0, 2, 0, 0]
        );
        // Shrinking is not a thing: ids only grow.
        w.resize(1);
        assert_eq!((w.window(3), w.total(3)), (3, 3));
    }

    /// The case the window exists for: a server away for longer than the
    /// window comes back level with the others instead of owing them
    /// everything they got meanwhile.
    #[test]
    fn a_returning_server_competes_with_recent_counts_only() {
        let mut w = HitWindow::new(2, 5);
        for _ in 0..5 {
            w.push(&[50, 50]);
        }
        // Server 1 away for 100 ticks; server 0 takes everything.
        for _ in 0..100 {
            w.push(&[100, 0]);
        }
        assert_eq!((w.window(0), w.window(1)), (500, 0));
        assert_eq!((w.total(0), w.total(1)), (10_250, 250));
        // Back: within one window the deficit is gone.
        for _ in 0..5 {
            w.push(&[50, 50]);
        }
        assert_eq!((w.window(0), w.window(1)), (250, 250));
    }
}
