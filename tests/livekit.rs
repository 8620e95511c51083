//! jframeenc and jframedec with `format=livekit`: real pipelines through RTP payloaders
//! and depayloaders into real decoders (VP8, Opus, H.264, H.265, and VP9 without RTP),
//! passphrase and raw-key modes, a sender ratchet followed by the receiver, LiveKit's
//! vectors through the elements, the rules shared through the key store, caps refused.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use gst::prelude::*;
use gstjframe::KeyStore;
use gstjframe::jframe::{
    Context, EncryptOutcome, FrameKind, KeyDerivation, KeyMode, KeySize, KeySource, MediaFrame, Received, Rules,
    VideoCodec, VideoFrameType,
};
use serde_json::Value;

const PASSPHRASE: &str = "passphrase-of-the-livekit-tests";
const FRAMES: usize = 30;

fn video(encoder: &str) -> String {
    format!("videotestsrc num-buffers={FRAMES} ! video/x-raw,width=128,height=96,framerate=30/1 ! {encoder}")
}

fn vp8_source() -> String {
    video("vp8enc deadline=1 keyframe-max-dist=10")
}

fn h264_source() -> String {
    video("x264enc speed-preset=ultrafast key-int-max=10")
}

fn opus_source() -> String {
    format!("audiotestsrc num-buffers={FRAMES} samplesperbuffer=960 ! audio/x-raw,rate=48000,channels=1 ! opusenc")
}

type Frames = Arc<Mutex<Vec<Vec<u8>>>>;

fn frames(captured: &Frames) -> Vec<Vec<u8>> {
    captured.lock().expect("capture").clone()
}

/// `source ! jframeenc ! transport ! jframedec ! decoder ! appsink`, both elements with
/// `format=livekit`, and what went through it at each stage.
struct Call {
    pipeline: gst::Pipeline,
    enc: gst::Element,
    dec: gst::Element,
    /// jframeenc's input.
    input: Frames,
    /// jframeenc's output.
    sent: Frames,
    /// jframedec's input, after the transport.
    arrived: Frames,
    /// jframedec's output.
    output: Frames,
    decoded: Frames,
}

impl Call {
    fn new(source: &str, enc_properties: &str, transport: &str, dec_properties: &str, decoder: &str) -> Call {
        let pipeline = pipeline(&format!(
            "{source} ! jframeenc name=enc format=livekit {enc_properties} ! {transport} \
             ! jframedec name=dec format=livekit {dec_properties} ! {decoder} ! appsink name=sink sync=false"
        ));
        let enc = element(&pipeline, "enc");
        let dec = element(&pipeline, "dec");
        Call {
            input: capture(&pad(&enc, "sink")),
            sent: capture(&pad(&enc, "src")),
            arrived: capture(&pad(&dec, "sink")),
            output: capture(&pad(&dec, "src")),
            decoded: collect(&element(&pipeline, "sink")),
            pipeline,
            enc,
            dec,
        }
    }

    fn run(&self) -> Run {
        let run = run(&self.pipeline);
        assert!(run.errors.is_empty(), "errors: {:?}", run.errors);
        assert!(run.eos, "the stream reached its end");
        run
    }

