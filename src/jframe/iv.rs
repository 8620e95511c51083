//! Where the 12-byte IVs come from.
//!
//! The receiver never rebuilds an IV: it reads it from the trailer. So a sender may
//! build it any way that never repeats under one key. Two constructions live here:
//!
//! * [`ReferenceIvs`], lib-jitsi-meet's: `SSRC || RTP timestamp || (count mod 65535)`
//!   with a count per SSRC that starts at random in 0..65535, or LiveKit's, whose third
//!   word is `(RTP timestamp − count mod 65535) mod 2^32`. Kept byte for byte so the
//!   references' vectors can be reproduced; they repeat an IV when a timestamp and the
//!   count modulo 65535 come round together, which these constructions do not rule out.
//! * [`IvSequence`], what the elements use: `SSRC || 64-bit counter`, the counter
//!   starting at a random value below 2^63 and going up by one per frame whatever the
//!   key. Within one sender it never repeats (2^63 frames before it could wrap). Two
//!   senders with the same key repeat an IV only if their SSRCs are equal and their
//!   counter ranges overlap: for random SSRCs and starts, about n / 2^94 for n frames
//!   each, and about n / 2^62 even when both are given the same SSRC.

use std::collections::HashMap;

use super::frame::IV_LEN;
use super::rules::Format;
use crate::random::random_u64;

/// The reference's modulus for the IV's counter field (0xFFFF, not 0x10000).
pub const REFERENCE_COUNTER_MODULUS: u64 = 0xFFFF;

/// What the third word of a reference IV holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CounterWord {
    /// lib-jitsi-meet: `count mod 65535`.
    #[default]
    Count,
    /// LiveKit: `(RTP timestamp − count mod 65535) mod 2^32`.
    TimestampMinusCount,
}

/// The references' IV construction, one counter per SSRC (lib-jitsi-meet's by default).
#[derive(Default)]
pub struct ReferenceIvs {
    counts: HashMap<u32, u64>,
    counter_word: CounterWord,
}

impl ReferenceIvs {
    pub fn new(counter_word: CounterWord) -> ReferenceIvs {
        ReferenceIvs { counts: HashMap::new(), counter_word }
    }

    /// The construction of a format's reference (a frame without SSRC uses 0xFFFFFFFF
    /// under LiveKit's).
    pub fn for_format(format: Format) -> ReferenceIvs {
        ReferenceIvs::new(match format {
            Format::JFrame => CounterWord::Count,
            Format::LiveKit => CounterWord::TimestampMinusCount,
        })
    }

    /// Sets the count the next frame of `ssrc` uses.
    pub fn set_count(&mut self, ssrc: u32, count: u64) {
        self.counts.insert(ssrc, count);
    }

    /// The count the next frame of `ssrc` would use, once the SSRC has been seen.
    pub fn count(&self, ssrc: u32) -> Option<u64> {
        self.counts.get(&ssrc).copied()
    }

    /// The IV for the next frame of `ssrc`; consumes one count.
    pub fn next(&mut self, ssrc: u32, rtp_timestamp: u32) -> [u8; IV_LEN] {
        let count = self.counts.entry(ssrc).or_insert_with(|| random_u64() % REFERENCE_COUNTER_MODULUS);
        let reduced = (*count % REFERENCE_COUNTER_MODULUS) as u32;
        *count += 1;
        let field = match self.counter_word {
            CounterWord::Count => reduced,
            CounterWord::TimestampMinusCount => rtp_timestamp.wrapping_sub(reduced),
        };
        let mut iv = [0u8; IV_LEN];
        iv[0..4].copy_from_slice(&ssrc.to_be_bytes());
        iv[4..8].copy_from_slice(&rtp_timestamp.to_be_bytes());
        iv[8..12].copy_from_slice(&field.to_be_bytes());
        iv
    }
}

/// `SSRC || 64-bit counter`: never repeats within one sender (see the module docs).
pub struct IvSequence {
    ssrc: u32,
    next: u64,
}

impl IvSequence {
    /// A sequence for `ssrc` starting at a random counter below 2^63.
    pub fn new(ssrc: u32) -> IvSequence {
        IvSequence::starting_at(ssrc, random_u64() >> 1)
    }

    pub fn starting_at(ssrc: u32, counter: u64) -> IvSequence {
        IvSequence { ssrc, next: counter }
    }

    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }
}

impl Iterator for IvSequence {
    type Item = [u8; IV_LEN];

    /// The next IV, or `None` once the counter is spent: it never wraps to values
    /// already used (from any start it takes 2^63 frames to get there).
    fn next(&mut self) -> Option<[u8; IV_LEN]> {
        let counter = self.next;
        self.next = counter.checked_add(1)?;
        let mut iv = [0u8; IV_LEN];
        iv[0..4].copy_from_slice(&self.ssrc.to_be_bytes());
        iv[4..12].copy_from_slice(&counter.to_be_bytes());
        Some(iv)
    }
}

/// A random u32, e.g. for a default SSRC.
pub fn random_u32() -> u32 {
    (random_u64() >> 32) as u32
}
