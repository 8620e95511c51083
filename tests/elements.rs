//! jframeenc and jframedec in a harness: every property, signal and message, with
//! real VP8 and Opus frames, the JFrame core as an independent decrypter, and the
//! reference vectors pushed through jframedec.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use gst::glib;
use gst::prelude::*;
use gstjframe::jframe::{Context, DecryptOutcome, FrameKind, KeyMode, ratchet};

fn encoder(properties: &[(&str, &str)]) -> Tested {
    Tested::new(make("jframeenc", properties), &vp8_frames().caps)
}

fn decoder(properties: &[(&str, &str)]) -> Tested {
    Tested::new(make("jframedec", properties), &vp8_frames().caps)
}

/// Decrypts a frame with the core: `Ok(plaintext)` or the core's answer.
fn core_decrypt(mode: KeyMode, index: u32, key: &[u8], kind: FrameKind, frame: &[u8]) -> Result<Vec<u8>, String> {
    let mut ctx = Context::new(mode);
    ctx.set_ratchet_window(0);
    ctx.keys_mut().set_key(index, key).map_err(|e| e.to_string())?;
    let mut frame = frame.to_vec();
    match ctx.decrypt(kind, &mut frame) {
        Ok(DecryptOutcome::Decrypted { len, .. }) => Ok(frame[..len].to_vec()),
        other => Err(format!("{other:?}")),
    }
}

fn vp8_kind(frame: &[u8]) -> FrameKind {
    FrameKind::of_vp8(frame).expect("non-empty VP8 frame")
}

/// Records the `ratcheted(key_index, steps)` emissions of a decoder.
fn ratcheted(decoder: &gst::Element) -> Arc<Mutex<Vec<(u32, u32)>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let store = seen.clone();
    decoder.connect("ratcheted", false, move |args| {
        let index = args[1].get::<u32>().expect("key index argument");
        let steps = args[2].get::<u32>().expect("steps argument");
        store.lock().expect("signal record").push((index, steps));
        None
    });
    seen
}

fn key_mode_nick(element: &gst::Element) -> String {
    let value = element.property_value("key-mode");
    let (_, enum_value) = glib::EnumValue::from_value(&value).expect("key-mode is an enum");
    enum_value.nick().to_string()
}

fn error_domains(messages: &[gst::Message]) -> Vec<(gst::MessageType, bool)> {
    messages
        .iter()
        .map(|m| {
            let settings = match m.view() {
                gst::MessageView::Error(e) => e.error().matches(gst::LibraryError::Settings),
                gst::MessageView::Warning(w) => w.error().matches(gst::LibraryError::Settings),
                _ => false,
            };
            (m.type_(), settings)
        })
        .collect()
}

#[test]
fn properties_have_their_documented_defaults_and_ranges() {
    for factory in ["jframeenc", "jframedec"] {
        let element = make(factory, &[]);
        assert_eq!(element.property::<u32>("key-index"), 0, "{factory}");
        assert_eq!(key_mode_nick(&element), "hkdf", "{factory}");
        assert!(element.property::<bool>("enabled"), "{factory}");
        let key = element.find_property("key").expect("key property");
        assert!(key.flags().contains(glib::ParamFlags::WRITABLE), "{factory}: key is writable");
        assert!(!key.flags().contains(glib::ParamFlags::READABLE), "{factory}: key is write-only");
        let key_index = element.find_property("key-index").expect("key-index property");
        let key_index = key_index.downcast_ref::<glib::ParamSpecUInt>().expect("uint");
        assert_eq!((key_index.minimum(), key_index.maximum()), (0, 255), "{factory}");

        let stats = stats(&element);
        assert_eq!(stats.name(), "application/x-jframe-stats");
        for field in [
            "frames-processed",
            "bytes-processed",
            "frames-passed-through",
            "dropped-no-key",
            "dropped-unknown-key-index",
            "dropped-authentication-failed",
            "dropped-malformed",
            "ratchets",
            "rejected-keys",
        ] {
            assert_eq!(stats.get::<u64>(field).ok(), Some(0), "{factory}: {field}");
        }
        assert_eq!(current_key_index(&element), -1, "{factory}");

        element.set_property_from_str("key-mode", "raw");
        assert_eq!(key_mode_nick(&element), "raw", "{factory}");
    }
    let decoder = make("jframedec", &[]);
    assert_eq!(decoder.property::<u32>("ratchet-window"), 8);
    let window = decoder.find_property("ratchet-window").expect("ratchet-window property");
    let window = window.downcast_ref::<glib::ParamSpecUInt>().expect("uint");
    assert_eq!((window.minimum(), window.maximum()), (0, 64));

    let encoder = make("jframeenc", &[("ssrc", "305419896")]);
    assert_eq!(encoder.property::<u32>("ssrc"), 0x1234_5678);
}

