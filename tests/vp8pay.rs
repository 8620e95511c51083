//! Real pipelines through `jframevp8pay`: decoding after depayloading, JFrame ciphertext
//! that the C `rtpvp8pay` refuses, the RFC 7741 payload descriptor, and key-unit requests.

use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use gst::prelude::*;
use gstjframe::jframe::iv::IvSequence;
use gstjframe::jframe::{Context, DecryptOutcome, EncryptOutcome, FrameKind, KeyMode};

/// Only a guard against a hung pipeline; no test measures time.
const HANG_GUARD: Duration = Duration::from_secs(120);
const KEY: [u8; 32] = [0x42; 32];

fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().expect("GStreamer initialises");
        gstjframe::plugin_register_static().expect("the jframe plugin registers");
    });
}

fn pipeline(description: &str) -> gst::Pipeline {
    gst::parse::launch(description).expect("pipeline parses").downcast::<gst::Pipeline>().expect("a pipeline")
}

fn element(pipeline: &gst::Pipeline, name: &str) -> gst::Element {
    pipeline.by_name(name).unwrap_or_else(|| panic!("no element {name}"))
}

/// An error message as the bus carried it.
struct PipelineError {
    source: String,
    message: String,
    debug: String,
}

/// Plays the pipeline until EOS (`Ok`) or the first error, then stops it.
fn run(pipeline: &gst::Pipeline) -> Result<(), PipelineError> {
    pipeline.set_state(gst::State::Playing).expect("pipeline starts");
    let bus = pipeline.bus().expect("pipeline has a bus");
    let message = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(HANG_GUARD.as_secs()),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("pipeline reaches EOS or an error");
    pipeline.set_state(gst::State::Null).expect("pipeline stops");
    match message.view() {
        gst::MessageView::Error(err) => Err(PipelineError {
            source: err.src().map(|s| s.name().to_string()).unwrap_or_default(),
            message: err.error().to_string(),
            debug: err.debug().map(|d| d.to_string()).unwrap_or_default(),
        }),
        _ => Ok(()),
    }
}

/// Every sample that reaches the appsink `name`, in order.
fn collect_samples(pipeline: &gst::Pipeline, name: &str) -> Arc<Mutex<Vec<gst::Sample>>> {
    let samples = Arc::new(Mutex::new(Vec::new()));
    let sink = element(pipeline, name).downcast::<gst_app::AppSink>().expect("an appsink");
    let store = samples.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                store.lock().unwrap().push(sample);
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    samples
}

fn bytes(buffer: &gst::BufferRef) -> Vec<u8> {
    buffer.map_readable().expect("readable buffer").to_vec()
}

fn kind(frame: &[u8]) -> FrameKind {
    FrameKind::of_vp8(frame).expect("non-empty VP8 frame")
}

/// Frames as the encoder produced them and as they left the JFrame sender.
#[derive(Default)]
struct SentFrames {
    clear: Vec<Vec<u8>>,
    encrypted: Vec<Vec<u8>>,
}

/// Encrypts every buffer leaving `pad` with the core, as a JFrame sender does: clear
/// prefix kept, the rest AES-GCM ciphertext, the 30-byte trailer appended.
fn encrypt_frames_leaving(pad: &gst::Pad) -> Arc<Mutex<SentFrames>> {
    let sent = Arc::new(Mutex::new(SentFrames::default()));
    let mut context = Context::new(KeyMode::Derived);
    context.keys_mut().set_key(0, &KEY).expect("key accepted");
    let sender = Mutex::new((context, IvSequence::new(0x1234_5678)));
    let record = sent.clone();
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let Some(gst::PadProbeData::Buffer(buffer)) = info.data.as_mut() else {
            return gst::PadProbeReturn::Ok;
        };
        let clear = bytes(buffer);
        let mut frame = clear.clone();
        let (context, ivs) = &mut *sender.lock().unwrap();
        let iv = ivs.next().expect("IV counter not spent");
        match context.encrypt(kind(&clear), &mut frame, iv).expect("frame encrypts") {
            EncryptOutcome::Encrypted(trailer) => frame.extend_from_slice(trailer.as_bytes()),
            EncryptOutcome::PassThrough => panic!("encryption is enabled"),
        }
        let mut encrypted = gst::Buffer::from_mut_slice(frame.clone());
        buffer
            .copy_into(
                encrypted.make_mut(),
                gst::BufferCopyFlags::FLAGS | gst::BufferCopyFlags::TIMESTAMPS | gst::BufferCopyFlags::META,
                ..,
            )
            .expect("metadata copies");
        *buffer = encrypted;
        let mut sent = record.lock().unwrap();
        sent.clear.push(clear);
        sent.encrypted.push(frame);
        gst::PadProbeReturn::Ok
    });
    sent
}

