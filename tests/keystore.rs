//! Keys for real deployments: a key store shared by elements, participants found by
//! SSRC, rotation as in a meeting, passphrases and verification codes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, Once};

use gst::prelude::*;
use gstjframe::KeyStore;
use gstjframe::jframe::KeyMode;
use gstjframe::jframe::verification::VerificationCode;

fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().expect("GStreamer initialises");
        gstjframe::plugin_register_static().expect("the plugin registers");
    });
}

const KEY_A: [u8; 32] = [0xa1; 32];
const KEY_B: [u8; 32] = [0xb2; 32];
const KEY_C: [u8; 32] = [0xc3; 32];

/// Runs a pipeline to EOS; panics on an error message or after 60 s.
fn run(pipeline: &gst::Pipeline) {
    pipeline.set_state(gst::State::Playing).expect("pipeline plays");
    let bus = pipeline.bus().expect("pipeline has a bus");
    let message = bus
        .timed_pop_filtered(gst::ClockTime::from_seconds(60), &[gst::MessageType::Eos, gst::MessageType::Error])
        .expect("EOS or error within 60 s");
    if let gst::MessageView::Error(err) = message.view() {
        panic!("pipeline error: {} ({:?})", err.error(), err.debug());
    }
    pipeline.set_state(gst::State::Null).expect("pipeline stops");
}

fn element(pipeline: &gst::Pipeline, name: &str) -> gst::Element {
    pipeline.by_name(name).unwrap_or_else(|| panic!("no element {name}"))
}

fn stats(element: &gst::Element) -> gst::Structure {
    element.property::<gst::Structure>("stats")
}

fn counter(stats: &gst::StructureRef, field: &str) -> u64 {
    stats.get::<u64>(field).unwrap_or_else(|_| panic!("stats field {field}"))
}

/// Records buffer bytes passing a pad, keyed by the SSRC of their `GstRTPSourceMeta`
/// (0 when they have none).
fn record(pad: &gst::Pad) -> Arc<Mutex<HashMap<u32, Vec<Vec<u8>>>>> {
    let frames = Arc::new(Mutex::new(HashMap::<u32, Vec<Vec<u8>>>::new()));
    let sink = frames.clone();
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(buffer) = info.buffer() {
            let ssrc = buffer.meta::<gst_rtp::RTPSourceMeta>().and_then(|m| m.ssrc()).unwrap_or(0);
            let bytes = buffer.map_readable().map(|m| m.to_vec()).unwrap_or_default();
            sink.lock().unwrap().entry(ssrc).or_default().push(bytes);
        }
        gst::PadProbeReturn::Ok
    });
    frames
}

fn sink_pad(pipeline: &gst::Pipeline, name: &str) -> gst::Pad {
    element(pipeline, name).static_pad("sink").expect("sink pad")
}

