//! Hostile input through the real elements: whatever arrives as a frame or a key,
//! jframeenc and jframedec do not panic, never output a frame they cannot vouch for,
//! count it under the right reason, and the stream goes on with the next good frame.

mod common;

use common::*;
use gst::prelude::*;
use gstjframe::jframe::{Context, DecryptOutcome, FrameKind, KeyMode};

/// An encrypter and a decrypter in harnesses, both with `MATERIAL` at index 0.
struct Pair {
    enc: Tested,
    dec: Tested,
    media: &'static Encoded,
}

impl Pair {
    fn new(media: &'static Encoded) -> Pair {
        let key = material_hex();
        let enc = Tested::new(make("jframeenc", &[("key", key.as_str())]), &media.caps);
        let dec = Tested::new(make("jframedec", &[("key", key.as_str())]), &media.caps);
        Pair { enc, dec, media }
    }

    fn vp8() -> Pair {
        Pair::new(vp8_frames())
    }

    fn opus() -> Pair {
        Pair::new(opus_frames())
    }

    /// Encrypts one frame with the sender, which must give exactly one frame back.
    fn encrypt(&mut self, frame: &[u8]) -> Vec<u8> {
        let mut out = self.enc.push(frame);
        assert_eq!(out.len(), 1, "the sender encrypts a {}-byte frame", frame.len());
        out.remove(0)
    }

    /// The stream goes on: good frames of the pair's media come out of the receiver
    /// as they went into the sender.
    fn assert_goes_on(&mut self) {
        for frame in &self.media.frames[..3] {
            let encrypted = self.encrypt(frame);
            assert_eq!(self.dec.push(&encrypted), vec![frame.clone()], "a good frame after bad ones");
        }
    }
}

/// Pushes `buffer` into `tested` and asserts it was dropped under `counter` alone.
fn assert_dropped_buffer(tested: &mut Tested, buffer: gst::Buffer, counter: &str, what: &str) {
    let before = frame_counters(&tested.element);
    assert_eq!(tested.h.push(buffer), Ok(gst::FlowSuccess::Ok), "{what}: the push itself succeeds");
    assert!(tested.pull_all().is_empty(), "{what}: nothing comes out");
    assert_eq!(moved(&before, &frame_counters(&tested.element)), vec![counter], "{what}");
}

fn assert_dropped(tested: &mut Tested, frame: &[u8], counter: &str, what: &str) {
    assert_dropped_buffer(tested, buffer(frame), counter, what);
}

/// Decrypts with the core: the plaintext, or `None` if `kind`'s rule does not open it.
fn core_decrypt(kind: FrameKind, frame: &[u8]) -> Option<Vec<u8>> {
    let mut ctx = Context::new(KeyMode::Derived);
    ctx.set_ratchet_window(0);
    ctx.keys_mut().set_key(0, &MATERIAL).ok()?;
    let mut frame = frame.to_vec();
    match ctx.decrypt(kind, &mut frame) {
        Ok(DecryptOutcome::Decrypted { len, .. }) => Some(frame[..len].to_vec()),
        _ => None,
    }
}

/// Small VP8-like frames: a key frame (P bit 0) with 6 bytes past its 10 clear
/// bytes, and an inter frame with 5 past its 3.
const SHORT_KEY_FRAME: [u8; 16] = [0x50, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x00, 0x30, 0x00, 1, 2, 3, 4, 5, 6];
const SHORT_DELTA_FRAME: [u8; 8] = [0x31, 0x02, 0x00, 7, 8, 9, 10, 11];
/// An Opus frame: TOC byte and three bytes.
const SHORT_OPUS_FRAME: [u8; 4] = [0x78, 0xaa, 0xbb, 0xcc];

