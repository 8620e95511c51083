//! No IV repeats under one key, read from the trailers jframeenc writes: across key
//! changes, ratchets and restarts of one element, and across several elements given
//! the same key and the same `ssrc`. IVs are `ssrc (4 bytes) || 64-bit counter` with
//! the counter starting at random (src/jframe/iv.rs).

mod common;

use std::collections::HashSet;

use common::*;
use gst::prelude::*;

/// The SSRC and counter of an encrypted frame's IV.
fn iv_of(frame: &[u8]) -> (u32, u64) {
    let len = frame.len();
    assert!(len >= OVERHEAD, "an encrypted frame");
    assert_eq!(frame[len - 2], 12, "IV length byte");
    let iv = &frame[len - 14..len - 2];
    let ssrc = u32::from_be_bytes([iv[0], iv[1], iv[2], iv[3]]);
    let counter = u64::from_be_bytes([iv[4], iv[5], iv[6], iv[7], iv[8], iv[9], iv[10], iv[11]]);
    (ssrc, counter)
}

/// A jframeenc in a harness and the IVs of every frame it encrypted, in order.
struct Sender {
    tested: Tested,
    ivs: Vec<(u32, u64)>,
}

impl Sender {
    fn new(properties: &[(&str, &str)]) -> Sender {
        Sender { tested: Tested::new(make("jframeenc", properties), &vp8_frames().caps), ivs: Vec::new() }
    }

    /// Encrypts `n` frames and records their IVs.
    fn send(&mut self, n: usize) {
        let frames = &vp8_frames().frames;
        for i in 0..n {
            let out = self.tested.push(&frames[i % frames.len()]);
            assert_eq!(out.len(), 1, "every frame is encrypted");
            self.ivs.push(iv_of(&out[0]));
        }
    }

    /// NULL, then PLAYING again: the same element starts over as after a restart.
    fn restart(&mut self) {
        let element = &self.tested.element;
        element.set_state(gst::State::Null).expect("to NULL");
        self.tested.h.play();
        // The element forgot the stream's sticky events: send them again.
        assert!(self.tested.h.push_event(gst::event::StreamStart::new("restarted")));
        self.tested.h.set_src_caps(vp8_frames().caps.clone());
    }

    fn ratchet(&self) {
        assert!(self.tested.element.emit_by_name::<bool>("ratchet", &[]));
    }
}

/// Asserts that no IV appears twice in `ivs`.
fn assert_unique(ivs: &[(u32, u64)]) {
    let distinct: HashSet<_> = ivs.iter().collect();
    assert_eq!(distinct.len(), ivs.len(), "{} IVs repeated", ivs.len() - distinct.len());
}

#[test]
fn one_sender_never_repeats_an_iv_across_key_changes_ratchets_and_restarts() {
    let key = material_hex();
    let mut sender = Sender::new(&[("ssrc", "7"), ("key", key.as_str())]);
    sender.send(2000);
    assert!(set_key(&sender.tested.element, 1, &OTHER_MATERIAL));
    sender.send(2000);
    for _ in 0..3 {
        sender.ratchet();
        sender.send(500);
    }
    sender.restart();
    sender.send(2000);
    // The first key again, by property this time: its earlier IVs must not come back.
    sender.tested.element.set_property("key-index", 0u32);
    sender.tested.element.set_property("key", buffer(&MATERIAL));
    sender.send(2000);
    for _ in 0..2 {
        sender.restart();
        sender.send(1000);
    }
    sender.ratchet();
    sender.send(1000);

    let ivs = &sender.ivs;
    assert_eq!(ivs.len(), 12_500);
    assert!(ivs.iter().all(|(ssrc, _)| *ssrc == 7), "the IV starts with the ssrc property");
    assert_unique(ivs);
    // One counter for the element's life: neither key changes nor restarts reset it.
    for pair in ivs.windows(2) {
        assert_eq!(pair[1].1, pair[0].1.wrapping_add(1), "counter after {:#x}", pair[0].1);
    }
}

#[test]
fn senders_sharing_a_key_and_an_ssrc_never_share_an_iv() {
    const SENDERS: usize = 6;
    const ROUNDS: usize = 10;
    let key = material_hex();
    let mut senders: Vec<Sender> =
        (0..SENDERS).map(|_| Sender::new(&[("ssrc", "42"), ("key", key.as_str())])).collect();
    for round in 0..ROUNDS {
        for (n, sender) in senders.iter_mut().enumerate() {
            sender.send(500);
            match (n, round) {
                (0, 4) => sender.restart(),
                (1, 5) => sender.ratchet(),
                // The same ssrc set again: a new counter start, still no repeat.
                (2, 6) => sender.tested.element.set_property("ssrc", 42u32),
                _ => (),
            }
        }
    }
    // Sender 1 ratcheted: its later frames are under another key. Keep only the
    // frames under the shared key, which all others used throughout.
    let ratcheted_after = 6 * 500;
    let under_shared_key: Vec<(u32, u64)> = senders
        .iter()
        .enumerate()
        .flat_map(|(n, sender)| {
            let upto = if n == 1 { ratcheted_after } else { sender.ivs.len() };
            sender.ivs[..upto].iter().copied()
        })
        .collect();
    assert!(under_shared_key.iter().all(|(ssrc, _)| *ssrc == 42));
    assert_unique(&under_shared_key);
    // And across every frame, whatever the key.
    let all: Vec<(u32, u64)> = senders.iter().flat_map(|s| s.ivs.iter().copied()).collect();
    assert_eq!(all.len(), SENDERS * ROUNDS * 500);
    assert_unique(&all);

    // The counters start at random: no two senders start near one another.
    let starts: Vec<u64> = senders.iter().map(|s| s.ivs[0].1).collect();
    for (i, a) in starts.iter().enumerate() {
        for b in &starts[i + 1..] {
            assert!(a.abs_diff(*b) > 1 << 32, "counter starts {a:#x} and {b:#x} are close");
        }
    }
}

#[test]
fn default_ssrcs_are_random_and_start_every_iv() {
    let key = material_hex();
    let mut ssrcs = HashSet::new();
    for _ in 0..20 {
        let mut sender = Sender::new(&[("key", key.as_str())]);
        let ssrc = sender.tested.element.property::<u32>("ssrc");
        sender.send(3);
        assert!(sender.ivs.iter().all(|(iv_ssrc, _)| *iv_ssrc == ssrc));
        ssrcs.insert(ssrc);
    }
    assert_eq!(ssrcs.len(), 20, "20 elements, 20 different SSRCs");
}