#[test]
fn one_decoder_tells_senders_apart_by_ssrc_and_asks_for_unknown_ones() {
    init();
    // Three senders, each with its own key, depayloaded with source-info and merged
    // into one jframedec, as a media server receiving a call would.
    let sender = |n: u32, key: &[u8; 32], freq: u32| {
        format!(
            "audiotestsrc num-buffers=100 freq={freq} ! opusenc ! jframeenc name=enc{n} key={} ! \
             rtpopuspay ssrc={n} ! rtpopusdepay source-info=true ! f.",
            hex::encode(key)
        )
    };
    let description = format!(
        "funnel name=f ! jframedec name=dec ! fakesink name=sink {} {} {}",
        sender(111, &KEY_A, 440),
        sender(222, &KEY_B, 660),
        sender(333, &KEY_C, 880)
    );
    let pipeline = gst::parse::launch(&description).unwrap().downcast::<gst::Pipeline>().unwrap();
    let store = KeyStore::new();
    store.set_key("alice", 0, &KEY_A, KeyMode::Derived).unwrap();
    store.set_key("bob", 0, &KEY_B, KeyMode::Derived).unwrap();
    store.set_key("carol", 0, &KEY_C, KeyMode::Derived).unwrap();
    // Only the receiver gets the store: the senders stand for other machines.
    let dec = element(&pipeline, "dec");
    dec.set_context(&store.context());
    dec.emit_by_name::<()>("set-ssrc-participant", &[&111u32, &"alice"]);
    dec.emit_by_name::<()>("set-ssrc-participant", &[&222u32, &"bob"]);
    // SSRC 333 is unknown: the application is asked once and answers later, from
    // another thread, without the streaming thread waiting for it.
    let requests = Arc::new(AtomicUsize::new(0));
    let answered = Arc::new((Mutex::new(false), Condvar::new()));
    let (asked, answering) = (requests.clone(), answered.clone());
    dec.connect("request-participant", false, move |args| {
        let element = args[0].get::<gst::Element>().unwrap();
        let ssrc = args[1].get::<u32>().unwrap();
        asked.fetch_add(1, Ordering::SeqCst);
        let answering = answering.clone();
        std::thread::spawn(move || {
            element.emit_by_name::<()>("set-ssrc-participant", &[&ssrc, &"carol"]);
            *answering.0.lock().unwrap() = true;
            answering.1.notify_all();
        });
        None::<String>.to_value().into()
    });
    // Carol's sender stands for a remote machine that goes on sending: once the request
    // is out, her next frame waits for the answer, so that her stream cannot end first
    // however the threads are scheduled.
    let (waiting, asked) = (answered.clone(), requests.clone());
    element(&pipeline, "enc333").static_pad("src").unwrap().add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        if asked.load(Ordering::SeqCst) > 0 {
            let done = waiting.0.lock().unwrap();
            drop(waiting.1.wait_while(done, |done| !*done).unwrap());
        }
        gst::PadProbeReturn::Ok
    });

    let plain: Vec<_> = [111, 222, 333].iter().map(|n| record(&sink_pad(&pipeline, &format!("enc{n}")))).collect();
    let sent = |n: usize| plain[n].lock().unwrap()[&0].clone();
    let decrypted = record(&sink_pad(&pipeline, "sink"));
    run(&pipeline);

    assert_eq!(requests.load(Ordering::SeqCst), 1, "one request for the one unknown SSRC");
    let decrypted = decrypted.lock().unwrap();
    for (n, ssrc) in [111u32, 222].into_iter().enumerate() {
        assert!(sent(n).len() >= 100, "opusenc sent every frame");
        assert_eq!(decrypted[&ssrc], sent(n), "every frame of SSRC {ssrc} decrypts to what was sent");
    }
    // Carol's frames decrypt from the answer on: they are the tail of what she sent.
    let carol = &decrypted[&333];
    let carol_sent = sent(2);
    assert!(!carol.is_empty(), "SSRC 333 decrypts after the answer");
    assert_eq!(carol[..], carol_sent[carol_sent.len() - carol.len()..]);

    let stats = stats(&dec);
    let streams = stats.get::<gst::Array>("streams").unwrap();
    let by_ssrc: HashMap<u32, gst::Structure> = streams
        .iter()
        .map(|v| v.get::<gst::Structure>().unwrap())
        .map(|s| (s.get::<u32>("ssrc").unwrap(), s))
        .collect();
    for (n, (ssrc, participant)) in [(111, "alice"), (222, "bob"), (333, "carol")].into_iter().enumerate() {
        let s = &by_ssrc[&ssrc];
        assert_eq!(s.get::<String>("participant").unwrap(), participant);
        let dropped = counter(s, "dropped-authentication-failed") + counter(s, "dropped-no-key");
        let frames = counter(s, "frames-processed");
        assert_eq!(frames + dropped, sent(n).len() as u64, "SSRC {ssrc}: every frame accounted for");
        if ssrc != 333 {
            assert_eq!(dropped, 0, "SSRC {ssrc}: no failure");
        }
    }
    let participants = stats.get::<gst::Array>("participants").unwrap();
    assert_eq!(participants.len(), 3);
}