    /// Runs the call and checks that every frame was encrypted, decrypted to its own
    /// bytes and decoded; prints the figures under `name`.
    fn run_clean(&self, name: &str) {
        self.run();
        let (input, sent, arrived, output) =
            (frames(&self.input), frames(&self.sent), frames(&self.arrived), frames(&self.output));
        let decoded = self.decoded.lock().expect("decoded").len();
        let short = sent.iter().zip(&arrived).filter(|(s, a)| lost_last_byte(s, a)).count();
        println!(
            "{name}: {} frames in, {} encrypted, {} arrived ({short} one byte short), {} decrypted, {decoded} decoded, \
             dropped {:?}",
            input.len(),
            stat(&self.enc, "frames-processed"),
            arrived.len(),
            stat(&self.dec, "frames-processed"),
            drop_counters(&self.dec).into_iter().filter(|(_, n)| *n > 0).collect::<Vec<_>>(),
        );
        assert!(!input.is_empty());
        assert_eq!(stat(&self.enc, "frames-processed"), input.len() as u64, "every frame encrypted");
        assert_eq!(sent.len(), input.len());
        assert_eq!(arrived.len(), input.len(), "one frame arrives for each frame sent");
        assert_eq!(stat(&self.dec, "frames-processed"), input.len() as u64, "every frame decrypted");
        assert!(drop_counters(&self.dec).iter().all(|(_, n)| *n == 0), "{:?}", drop_counters(&self.dec));
        assert_eq!(output.len(), input.len());
        for (n, (plain, out)) in input.iter().zip(&output).enumerate() {
            assert_ne!(sent[n], *plain, "frame {n} sent in clear");
            // A depayloader may put the parameter sets of its caps before an access unit.
            assert!(
                long_start_codes(out).ends_with(&long_start_codes(plain)),
                "frame {n}: decrypted bytes differ from the encoder's"
            );
        }
        assert_eq!(decoded, input.len(), "every frame decoded");
    }
}

#[test]
fn vp8_over_rtp_with_a_passphrase() {
    let keys = format!("passphrase={PASSPHRASE}");
    let call = Call::new(&vp8_source(), &keys, "jframevp8pay ! rtpvp8depay", &keys, "vp8dec");
    call.run_clean("VP8, jframevp8pay/rtpvp8depay, passphrase");
    // LiveKit keeps VP8's clear prefix: 10 bytes on key frames, 3 on delta frames.
    for (plain, sent) in frames(&call.input).iter().zip(frames(&call.sent)) {
        let clear = vp8_clear_len(plain);
        assert_eq!(sent[..clear], plain[..clear]);
        assert_eq!(sent.len(), plain.len() + OVERHEAD);
    }
}

#[test]
fn opus_over_rtp_with_raw_key_material() {
    let keys = format!("key={}", material_hex());
    let call = Call::new(&opus_source(), &keys, "rtpopuspay ! rtpopusdepay", &keys, "opusdec");
    call.run_clean("Opus, rtpopuspay/rtpopusdepay, raw key (HKDF)");
    // The raw key is HKDF material with LiveKit's salt and info: the engine under
    // LiveKit's rules decrypts what the element sent.
    let mut ctx = Context::with_rules(KeyMode::Derived, Rules::livekit()).expect("LiveKit rules");
    ctx.keys_mut().set_key(0, &MATERIAL).expect("key");
    for (plain, mut sent) in frames(&call.input).into_iter().zip(frames(&call.sent)) {
        let received = ctx.decrypt_frame(MediaFrame::Audio, &mut sent);
        assert_eq!(received, Ok(Received::Decrypted { len: plain.len(), ratchet_steps: 0 }));
        assert_eq!(sent[..plain.len()], plain);
    }
}

/// A frame with every 3-byte start code made a 4-byte one: LiveKit sends the clear
/// prefix of an H.264/H.265 access unit so. Other frames stay as they are.
fn long_start_codes(frame: &[u8]) -> Vec<u8> {
    if !frame.starts_with(&[0, 0]) {
        return frame.to_vec();
    }
    let mut out = Vec::with_capacity(frame.len() + 8);
    for (n, &byte) in frame.iter().enumerate() {
        if frame[n..].starts_with(&[0, 0, 1]) && (n == 0 || frame[n - 1] != 0) {
            out.push(0);
        }
        out.push(byte);
    }
    out
}

/// H.264 through the C payloader and depayloader. `rtph264pay` drops the zero bytes
/// that end a NAL unit, so a frame sent with key index 0 arrives one byte short;
/// `rtph264depay` puts the parameter sets of its caps before the first access unit.
fn h264_call(key_index: u32, decoder: &str) -> Call {
    let keys = format!("passphrase={PASSPHRASE} key-index={key_index}");
    Call::new(&h264_source(), &keys, "rtph264pay ! rtph264depay", &keys, decoder)
}

