//! SFrame (RFC 9605) through the elements: `jframeenc`/`jframedec format=sframe` in
//! harnesses (properties, caps, every cipher suite, bad input), `rtpsframedepay` given bad
//! packets, and H.264, VP8 and Opus over RTP/UDP on 127.0.0.1 with a key change and a
//! ratchet during the stream, on the launch lines of docs/sframe.md.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Tested, buffer, frame_counters, make, moved, stat};
use gst::prelude::*;
use gst_rtp::prelude::*;
use gstjframe::sframe::{CipherSuite, Header, KeySet};

const KEY: [u8; 16] = *b"SFrame base key!";
const OTHER_KEY: [u8; 16] = *b"another base key";
const FRAME: [u8; 40] = [0x42; 40];

fn vp8_caps() -> gst::Caps {
    gst::Caps::builder("video/x-vp8").build()
}

fn sframe_vp8_caps() -> gst::Caps {
    gst::Caps::builder("application/x-sframe").field("media-type", "video/x-vp8").build()
}

fn encrypter(kid: u64, suite: &str) -> Tested {
    let enc = make(
        "jframeenc",
        &[("format", "sframe"), ("cipher-suite", suite), ("kid", &kid.to_string()), ("key", &hex::encode(KEY))],
    );
    Tested::new(enc, &vp8_caps())
}

fn decrypter(kid: u64) -> Tested {
    let dec = make("jframedec", &[("format", "sframe"), ("kid", &kid.to_string()), ("key", &hex::encode(KEY))]);
    Tested::new(dec, &sframe_vp8_caps())
}

/// `frame` as SFrame ciphertext under KEY, made by the core (not the element under test).
fn sealed(kid: u64, ctr: u64, frame: &[u8]) -> Vec<u8> {
    let mut keys = KeySet::new(CipherSuite::AesGcm128Sha256);
    keys.insert(kid, &KEY).expect("a key");
    let mut data = frame.to_vec();
    keys.encrypt_vec(kid, ctr, &[], &mut data).expect("encrypts");
    data
}

#[test]
fn properties_defaults_and_caps() {
    let enc = make("jframeenc", &[("format", "sframe")]);
    let suite = enc.property_value("cipher-suite");
    assert_eq!(suite.get::<gstjframe::keystore::settings::CipherSuiteSetting>().expect("enum") as u32, 0x0004);
    assert_eq!(enc.property::<u64>("kid"), 0);
    assert_eq!(enc.property::<u32>("sframe-ratchet-bits"), 0);
    enc.set_property("kid", u64::MAX);
    assert_eq!(enc.property::<u64>("kid"), u64::MAX);
    // Every suite by its registry name on a launch line.
    for suite in CipherSuite::ALL {
        enc.set_property_from_str("cipher-suite", suite.name());
    }
    // Encrypted media caps: application/x-sframe naming the media, its fields kept.
    let mut t = encrypter(7, "aes-128-gcm-sha256-128");
    let out = t.push(&FRAME);
    let caps = t.h.sinkpad().and_then(|pad| pad.current_caps()).expect("output caps");
    let s = caps.structure(0).expect("a structure");
    assert_eq!((s.name().as_str(), s.get::<&str>("media-type").ok()), ("application/x-sframe", Some("video/x-vp8")));
    let (header, header_len) = Header::parse(&out[0]).expect("an SFrame header");
    assert_eq!(header.kid, 7);
    assert_eq!(out[0].len(), header_len + FRAME.len() + 16, "header, ciphertext, 16-byte tag");
    // jframedec gives the media caps back and the frame.
    let mut d = decrypter(7);
    assert_eq!(d.push(&out[0]), vec![FRAME.to_vec()]);
    let caps = d.h.sinkpad().and_then(|pad| pad.current_caps()).expect("output caps");
    assert_eq!(caps, vp8_caps());
    // Other formats refuse set-sframe-key; SFrame takes any 64-bit KID by it.
    let jitsi = make("jframeenc", &[]);
    assert!(!jitsi.emit_by_name::<bool>("set-sframe-key", &[&5u64, &buffer(&KEY)]));
    assert!(t.element.emit_by_name::<bool>("set-sframe-key", &[&(1u64 << 40), &buffer(&OTHER_KEY)]));
    let out = t.push(&FRAME);
    assert_eq!(Header::parse(&out[0]).expect("header").0.kid, 1 << 40, "the new KID is current");
    assert_eq!(t.element.property::<gst::Structure>("stats").get::<u64>("current-kid").ok(), Some(1 << 40));
}