#[test]
fn raw_keys_of_16_and_32_bytes_set_before_start_in_any_order() {
    for key in [&RAW_KEY_16[..], &RAW_KEY_32[..]] {
        let hex_key = hex::encode(key);
        // The key comes first on the sender and last on the receiver: installed at start
        // with the index and mode given after it.
        let mut enc = encoder(&[("key", hex_key.as_str()), ("key-index", "3"), ("key-mode", "raw")]);
        let mut dec = decoder(&[("key-mode", "raw"), ("key-index", "3"), ("key", hex_key.as_str())]);
        for frame in &vp8_frames().frames {
            let encrypted = enc.push(frame);
            assert_eq!(encrypted.len(), 1);
            let encrypted = &encrypted[0];
            assert_eq!(encrypted.last(), Some(&3), "KID is the key index");
            // Decrypts with the raw key as the AES key: AES-256 for 32 bytes.
            let plain = core_decrypt(KeyMode::Raw, 3, key, vp8_kind(frame), encrypted);
            assert_eq!(plain.as_ref(), Ok(frame), "core decrypts with the {}-byte raw key", key.len());
            assert_eq!(dec.push(encrypted), vec![frame.clone()]);
        }
        for element in [&enc.element, &dec.element] {
            assert_eq!(current_key_index(element), 3);
            assert_eq!(stat(element, "frames-processed"), vp8_frames().frames.len() as u64);
        }
    }
}

#[test]
fn key_index_names_the_slot_written_as_kid() {
    // Index 17 is slot 1, as in the reference (`keyIndex % 16`).
    let mut enc = encoder(&[("key-index", "17"), ("key", material_hex().as_str())]);
    let mut dec = decoder(&[]);
    assert!(set_key(&dec.element, 1, &MATERIAL));
    for frame in &vp8_frames().frames {
        let encrypted = enc.push(frame);
        assert_eq!(encrypted[0].last(), Some(&1));
        assert_eq!(dec.push(&encrypted[0]), vec![frame.clone()]);
    }
    assert_eq!(enc.element.property::<u32>("key-index"), 17);
    assert_eq!(current_key_index(&enc.element), 1);
}

#[test]
fn key_property_set_while_playing_is_installed_at_once() {
    let mut enc = encoder(&[]);
    let frames = &vp8_frames().frames;
    assert!(enc.push(&frames[0]).is_empty(), "no key yet: dropped");
    enc.element.set_property("key-index", 5u32);
    enc.element.set_property("key", buffer(&MATERIAL));
    let encrypted = enc.push(&frames[1]);
    assert_eq!(encrypted.len(), 1);
    assert_eq!(encrypted[0].last(), Some(&5));
    assert_eq!(
        core_decrypt(KeyMode::Derived, 5, &MATERIAL, vp8_kind(&frames[1]), &encrypted[0]),
        Ok(frames[1].clone())
    );
    assert!(enc.errors_and_warnings().is_empty());
}