#[test]
fn elements_sharing_a_store_use_a_key_set_once() {
    init();
    let pipeline = gst::parse::launch(
        "videotestsrc num-buffers=30 ! video/x-raw,width=160,height=120 ! vp8enc deadline=1 ! \
         jframeenc name=enc participant=me ! jframedec name=dec participant=me ! vp8dec ! fakesink name=sink",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let store = KeyStore::new();
    // Answer the elements' need-context messages, as an application would.
    let bus = pipeline.bus().unwrap();
    let answer = store.clone();
    bus.set_sync_handler(move |_, message| {
        if let gst::MessageView::NeedContext(need) = message.view()
            && need.context_type() == gstjframe::keystore::KEY_STORE_CONTEXT
            && let Some(element) = message.src().and_then(|s| s.downcast_ref::<gst::Element>())
        {
            element.set_context(&answer.context());
        }
        gst::BusSyncReply::Pass
    });
    store.set_key("me", 5, &KEY_A, KeyMode::Derived).unwrap();
    let decoded = record(&sink_pad(&pipeline, "sink"));
    run(&pipeline);
    assert_eq!(decoded.lock().unwrap()[&0].len(), 30, "every frame decoded");
    for name in ["enc", "dec"] {
        let stats = stats(&element(&pipeline, name));
        assert_eq!(counter(&stats, "frames-processed"), 30, "{name} processed every frame");
        assert_eq!(stats.get::<i32>("current-key-index").unwrap(), 5);
    }
}

/// A meeting as lib-jitsi-meet runs it, seen from one sender with audio and video and
/// one receiver: two participants join (the sender ratchets, same index), one leaves
/// (a new key at the next index, given to the receiver first). Frames in flight across
/// each change all decrypt.
#[test]
fn scripted_meeting_loses_no_frame() {
    init();
    let pipeline = gst::parse::launch(
        "videotestsrc is-live=true num-buffers=240 ! video/x-raw,width=160,height=120,framerate=60/1 ! \
           vp8enc deadline=1 ! \
           jframeenc name=venc participant=me ! queue max-size-buffers=0 max-size-time=0 max-size-bytes=0 ! \
           jframedec name=vdec participant=me ! vp8dec ! fakesink name=vsink \
         audiotestsrc is-live=true num-buffers=180 ! opusenc ! jframeenc name=aenc participant=me ! \
           queue max-size-buffers=0 max-size-time=0 max-size-bytes=0 ! \
           jframedec name=adec participant=me ! opusdec ! fakesink name=asink",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sender_store = KeyStore::new();
    let receiver_store = KeyStore::new();
    for name in ["venc", "aenc"] {
        element(&pipeline, name).set_context(&sender_store.context());
    }
    for name in ["vdec", "adec"] {
        element(&pipeline, name).set_context(&receiver_store.context());
    }
    sender_store.set_key("me", 0, &KEY_A, KeyMode::Derived).unwrap();
    receiver_store.set_key("me", 0, &KEY_A, KeyMode::Derived).unwrap();

    // The meeting is driven from the video path, at fixed frame numbers.
    let frame = AtomicUsize::new(0);
    let (tx, rx) = (sender_store.clone(), receiver_store.clone());
    sink_pad(&pipeline, "venc").add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        match frame.fetch_add(1, Ordering::SeqCst) {
            // Someone joins: the sender ratchets its key in place.
            60 | 120 => tx.ratchet("me").unwrap(),
            // Someone leaves: a new key at the next index, distributed before use.
            180 => {
                rx.set_key("me", 1, &KEY_B, KeyMode::Derived).unwrap();
                tx.set_key("me", 1, &KEY_B, KeyMode::Derived).unwrap();
            }
            _ => (),
        }
        gst::PadProbeReturn::Ok
    });
    let audio_sent = record(&sink_pad(&pipeline, "aenc"));
    let video = record(&sink_pad(&pipeline, "vsink"));
    run(&pipeline);

    assert_eq!(video.lock().unwrap()[&0].len(), 240, "every video frame decoded");
    let audio_frames = audio_sent.lock().unwrap()[&0].len() as u64;
    assert!(audio_frames >= 180);
    for (name, frames) in [("vdec", 240), ("adec", audio_frames)] {
        let stats = stats(&element(&pipeline, name));
        assert_eq!(counter(&stats, "frames-processed"), frames, "{name}: all decrypted");
        for field in ["dropped-no-key", "dropped-authentication-failed", "dropped-malformed"] {
            assert_eq!(counter(&stats, field), 0, "{name}: {field}");
        }
        assert_eq!(counter(&stats, "ratchets"), 2, "{name} followed both ratchets by itself");
        assert_eq!(stats.get::<i32>("current-key-index").unwrap(), 1);
    }
}

