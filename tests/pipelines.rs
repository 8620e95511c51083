//! jframeenc and jframedec in real pipelines between real encoders and decoders:
//! every frame decoded, the bytes restored frame by frame, keys rotated and ratcheted
//! while playing, wrong keys and malformed frames dropped without stopping the stream.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use gst::prelude::*;
use gstjframe::jframe::iv::IvSequence;
use gstjframe::jframe::{Context, EncryptOutcome, FrameKind, KeyMode};

const VIDEO_FRAMES: usize = 40;
const AUDIO_FRAMES: usize = 30;

/// Small test video, a key frame every 10 frames so that both clear prefixes occur.
fn video_source() -> String {
    format!(
        "videotestsrc num-buffers={VIDEO_FRAMES} ! video/x-raw,width=64,height=48,framerate=30/1 \
         ! vp8enc deadline=1 keyframe-max-dist=10"
    )
}

fn audio_source() -> String {
    format!(
        "audiotestsrc num-buffers={AUDIO_FRAMES} samplesperbuffer=960 ! audio/x-raw,rate=48000,channels=1 \
         ! opusenc"
    )
}

/// A pipeline `source ! jframeenc ! jframedec ! decoder ! appsink` and what went
/// through it: jframeenc's input and output, jframedec's output, the decoded frames.
struct RoundTrip {
    pipeline: gst::Pipeline,
    enc: gst::Element,
    dec: gst::Element,
    input: Arc<Mutex<Vec<Vec<u8>>>>,
    encrypted: Arc<Mutex<Vec<Vec<u8>>>>,
    output: Arc<Mutex<Vec<Vec<u8>>>>,
    decoded: Arc<Mutex<Vec<Vec<u8>>>>,
    /// Buffers that reached the decoder.
    to_decoder: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl RoundTrip {
    fn new(source: &str, enc_properties: &str, dec_properties: &str, decoder: &str) -> RoundTrip {
        let pipeline = pipeline(&format!(
            "{source} ! jframeenc name=enc {enc_properties} ! jframedec name=dec {dec_properties} \
             ! {decoder} name=decoder ! appsink name=sink sync=false"
        ));
        let enc = element(&pipeline, "enc");
        let dec = element(&pipeline, "dec");
        RoundTrip {
            input: capture(&pad(&enc, "sink")),
            encrypted: capture(&pad(&enc, "src")),
            output: capture(&pad(&dec, "src")),
            to_decoder: capture(&pad(&element(&pipeline, "decoder"), "sink")),
            decoded: collect(&element(&pipeline, "sink")),
            pipeline,
            enc,
            dec,
        }
    }

    fn video(enc_properties: &str, dec_properties: &str) -> RoundTrip {
        RoundTrip::new(&video_source(), enc_properties, dec_properties, "vp8dec")
    }

    fn audio(enc_properties: &str, dec_properties: &str) -> RoundTrip {
        RoundTrip::new(&audio_source(), enc_properties, dec_properties, "opusdec")
    }

    fn run(&self) -> Run {
        let run = run(&self.pipeline);
        assert!(run.errors.is_empty(), "errors: {:?}", run.errors);
        assert!(run.eos, "the stream reached its end");
        run
    }

    fn input(&self) -> Vec<Vec<u8>> {
        self.input.lock().expect("capture").clone()
    }

    fn encrypted(&self) -> Vec<Vec<u8>> {
        self.encrypted.lock().expect("capture").clone()
    }

    fn output(&self) -> Vec<Vec<u8>> {
        self.output.lock().expect("capture").clone()
    }

    fn decoded(&self) -> usize {
        self.decoded.lock().expect("capture").len()
    }

    fn to_decoder(&self) -> usize {
        self.to_decoder.lock().expect("capture").len()
    }
}

/// Each encrypted frame is its input plus 30 bytes, equal on the clear prefix and
/// different after it.
fn assert_encrypted(input: &[Vec<u8>], encrypted: &[Vec<u8>], clear_len: fn(&[u8]) -> usize) {
    assert_eq!(input.len(), encrypted.len());
    for (n, (plain, sent)) in input.iter().zip(encrypted).enumerate() {
        let clear = clear_len(plain);
        assert_eq!(sent.len(), plain.len() + OVERHEAD, "frame {n}: length");
        assert_eq!(sent[..clear], plain[..clear], "frame {n}: clear prefix");
        assert_ne!(sent[clear..plain.len()], plain[clear..], "frame {n}: payload left in clear");
    }
}

#[test]
fn vp8_round_trip_decodes_every_frame_with_its_bytes() {
    let key = format!("key={}", material_hex());
    let trip = RoundTrip::video(&key, &key);
    let run = trip.run();
    assert_eq!(trip.decoded(), VIDEO_FRAMES, "every frame decoded");
    assert_eq!(trip.input().len(), VIDEO_FRAMES);
    assert_eq!(trip.output(), trip.input(), "jframedec gives back jframeenc's input, frame by frame");
    assert_encrypted(&trip.input(), &trip.encrypted(), vp8_clear_len);
    assert!(trip.input().iter().filter(|f| vp8_clear_len(f) == 10).count() >= 4, "several key frames");
    assert_eq!(run.states, vec![state("ok", 0), state("ok", 0)]);
    for element in [&trip.enc, &trip.dec] {
        assert_eq!(stat(element, "frames-processed"), VIDEO_FRAMES as u64);
    }
}

#[test]
fn opus_round_trip_decodes_every_frame_with_its_bytes() {
    let key = format!("key={}", material_hex());
    let trip = RoundTrip::audio(&key, &key);
    trip.run();
    let input = trip.input();
    // opusenc adds a frame at the end for its look-ahead.
    assert!(input.len() >= AUDIO_FRAMES, "{} Opus frames", input.len());
    assert_eq!(trip.decoded(), input.len(), "every frame decoded");
    assert_eq!(trip.output(), input);
    assert_encrypted(&input, &trip.encrypted(), |_| 1);
}

#[test]
fn property_order_on_the_launch_line_does_not_matter() {
    let key = hex::encode(RAW_KEY_32);
    let trip = RoundTrip::video(
        &format!("key={key} key-index=5 key-mode=raw"),
        &format!("key-mode=raw key={key} key-index=5"),
    );
    trip.run();
    assert_eq!(trip.decoded(), VIDEO_FRAMES);
    assert!(trip.encrypted().iter().all(|frame| frame.last() == Some(&5)), "KID 5");
    assert_eq!(current_key_index(&trip.dec), 5);
}

#[test]
fn wrong_key_at_the_receiver_drops_every_frame_without_error() {
    let trip = RoundTrip::video(&format!("key={}", material_hex()), &format!("key={}", hex::encode(OTHER_MATERIAL)));
    let run = trip.run();
    assert_eq!(trip.to_decoder(), 0, "no frame reached the decoder");
    assert_eq!(trip.decoded(), 0);
    assert_eq!(stat(&trip.dec, "dropped-authentication-failed"), VIDEO_FRAMES as u64);
    assert_eq!(stat(&trip.dec, "frames-processed"), 0);
    assert!(run.states.contains(&state("failing", 0)));
}

#[test]
fn key_rotation_while_playing_loses_no_frame() {
    let trip = RoundTrip::video(&format!("key={}", material_hex()), &format!("key={}", material_hex()));
    let (enc, dec) = (trip.enc.clone(), trip.dec.clone());
    // The receiver gets the new key first, as key distribution does; then the sender uses it.
    on_frame(&pad(&trip.enc, "sink"), 20, move || {
        assert!(set_key(&dec, 1, &OTHER_MATERIAL));
        assert!(set_key(&enc, 1, &OTHER_MATERIAL));
    });
    trip.run();
    assert_eq!(trip.decoded(), VIDEO_FRAMES);
    assert_eq!(trip.output(), trip.input());
    let kids: Vec<u8> = trip.encrypted().iter().filter_map(|f| f.last().copied()).collect();
    assert_eq!(kids[..20], [0; 20]);
    assert_eq!(kids[20..], [1; VIDEO_FRAMES - 20]);
    assert_eq!(current_key_index(&trip.dec), 1);
}

#[test]
fn sender_ratchet_while_playing_is_followed_with_no_frame_lost() {
    let trip = RoundTrip::video(&format!("key={}", material_hex()), &format!("key={}", material_hex()));
    let followed = Arc::new(Mutex::new(Vec::new()));
    let record = followed.clone();
    trip.dec.connect("ratcheted", false, move |args| {
        let index = args[1].get::<u32>().expect("key index");
        let steps = args[2].get::<u32>().expect("steps");
        record.lock().expect("record").push((index, steps));
        None
    });
    for at in [15, 30] {
        let enc = trip.enc.clone();
        on_frame(&pad(&trip.enc, "sink"), at, move || assert!(enc.emit_by_name::<bool>("ratchet", &[])));
    }
    trip.run();
    assert_eq!(trip.decoded(), VIDEO_FRAMES);
    assert_eq!(trip.output(), trip.input());
    assert_eq!(*followed.lock().expect("record"), vec![(0, 1), (0, 1)]);
    assert_eq!(stat(&trip.dec, "ratchets"), 2);
}

#[test]
fn disabled_elements_pass_frames_through() {
    let key = format!("key={} enabled=false", material_hex());
    let trip = RoundTrip::video(&key, &key);
    let run = trip.run();
    assert_eq!(trip.decoded(), VIDEO_FRAMES);
    assert_eq!(trip.encrypted(), trip.input(), "sent unchanged");
    assert_eq!(trip.output(), trip.input());
    for element in [&trip.enc, &trip.dec] {
        assert_eq!(stat(element, "frames-passed-through"), VIDEO_FRAMES as u64);
    }
    assert_eq!(run.states, vec![state("disabled", 0), state("disabled", 0)]);
}

#[test]
fn wrong_size_key_before_start_fails_the_start_with_an_error() {
    let pipeline = pipeline(&format!("{} ! jframeenc key-mode=raw key=0102030405 ! fakesink", video_source()));
    let run = run(&pipeline);
    assert_eq!(run.errors.len(), 1);
    let gst::MessageView::Error(error) = run.errors[0].view() else { unreachable!() };
    assert!(error.error().matches(gst::LibraryError::Settings), "{:?}", error.error());
}

/// `appsrc ! <filters> ! decoder ! appsink`, fed with `frames`; returns the decoded count.
fn feed(filters: &str, decoder: &str, caps: &gst::Caps, frames: &[Vec<u8>]) -> (gst::Pipeline, usize) {
    let pipeline =
        pipeline(&format!("appsrc name=src format=time ! {filters} ! {decoder} ! appsink name=sink sync=false"));
    let src = element(&pipeline, "src").downcast::<gst_app::AppSrc>().expect("appsrc");
    src.set_caps(Some(caps));
    let decoded = collect(&element(&pipeline, "sink"));
    let frame_time = gst::ClockTime::from_mseconds(20);
    for (n, frame) in frames.iter().enumerate() {
        let mut buffer = buffer(frame);
        {
            let buffer = buffer.get_mut().expect("new buffer");
            buffer.set_pts(frame_time * n as u64);
            buffer.set_duration(frame_time);
        }
        src.push_buffer(buffer).expect("queued in appsrc");
    }
    src.end_of_stream().expect("EOS queued");
    let run = run(&pipeline);
    assert!(run.errors.is_empty(), "errors: {:?}", run.errors);
    assert!(run.eos);
    let count = decoded.lock().expect("collect").len();
    (pipeline, count)
}

/// `frames` with `bad` inserted at position 10.
fn with_bad_frame(frames: &[Vec<u8>], bad: Vec<u8>) -> Vec<Vec<u8>> {
    let mut stream = frames.to_vec();
    stream.insert(10, bad);
    stream
}

/// `frames` encrypted with `MATERIAL` by the core, as jframedec receives them.
fn encrypted_by_core(frames: &[Vec<u8>], kind_of: fn(&[u8]) -> FrameKind) -> Vec<Vec<u8>> {
    let mut ctx = Context::new(KeyMode::Derived);
    ctx.keys_mut().set_key(0, &MATERIAL).expect("key");
    let mut ivs = IvSequence::new(1);
    frames
        .iter()
        .map(|frame| {
            let mut frame = frame.clone();
            let iv = ivs.next().expect("IV");
            match ctx.encrypt(kind_of(&frame), &mut frame, iv) {
                Ok(EncryptOutcome::Encrypted(trailer)) => frame.extend_from_slice(trailer.as_bytes()),
                other => panic!("core encryption: {other:?}"),
            }
            frame
        })
        .collect()
}

fn vp8_kind(frame: &[u8]) -> FrameKind {
    FrameKind::of_vp8(frame).expect("VP8 frame")
}

#[test]
fn frames_shorter_than_their_clear_prefix_are_dropped_and_the_stream_goes_on() {
    let key = format!("key={}", material_hex());
    // A 5-byte VP8 frame whose tag says key frame (P bit 0): 10 clear bytes expected.
    // Its last byte, read as a key index by the receiver, names the slot that has the key.
    let short_key_frame = vec![0x50, 0x01, 0x00, 0x9d, 0x00];
    let media = [
        ("vp8dec", &vp8_frames().caps, &vp8_frames().frames, short_key_frame, vp8_kind as fn(&[u8]) -> FrameKind),
        ("opusdec", &opus_frames().caps, &opus_frames().frames, Vec::new(), |_: &[u8]| FrameKind::Audio),
    ];
    for (decoder, caps, frames, bad, kind_of) in media {
        // At the sender.
        let stream = with_bad_frame(frames, bad.clone());
        let (pipeline, decoded) =
            feed(&format!("jframeenc name=enc {key} ! jframedec name=dec {key}"), decoder, caps, &stream);
        assert_eq!(decoded, frames.len(), "{decoder}: every good frame decoded");
        let enc = element(&pipeline, "enc");
        assert_eq!(stat(&enc, "dropped-malformed"), 1, "{decoder}");
        assert_eq!(stat(&enc, "frames-processed"), frames.len() as u64, "{decoder}");
        // The bad frame never left the sender.
        let dec = element(&pipeline, "dec");
        let mut received = vec![("frames-processed", frames.len() as u64), ("frames-passed-through", 0)];
        received.extend(DROP_COUNTERS.map(|counter| (counter, 0)));
        assert_eq!(frame_counters(&dec), received, "{decoder}");

        // At the receiver.
        let stream = with_bad_frame(&encrypted_by_core(frames, kind_of), bad);
        let (pipeline, decoded) = feed(&format!("jframedec name=dec {key}"), decoder, caps, &stream);
        assert_eq!(decoded, frames.len(), "{decoder}: every good frame decoded");
        let dec = element(&pipeline, "dec");
        assert_eq!(stat(&dec, "dropped-malformed"), 1, "{decoder}");
        assert_eq!(stat(&dec, "frames-processed"), frames.len() as u64, "{decoder}");
    }
}