/// Frames that lost their last byte between jframeenc and jframedec (and may have
/// gained NAL units in front).
fn arrived_one_byte_short(call: &Call) -> usize {
    let (sent, arrived) = (frames(&call.sent), frames(&call.arrived));
    sent.iter().zip(&arrived).filter(|(s, a)| lost_last_byte(s, a)).count()
}

fn lost_last_byte(sent: &[u8], arrived: &[u8]) -> bool {
    !arrived.ends_with(sent) && sent.split_last().is_some_and(|(_, rest)| arrived.ends_with(rest))
}

#[test]
fn h264_over_rtp_with_key_index_0_loses_the_last_byte_and_decodes() {
    let call = h264_call(0, "avdec_h264");
    call.run_clean("H.264, rtph264pay/rtph264depay, key index 0, avdec_h264");
    // Every frame lost its key index on the way; jframedec put it back.
    assert_eq!(arrived_one_byte_short(&call), FRAMES);
    let sent = frames(&call.sent);
    assert!(sent.iter().all(|frame| frame.ends_with(&[12, 0])));
    // The depayloader put the SPS and PPS before the first access unit.
    let (first_sent, first_arrived) = (&sent[0], &frames(&call.arrived)[0]);
    assert!(first_arrived.len() > first_sent.len());
    assert!(first_arrived.ends_with(&first_sent[..first_sent.len() - 1]));
}

#[test]
fn h264_over_rtp_with_key_index_12_arrives_whole_and_decodes_with_openh264() {
    // openh264dec wants the profile in the caps: h264parse, after decryption, gives it.
    let call = h264_call(12, "h264parse ! openh264dec");
    call.run_clean("H.264, rtph264pay/rtph264depay, key index 12, openh264dec");
    assert_eq!(arrived_one_byte_short(&call), 0);
    assert!(frames(&call.sent).iter().all(|frame| frame.ends_with(&[12, 12])));
}

#[test]
fn h264_through_h264parse_as_avc_arrives_whole() {
    // With NAL unit lengths (stream-format=avc) the payloader trims nothing: frames
    // arrive with their key index 0, as LiveKit's clients need them.
    let keys = format!("passphrase={PASSPHRASE}");
    let transport = "h264parse ! video/x-h264,stream-format=avc,alignment=au ! rtph264pay ! rtph264depay";
    let call = Call::new(&h264_source(), &keys, transport, &keys, "avdec_h264");
    call.run_clean("H.264, h264parse (avc) ! rtph264pay/rtph264depay, key index 0, avdec_h264");
    assert_eq!(arrived_one_byte_short(&call), 0);
    let (sent, arrived) = (frames(&call.sent), frames(&call.arrived));
    assert!(sent.iter().zip(&arrived).all(|(s, a)| a.ends_with(s) && s.ends_with(&[12, 0])));
}

#[test]
fn h264_sent_stays_annex_b_with_the_clear_prefix_as_livekit_sends_it() {
    let keys = format!("passphrase={PASSPHRASE}");
    let call = Call::new(&h264_source(), &keys, "identity", &keys, "avdec_h264");
    call.run_clean("H.264, no RTP");
    let derivation = KeyDerivation::livekit(b"LKFrameEncryptionKey", KeySize::Aes128);
    let key = derivation.derive_key(KeySource::Passphrase(PASSPHRASE.as_bytes())).expect("key");
    let mut ctx = Context::with_rules(KeyMode::Derived, Rules::livekit()).expect("LiveKit rules");
    ctx.keys_mut().store_derived_key(0, &key, true).expect("key");
    for (n, (plain, mut sent)) in frames(&call.input).into_iter().zip(frames(&call.sent)).enumerate() {
        // The encrypted part is escaped: no start code after the clear prefix.
        let slice = first_slice(&sent);
        assert!(
            !sent[slice..].windows(3).any(|w| matches!(w, [0, 0, 0..=2])),
            "frame {n}: start code in the encrypted part"
        );
        assert!(sent[..slice] == long_start_codes(&plain)[..slice], "frame {n}: clear prefix");
        let frame = MediaFrame::Video { codec: VideoCodec::H264, frame_type: VideoFrameType::Delta };
        let Ok(Received::Decrypted { len, .. }) = ctx.decrypt_frame(frame, &mut sent) else {
            panic!("frame {n} does not decrypt with the engine");
        };
        // The prefix was sent with 4-byte start codes.
        assert!(long_start_codes(&sent[..len]) == long_start_codes(&plain), "frame {n}: plaintext");
    }
}