/// splitmix64: a seeded generator, so a failing garbage case can be replayed.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn empty_buffers_are_dropped_as_malformed() {
    for mut pair in [Pair::vp8(), Pair::opus()] {
        // A buffer with no memory at all, and one with an empty memory.
        for (n, empty) in [gst::Buffer::new(), buffer(&[])].into_iter().enumerate() {
            assert_dropped_buffer(&mut pair.enc, empty.clone(), "dropped-malformed", &format!("sender, empty {n}"));
            assert_dropped_buffer(&mut pair.dec, empty, "dropped-malformed", &format!("receiver, empty {n}"));
        }
        pair.assert_goes_on();
    }
}

#[test]
fn one_byte_frames_are_dropped_by_their_key_index() {
    let mut pair = Pair::vp8();
    for byte in 0..=255u8 {
        // Shorter than either VP8 clear prefix at the sender.
        assert_dropped(&mut pair.enc, &[byte], "dropped-malformed", &format!("sender, [{byte}]"));
        // At the receiver the byte is the key index: slot 0 has the key but the frame
        // holds no trailer, slots 1 to 15 are empty, 16 and above do not exist.
        let counter = match byte {
            0 => "dropped-malformed",
            1..=15 => "dropped-no-key",
            _ => "dropped-unknown-key-index",
        };
        assert_dropped(&mut pair.dec, &[byte], counter, &format!("receiver, [{byte}]"));
    }
    pair.assert_goes_on();

    // One byte is a whole Opus frame (the TOC byte, in clear): it round-trips.
    let mut pair = Pair::opus();
    for byte in [0x00, 0x78, 0xff] {
        let encrypted = pair.encrypt(&[byte]);
        assert_eq!(encrypted.len(), 1 + OVERHEAD);
        assert_eq!(pair.dec.push(&encrypted), vec![vec![byte]]);
    }
    pair.assert_goes_on();
}

#[test]
fn truncated_trailers_are_dropped() {
    for (mut pair, frame) in [
        (Pair::vp8(), &SHORT_KEY_FRAME[..]),
        (Pair::vp8(), &SHORT_DELTA_FRAME[..]),
        (Pair::opus(), &SHORT_OPUS_FRAME[..]),
    ] {
        let encrypted = pair.encrypt(frame);
        let clear = if pair.media.caps == opus_frames().caps { 1 } else { vp8_clear_len(frame) };
        for len in 0..encrypted.len() {
            // Cut at the end: the last byte left is read as the key index.
            let cut = &encrypted[..len];
            let before = frame_counters(&pair.dec.element);
            assert!(pair.dec.push(cut).is_empty(), "cut to {len} bytes");
            let moved = moved(&before, &frame_counters(&pair.dec.element));
            assert_eq!(moved.len(), 1, "cut to {len} bytes: one drop counter moves");
            assert!(moved[0].starts_with("dropped-"), "cut to {len} bytes: {moved:?}");

            // Bytes missing before the IV length and key index (which stay).
            if len + 2 < encrypted.len() {
                let mut short = encrypted[..len].to_vec();
                short.extend_from_slice(&encrypted[encrypted.len() - 2..]);
                let counter =
                    if short.len() < clear + OVERHEAD { "dropped-malformed" } else { "dropped-authentication-failed" };
                assert_dropped(&mut pair.dec, &short, counter, &format!("{len} bytes and the last two"));
            }
        }
        pair.assert_goes_on();
    }
}

#[test]
fn every_iv_length_byte_but_12_is_refused() {
    // A short frame, where long IV lengths point before its start, and a long one,
    // where every IV length points inside it.
    let long_frame: Vec<u8> = [0x31, 0x02, 0x00].into_iter().chain((0..400).map(|i| i as u8)).collect();
    for frame in [&SHORT_DELTA_FRAME[..], &long_frame] {
        let mut pair = Pair::vp8();
        let encrypted = pair.encrypt(frame);
        let at = encrypted.len() - 2;
        for iv_len in 0..=255u8 {
            let mut bad = encrypted.clone();
            bad[at] = iv_len;
            if iv_len == 12 {
                assert_eq!(pair.dec.push(&bad), vec![frame.to_vec()]);
                continue;
            }
            // 16 is a length the format allows: it then reads the wrong IV bytes.
            let fits = bad.len() >= 3 + 16 + usize::from(iv_len) + 2;
            let counter = if iv_len == 16 && fits { "dropped-authentication-failed" } else { "dropped-malformed" };
            assert_dropped(&mut pair.dec, &bad, counter, &format!("{}-byte frame, IV length {iv_len}", bad.len()));
        }
        pair.assert_goes_on();
    }
}