#[test]
fn enabled_false_passes_frames_through_unchanged_both_ways() {
    let mut enc = encoder(&[("key", material_hex().as_str())]);
    let mut dec = decoder(&[("key", material_hex().as_str())]);
    let frames = &vp8_frames().frames;
    for enabled in [false, true, false] {
        enc.element.set_property("enabled", enabled);
        dec.element.set_property("enabled", enabled);
        for frame in frames {
            let sent = enc.push(frame);
            assert_eq!(sent.len(), 1);
            if enabled {
                assert_eq!(sent[0].len(), frame.len() + OVERHEAD);
            } else {
                assert_eq!(&sent[0], frame, "sender passes the frame unchanged");
            }
            assert_eq!(dec.push(&sent[0]), vec![frame.clone()]);
        }
    }
    let n = frames.len() as u64;
    assert_eq!(stat(&enc.element, "frames-passed-through"), 2 * n);
    assert_eq!(stat(&enc.element, "frames-processed"), n);
    assert_eq!(stat(&dec.element, "frames-passed-through"), 2 * n);
    assert_eq!(stat(&dec.element, "frames-processed"), n);
}

#[test]
fn disabled_encoder_without_key_passes_through_and_enabled_one_drops() {
    let mut enc = encoder(&[("enabled", "false")]);
    let frame = &vp8_frames().frames[0];
    assert_eq!(enc.push(frame), vec![frame.clone()]);
    enc.element.set_property("enabled", true);
    assert!(enc.push(frame).is_empty(), "never plaintext while enabled");
    assert_eq!(stat(&enc.element, "dropped-no-key"), 1);
}

#[test]
fn stats_count_frames_bytes_and_drops() {
    let mut enc = encoder(&[("key", material_hex().as_str())]);
    let mut dec = decoder(&[("key", material_hex().as_str())]);
    let frames = &vp8_frames().frames;
    let encrypted = enc.push_all(frames);
    assert_eq!(dec.push_all(&encrypted), *frames);
    let n = frames.len() as u64;
    let bytes: u64 = frames.iter().map(|f| f.len() as u64).sum();
    for element in [&enc.element, &dec.element] {
        assert_eq!(stat(element, "frames-processed"), n);
        assert_eq!(stat(element, "bytes-processed"), bytes, "plaintext bytes");
        assert_eq!(stat(element, "frames-passed-through"), 0);
        assert!(drop_counters(element).iter().all(|(_, count)| *count == 0));
        assert_eq!(stat(element, "ratchets"), 0);
        assert_eq!(stat(element, "rejected-keys"), 0);
        assert_eq!(current_key_index(element), 0);
    }
    // One drop of each kind at the receiver.
    let mut kid_3 = encrypted[1].clone();
    *kid_3.last_mut().expect("frame") = 3;
    let mut kid_20 = encrypted[1].clone();
    *kid_20.last_mut().expect("frame") = 20;
    let mut forged = encrypted[1].clone();
    forged[5] ^= 1;
    for frame in [kid_3, kid_20, forged, vec![0x01, 0x00]] {
        assert!(dec.push(&frame).is_empty());
    }
    assert_eq!(
        drop_counters(&dec.element),
        vec![
            ("dropped-no-key", 1),
            ("dropped-unknown-key-index", 1),
            ("dropped-authentication-failed", 1),
            ("dropped-malformed", 1),
            ("dropped-replayed", 0),
        ]
    );
    assert_eq!(stat(&dec.element, "frames-processed"), n);
}