/// Where the first H.264 slice NAL unit's bytes after its header start (its two first
/// bytes are LiveKit's last clear bytes), in an access unit with 4-byte start codes.
fn first_slice(au: &[u8]) -> usize {
    au.windows(5)
        .position(|w| w[..4] == [0, 0, 0, 1] && matches!(w[4] & 0x1f, 1 | 5))
        .map(|start| start + 6)
        .expect("an access unit with a slice")
}

#[test]
fn h264_parameter_sets_inserted_by_the_payloader_break_key_frames() {
    // config-interval=-1 puts SPS and PPS right before every IDR slice, inside the
    // clear prefix the sender authenticated: those frames cannot be decrypted (and
    // LiveKit clients could not decrypt them either). Keep config-interval at 0.
    let keys = format!("passphrase={PASSPHRASE}");
    let call = Call::new(&h264_source(), &keys, "rtph264pay config-interval=-1 ! rtph264depay", &keys, "identity");
    call.run();
    let key_frames = frames(&call.input).iter().filter(|au| au.windows(4).any(|w| w == [0, 0, 1, 0x65])).count();
    let failed = stat(&call.dec, "dropped-authentication-failed");
    println!("H.264, rtph264pay config-interval=-1: {key_frames} key frames, {failed} dropped");
    assert!(key_frames > 1);
    assert_eq!(failed, key_frames as u64);
    assert_eq!(stat(&call.dec, "frames-processed"), (FRAMES - key_frames) as u64);
}

#[test]
fn h265_over_rtp_decodes_every_frame() {
    let keys = format!("passphrase={PASSPHRASE}");
    let source = video("x265enc speed-preset=ultrafast key-int-max=10");
    let call = Call::new(&source, &keys, "rtph265pay ! rtph265depay", &keys, "avdec_h265");
    call.run_clean("H.265, rtph265pay/rtph265depay, key index 0, avdec_h265");
    assert_eq!(arrived_one_byte_short(&call), FRAMES);
}

#[test]
fn h265_through_h265parse_as_hvc1_arrives_whole() {
    let keys = format!("passphrase={PASSPHRASE}");
    let source = video("x265enc speed-preset=ultrafast key-int-max=10");
    let transport = "h265parse ! video/x-h265,stream-format=hvc1,alignment=au ! rtph265pay ! rtph265depay";
    let call = Call::new(&source, &keys, transport, &keys, "avdec_h265");
    call.run_clean("H.265, h265parse (hvc1) ! rtph265pay/rtph265depay, key index 0, avdec_h265");
    assert_eq!(arrived_one_byte_short(&call), 0);
}

#[test]
fn vp9_without_rtp_decodes_every_frame() {
    // LiveKit leaves no VP9 byte in clear, so the C rtpvp9pay, which parses the frame
    // header, cannot carry it.
    let keys = format!("passphrase={PASSPHRASE}");
    let call = Call::new(&video("vp9enc deadline=1 keyframe-max-dist=10"), &keys, "identity", &keys, "vp9dec");
    call.run_clean("VP9, no RTP");
    for (plain, sent) in frames(&call.input).iter().zip(frames(&call.sent)) {
        assert_eq!(sent.len(), plain.len() + OVERHEAD);
        assert_ne!(sent[..4], plain[..4]);
    }
}