#[test]
fn key_indexes_of_16_and_above_name_no_key() {
    let mut pair = Pair::vp8();
    let encrypted = pair.encrypt(&SHORT_DELTA_FRAME);
    for kid in 1..=255u8 {
        let mut bad = encrypted.clone();
        *bad.last_mut().expect("non-empty frame") = kid;
        let counter = if kid < 16 { "dropped-no-key" } else { "dropped-unknown-key-index" };
        assert_dropped(&mut pair.dec, &bad, counter, &format!("key index {kid}"));
    }
    pair.assert_goes_on();
}

#[test]
fn random_garbage_never_comes_out_and_never_stops_the_stream() {
    const FRAMES: usize = 4000;
    let mut random = Random(0x005e_ed0f_6a7b_a6e5);
    let mut pair = Pair::vp8();
    let mut dropped_at_sender = 0;
    for n in 0..FRAMES {
        let len = random.below(300);
        let mut garbage = random.bytes(len);
        // Half of them look like frames of the receiver's key: IV length 12, key index 0.
        if n % 2 == 0 && len >= 2 {
            garbage[len - 2] = 12;
            garbage[len - 1] = 0;
        }
        assert!(pair.dec.push(&garbage).is_empty(), "garbage frame {n} came out of the receiver");

        // The sender encrypts any bytes long enough for their clear prefix, and the
        // receiver gets them back exactly.
        let sent = pair.enc.push(&garbage);
        if len < vp8_clear_len(&garbage) {
            assert!(sent.is_empty(), "garbage frame {n} is shorter than its clear prefix");
            dropped_at_sender += 1;
        } else {
            assert_eq!(sent.len(), 1);
            assert_eq!(pair.dec.push(&sent[0]), vec![garbage], "garbage frame {n} round trip");
        }
        if n % 500 == 0 {
            pair.assert_goes_on();
        }
    }
    let dropped: u64 = drop_counters(&pair.dec.element).iter().map(|(_, count)| count).sum();
    assert_eq!(dropped, FRAMES as u64, "every garbage frame counted once at the receiver");
    assert_eq!(stat(&pair.dec.element, "frames-passed-through"), 0);
    assert_eq!(stat(&pair.enc.element, "dropped-malformed"), dropped_at_sender);
    pair.assert_goes_on();
}

#[test]
fn every_single_bit_flip_is_refused() {
    let cases = [
        (Pair::vp8(), &SHORT_KEY_FRAME[..]),
        (Pair::vp8(), &SHORT_DELTA_FRAME[..]),
        (Pair::opus(), &SHORT_OPUS_FRAME[..]),
    ];
    for (mut pair, frame) in cases {
        let audio = pair.media.caps == opus_frames().caps;
        let encrypted = pair.encrypt(frame);
        let len = encrypted.len();
        for bit in 0..len * 8 {
            let mut flipped = encrypted.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let counter = if bit / 8 == len - 1 {
                if flipped[len - 1] < 16 { "dropped-no-key" } else { "dropped-unknown-key-index" }
            } else if bit / 8 == len - 2 {
                // 12 with one bit flipped is neither 12 nor 16.
                "dropped-malformed"
            } else {
                // The P bit of a VP8 frame changes its clear prefix: maybe beyond the ciphertext.
                let clear = if audio { 1 } else { vp8_clear_len(&flipped) };
                if len - OVERHEAD < clear { "dropped-malformed" } else { "dropped-authentication-failed" }
            };
            assert_dropped(&mut pair.dec, &flipped, counter, &format!("{len}-byte frame, bit {bit} flipped"));
            // The failed attempts (with ratcheted keys too) leave the receiver's key as it was.
            assert_eq!(pair.dec.push(&encrypted), vec![frame.to_vec()], "after bit {bit}");
        }
        assert_eq!(stat(&pair.dec.element, "ratchets"), 0);
        pair.assert_goes_on();
    }
}