#[test]
fn passphrase_is_the_sha256_of_its_text() {
    init();
    let material = <sha2::Sha256 as sha2::Digest>::digest(b"correct horse battery staple");
    let pipeline = gst::parse::launch(&format!(
        "audiotestsrc num-buffers=20 ! opusenc ! jframeenc name=enc passphrase=\"correct horse battery staple\" ! \
         jframedec name=dec key={} ! fakesink",
        hex::encode(material)
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    run(&pipeline);
    let sent = counter(&stats(&element(&pipeline, "enc")), "frames-processed");
    assert!(sent >= 20);
    let dec = stats(&element(&pipeline, "dec"));
    assert_eq!(counter(&dec, "frames-processed"), sent);
    assert_eq!(counter(&dec, "dropped-authentication-failed"), 0);
}

#[test]
fn verification_code_forms_follow_the_reference() {
    let zeros = VerificationCode::from_bytes([0; 6]);
    assert_eq!(zeros.decimal(), [1000, 1000, 1000]);
    assert_eq!(zeros.emoji_names(), ["dog"; 7].join(", "));
    let ones = VerificationCode::from_bytes([0xff; 6]);
    assert_eq!(ones.decimal(), [9191, 9191, 9191]);
    assert_eq!(ones.emoji_names(), ["pin"; 7].join(", "));
    // 0b000001_000010_000011_000100 ... picks emoji 1, 2, 3, 4, 5, 6, 7.
    let counting = VerificationCode::from_bytes([0x04, 0x20, 0xc4, 0x14, 0x61, 0xc0]);
    assert_eq!(counting.emoji_names(), "cat, lion, horse, unicorn, pig, elephant, rabbit");
    // (0x04 << 5 | 0x20 >> 3), ((0x20 & 7) << 10 | 0xc4 << 2 | 0x14 >> 6), ((0x14 & 0x3f) << 7 | 0x61 >> 1), + 1000.
    assert_eq!(counting.decimal(), [1132, 1784, 3608]);
}

#[test]
fn both_ends_show_the_same_code_for_the_same_key() {
    init();
    let code = |key: &[u8; 32]| VerificationCode::of_key(key);
    // Fixed values, computed apart from this code (HKDF-SHA256 of the key, salt
    // "JFrameKeyVerificationCode", 6 bytes = b0 20 38 79 83 80): never to change.
    assert_eq!(code(&KEY_A).decimal_string(), "6636 1225 8361");
    assert_eq!(code(&KEY_A).emoji_string(), "📎 🦁 🐶 ⚽ 🙂 🍎 🦋");
    assert_ne!(code(&KEY_A), code(&KEY_B));

    let pipeline = gst::parse::launch(&format!(
        "audiotestsrc num-buffers=10 ! opusenc ! jframeenc name=enc key={k} ! jframedec name=dec key={k} ! \
         jframedec name=other key={o} ! fakesink",
        k = hex::encode(KEY_A),
        o = hex::encode(KEY_B)
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    run(&pipeline);
    let shown = |name: &str| element(&pipeline, name).property::<Option<String>>("verification-code").unwrap();
    let expected = format!("{} | {}", code(&KEY_A).decimal_string(), code(&KEY_A).emoji_string());
    assert_eq!(shown("enc"), expected);
    assert_eq!(shown("dec"), expected);
    assert_ne!(shown("other"), expected);

    // After the sender ratchets, the receiver that followed shows the sender's new code.
    let store = KeyStore::new();
    store.set_key("p", 0, &KEY_A, KeyMode::Derived).unwrap();
    store.ratchet("p").unwrap();
    let ratcheted = store.verification_code("p").unwrap();
    assert_ne!(ratcheted, code(&KEY_A));
    let structure = store.emit_by_name::<Option<gst::Structure>>("get-verification-code", &[&"p"]).unwrap();
    assert_eq!(structure.get::<String>("decimal").unwrap(), ratcheted.decimal_string());
}

/// Pushes `frame` through `element` in a harness with Opus caps, with `ssrc` in its
/// `GstRTPSourceMeta`; gives what came out.
fn push_opus(h: &mut gst_check::Harness, frame: &[u8], ssrc: Option<u32>) -> Vec<Vec<u8>> {
    let mut buffer = gst::Buffer::from_slice(frame.to_vec());
    if let Some(ssrc) = ssrc {
        gst_rtp::RTPSourceMeta::add(buffer.get_mut().unwrap(), Some(ssrc), &[]);
    }
    assert_eq!(h.push(buffer), Ok(gst::FlowSuccess::Ok));
    std::iter::from_fn(|| h.try_pull()).map(|b| b.map_readable().unwrap().to_vec()).collect()
}

fn opus_harness(element: &gst::Element) -> gst_check::Harness {
    let mut h = gst_check::Harness::with_element(element, Some("sink"), Some("src"));
    h.set_src_caps(gst::Caps::builder("audio/x-opus").build());
    h.play();
    h
}

#[test]
fn ssrc_mappings_made_before_the_key_store_came_are_kept() {
    init();
    let frame = vec![0x5a; 40];
    let enc = gst::ElementFactory::make("jframeenc").property_from_str("key", &hex::encode(KEY_B)).build().unwrap();
    let encrypted = push_opus(&mut opus_harness(&enc), &frame, None).remove(0);

    let dec = gst::ElementFactory::make("jframedec").build().unwrap();
    dec.emit_by_name::<()>("set-ssrc-participant", &[&222u32, &"bob"]);
    let asked = Arc::new(AtomicUsize::new(0));
    let counting = asked.clone();
    dec.connect("request-participant", false, move |_| {
        counting.fetch_add(1, Ordering::SeqCst);
        None::<String>.to_value().into()
    });
    // The pipeline's store comes after the mapping, as it does at READY.
    let store = KeyStore::new();
    store.set_key("bob", 0, &KEY_B, KeyMode::Derived).unwrap();
    dec.set_context(&store.context());
    let mut h = opus_harness(&dec);
    assert_eq!(push_opus(&mut h, &encrypted, Some(222)), vec![frame], "SSRC 222 is still bob, in the new store");
    assert_eq!(asked.load(Ordering::SeqCst), 0, "nobody asked about a known SSRC");
    let streams = stats(&dec).get::<gst::Array>("streams").unwrap();
    let stream = streams.first().unwrap().get::<gst::Structure>().unwrap();
    assert_eq!(stream.get::<String>("participant").unwrap(), "bob");
}