#[test]
fn set_key_returns_true_or_false_with_a_warning() {
    for factory in ["jframeenc", "jframedec"] {
        let raw = Tested::new(make(factory, &[("key-mode", "raw")]), &vp8_frames().caps);
        assert!(set_key(&raw.element, 0, &RAW_KEY_16));
        assert!(set_key(&raw.element, 2, &RAW_KEY_32));
        assert!(raw.errors_and_warnings().is_empty());
        assert!(!set_key(&raw.element, 4, b"short"), "{factory}: 5-byte raw key");
        assert!(!set_key(&raw.element, 256, &RAW_KEY_16), "{factory}: index 256");
        let messages = raw.errors_and_warnings();
        assert_eq!(error_domains(&messages), vec![(gst::MessageType::Warning, true); 2], "{factory}");
        assert_eq!(stat(&raw.element, "rejected-keys"), 2);
        // Refused keys change nothing: slot 2 is still current.
        assert_eq!(current_key_index(&raw.element), 2);

        let hkdf = Tested::new(make(factory, &[]), &vp8_frames().caps);
        assert!(set_key(&hkdf.element, 255, &MATERIAL));
        assert!(set_key(&hkdf.element, 1, b"short"), "{factory}: material may have any length");
        assert!(!set_key(&hkdf.element, 256, &MATERIAL), "{factory}: index 256");
        assert!(!set_key(&hkdf.element, 0, b""), "{factory}: empty material");
        assert_eq!(hkdf.errors_and_warnings().len(), 2);
        assert_eq!(stat(&hkdf.element, "rejected-keys"), 2);
        assert_eq!(current_key_index(&hkdf.element), 1);
    }
    // The sender keeps encrypting with the key current before the refused ones.
    let mut enc = encoder(&[("key-mode", "raw")]);
    assert!(set_key(&enc.element, 2, &RAW_KEY_32));
    assert!(!set_key(&enc.element, 3, b"short"));
    let frame = &vp8_frames().frames[1];
    let encrypted = enc.push(frame);
    assert_eq!(encrypted[0].last(), Some(&2));
    assert_eq!(core_decrypt(KeyMode::Raw, 2, &RAW_KEY_32, vp8_kind(frame), &encrypted[0]), Ok(frame.clone()));
}

#[test]
fn clear_keys_makes_both_elements_drop() {
    let mut enc = encoder(&[("key", material_hex().as_str())]);
    let mut dec = decoder(&[("key", material_hex().as_str())]);
    let frames = &vp8_frames().frames;
    let encrypted = enc.push_all(&frames[..3]);
    assert_eq!(encrypted.len(), 3);
    assert_eq!(dec.push_all(&encrypted), frames[..3]);

    enc.element.emit_by_name::<()>("clear-keys", &[]);
    assert!(enc.push_all(&frames[3..6]).is_empty(), "no key: the sender drops, never sends plaintext");
    assert_eq!(stat(&enc.element, "dropped-no-key"), 3);
    assert_eq!(current_key_index(&enc.element), -1);
    assert_eq!(enc.state_messages(), vec![state("ok", 0), state("missing-key", -1)]);

    dec.element.emit_by_name::<()>("clear-keys", &[]);
    assert!(dec.push_all(&encrypted).is_empty());
    assert_eq!(stat(&dec.element, "dropped-no-key"), 3);
    // The receiver names the key index of the frame it has no key for.
    assert_eq!(dec.state_messages(), vec![state("ok", 0), state("missing-key", 0)]);
}

#[test]
fn sender_ratchet_is_followed_by_the_receiver() {
    let mut enc = encoder(&[("key-index", "2"), ("key", material_hex().as_str())]);
    let mut dec = decoder(&[]);
    assert!(set_key(&dec.element, 2, &MATERIAL));
    let seen = ratcheted(&dec.element);
    let frames = &vp8_frames().frames;
    let mut sent = Vec::new();
    for (n, frame) in frames.iter().enumerate() {
        // One ratchet before frame 5, two before frame 10.
        let ratchets = match n {
            5 => 1,
            10 => 2,
            _ => 0,
        };
        for _ in 0..ratchets {
            assert!(enc.element.emit_by_name::<bool>("ratchet", &[]));
        }
        let encrypted = enc.push(frame);
        assert_eq!(dec.push(&encrypted[0]), vec![frame.clone()], "frame {n}");
        sent.push(encrypted[0].clone());
    }
    assert_eq!(*seen.lock().expect("signal record"), vec![(2, 1), (2, 2)]);
    assert_eq!(stat(&enc.element, "ratchets"), 3);
    assert_eq!(stat(&dec.element, "ratchets"), 3);

    // The key really changed: frame 10 is encrypted with the material ratcheted 3 times.
    let material_3 = ratchet(&ratchet(&ratchet(&MATERIAL)));
    let kind = vp8_kind(&frames[10]);
    assert!(core_decrypt(KeyMode::Derived, 2, &MATERIAL, kind, &sent[10]).is_err());
    assert_eq!(core_decrypt(KeyMode::Derived, 2, &material_3, kind, &sent[10]), Ok(frames[10].clone()));
}