#[test]
fn every_cipher_suite_round_trips_through_the_elements() {
    for suite in CipherSuite::ALL {
        let mut t = encrypter(3, suite.name());
        let dec = make(
            "jframedec",
            &[("format", "sframe"), ("cipher-suite", suite.name()), ("kid", "3"), ("key", &hex::encode(KEY))],
        );
        let mut d = Tested::new(dec, &sframe_vp8_caps());
        for size in [0, 1, 100, 3000] {
            let frame = vec![size as u8; size];
            let out = t.push(&frame);
            let (_, header_len) = Header::parse(&out[0]).expect("header");
            assert_eq!(out[0].len(), header_len + size + suite.tag_len(), "{suite}");
            assert_eq!(d.push(&out[0]), vec![frame], "{suite}, {size} bytes");
        }
    }
}

/// Pushes `frame` into a fresh decrypter; returns what came out and which counters moved.
fn push_bad(d: &mut Tested, frame: &[u8]) -> (Vec<Vec<u8>>, Vec<&'static str>) {
    let before = frame_counters(&d.element);
    let out = d.push(frame);
    (out, moved(&before, &frame_counters(&d.element)))
}

#[test]
fn bad_frames_are_dropped_counted_and_the_stream_goes_on() {
    let mut d = decrypter(1);
    // A config byte announcing an 8-byte KID, with 3 bytes after it.
    assert_eq!(push_bad(&mut d, &[0xF0, 1, 2, 3]), (vec![], vec!["dropped-malformed"]));
    // Empty frames carry no header.
    assert_eq!(push_bad(&mut d, &[]), (vec![], vec!["dropped-malformed"]));
    // KID unknown.
    assert_eq!(push_bad(&mut d, &sealed(9, 1, &FRAME)), (vec![], vec!["dropped-unknown-key-index"]));
    // Tag truncated: one byte less still has a header and a tag's length, so the tag
    // fails; shorter than header and tag is malformed.
    let good = sealed(1, 100, &FRAME);
    assert_eq!(push_bad(&mut d, &good[..good.len() - 1]), (vec![], vec!["dropped-authentication-failed"]));
    let (_, header_len) = Header::parse(&good).expect("header");
    assert_eq!(push_bad(&mut d, &good[..header_len + 15]), (vec![], vec!["dropped-malformed"]));
    // One bit flipped anywhere: never decrypted (the KID, the CTR and the length are in
    // the header, which is authenticated).
    for bit in 0..good.len() * 8 {
        let mut flipped = good.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        let (out, counters) = push_bad(&mut d, &flipped);
        assert!(
            out.is_empty() && counters.len() == 1 && counters[0].starts_with("dropped-"),
            "bit {bit}: {counters:?}"
        );
    }
    // The stream goes on: the untouched frame decrypts...
    assert_eq!(push_bad(&mut d, &good), (vec![FRAME.to_vec()], vec!["frames-processed"]));
    // ...once: a replay (same KID and CTR) is dropped, later frames are not.
    assert_eq!(push_bad(&mut d, &good), (vec![], vec!["dropped-replayed"]));
    assert_eq!(push_bad(&mut d, &sealed(1, 101, &FRAME)).0, vec![FRAME.to_vec()]);
    // An empty plaintext is a frame like any other.
    assert_eq!(push_bad(&mut d, &sealed(1, 102, &[])).0, vec![Vec::<u8>::new()]);
    assert_eq!(stat(&d.element, "dropped-replayed"), 1);
    assert!(d.errors_and_warnings().is_empty(), "no element error for bad frames");
}