/// Counts buffers (and the buffers of lists) leaving `pad`, and those with the marker bit.
fn count_packets_leaving(pad: &gst::Pad) -> Arc<Mutex<(usize, usize)>> {
    let counts = Arc::new(Mutex::new((0, 0)));
    let store = counts.clone();
    pad.add_probe(gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST, move |_, info| {
        let mut counts = store.lock().unwrap();
        let mut count = |buffer: &gst::BufferRef| {
            counts.0 += 1;
            counts.1 += usize::from(buffer.flags().contains(gst::BufferFlags::MARKER));
        };
        match &info.data {
            Some(gst::PadProbeData::Buffer(buffer)) => count(buffer),
            Some(gst::PadProbeData::BufferList(list)) => list.iter().for_each(count),
            _ => (),
        }
        gst::PadProbeReturn::Ok
    });
    counts
}

/// Counts the key and delta frames leaving `pad`.
fn count_frame_kinds_leaving(pad: &gst::Pad) -> Arc<Mutex<(usize, usize)>> {
    let counts = Arc::new(Mutex::new((0, 0)));
    let store = counts.clone();
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(gst::PadProbeData::Buffer(buffer)) = &info.data {
            let mut counts = store.lock().unwrap();
            match kind(&bytes(buffer)) {
                FrameKind::VideoKey => counts.0 += 1,
                _ => counts.1 += 1,
            }
        }
        gst::PadProbeReturn::Ok
    });
    counts
}

#[test]
fn every_frame_decodes_after_splitting_at_a_small_mtu() {
    init();
    const FRAMES: usize = 30;
    let p = pipeline(&format!(
        "videotestsrc num-buffers={FRAMES} ! video/x-raw,width=320,height=240 \
         ! vp8enc name=enc deadline=1 keyframe-max-dist=10 ! jframevp8pay name=pay mtu=200 \
         ! rtpvp8depay ! vp8dec ! appsink name=out sync=false"
    ));
    let kinds = count_frame_kinds_leaving(&element(&p, "enc").static_pad("src").unwrap());
    let packets = count_packets_leaving(&element(&p, "pay").static_pad("src").unwrap());
    let decoded = collect_samples(&p, "out");

    run(&p).map_err(|e| e.debug).expect("pipeline reaches EOS");

    let (keys, deltas) = *kinds.lock().unwrap();
    let (packets, markers) = *packets.lock().unwrap();
    assert_eq!(decoded.lock().unwrap().len(), FRAMES, "decoded frames");
    assert!(keys >= 3 && deltas >= FRAMES / 2, "{keys} key and {deltas} delta frames");
    assert_eq!(markers, FRAMES, "one marker per frame");
    assert!(packets >= 2 * FRAMES, "{packets} packets for {FRAMES} frames");
}

#[test]
fn c_rtpvp8pay_stops_on_jframe_ciphertext() {
    init();
    let description = "videotestsrc num-buffers=30 ! video/x-raw,width=320,height=240 \
                       ! vp8enc name=enc deadline=1 ! rtpvp8pay ! fakesink";

    // The same pipeline without encryption runs to the end.
    run(&pipeline(description)).map_err(|e| e.debug).expect("clear VP8 payloads");

    let p = pipeline(description);
    let sent = encrypt_frames_leaving(&element(&p, "enc").static_pad("src").unwrap());
    let error = run(&p).expect_err("rtpvp8pay posts an error on ciphertext");
    assert!(error.source.starts_with("rtpvp8pay"), "error from {}", error.source);
    assert!(error.debug.contains("Failed to parse VP8 frame"), "error: {} ({})", error.message, error.debug);
    assert!(!sent.lock().unwrap().encrypted.is_empty(), "frames were encrypted");
}