#[test]
fn ratchet_is_refused_without_a_key_and_for_raw_keys() {
    let enc = encoder(&[]);
    assert!(!enc.element.emit_by_name::<bool>("ratchet", &[]));
    let raw = encoder(&[("key-mode", "raw"), ("key", hex::encode(RAW_KEY_16).as_str())]);
    assert!(!raw.element.emit_by_name::<bool>("ratchet", &[]));
    assert_eq!(stat(&raw.element, "ratchets"), 0);
}

#[test]
fn ratchet_window_bounds_how_far_the_receiver_follows() {
    let frames = &vp8_frames().frames;
    for window in [0u32, 1] {
        let mut enc = encoder(&[("key", material_hex().as_str())]);
        let mut dec = decoder(&[("key", material_hex().as_str()), ("ratchet-window", window.to_string().as_str())]);
        let seen = ratcheted(&dec.element);
        assert!(enc.element.emit_by_name::<bool>("ratchet", &[]));
        let one_ahead = enc.push(&frames[1]);
        assert_eq!(dec.push(&one_ahead[0]).len(), window as usize, "window {window}, one step");
        assert!(enc.element.emit_by_name::<bool>("ratchet", &[]));
        assert!(enc.element.emit_by_name::<bool>("ratchet", &[]));
        let beyond = enc.push(&frames[2]);
        assert!(dec.push(&beyond[0]).is_empty(), "window {window}: two steps ahead of the receiver");
        let followed = if window == 0 { vec![] } else { vec![(0, 1)] };
        assert_eq!(*seen.lock().expect("signal record"), followed);
        assert_eq!(stat(&dec.element, "dropped-authentication-failed"), 2 - u64::from(window));
    }
}

#[test]
fn decoder_state_messages_are_posted_on_change_only() {
    let frames = &vp8_frames().frames;
    let mut enc = encoder(&[("key", material_hex().as_str())]);
    let mut wrong = encoder(&[("key", hex::encode(OTHER_MATERIAL).as_str())]);
    let mut other_index = encoder(&[("key-index", "3"), ("key", material_hex().as_str())]);
    let mut dec = decoder(&[("key", material_hex().as_str())]);

    let good = enc.push_all(&frames[..20]);
    assert_eq!(dec.push_all(&good).len(), 20);
    assert_eq!(dec.state_messages(), vec![state("ok", 0)]);

    assert!(dec.push_all(&wrong.push_all(&frames[20..25])).is_empty());
    assert_eq!(dec.state_messages(), vec![state("failing", 0)]);

    assert_eq!(dec.push_all(&enc.push_all(&frames[20..25])).len(), 5);
    assert_eq!(dec.state_messages(), vec![state("ok", 0)]);

    assert!(dec.push_all(&other_index.push_all(&frames[25..])).is_empty());
    let missing: Vec<String> = dec.state_messages().into_iter().map(|(name, _)| name).collect();
    assert_eq!(missing, ["missing-key"]);

    dec.element.set_property("enabled", false);
    dec.push_all(&frames[..5]);
    assert_eq!(dec.state_messages(), vec![state("disabled", 0)]);

    dec.element.set_property("enabled", true);
    assert_eq!(dec.push_all(&enc.push_all(&frames[5..10])).len(), 5);
    assert_eq!(dec.state_messages(), vec![state("ok", 0)]);
}

#[test]
fn encoder_state_messages_are_posted_on_change_only() {
    let frames = &vp8_frames().frames;
    let mut enc = encoder(&[]);
    assert!(enc.push_all(&frames[..5]).is_empty());
    assert_eq!(enc.state_messages(), vec![state("missing-key", -1)]);

    assert!(set_key(&enc.element, 4, &MATERIAL));
    assert_eq!(enc.push_all(&frames[5..25]).len(), 20);
    assert_eq!(enc.state_messages(), vec![state("ok", 4)]);

    // A key frame shorter than its 10 clear bytes cannot be encrypted.
    assert!(enc.push(&[0x00, 1, 2, 3, 4]).is_empty());
    assert_eq!(enc.state_messages(), vec![state("failing", 4)]);
    assert_eq!(enc.push_all(&frames[25..]).len(), frames.len() - 25);
    assert_eq!(enc.state_messages(), vec![state("ok", 4)]);

    enc.element.set_property("enabled", false);
    enc.push_all(&frames[..5]);
    assert_eq!(enc.state_messages(), vec![state("disabled", 4)]);
}