#[test]
fn the_receiver_follows_a_sender_ratchet() {
    let keys = format!("passphrase={PASSPHRASE}");
    let call = Call::new(&vp8_source(), &keys, "jframevp8pay ! rtpvp8depay", &keys, "vp8dec");
    let enc = call.enc.clone();
    on_frame(&pad(&call.enc, "sink"), FRAMES / 2, move || {
        assert!(enc.emit_by_name::<bool>("ratchet", &[]), "the sender ratchets");
    });
    let followed = Arc::new(Mutex::new(Vec::new()));
    let seen = followed.clone();
    call.dec.connect("ratcheted", false, move |args| {
        let kid = args[1].get::<u32>().expect("key index");
        let steps = args[2].get::<u32>().expect("steps");
        seen.lock().expect("ratcheted").push((kid, steps));
        None
    });
    call.run_clean("VP8, sender ratchets at frame 15");
    assert_eq!(stat(&call.enc, "ratchets"), 1);
    assert_eq!(stat(&call.dec, "ratchets"), 1);
    assert_eq!(*followed.lock().expect("ratcheted"), [(0, 1)]);
    let code = |element: &gst::Element| element.property::<Option<String>>("verification-code");
    assert!(code(&call.enc).is_some());
    assert_eq!(code(&call.enc), code(&call.dec), "both ends show the ratcheted key's code");
}

/// The caps of a vector codec.
fn caps_of(codec: &str) -> gst::Caps {
    let annex_b =
        |name| gst::Caps::builder(name).field("stream-format", "byte-stream").field("alignment", "au").build();
    match codec {
        "vp8" => gst::Caps::builder("video/x-vp8").build(),
        "vp9" => gst::Caps::builder("video/x-vp9").build(),
        "opus" => gst::Caps::builder("audio/x-opus").build(),
        "h264" => annex_b("video/x-h264"),
        "h265" => annex_b("video/x-h265"),
        other => panic!("no caps for {other}"),
    }
}

fn case<'a>(vectors: &'a Value, id: &str) -> &'a Value {
    vectors["cases"]
        .as_array()
        .and_then(|cases| cases.iter().find(|case| case["id"] == id))
        .unwrap_or_else(|| panic!("no vector case {id}"))
}

/// An element set up as a vector case's key provider, with its one key.
/// Start it (`Tested::new`), then apply the key's ratchets with `ratchet_as_the_vector`.
fn vector_element(factory: &str, case: &Value) -> gst::Element {
    let options = &case["keyProviderOptions"];
    let key = &case["keys"][0];
    let text = key["key"].as_str().expect("key");
    let key_property = match key["keyMode"].as_str() {
        Some("passphrase") => "passphrase",
        Some("raw") => "key",
        other => panic!("no property for key mode {other:?}"),
    };
    make(
        factory,
        &[
            ("format", "livekit"),
            ("ratchet-salt", options["ratchetSalt"].as_str().expect("ratchetSalt")),
            ("key-size", &options["keySize"].to_string()),
            ("key-ring-size", &options["keyringSize"].to_string()),
            ("key-index", &key["keyIndex"].to_string()),
            (key_property, text),
        ],
    )
}

/// Ratchets the key of a started jframeenc as many times as the vector's key was.
fn ratchet_as_the_vector(enc: &gst::Element, case: &Value) {
    for _ in 0..case["keys"][0]["ratchets"].as_u64().unwrap_or(0) {
        assert!(enc.emit_by_name::<bool>("ratchet", &[]));
    }
}

fn frame_steps(case: &Value) -> impl Iterator<Item = &Value> {
    case["steps"].as_array().into_iter().flatten().filter(|step| step["action"] == "frame")
}

#[test]
fn vector_frames_decrypt_through_jframedec_to_the_vector_output() {
    let vectors = livekit_vectors();
    let mut checked = 0;
    for id in ["dec-vp8-opus", "dec-h264", "dec-h265-vp9", "dec-raw-hkdf", "dec-key-index-3"] {
        let case = case(&vectors, id);
        for step in frame_steps(case) {
            assert_eq!(case["keys"][0]["ratchets"], 0, "{id}: jframedec has no ratchet signal");
            let mut tested =
                Tested::new(vector_element("jframedec", case), &caps_of(step["codec"].as_str().expect("codec")));
            let out = tested.push(&hex_field(step, "input"));
            let expect = &step["expect"];
            match expect["result"].as_str() {
                Some("decrypted") => assert_eq!(out, [hex_field(expect, "output")], "{id}"),
                other => assert!(out.is_empty(), "{id}: {other:?} frame came out"),
            }
            checked += 1;
        }
    }
    println!("{checked} vector frames through jframedec");
    assert!(checked >= 8);
}

