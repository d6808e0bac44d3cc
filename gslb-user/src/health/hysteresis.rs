//! The rise/fall state machine of one monitor of one server.

/// Rise/fall hysteresis: a server that is up goes down after `fall`
/// consecutive failed probes; a server that is down comes back after `rise`
/// consecutive successful probes. Any probe that agrees with the current
/// state resets the streak, so flapping inputs that never reach a threshold
/// never change the state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hysteresis {
    up: bool,
    rise: u32,
    fall: u32,
    /// Consecutive probes that disagree with `up` (failures while up,
    /// successes while down).
    streak: u32,
}

impl Hysteresis {
    /// Starts in `initial_up`. Thresholds below 1 are treated as 1 (a single
    /// probe decides).
    pub fn new(initial_up: bool, rise: u32, fall: u32) -> Self {
        Hysteresis {
            up: initial_up,
            rise: rise.max(1),
            fall: fall.max(1),
            streak: 0,
        }
    }

    /// Records one probe result; returns the state after it and whether this
    /// probe flipped it.
    pub fn record(&mut self, ok: bool) -> (bool, bool) {
        if ok == self.up {
            self.streak = 0;
            return (self.up, false);
        }
        self.streak += 1;
        let threshold = if self.up { self.fall } else { self.rise };
        if self.streak >= threshold {
            self.up = !self.up;
            self.streak = 0;
            (self.up, true)
        } else {
            (self.up, false)
        }
    }

    /// The current state.
    pub fn up(&self) -> bool {
        self.up
    }
}

#[cfg(test)]
mod tests {
    use super::Hysteresis;

    /// Feeds `inputs` and returns the (up, changed) after each.
    fn run(h: &mut Hysteresis, inputs: &[bool]) -> Vec<(bool, bool)> {
        inputs.iter().map(|&ok| h.record(ok)).collect()
    }

    #[test]
    fn initial_state() {
        assert!(Hysteresis::new(true, 2, 3).up());
        assert!(!Hysteresis::new(false, 2, 3).up());
    }

    #[test]
    fn falls_after_exactly_fall_failures() {
        let mut h = Hysteresis::new(true, 2, 3);
        assert_eq!(
            run(&mut h, &[false, false, false, false]),
            [(true, false), (true, false), (false, true), (false, false)]
        );
        assert!(!h.up());
    }

    #[test]
    fn rises_after_exactly_rise_successes() {
        let mut h = Hysteresis::new(false, 2, 3);
        assert_eq!(
            run(&mut h, &[true, true, true]),
            [(false, false), (true, true), (true, false)]
        );
        assert!(h.up());
    }

    #[test]
    fn full_cycle() {
        let mut h = Hysteresis::new(true, 2, 2);
        let got = run(&mut h, &[true, false, false, true, true, false, false]);
        assert_eq!(
            got,
            [
                (true, false),
                (true, false),
                (false, true),
                (false, false),
                (true, true),
                (true, false),
                (false, true),
            ]
        );
    }

    #[test]
    fn flapping_below_thresholds_never_changes_state() {
        // Up, fall 3: at most two failures in a row.
        let mut h = Hysteresis::new(true, 2, 3);
        let inputs = [false, false, true, false, true, false, false, true, false];
        assert!(run(&mut h, &inputs).iter().all(|&(up, ch)| up && !ch));
        // Down, rise 3: at most two successes in a row.
        let mut h = Hysteresis::new(false, 3, 2);
        let inputs = [true, true, false, true, false, true, true, false, true];
        assert!(run(&mut h, &inputs).iter().all(|&(up, ch)| !up && !ch));
        // Strict alternation never moves a 2/2 machine either way.
        for initial in [true, false] {
            let mut h = Hysteresis::new(initial, 2, 2);
            let inputs: Vec<bool> = (0..20).map(|i| i % 2 == 0).collect();
            assert!(run(&mut h, &inputs)
                .iter()
                .all(|&(up, ch)| up == initial && !ch));
        }
    }

    #[test]
    fn threshold_one_follows_every_probe() {
        let mut h = Hysteresis::new(true, 1, 1);
        assert_eq!(
            run(&mut h, &[false, false, true, false]),
            [(false, true), (false, false), (true, true), (false, true)]
        );
        // Zero is treated as one.
        let mut h = Hysteresis::new(true, 0, 0);
        assert_eq!(run(&mut h, &[false, true]), [(false, true), (true, true)]);
    }

    #[test]
    fn streak_resets_after_a_flip() {
        // After going down, the failures that caused it do not count
        // towards anything; rise starts from zero.
        let mut h = Hysteresis::new(true, 3, 1);
        assert_eq!(h.record(false), (false, true));
        assert_eq!(
            run(&mut h, &[true, true, false, true, true, true]),
            [
                (false, false),
                (false, false),
                (false, false),
                (false, false),
                (false, false),
                (true, true),
            ]
        );
    }
}