#[test]
fn wrong_size_key_while_playing_is_an_error_and_encrypts_nothing() {
    let frames = &vp8_frames().frames;
    let raw_16 = hex::encode(RAW_KEY_16);
    let mut enc = encoder(&[("key-mode", "raw"), ("key", raw_16.as_str())]);
    let mut dec = decoder(&[("key-mode", "raw"), ("key", raw_16.as_str())]);
    assert_eq!(dec.push_all(&enc.push_all(&frames[..5])), frames[..5]);

    enc.element.set_property("key-index", 7u32);
    enc.element.set_property("key", buffer(b"short"));
    dec.element.set_property("key", buffer(b"short"));
    for tested in [&enc, &dec] {
        let messages = tested.errors_and_warnings();
        assert_eq!(error_domains(&messages), vec![(gst::MessageType::Error, true)]);
        assert_eq!(stat(&tested.element, "rejected-keys"), 1);
    }
    // Still the old key, at the old index, on both sides.
    let sent = enc.push_all(&frames[5..]);
    assert!(sent.iter().all(|frame| frame.last() == Some(&0)));
    assert_eq!(dec.push_all(&sent), frames[5..]);

    // Empty key material is the wrong size in hkdf mode; with no key before it, nothing is sent.
    let mut hkdf = encoder(&[]);
    hkdf.element.set_property("key", buffer(b""));
    assert_eq!(error_domains(&hkdf.errors_and_warnings()), vec![(gst::MessageType::Error, true)]);
    assert!(hkdf.push_all(frames).is_empty());
}

#[test]
fn key_mode_is_not_changed_while_playing() {
    // Documented as changeable only in NULL or READY: while playing the element must keep
    // its mode and keys (GStreamer itself does not enforce the flag).
    let frames = &vp8_frames().frames;
    let mut enc = encoder(&[("key", material_hex().as_str())]);
    assert_eq!(enc.push_all(&frames[..5]).len(), 5);
    enc.element.set_property_from_str("key-mode", "raw");
    assert_eq!(key_mode_nick(&enc.element), "hkdf", "key-mode changed while playing");
    assert_eq!(enc.push_all(&frames[5..]).len(), frames.len() - 5, "the key ring was emptied while playing");
}

#[test]
fn caps_other_than_vp8_and_opus_are_refused() {
    init();
    for factory in ["jframeenc", "jframedec"] {
        let element = make(factory, &[("key", material_hex().as_str())]);
        let sink = pad(&element, "sink");
        for accepted in ["video/x-vp8", "audio/x-opus, channel-mapping-family=(int)0"] {
            assert!(sink.query_accept_caps(&accepted.parse::<gst::Caps>().expect("caps")), "{factory}: {accepted}");
        }
        for refused in ["video/x-raw", "audio/x-raw", "video/x-h264", "application/x-rtp"] {
            assert!(!sink.query_accept_caps(&refused.parse::<gst::Caps>().expect("caps")), "{factory}: {refused}");
        }

        let mut h = gst_check::Harness::with_element(&element, Some("sink"), Some("src"));
        h.play();
        assert!(h.push_event(gst::event::StreamStart::new("refused-caps")));
        let raw = "video/x-raw,format=I420,width=64,height=48".parse::<gst::Caps>().expect("caps");
        // A refused sticky event still answers true; the refusal shows on the first buffer.
        h.push_event(gst::event::Caps::new(&raw));
        h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<gst::ClockTime>::new()));
        assert_eq!(h.push(buffer(&vp8_frames().frames[0])), Err(gst::FlowError::NotNegotiated));
        assert!(h.try_pull().is_none());

        let src = make("videotestsrc", &[]);
        let filter = make(factory, &[]);
        let bin = gst::Pipeline::new();
        bin.add_many([&src, &filter]).expect("add");
        assert!(src.link(&filter).is_err(), "videotestsrc ! {factory} must not link");
    }
    assert!(gst::parse::launch("videotestsrc ! jframeenc ! fakesink").is_err());
    assert!(gst::parse::launch("audiotestsrc ! jframedec ! fakesink").is_err());
}