#[test]
fn frames_shorter_than_their_clear_prefix_are_dropped_at_the_sender() {
    let mut pair = Pair::vp8();
    // P bit 0: a key frame, 10 clear bytes; P bit 1: an inter frame, 3 clear bytes.
    for (first, clear) in [(0x00u8, 10), (0x01, 3)] {
        for len in 1..clear {
            let mut frame = vec![0u8; len];
            frame[0] = first;
            assert_dropped(&mut pair.enc, &frame, "dropped-malformed", &format!("{len} of {clear} clear bytes"));
            pair.assert_goes_on();
        }
        // Exactly the clear prefix: nothing to encrypt, still authenticated.
        let mut frame = vec![0u8; clear];
        frame[0] = first;
        let encrypted = pair.encrypt(&frame);
        assert_eq!(pair.dec.push(&encrypted), vec![frame]);
    }
    assert_eq!(stat(&pair.enc.element, "dropped-malformed"), 9 + 2);
}

#[test]
fn buffers_held_elsewhere_are_left_untouched() {
    let mut pair = Pair::vp8();
    let frame = &vp8_frames().frames[0];

    // A second reference makes the buffer not writable: the element must work on a copy.
    let held = buffer(frame);
    assert_eq!(pair.enc.h.push(held.clone()), Ok(gst::FlowSuccess::Ok));
    let encrypted = pair.enc.pull_all();
    assert_eq!(bytes(&held), *frame, "the sender wrote into a buffer it did not own");
    assert_eq!(encrypted.len(), 1);

    let held = buffer(&encrypted[0]);
    assert_eq!(pair.dec.h.push(held.clone()), Ok(gst::FlowSuccess::Ok));
    assert_eq!(pair.dec.pull_all(), vec![frame.clone()]);
    assert_eq!(bytes(&held), encrypted[0], "the receiver wrote into a buffer it did not own");
    pair.assert_goes_on();
}

#[test]
fn read_only_memory_is_left_untouched() {
    let mut pair = Pair::vp8();
    let frame = &vp8_frames().frames[1];

    // The buffer is the element's alone, but its memory is read-only (and seen here).
    let push_read_only = |tested: &mut Tested, bytes_in: &[u8]| {
        let memory = gst::Memory::from_slice(bytes_in.to_vec());
        assert!(memory.flags().contains(gst::MemoryFlags::READONLY));
        let mut buffer = gst::Buffer::new();
        buffer.get_mut().expect("new buffer").append_memory(memory.clone());
        assert_eq!(tested.h.push(buffer), Ok(gst::FlowSuccess::Ok));
        let map = memory.map_readable().expect("readable memory");
        assert_eq!(map.as_slice(), bytes_in, "read-only memory was written to");
        tested.pull_all()
    };
    let encrypted = push_read_only(&mut pair.enc, frame);
    assert_eq!(encrypted.len(), 1);
    assert_eq!(push_read_only(&mut pair.dec, &encrypted[0]), vec![frame.clone()]);
    pair.assert_goes_on();
}

/// `bytes` as a buffer of three memories, split at `a` and `b`.
fn three_memories(bytes: &[u8], a: usize, b: usize) -> gst::Buffer {
    let mut buffer = gst::Buffer::new();
    {
        let buffer = buffer.get_mut().expect("new buffer");
        for part in [&bytes[..a], &bytes[a..b], &bytes[b..]] {
            buffer.append_memory(gst::Memory::from_slice(part.to_vec()));
        }
    }
    assert_eq!(buffer.n_memory(), 3);
    buffer
}

