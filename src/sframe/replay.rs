//! A receiver's replay window: which (KID, CTR) pairs it has already accepted.
//!
//! Per KID it keeps the highest CTR accepted and which of the [`REPLAY_WINDOW_LEN`]
//! CTRs below it were seen, as SRTP does (RFC 3711 §3.3.2). A receiver keeps one per
//! stream (per sender): two senders given one KID and key use unrelated CTR ranges.

use std::collections::HashMap;

use super::error::DecryptError;

/// CTRs below the highest one accepted that are still told apart from replays.
pub const REPLAY_WINDOW_LEN: u64 = 128;
/// KIDs tracked at once; beyond, the one accepted longest ago is forgotten.
pub const REPLAY_MAX_KIDS: usize = 64;

#[derive(Clone, Debug)]
struct KidWindow {
    highest: u64,
    /// Bit i: `highest - i` was accepted.
    seen: u128,
    last_use: u64,
}

#[derive(Clone, Debug, Default)]
pub struct ReplayWindow {
    kids: HashMap<u64, KidWindow>,
    uses: u64,
}

impl ReplayWindow {
    pub fn new() -> ReplayWindow {
        ReplayWindow::default()
    }

    /// Whether a frame of `kid` and `ctr` may be new (it still has to authenticate).
    pub fn check(&self, kid: u64, ctr: u64) -> Result<(), DecryptError> {
        let Some(window) = self.kids.get(&kid) else { return Ok(()) };
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
        if !self.kids.contains_key(&kid) && self.kids.len() >= REPLAY_MAX_KIDS {
            let oldest = self.kids.iter().min_by_key(|(_, w)| w.last_use).map(|(&kid, _)| kid);
            oldest.map(|kid| self.kids.remove(&kid));
        }
        let window = self.kids.entry(kid).or_insert(KidWindow { highest: ctr, seen: 0, last_use: 0 });
        window.last_use = self.uses;
        if ctr > window.highest {
            let ahead = ctr - window.highest;
            window.seen = if ahead >= REPLAY_WINDOW_LEN { 0 } else { window.seen << ahead };
            window.highest = ctr;
        }
        let behind = window.highest - ctr;
        if behind < REPLAY_WINDOW_LEN {
            window.seen |= 1 << behind;
        }
    }

    /// Forgets what was seen under `kid` (e.g. when a new key is installed there).
    pub fn forget(&mut self, kid: u64) {
        self.kids.remove(&kid);
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