#[test]
fn encrypted_frames_decrypt_with_the_core_and_the_reference_key() {
    // The reference derived `aesKey` from `material` (dec-roundtrip): the element must
    // encrypt with that very AES key.
    let file = vectors();
    let case = file["cases"]
        .as_array()
        .and_then(|cases| cases.iter().find(|c| c["id"] == "dec-roundtrip"))
        .expect("dec-roundtrip case");
    let material = hex_field(&case["keys"][0], "material");
    let aes_key = hex_field(&case["keys"][0], "aesKey");
    let ssrc: u32 = 0x1122_3344;
    let reference_material = hex::encode(&material);
    let properties = [("ssrc", "287454020"), ("key", reference_material.as_str())];
    let mut video = Tested::new(make("jframeenc", &properties), &vp8_frames().caps);
    let mut audio = Tested::new(make("jframeenc", &properties), &opus_frames().caps);

    let media = [(&mut video, &vp8_frames().frames, true), (&mut audio, &opus_frames().frames, false)];
    for (enc, frames, is_video) in media {
        let mut counters = Vec::new();
        for frame in frames {
            let sent = enc.push(frame);
            assert_eq!(sent.len(), 1);
            let sent = &sent[0];
            let (kind, clear) = if is_video { (vp8_kind(frame), vp8_clear_len(frame)) } else { (FrameKind::Audio, 1) };
            assert_eq!(sent.len(), frame.len() + OVERHEAD);
            assert_eq!(sent[..clear], frame[..clear], "clear prefix kept");
            let (iv, tail) = sent[sent.len() - 14..].split_at(12);
            assert_eq!(tail, [12, 0], "IV length byte and KID");
            assert_eq!(iv[..4], ssrc.to_be_bytes(), "IV starts with the SSRC");
            counters.push(u64::from_be_bytes(iv[4..].try_into().expect("8 bytes")));
            assert_eq!(core_decrypt(KeyMode::Raw, 0, &aes_key, kind, sent).as_ref(), Ok(frame));
            assert_eq!(core_decrypt(KeyMode::Derived, 0, &material, kind, sent).as_ref(), Ok(frame));
        }
        assert!(counters.windows(2).all(|w| w[1] == w[0] + 1), "IV counter goes up by one per frame");
    }
}

/// Why a decrypt case of the vectors cannot be given to jframedec, if it cannot.
fn inexpressible(case: &serde_json::Value) -> Option<&'static str> {
    if case["tags"].as_array().is_some_and(|tags| tags.iter().any(|t| t == "quirk")) {
        return Some("reference quirk; jframedec ratchets the KID slot instead (tests/vectors.rs checks it)");
    }
    if case["keys"].as_array().is_some_and(|keys| keys.iter().any(|k| k["material"] == false)) {
        return Some("a `false` key entry: the elements cannot empty one slot");
    }
    let steps = case["steps"].as_array()?;
    if steps.iter().any(|s| s["action"] != "frame") {
        return Some("control steps");
    }
    for step in steps {
        let input = hex_field(step, "input");
        let agrees = match step["frameType"].as_str() {
            None => true,
            Some("key") => input.first().is_some_and(|b| b & 1 == 0),
            Some("delta") => input.first().is_some_and(|b| b & 1 == 1),
            Some(_) => false,
        };
        if !agrees {
            return Some("frame type other than the VP8 frame tag's: jframedec reads it from the frame");
        }
    }
    None
}

/// The stats counter a dropped vector frame must move.
fn expected_drop_counter(step: &serde_json::Value) -> &'static str {
    let expect = &step["expect"];
    let input = hex_field(step, "input");
    match (expect["reason"].as_str(), input.last()) {
        (_, None) => "dropped-malformed",
        (Some("no-key-for-kid"), Some(&kid)) if kid >= 16 => "dropped-unknown-key-index",
        (Some("no-key-for-kid"), _) => "dropped-no-key",
        // Frames too short to reach AES-GCM.
        (Some("decrypt-failed"), _) if expect["decryptAttempts"] == 0 => "dropped-malformed",
        (Some("decrypt-failed"), _) => "dropped-authentication-failed",
        (other, _) => panic!("unknown reason {other:?}"),
    }
}