#[test]
fn a_receiver_follows_the_ratchet_and_a_new_kid() {
    let bits = [("sframe-ratchet-bits", "4")];
    let enc = make("jframeenc", &[("format", "sframe"), bits[0], ("kid", "16"), ("key", &hex::encode(KEY))]);
    let dec = make("jframedec", &[("format", "sframe"), bits[0], ("kid", "16"), ("key", &hex::encode(KEY))]);
    let (mut t, mut d) = (Tested::new(enc, &vp8_caps()), Tested::new(dec, &sframe_vp8_caps()));
    assert_eq!(d.push(&t.push(&FRAME)[0]), vec![FRAME.to_vec()]);
    assert!(t.element.emit_by_name::<bool>("ratchet", &[]));
    let out = t.push(&FRAME);
    assert_eq!(Header::parse(&out[0]).expect("header").0.kid, 17, "the sender moved to the next step");
    assert_eq!(d.push(&out[0]), vec![FRAME.to_vec()], "the receiver followed by itself");
    assert_eq!(stat(&d.element, "ratchets"), 1);
    // A new KID, given to the receiver first; its generation is another.
    assert!(d.element.emit_by_name::<bool>("set-key", &[&32u32, &buffer(&OTHER_KEY)]));
    assert!(t.element.emit_by_name::<bool>("set-key", &[&32u32, &buffer(&OTHER_KEY)]));
    assert_eq!(d.push(&t.push(&FRAME)[0]), vec![FRAME.to_vec()]);
    // Without ratchet bits, ratchet is refused.
    let plain = make("jframeenc", &[("format", "sframe"), ("key", &hex::encode(KEY))]);
    let t = Tested::new(plain, &vp8_caps());
    assert!(!t.element.emit_by_name::<bool>("ratchet", &[]));
}

#[test]
fn a_new_ratchet_window_applies_from_the_next_frame() {
    let bits = ("sframe-ratchet-bits", "4");
    let enc = make("jframeenc", &[("format", "sframe"), bits, ("kid", "16"), ("key", &hex::encode(KEY))]);
    let dec = make("jframedec", &[("format", "sframe"), bits, ("kid", "16"), ("key", &hex::encode(KEY))]);
    let (mut t, mut d) = (Tested::new(enc, &vp8_caps()), Tested::new(dec, &sframe_vp8_caps()));
    assert_eq!(d.push(&t.push(&FRAME)[0]), vec![FRAME.to_vec()]);
    // While playing, the receiver stops following ratchets...
    d.element.set_property("ratchet-window", 0u32);
    assert!(t.element.emit_by_name::<bool>("ratchet", &[]));
    assert!(d.push(&t.push(&FRAME)[0]).is_empty(), "window 0: the ratchet is not followed");
    assert_eq!(stat(&d.element, "ratchets"), 0);
    // ...and follows again once its window allows one step.
    d.element.set_property("ratchet-window", 1u32);
    assert_eq!(d.push(&t.push(&FRAME)[0]), vec![FRAME.to_vec()], "window 1: followed");
    assert_eq!(stat(&d.element, "ratchets"), 1);
}

#[test]
fn key_store_rules_conflict_names_both_formats() {
    let store = gstjframe::KeyStore::new();
    assert!(store.emit_by_name::<bool>("set-sframe-key", &[&"alice", &5u64, &buffer(&KEY)]));
    let dec = make("jframedec", &[("participant", "alice")]);
    dec.set_context(&store.context());
    let pipeline = gst::Pipeline::new();
    let src = make("appsrc", &[]);
    let sink = make("fakesink", &[]);
    pipeline.add_many([&src, &dec, &sink]).expect("add");
    gst::Element::link_many([&src, &dec, &sink]).expect("link");
    assert!(pipeline.set_state(gst::State::Paused).is_err(), "format=jitsi for an SFrame participant");
    let bus = pipeline.bus().expect("bus");
    let error = bus.pop_filtered(&[gst::MessageType::Error]).expect("an error message");
    let gst::MessageView::Error(error) = error.view() else { unreachable!() };
    let text = error.error().to_string();
    assert!(
        text.contains("format=sframe cipher-suite=AES_128_GCM_SHA256_128") && text.contains("format=jitsi"),
        "{text}"
    );
    let _ = pipeline.set_state(gst::State::Null);
}