#[test]
fn jframe_ciphertext_crosses_jframevp8pay_byte_for_byte() {
    init();
    const FRAMES: usize = 30;
    const MTU: usize = 300;
    let p = pipeline(&format!(
        "videotestsrc num-buffers={FRAMES} ! video/x-raw,width=320,height=240 \
         ! vp8enc name=enc deadline=1 keyframe-max-dist=10 ! jframevp8pay mtu={MTU} \
         ! rtpvp8depay ! appsink name=out sync=false"
    ));
    let sent = encrypt_frames_leaving(&element(&p, "enc").static_pad("src").unwrap());
    let received = collect_samples(&p, "out");

    run(&p).map_err(|e| e.debug).expect("pipeline reaches EOS");

    let sent = sent.lock().unwrap();
    let received: Vec<Vec<u8>> =
        received.lock().unwrap().iter().map(|s| bytes(s.buffer().expect("sample has a buffer"))).collect();
    assert_eq!(sent.encrypted.len(), FRAMES, "frames encrypted");
    assert_eq!(received.len(), FRAMES, "frames depayloaded");
    let keys = sent.clear.iter().filter(|f| kind(f) == FrameKind::VideoKey).count();
    assert!((3..FRAMES).contains(&keys), "{keys} key frames among {FRAMES}");
    assert!(sent.encrypted.iter().all(|f| f.len() > MTU), "every frame needs several packets");

    let mut receiver = Context::new(KeyMode::Derived);
    receiver.keys_mut().set_key(0, &KEY).expect("key accepted");
    for (i, ((encrypted, clear), mut frame)) in sent.encrypted.iter().zip(&sent.clear).zip(received).enumerate() {
        assert_eq!(&frame, encrypted, "frame {i} changed between payloader and depayloader");
        match receiver.decrypt(kind(&frame), &mut frame) {
            Ok(DecryptOutcome::Decrypted { len, .. }) => frame.truncate(len),
            other => panic!("frame {i} does not decrypt: {other:?}"),
        }
        assert_eq!(&frame, clear, "frame {i} decrypts to something else than vp8enc's output");
    }
}

/// An RTP packet's header fields and VP8 payload descriptor.
struct Packet {
    size: usize,
    marker: bool,
    delta_unit: bool,
    timestamp: u32,
    start: bool,
    partition: u8,
    picture_id: u16,
    /// The first VP8 byte after the descriptor.
    first_byte: u8,
}

fn parse_packet(buffer: &gst::Buffer) -> Packet {
    let rtp = gst_rtp::RTPBuffer::from_buffer_readable(buffer).expect("valid RTP packet");
    let payload = rtp.payload().expect("payload");
    assert!(payload.len() > 4, "descriptor and at least one byte");
    assert_eq!(payload[0] & 0x80, 0x80, "X bit");
    assert_eq!(payload[1], 0x80, "only I among I/L/T/K");
    assert_eq!(payload[2] & 0x80, 0x80, "M bit: 15-bit PictureID");
    Packet {
        size: buffer.size(),
        marker: rtp.is_marker(),
        delta_unit: buffer.flags().contains(gst::BufferFlags::DELTA_UNIT),
        timestamp: rtp.timestamp(),
        start: payload[0] & 0x10 != 0,
        partition: payload[0] & 0x0F,
        picture_id: u16::from_be_bytes([payload[2] & 0x7F, payload[3]]),
        first_byte: payload[4],
    }
}