#[test]
fn buffers_of_several_memories_are_handled_whole() {
    let mut pair = Pair::vp8();
    for frame in &vp8_frames().frames[..2] {
        let len = frame.len();
        // Splits inside the clear prefix, at its end, in the payload, at the ends.
        for (a, b) in [(1, 2), (3, 10), (10, len / 2), (0, len), (len / 3, len - 1)] {
            assert_eq!(pair.enc.h.push(three_memories(frame, a, b)), Ok(gst::FlowSuccess::Ok));
            let encrypted = pair.enc.pull_all();
            assert_eq!(encrypted.len(), 1, "split at {a}, {b}");
            assert_eq!(core_decrypt(FrameKind::of_vp8(frame).expect("frame"), &encrypted[0]).as_ref(), Some(frame));

            // At the receiver, splits inside the trailer too.
            let sent = &encrypted[0];
            let end = sent.len();
            for (a, b) in [(a, b), (end - 20, end - 1), (end - 2, end - 1), (5, end - 14)] {
                assert_eq!(pair.dec.h.push(three_memories(sent, a, b)), Ok(gst::FlowSuccess::Ok));
                assert_eq!(pair.dec.pull_all(), vec![frame.clone()], "receiver split at {a}, {b}");
            }
        }
    }
    pair.assert_goes_on();
}

#[test]
fn sixteen_megabyte_frame_round_trips() {
    let mut pair = Pair::vp8();
    let mut frame: Vec<u8> = (0..16 << 20).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    frame[0] = 0x01;
    let encrypted = pair.encrypt(&frame);
    assert_eq!(encrypted.len(), frame.len() + OVERHEAD);
    assert_eq!(encrypted[..3], frame[..3]);
    assert_ne!(encrypted[3..1000], frame[3..1000]);
    let decrypted = pair.dec.push(&encrypted);
    assert_eq!(decrypted.len(), 1);
    assert!(decrypted[0] == frame, "16 MiB frame differs after the round trip");
    pair.assert_goes_on();
}

#[test]
fn caps_changes_mid_stream_switch_the_clear_prefix_rule() {
    let mut pair = Pair::vp8();
    let vp8 = vp8_frames();
    let opus = opus_frames();
    for round in 0..2 {
        for (caps, frames, audio) in [(&vp8.caps, &vp8.frames, false), (&opus.caps, &opus.frames, true)] {
            pair.enc.h.set_src_caps(caps.clone());
            pair.dec.h.set_src_caps(caps.clone());
            for frame in &frames[..5] {
                let encrypted = pair.encrypt(frame);
                let kind = if audio { FrameKind::Audio } else { FrameKind::of_vp8(frame).expect("frame") };
                assert_eq!(core_decrypt(kind, &encrypted).as_ref(), Some(frame), "round {round}, audio {audio}");
                assert_eq!(pair.dec.push(&encrypted), vec![frame.clone()]);
            }
            // The caps decide, not the bytes: a VP8 key frame under Opus caps keeps
            // one clear byte, and under VP8 caps ten.
            let key_frame = &vp8.frames[0];
            let encrypted = pair.encrypt(key_frame);
            let (right, wrong) =
                if audio { (FrameKind::Audio, FrameKind::VideoKey) } else { (FrameKind::VideoKey, FrameKind::Audio) };
            assert_eq!(core_decrypt(right, &encrypted).as_ref(), Some(key_frame));
            assert_eq!(core_decrypt(wrong, &encrypted), None);
            assert_eq!(pair.dec.push(&encrypted), vec![key_frame.clone()]);
        }
    }
    // Back to VP8 for the last check.
    pair.enc.h.set_src_caps(vp8.caps.clone());
    pair.dec.h.set_src_caps(vp8.caps.clone());
    pair.assert_goes_on();
    for tested in [&pair.enc, &pair.dec] {
        assert!(drop_counters(&tested.element).iter().all(|(_, count)| *count == 0));
    }
}

