//! A receiver's replay window: which (KID, CTR) pairs it has already accepted.
//!
//! Per KID it keeps the highest CTR accepted and which of the [`REPLAY_WINDOW_LEN`]
//! CTRs below it were seen, as SRTP does (RFC 3711 §3.3.2). A receiver keeps one per
//! stream (per sender): two senders given one KID and key use unrelated CTR ranges.

use super::error::DecryptError;

/// CTRs below the highest one accepted that are still told apart from replays.
pub const REPLAY_WINDOW_LEN: u64 = 128;
/// KIDs tracked at once; beyond, the one accepted longest ago is forgotten.
pub const REPLAY_MAX_KIDS: usize = 64;

#[derive(Clone, Debug)]
struct KidWindow {
    kid: u64,
    highest: u64,
    /// Bit i: `highest - i` was accepted.
    seen: u128,
    last_use: u64,
}

impl KidWindow {
    fn record(&mut self, ctr: u64, uses: u64) {
        self.last_use = uses;
        if ctr > self.highest {
            let ahead = ctr - self.highest;
            self.seen = if ahead >= REPLAY_WINDOW_LEN { 0 } else { self.seen << ahead };
            self.highest = ctr;
        }
        let behind = self.highest - ctr;
        if behind < REPLAY_WINDOW_LEN {
            self.seen |= 1 << behind;
        }
    }
}

/// The windows are a short list (a stream uses one or two KIDs at a time, and at most
/// [`REPLAY_MAX_KIDS`]): searched in order, it costs less per frame than hashing the KID.
#[derive(Clone, Debug, Default)]
pub struct ReplayWindow {
    kids: Vec<KidWindow>,
    uses: u64,
}

impl ReplayWindow {
    pub fn new() -> ReplayWindow {
        ReplayWindow::default()
    }

    fn window(&self, kid: u64) -> Option<&KidWindow> {
        self.kids.iter().find(|window| window.kid == kid)
    }

    /// Whether a frame of `kid` and `ctr` may be new (it still has to authenticate).
    pub fn check(&self, kid: u64, ctr: u64) -> Result<(), DecryptError> {
        let Some(window) = self.window(kid) else { return Ok(()) };
        if ctr > window.highest {
            return Ok(());
        }
        let behind = window.highest - ctr;
        if behind >= REPLAY_WINDOW_LEN {
            Err(DecryptError::TooOld { kid, ctr })
        } else if window.seen & (1 << behind) != 0 {
            Err(DecryptError::Replayed { kid, ctr })
        } else {
            Ok(())
        }
    }

    /// Records an authenticated frame.
    pub fn accept(&mut self, kid: u64, ctr: u64) {
        self.uses += 1;
        if let Some(window) = self.kids.iter_mut().find(|window| window.kid == kid) {
            return window.record(ctr, self.uses);
        }
        if self.kids.len() >= REPLAY_MAX_KIDS
            && let Some(oldest) = (0..self.kids.len()).min_by_key(|&i| self.kids[i].last_use)
        {
            self.kids.swap_remove(oldest);
        }
        let mut window = KidWindow { kid, highest: ctr, seen: 0, last_use: 0 };
        window.record(ctr, self.uses);
        self.kids.push(window);
    }

    /// Forgets what was seen under `kid` (e.g. when a new key is installed there).
    pub fn forget(&mut self, kid: u64) {
        self.kids.retain(|window| window.kid != kid);
    }

    pub fn clear(&mut self) {
        self.kids.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_replays_and_frames_below_the_window_and_takes_reordered_ones() {
        let mut window = ReplayWindow::new();
        for ctr in [10, 12, 11, 200] {
            assert_eq!(window.check(1, ctr), Ok(()));
            window.accept(1, ctr);
        }
        assert_eq!(window.check(1, 200), Err(DecryptError::Replayed { kid: 1, ctr: 200 }));
        assert_eq!(window.check(1, 12), Err(DecryptError::TooOld { kid: 1, ctr: 12 }));
        assert_eq!(window.check(1, 199), Ok(()));
        assert_eq!(window.check(1, 200 - 127), Ok(()));
        assert_eq!(window.check(1, 200 - 128), Err(DecryptError::TooOld { kid: 1, ctr: 72 }));
        assert_eq!(window.check(2, 200), Ok(()), "another KID has its own window");
        window.accept(1, u64::MAX);
        assert_eq!(window.check(1, u64::MAX), Err(DecryptError::Replayed { kid: 1, ctr: u64::MAX }));
        window.forget(1);
        assert_eq!(window.check(1, 200), Ok(()));
    }

    #[test]
    fn tracks_a_bounded_number_of_kids() {
        let mut window = ReplayWindow::new();
        for kid in 0..(REPLAY_MAX_KIDS as u64 + 10) {
            window.accept(kid, 5);
        }
        assert_eq!(window.kids.len(), REPLAY_MAX_KIDS);
        assert_eq!(window.check(0, 5), Ok(()), "the oldest KID was forgotten");
        assert!(window.check(REPLAY_MAX_KIDS as u64 + 9, 5).is_err());
    }
}