/// An RTP packet of the SFrame payload format.
fn rtp(seq: u16, timestamp: u32, descriptor: u8, data: &[u8]) -> gst::Buffer {
    let mut packet = gst::Buffer::new_rtp_with_sizes(1 + data.len() as u32, 0, 0).expect("an RTP buffer");
    {
        let mut rtp = gst_rtp::RTPBuffer::from_buffer_writable(packet.get_mut().expect("new")).expect("RTP");
        rtp.set_seq(seq);
        rtp.set_timestamp(timestamp);
        rtp.set_payload_type(96);
        let payload = rtp.payload_mut().expect("payload");
        payload[0] = descriptor;
        payload[1..].copy_from_slice(data);
    }
    packet
}

#[test]
fn depayloader_drops_and_counts_bad_packets_and_goes_on() {
    common::init();
    let mut h = gst_check::Harness::new("rtpsframedepay");
    h.set_src_caps_str("application/x-rtp,media=video,clock-rate=90000,encoding-name=VP8,payload=96");
    let depay = h.element().expect("element");
    let count = |field: &str| depay.property::<gst::Structure>("sframe-stats").get::<u64>(field).expect(field);
    let push = |h: &mut gst_check::Harness, p| assert_eq!(h.push(p), Ok(gst::FlowSuccess::Ok));
    // Both flags clear with no frame in progress.
    push(&mut h, rtp(10, 1, 0x00, b"lost start"));
    assert_eq!(count("dropped-no-start"), 1);
    // Fragments out of order: start, then the end before the middle.
    push(&mut h, rtp(11, 2, 0x80, b"aa"));
    push(&mut h, rtp(13, 2, 0x40, b"cc"));
    assert_eq!(count("dropped-out-of-order"), 1);
    // A lost middle fragment: start, then the end two numbers on.
    push(&mut h, rtp(20, 3, 0x80, b"aa"));
    push(&mut h, rtp(22, 3, 0x40, b"cc"));
    assert_eq!(count("dropped-out-of-order"), 2);
    assert!(std::iter::from_fn(|| h.try_pull()).next().is_none(), "nothing incomplete went out");
    // The stream goes on: a frame in three fragments comes out whole.
    push(&mut h, rtp(30, 4, 0x80, b"aa"));
    push(&mut h, rtp(31, 4, 0x00, b"bb"));
    push(&mut h, rtp(32, 4, 0x40, b"cc"));
    let out = h.try_pull().expect("a frame");
    assert_eq!(common::bytes(&out), b"aabbcc");
    assert_eq!((count("frames"), count("frames-incomplete")), (1, 2));
    let caps = h.sinkpad().and_then(|pad| pad.current_caps()).expect("caps");
    assert_eq!(caps, sframe_vp8_caps());
}

/// Counts the buffers that pass a pad.
fn counter_on(pad: &gst::Pad) -> Arc<AtomicU64> {
    let counter = Arc::new(AtomicU64::new(0));
    let counting = counter.clone();
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        counting.fetch_add(1, Ordering::Relaxed);
        gst::PadProbeReturn::Ok
    });
    counter
}