fn caps_of_kind(kind: &str) -> gst::Caps {
    match kind {
        "video" => gst::Caps::builder("video/x-vp8").build(),
        "audio" => gst::Caps::builder("audio/x-opus").build(),
        other => panic!("unknown kind {other}"),
    }
}

fn run_vector_case(case: &serde_json::Value) {
    let id = case["id"].as_str().unwrap_or("?");
    let steps = case["steps"].as_array().expect("steps");
    let mut properties = Vec::new();
    if case["mode"] == "shared-key" {
        properties.push(("key-mode", "raw"));
    }
    if case["enabled"] == false {
        properties.push(("enabled", "false"));
    }
    let mut kind = steps[0]["kind"].as_str().expect("kind").to_string();
    let mut dec = Tested::new(make("jframedec", &properties), &caps_of_kind(&kind));
    for entry in case["keys"].as_array().expect("keys") {
        let index = entry["keyIndex"].as_u64().and_then(|i| u32::try_from(i).ok()).expect("keyIndex");
        let key = if case["mode"] == "shared-key" {
            hex_field(entry, "aesKey")
        } else if entry["effectiveMaterial"].is_string() {
            hex_field(entry, "effectiveMaterial")
        } else {
            hex_field(entry, "material")
        };
        assert!(set_key(&dec.element, index, &key), "{id}: set-key {index}");
    }
    let seen = ratcheted(&dec.element);
    for (n, step) in steps.iter().enumerate() {
        let at = format!("{id} step {n}");
        let step_kind = step["kind"].as_str().expect("kind");
        if step_kind != kind {
            kind = step_kind.to_string();
            dec.h.set_src_caps(caps_of_kind(&kind));
        }
        let input = hex_field(step, "input");
        let expect = &step["expect"];
        let before = frame_counters(&dec.element);
        let out = dec.push(&input);
        let moved = moved(&before, &frame_counters(&dec.element));
        match expect["result"].as_str() {
            Some("decrypted") => {
                assert_eq!(out, vec![hex_field(expect, "output")], "{at}: output");
                assert_eq!(moved, vec!["frames-processed"], "{at}");
            }
            Some("passthrough") => {
                assert_eq!(out, vec![input.clone()], "{at}: passed through");
                assert_eq!(moved, vec!["frames-passed-through"], "{at}");
            }
            Some("dropped") => {
                assert!(out.is_empty(), "{at}: dropped");
                assert_eq!(moved, vec![expected_drop_counter(step)], "{at}");
            }
            other => panic!("{at}: unknown result {other:?}"),
        }
        let steps_taken = expect["keyRingChanges"]
            .as_array()
            .and_then(|changes| changes.first())
            .and_then(|change| change["ratchetSteps"].as_u64());
        let signal = seen.lock().expect("signal record").drain(..).collect::<Vec<_>>();
        let want: Vec<(u32, u32)> =
            steps_taken.map(|steps| (u32::from(*input.last().expect("kid")), steps as u32)).into_iter().collect();
        assert_eq!(signal, want, "{at}: ratcheted signal");
    }
}

#[test]
fn reference_vectors_decrypt_through_jframedec() {
    let file = vectors();
    let cases = file["cases"].as_array().expect("cases");
    let mut ran = Vec::new();
    for case in cases.iter().filter(|c| c["direction"] == "decrypt") {
        let id = case["id"].as_str().unwrap_or("?");
        if let Some(why) = inexpressible(case) {
            println!("skip {id}: {why}");
            continue;
        }
        run_vector_case(case);
        ran.push(id.to_string());
    }
    println!("ran {} decrypt cases through jframedec: {}", ran.len(), ran.join(", "));
    assert!(ran.iter().any(|id| id == "dec-roundtrip"));
    assert!(ran.len() >= 15, "only {} cases ran", ran.len());
}