#[test]
fn raw_key_property_of_a_wrong_size_is_an_error_and_encrypts_nothing() {
    let frames = &vp8_frames().frames;
    let mut enc = Tested::new(make("jframeenc", &[("key-mode", "raw")]), &vp8_frames().caps);
    for (n, size) in [0usize, 1, 15, 17, 24, 31, 33, 64].into_iter().enumerate() {
        enc.element.set_property("key", buffer(&vec![0x42; size]));
        let messages = enc.errors_and_warnings();
        assert_eq!(messages.len(), 1, "{size}-byte raw key");
        let gst::MessageView::Error(error) = messages[0].view() else {
            panic!("{size}-byte raw key: {:?} instead of an error", messages[0]);
        };
        assert!(error.error().matches(gst::LibraryError::Settings), "{:?}", error.error());
        let details = error.debug().map(|d| d.to_string()).unwrap_or_default();
        assert!(details.contains(&format!("got {size}")), "the error names the size: {details}");
        assert_eq!(stat(&enc.element, "rejected-keys"), n as u64 + 1);
        assert_dropped(&mut enc, &frames[1], "dropped-no-key", &format!("after a {size}-byte raw key"));
    }
    // A key of the right size is taken, and the stream goes on with it.
    enc.element.set_property("key", buffer(&RAW_KEY_16));
    assert!(enc.errors_and_warnings().is_empty());
    let mut dec = Tested::new(
        make("jframedec", &[("key-mode", "raw"), ("key", hex::encode(RAW_KEY_16).as_str())]),
        &vp8_frames().caps,
    );
    assert_eq!(dec.push_all(&enc.push_all(&frames[..5])), frames[..5]);
}

#[test]
fn set_key_at_index_256_and_above_is_refused() {
    let mut pair = Pair::vp8();
    for (n, index) in [256u32, 257, 4096, u32::MAX].into_iter().enumerate() {
        for tested in [&pair.enc, &pair.dec] {
            assert!(!set_key(&tested.element, index, &OTHER_MATERIAL), "index {index}");
            assert_eq!(stat(&tested.element, "rejected-keys"), n as u64 + 1);
            assert_eq!(current_key_index(&tested.element), 0, "index {index}: nothing changed");
            assert_eq!(tested.errors_and_warnings().len(), 1, "index {index}: one warning");
        }
    }
    pair.assert_goes_on();
}

#[test]
fn a_flood_of_new_ssrcs_is_tracked_up_to_a_bound() {
    init();
    let opus = gst::Caps::builder("audio/x-opus").build();
    let mut dec = Tested::new(make("jframedec", &[("key", &material_hex())]), &opus);
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counting = asked.clone();
    dec.element.connect("request-participant", false, move |_| {
        counting.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        None::<String>.to_value().into()
    });
    for ssrc in 0..1500u32 {
        let mut frame = buffer(&SHORT_OPUS_FRAME);
        gst_rtp::RTPSourceMeta::add(frame.get_mut().unwrap(), Some(ssrc), &[]);
        assert_eq!(dec.h.push(frame), Ok(gst::FlowSuccess::Ok));
    }
    let stats = stats(&dec.element);
    assert_eq!(stats.get::<gst::Array>("streams").unwrap().len(), 1024, "SSRCs tracked, at most");
    assert_eq!(asked.load(std::sync::atomic::Ordering::Relaxed), 1024, "asked once per tracked SSRC");
    let dropped: u64 = drop_counters(&dec.element).iter().map(|(_, n)| n).sum();
    assert_eq!(dropped, 1500, "every frame counted");
    // The stream goes on.
    let frame = opus_frames().frames[0].clone();
    let mut enc = Tested::new(make("jframeenc", &[("key", &material_hex())]), &opus);
    let encrypted = enc.push(&frame);
    assert_eq!(dec.push(&encrypted[0]), vec![frame]);
}