#[test]
fn frames_jframeenc_encrypts_follow_the_vectors_rules() {
    let vectors = livekit_vectors();
    let mut checked = 0;
    for id in [
        "enc-vp8-key-delta-passphrase",
        "enc-opus",
        "enc-h264-key-delta",
        "enc-h264-3byte-start-codes",
        "enc-h264-emulation-in-ciphertext",
        "enc-h265-key-delta",
        "enc-vp9",
        "enc-raw-hkdf",
        "enc-aes256",
        "enc-custom-salt",
        "enc-key-index-3",
    ] {
        let case = case(&vectors, id);
        let options = &case["keyProviderOptions"];
        let key_size = if options["keySize"] == 256 { KeySize::Aes256 } else { KeySize::Aes128 };
        let mut rules = Rules::livekit();
        rules.key_derivation =
            KeyDerivation::livekit(options["ratchetSalt"].as_str().expect("salt").as_bytes(), key_size);
        let mut ctx = Context::with_rules(KeyMode::Derived, rules).expect("rules");
        let key = &case["keys"][0];
        let bytes = match key["keyMode"].as_str() {
            Some("passphrase") => key["key"].as_str().expect("key").as_bytes().to_vec(),
            _ => hex_field(key, "key"),
        };
        let source =
            if key["keyMode"] == "passphrase" { KeySource::Passphrase(&bytes) } else { KeySource::Bytes(&bytes) };
        let derived = ctx.keys().derivation().derive_key(source).expect("key");
        let index = key["keyIndex"].as_u64().expect("keyIndex") as u32;
        ctx.keys_mut().store_derived_key(index, &derived, true).expect("key");
        for _ in 0..key["ratchets"].as_u64().unwrap_or(0) {
            ctx.keys_mut().ratchet_key(index).expect("ratchet");
        }
        for step in frame_steps(case) {
            let codec = step["codec"].as_str().expect("codec");
            let expect = &step["expect"];
            let mut tested = Tested::new(vector_element("jframeenc", case), &caps_of(codec));
            ratchet_as_the_vector(&tested.element, case);
            let input = hex_field(step, "input");
            let [mut sent] = <[Vec<u8>; 1]>::try_from(tested.push(&input)).expect("one frame out");
            let reference = hex_field(expect, "output");
            // Same clear prefix (as sent) and key index as the reference's frame; the IV
            // is this element's own (see docs/livekit.md), so the rest differs.
            assert!(sent.starts_with(&hex_field(expect, "header")), "{id}: clear prefix");
            assert_eq!(sent.last(), reference.last(), "{id}: key index");
            if !codec.starts_with("h26") {
                assert_eq!(sent.len(), reference.len(), "{id}: length");
            }
            let frame = match codec {
                "opus" => MediaFrame::Audio,
                _ => MediaFrame::Video {
                    codec: match codec {
                        "vp8" => VideoCodec::Vp8,
                        "vp9" => VideoCodec::Vp9,
                        "h264" => VideoCodec::H264,
                        _ => VideoCodec::H265,
                    },
                    frame_type: if step["frameType"] == "key" { VideoFrameType::Key } else { VideoFrameType::Delta },
                },
            };
            // The reference's frame and ours decrypt alike.
            let mut reference_frame = reference.clone();
            let Ok(Received::Decrypted { len: want, .. }) = ctx.decrypt_frame(frame, &mut reference_frame) else {
                panic!("{id}: the reference frame does not decrypt");
            };
            let Ok(Received::Decrypted { len, .. }) = ctx.decrypt_frame(frame, &mut sent) else {
                panic!("{id}: the element's frame does not decrypt");
            };
            assert_eq!(sent[..len], reference_frame[..want], "{id}: plaintext");
            checked += 1;
        }
    }
    println!("{checked} vector frames through jframeenc");
    assert!(checked >= 15);
}

