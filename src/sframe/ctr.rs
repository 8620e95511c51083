//! Where a sender's CTRs come from.
//!
//! A CTR must never repeat under one base key and KID (RFC 9605 §9.1): the nonce
//! would repeat. [`CtrSequence::new`] starts at a random value below 2^63 and goes up
//! by one per frame, whatever the key, and refuses to wrap. Within one sender a CTR
//! never repeats. Two senders using the same key and KID (two instances, or one
//! restarted: nothing survives a restart) repeat one only if their ranges overlap:
//! for n frames each, about 2n / 2^63 = n / 2^62. The price is the header: such a
//! CTR takes 8 bytes (7 or fewer with probability 2^-7). A sender whose (key, KID) is
//! fresh for it alone, e.g. a key derived per sender and session, can start at 0
//! ([`CtrSequence::starting_at`]): 1 to 3 bytes for the first 16 million frames.

/// Increasing CTRs for one sender.
#[derive(Clone, Debug)]
pub struct CtrSequence {
    next: u64,
}

impl CtrSequence {
    /// Starts at a random value below 2^63.
    pub fn new() -> CtrSequence {
        CtrSequence::starting_at(crate::random::random_u64() >> 1)
    }

    pub fn starting_at(ctr: u64) -> CtrSequence {
        CtrSequence { next: ctr }
    }

    /// The CTR the next frame gets.
    pub fn peek(&self) -> u64 {
        self.next
    }
}

impl Default for CtrSequence {
    fn default() -> Self {
        CtrSequence::new()
    }
}

impl Iterator for CtrSequence {
    type Item = u64;

    /// The next CTR, or `None` once it would be 2^64 - 1: it never wraps.
    fn next(&mut self) -> Option<u64> {
        let ctr = self.next;
        self.next = ctr.checked_add(1)?;
        Some(ctr)
    }
}