#[test]
fn payload_descriptor_follows_rfc_7741() {
    init();
    const FRAMES: usize = 40;
    const MTU: usize = 120;
    const FIRST_PICTURE_ID: u16 = 32_760;
    let p = pipeline(&format!(
        "videotestsrc num-buffers={FRAMES} ! video/x-raw,width=320,height=240 \
         ! vp8enc deadline=1 keyframe-max-dist=15 \
         ! jframevp8pay mtu={MTU} picture-id-offset={FIRST_PICTURE_ID} ! appsink name=out sync=false"
    ));
    let samples = collect_samples(&p, "out");

    run(&p).map_err(|e| e.debug).expect("pipeline reaches EOS");

    let samples = samples.lock().unwrap();
    let caps = samples.first().and_then(|s| s.caps()).expect("caps").structure(0).expect("structure").to_owned();
    assert_eq!(caps.get::<&str>("encoding-name").ok(), Some("VP8"));
    assert_eq!(caps.get::<i32>("payload").ok(), Some(96));
    assert_eq!(caps.get::<i32>("clock-rate").ok(), Some(90_000));

    let packets: Vec<Packet> = samples.iter().map(|s| parse_packet(&s.buffer_owned().expect("buffer"))).collect();
    let mut frames: Vec<&[Packet]> = packets.split_inclusive(|packet| packet.marker).collect();
    assert_eq!(frames.len(), FRAMES, "frames delimited by the marker bit");
    assert!(frames.iter().all(|f| f.last().is_some_and(|p| p.marker)), "last packet has the marker");

    let mut expected_id = FIRST_PICTURE_ID;
    let mut wrapped = false;
    for (i, frame) in frames.drain(..).enumerate() {
        let head = &frame[0];
        assert!(frame.len() >= 2, "frame {i} spans several packets");
        assert!(head.start, "S bit on the first packet of frame {i}");
        assert!(frame[1..].iter().all(|p| !p.start), "S bit only on the first packet of frame {i}");
        assert!(frame[..frame.len() - 1].iter().all(|p| !p.marker), "marker only on the last packet");
        assert!(frame.iter().all(|p| p.partition == 0), "PID 0");
        assert!(frame.iter().all(|p| p.size <= MTU), "packet larger than the MTU in frame {i}");
        assert!(frame.iter().all(|p| p.picture_id == expected_id), "PictureID of frame {i}");
        assert!(frame.iter().all(|p| p.timestamp == head.timestamp), "one RTP timestamp per frame");
        let key_frame = head.first_byte & 0x01 == 0;
        assert_eq!(head.delta_unit, !key_frame, "DELTA_UNIT of frame {i}'s first packet");
        assert!(frame[1..].iter().all(|p| p.delta_unit), "DELTA_UNIT on later packets");
        wrapped |= expected_id == 0;
        expected_id = (expected_id + 1) & 0x7FFF;
    }
    assert!(wrapped, "the PictureID wrapped from 32767 to 0");
}

/// Runs vp8enc (no periodic key frames) into jframevp8pay and, when asked, sends a
/// force-key-unit event upstream from the sink once `force_key_unit_after` frames have
/// arrived. Returns the indexes of the key frames.
fn key_frame_indexes(force_key_unit_after: Option<usize>) -> Vec<usize> {
    const FRAMES: usize = 40;
    let p = pipeline(&format!(
        "videotestsrc num-buffers={FRAMES} ! video/x-raw,width=320,height=240 \
         ! vp8enc deadline=1 keyframe-max-dist=100000 ! jframevp8pay ! appsink name=out sync=false"
    ));
    let sink = element(&p, "out").downcast::<gst_app::AppSink>().expect("an appsink");
    let key_frames = Arc::new(Mutex::new(Vec::new()));
    let store = key_frames.clone();
    let mut frame_index = 0;
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let packet = parse_packet(&sample.buffer_owned().ok_or(gst::FlowError::Error)?);
                if packet.start && packet.first_byte & 0x01 == 0 {
                    store.lock().unwrap().push(frame_index);
                }
                if packet.marker {
                    frame_index += 1;
                    if Some(frame_index) == force_key_unit_after {
                        let request = gst::Structure::builder("GstForceKeyUnit")
                            .field("all-headers", true)
                            .field("count", 0u32)
                            .build();
                        let pad = sink.static_pad("sink").ok_or(gst::FlowError::Error)?;
                        // Whether it was handled shows in the key frames that follow.
                        pad.push_event(gst::event::CustomUpstream::new(request));
                    }
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    run(&p).map_err(|e| e.debug).expect("pipeline reaches EOS");
    key_frames.lock().unwrap().clone()
}

#[test]
fn force_key_unit_from_downstream_reaches_the_encoder() {
    init();
    assert_eq!(key_frame_indexes(None), vec![0], "without a request only the first frame is key");
    let with_request = key_frame_indexes(Some(10));
    assert!(with_request.len() == 2 && with_request[0] == 0 && with_request[1] >= 10, "key frames at {with_request:?}");
}