/// Frames encrypted under LiveKit's rules with `MATERIAL` at key index 0.
fn livekit_frames(count: usize) -> Vec<Vec<u8>> {
    let mut ctx = Context::with_rules(KeyMode::Derived, Rules::livekit()).expect("LiveKit rules");
    ctx.keys_mut().set_key(0, &MATERIAL).expect("key");
    vp8_frames().frames[..count]
        .iter()
        .enumerate()
        .map(|(n, plain)| {
            let mut frame = plain.clone();
            let vp8 = MediaFrame::from(FrameKind::of_vp8(plain).expect("a VP8 frame"));
            let mut iv = [0; 12];
            iv[11] = n as u8;
            let outcome = ctx.encrypt_frame(vp8, &mut frame, iv);
            assert!(matches!(outcome, Ok(EncryptOutcome::Encrypted(_))));
            frame
        })
        .collect()
}

#[test]
fn failure_tolerance_gives_a_key_index_up_until_a_new_key() {
    let frames = livekit_frames(8);
    let dec =
        make("jframedec", &[("format", "livekit"), ("failure-tolerance", "2"), ("key", &hex::encode(OTHER_MATERIAL))]);
    let mut tested = Tested::new(dec, &vp8_frames().caps);
    assert!(tested.push_all(&frames[..5]).is_empty());
    // Three failures (more than 2), then the index is given up: no more attempts.
    assert_eq!(stat(&tested.element, "dropped-authentication-failed"), 3);
    assert_eq!(stat(&tested.element, "dropped-no-key"), 2);
    assert!(set_key(&tested.element, 0, &MATERIAL));
    assert_eq!(tested.push_all(&frames[5..]).len(), 3);
    assert_eq!(stat(&tested.element, "frames-processed"), 3);
}

#[test]
fn failure_tolerance_minus_one_never_gives_up() {
    let frames = livekit_frames(12);
    let dec =
        make("jframedec", &[("format", "livekit"), ("failure-tolerance", "-1"), ("key", &hex::encode(OTHER_MATERIAL))]);
    let mut tested = Tested::new(dec, &vp8_frames().caps);
    assert!(tested.push_all(&frames).is_empty());
    assert_eq!(stat(&tested.element, "dropped-authentication-failed"), 12);
}

/// Starts an element on its own; the error it posted if it did not start.
fn start(element: &gst::Element) -> Option<String> {
    let bus = gst::Bus::new();
    element.set_bus(Some(&bus));
    let started = element.set_state(gst::State::Paused).is_ok();
    let error = bus.pop_filtered(&[gst::MessageType::Error]).map(|message| match message.view() {
        gst::MessageView::Error(e) => format!("{} ({:?})", e.error(), e.debug()),
        _ => unreachable!("filtered"),
    });
    element.set_state(gst::State::Null).expect("stops");
    assert_eq!(started, error.is_none(), "{error:?}");
    error
}

#[test]
fn elements_of_a_participant_must_agree_with_its_rules() {
    init();
    let store = KeyStore::new();
    store.set_rules("alice", Rules::livekit()).expect("valid rules");
    let with_store = |properties: &[(&str, &str)]| {
        let element = make("jframedec", &[&[("participant", "alice")], properties].concat());
        element.set_context(&store.context());
        element
    };
    assert_eq!(start(&with_store(&[("format", "livekit")])), None);
    let error = start(&with_store(&[])).expect("a JFrame element refuses LiveKit keys");
    assert!(error.contains("participant 'alice' has keys under format=livekit"), "{error}");
    assert!(error.contains("this element is set to format=jitsi"), "{error}");
    let error = start(&with_store(&[("format", "livekit"), ("key-size", "256")])).expect("other options refused");
    assert!(error.contains("key-size=128") && error.contains("key-size=256"), "{error}");
    // A participant nobody chose rules for takes those of the first element.
    assert_eq!(start(&make("jframeenc", &[("format", "livekit"), ("key-ring-size", "256")])), None);
    // A stream mapped to a participant of other rules: a warning that says so.
    let mut tested = Tested::new(make("jframedec", &[]), &vp8_frames().caps);
    tested.element.set_context(&store.context());
    tested.element.emit_by_name::<()>("set-ssrc-participant", &[&1234u32, &"alice"]);
    let warnings = tested.errors_and_warnings();
    let warning = warnings
        .iter()
        .find_map(|message| match message.view() {
            gst::MessageView::Warning(w) => w.debug().map(|d| d.to_string()),
            _ => None,
        })
        .expect("a warning");
    assert!(warning.contains("SSRC 1234: participant 'alice' has keys under format=livekit"), "{warning}");
    assert!(tested.push(&vp8_frames().frames[0]).is_empty());
}

