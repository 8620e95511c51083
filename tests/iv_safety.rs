//! Nonce safety of the IV constructions: an IV must never repeat under one key.
//!
//! `IvSequence` (what the elements use) must not repeat within a sender, nor between
//! senders that share an SSRC unless their counter ranges overlap, and must stop rather
//! than wrap. `ReferenceIvs` wraps its counter field modulo 65535 as lib-jitsi-meet does.

use std::collections::HashSet;

use gstjframe::jframe::IV_LEN;
use gstjframe::jframe::iv::{IvSequence, REFERENCE_COUNTER_MODULUS, ReferenceIvs};
use proptest::prelude::*;

const SSRC: u32 = 0xCAFE_F00D;

fn counter_of(iv: &[u8; IV_LEN]) -> u64 {
    let mut counter = [0u8; 8];
    counter.copy_from_slice(&iv[4..]);
    u64::from_be_bytes(counter)
}

fn take(ivs: &mut IvSequence, n: usize) -> Vec<[u8; IV_LEN]> {
    (0..n).map(|i| ivs.next().unwrap_or_else(|| panic!("sequence spent after {i} IVs"))).collect()
}

#[test]
fn one_sequence_counts_up_by_one_and_never_repeats() {
    const FRAMES: usize = 200_000;
    let mut ivs = IvSequence::new(SSRC);
    let sent = take(&mut ivs, FRAMES);
    let first = counter_of(&sent[0]);
    assert!(first < 1 << 63, "random start {first} not below 2^63");
    for (i, iv) in sent.iter().enumerate() {
        assert_eq!(iv[..4], SSRC.to_be_bytes());
        assert_eq!(counter_of(iv), first + i as u64);
    }
    assert_eq!(sent.iter().collect::<HashSet<_>>().len(), FRAMES);
}

#[test]
fn senders_with_the_same_ssrc_start_apart() {
    const SENDERS: usize = 16;
    const FRAMES: usize = 20_000;
    let mut seen = HashSet::new();
    let mut starts = HashSet::new();
    for _ in 0..SENDERS {
        let mut ivs = IvSequence::new(SSRC);
        let sent = take(&mut ivs, FRAMES);
        starts.insert(counter_of(&sent[0]));
        seen.extend(sent);
    }
    assert_eq!(starts.len(), SENDERS, "two senders drew the same start");
    assert_eq!(seen.len(), SENDERS * FRAMES, "two senders with the same SSRC used the same IV");
}

#[test]
fn the_counter_stops_at_the_top_and_never_wraps() {
    let mut ivs = IvSequence::starting_at(SSRC, u64::MAX - 3);
    let counters: Vec<u64> = std::iter::from_fn(|| ivs.next()).map(|iv| counter_of(&iv)).collect();
    assert_eq!(counters, [u64::MAX - 3, u64::MAX - 2, u64::MAX - 1]);
    for _ in 0..3 {
        assert_eq!(ivs.next(), None, "a spent sequence gave an IV again");
    }
    assert_eq!(IvSequence::starting_at(SSRC, u64::MAX).next(), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Two senders with the same SSRC collide exactly when their counter ranges
    /// overlap; with different SSRCs, never.
    #[test]
    fn two_sequences_collide_only_where_their_ranges_overlap(
        a in any::<u64>(),
        distance in prop_oneof![0..2_000u64, any::<u64>()],
        frames in 1..1_000u64,
        ssrcs in prop_oneof![Just((SSRC, SSRC)), (any::<u32>(), any::<u32>())],
    ) {
        let a = a.min(u64::MAX - 2 * frames);
        let b = a.saturating_add(distance).min(u64::MAX - frames);
        let mut first = IvSequence::starting_at(ssrcs.0, a);
        let mut second = IvSequence::starting_at(ssrcs.1, b);
        let first: HashSet<_> = take(&mut first, frames as usize).into_iter().collect();
        let shared = take(&mut second, frames as usize).iter().filter(|iv| first.contains(*iv)).count() as u64;
        let overlap = if ssrcs.0 == ssrcs.1 { frames.saturating_sub(b - a) } else { 0 };
        prop_assert_eq!(shared, overlap);
    }
}

#[test]
fn reference_counter_field_wraps_modulo_65535() {
    let mut ivs = ReferenceIvs::default();
    ivs.set_count(SSRC, 65533);
    let fields: Vec<u32> = (0..4)
        .map(|_| {
            let iv = ivs.next(SSRC, 1000);
            assert_eq!(iv[..8], [SSRC.to_be_bytes(), 1000u32.to_be_bytes()].concat()[..]);
            u32::from_be_bytes([iv[8], iv[9], iv[10], iv[11]])
        })
        .collect();
    assert_eq!(fields, [65533, 65534, 0, 1]);
    // The count itself keeps growing; only the field is reduced.
    assert_eq!(ivs.count(SSRC), Some(65537));
    ivs.set_count(SSRC, 65536);
    assert_eq!(ivs.next(SSRC, 0)[8..], 1u32.to_be_bytes());
}

#[test]
fn reference_counters_are_per_ssrc_and_start_in_range() {
    let mut ivs = ReferenceIvs::default();
    for ssrc in 0..200u32 {
        assert_eq!(ivs.count(ssrc), None);
        ivs.next(ssrc, 0);
        let start = ivs.count(ssrc).map(|next| next - 1);
        assert!(start.is_some_and(|s| s < REFERENCE_COUNTER_MODULUS), "SSRC {ssrc} started at {start:?}");
    }
    ivs.set_count(1, 10);
    ivs.set_count(2, 500);
    ivs.next(1, 0);
    assert_eq!((ivs.count(1), ivs.count(2)), (Some(11), Some(500)));
}

/// The weakness the module documents: 65535 frames later, a frame with the same RTP
/// timestamp gets the same IV.
#[test]
fn reference_ivs_repeat_when_timestamp_and_counter_come_round() {
    let mut ivs = ReferenceIvs::default();
    ivs.set_count(SSRC, 7);
    let first = ivs.next(SSRC, 90_000);
    ivs.set_count(SSRC, 7 + REFERENCE_COUNTER_MODULUS);
    assert_eq!(ivs.next(SSRC, 90_000), first);
}