/// Runs a sender to its end and a receiver until it decoded every frame; the sender moves
/// to a new KID (32) a third into the stream and ratchets two thirds in. Returns
/// (encrypted, decrypted, decoded).
fn rtp_round_trip(sender: &str, receiver: &str, frames: u64) -> (u64, u64, u64) {
    common::init();
    let receive = gst::parse::launch(receiver).expect("receiver").downcast::<gst::Pipeline>().expect("pipeline");
    receive.set_state(gst::State::Paused).expect("binds");
    let port = receive.by_name("src").expect("udpsrc").property::<i32>("port");
    let decoded = counter_on(&receive.by_name("decoder").expect("decoder").static_pad("src").expect("pad"));
    let dec = receive.by_name("dec").expect("jframedec");
    // The receiver holds the next key before the sender moves to it.
    assert!(dec.emit_by_name::<bool>("set-key", &[&32u32, &buffer(&OTHER_KEY)]));
    receive.set_state(gst::State::Playing).expect("plays");
    let send = gst::parse::launch(&sender.replace("PORT", &port.to_string()))
        .expect("sender")
        .downcast::<gst::Pipeline>()
        .expect("pipeline");
    let enc = send.by_name("enc").expect("jframeenc");
    let seen = AtomicU64::new(0);
    let encrypter = enc.downgrade();
    enc.static_pad("sink").expect("pad").add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        let n = seen.fetch_add(1, Ordering::Relaxed);
        if let Some(enc) = encrypter.upgrade() {
            if n == frames / 3 {
                assert!(enc.emit_by_name::<bool>("set-key", &[&32u32, &buffer(&OTHER_KEY)]));
            } else if n == 2 * frames / 3 {
                assert!(enc.emit_by_name::<bool>("ratchet", &[]));
            }
        }
        gst::PadProbeReturn::Ok
    });
    send.set_state(gst::State::Playing).expect("plays");
    let bus = send.bus().expect("bus");
    let end =
        bus.timed_pop_filtered(gst::ClockTime::from_seconds(30), &[gst::MessageType::Eos, gst::MessageType::Error]);
    assert!(matches!(end.as_ref().map(|m| m.view()), Some(gst::MessageView::Eos(_))), "sender ended: {end:?}");
    let sent = stat(&enc, "frames-processed");
    let start = Instant::now();
    while decoded.load(Ordering::Relaxed) < sent && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let figures = (sent, stat(&dec, "frames-processed"), decoded.load(Ordering::Relaxed));
    assert_eq!(
        stat(&dec, "ratchets"),
        1,
        "the receiver followed the ratchet; {:?}",
        dec.property::<gst::Structure>("stats")
    );
    let _ = send.set_state(gst::State::Null);
    let _ = receive.set_state(gst::State::Null);
    figures
}

/// A sender and a receiver as docs/sframe.md writes them, for one medium.
fn launch_lines(source: &str, encoder: &str, caps: &str, decoder: &str) -> (String, String) {
    let key = hex::encode(KEY);
    let sframe = "format=sframe sframe-ratchet-bits=4 kid=16";
    let sender = format!(
        "{source} num-buffers={FRAMES} ! {encoder} ! jframeenc name=enc {sframe} key={key} ! \
         rtpsframepay pt=96 mtu=600 ! udpsink host=127.0.0.1 port=PORT"
    );
    let receiver = format!(
        "udpsrc name=src address=127.0.0.1 port=0 caps=\"{caps}\" ! rtpsframedepay ! \
         jframedec name=dec {sframe} key={key} ! {decoder} name=decoder ! fakesink"
    );
    (sender, receiver)
}

const FRAMES: u64 = 60;

#[test]
fn h264_vp8_and_opus_over_rtp_every_frame_decoded_across_a_new_kid_and_a_ratchet() {
    for (source, encoder, encoding_name, decoder) in [
        (
            "videotestsrc",
            "x264enc tune=zerolatency speed-preset=ultrafast",
            "media=video,clock-rate=90000,encoding-name=H264",
            "avdec_h264",
        ),
        ("videotestsrc", "vp8enc deadline=1", "media=video,clock-rate=90000,encoding-name=VP8", "vp8dec"),
        ("audiotestsrc", "opusenc", "media=audio,clock-rate=48000,encoding-name=OPUS", "opusdec"),
    ] {
        let caps = format!("application/x-rtp,{encoding_name},payload=96");
        let (sender, receiver) = launch_lines(source, encoder, &caps, decoder);
        let (sent, decrypted, decoded) = rtp_round_trip(&sender, &receiver, FRAMES);
        assert!(sent >= FRAMES, "{encoder}: {sent} frames sent");
        assert_eq!((decrypted, decoded), (sent, sent), "{encoder}: every frame decrypted and decoded");
    }
}