#[test]
fn a_passphrase_set_on_the_store_decrypts_what_an_element_encrypted() {
    let store = KeyStore::new();
    store.set_rules("alice", Rules::livekit()).expect("valid rules");
    store.set_passphrase("alice", 1, PASSPHRASE).expect("passphrase");
    let enc = make("jframeenc", &[("format", "livekit"), ("passphrase", PASSPHRASE), ("key-index", "1")]);
    let dec = make("jframedec", &[("format", "livekit"), ("participant", "alice")]);
    dec.set_context(&store.context());
    let mut enc = Tested::new(enc, &opus_frames().caps);
    let mut dec = Tested::new(dec, &opus_frames().caps);
    let sent = enc.push_all(&opus_frames().frames);
    assert!(sent.iter().all(|frame| frame.last() == Some(&1)));
    assert_eq!(dec.push_all(&sent), opus_frames().frames);
}

#[test]
fn caps_without_a_rule_are_refused_with_the_reason() {
    init();
    let refused = |properties: &[(&str, &str)], caps: gst::Caps| {
        let mut tested = Tested::new(make("jframeenc", properties), &caps);
        assert_eq!(tested.h.push(buffer(&[0; 64])), Err(gst::FlowError::NotNegotiated));
        tested
            .errors_and_warnings()
            .iter()
            .find_map(|message| match message.view() {
                gst::MessageView::Error(e) => Some(e.error().to_string()),
                _ => None,
            })
            .expect("an error message")
    };
    let av1 = refused(&[("format", "livekit"), ("key", &material_hex())], gst::Caps::builder("video/x-av1").build());
    assert!(av1.contains("no rule for AV1"), "{av1}");
    // Under JFrame's rules H.264 is refused at negotiation already, as before.
    for factory in ["jframeenc", "jframedec"] {
        assert!(!pad(&make(factory, &[]), "sink").query_accept_caps(&caps_of("h264")));
        let livekit = make(factory, &[("format", "livekit")]);
        assert!(
            ["h264", "h265", "vp9", "vp8", "opus"]
                .iter()
                .all(|codec| pad(&livekit, "sink").query_accept_caps(&caps_of(codec)))
        );
    }
}

#[test]
fn new_properties_are_documented_and_fixed_while_playing() {
    let new = ["format", "ratchet-salt", "key-size", "key-ring-size", "failure-tolerance"];
    for factory in ["jframeenc", "jframedec"] {
        let element = make(factory, &[]);
        for name in new {
            let pspec = element.find_property(name).unwrap_or_else(|| panic!("{factory} has {name}"));
            assert!(!pspec.nick().is_empty() && pspec.nick() != name, "{factory} {name}: nick");
            assert!(pspec.blurb().is_some_and(|b| b.len() > 20), "{factory} {name}: blurb");
            assert!(pspec.flags().contains(gst::PARAM_FLAG_MUTABLE_READY), "{factory} {name}: NULL/READY only");
        }
        let tested = Tested::new(make(factory, &[]), &vp8_frames().caps);
        tested.element.set_property_from_str("format", "livekit");
        tested.element.set_property("key-ring-size", 8u32);
        assert_eq!(tested.element.property::<u32>("key-ring-size"), 16, "unchanged while playing");
        let format = tested.element.property_value("format");
        assert_eq!(format.serialize().ok().as_deref(), Some("jitsi"), "unchanged while playing");
    }
}
