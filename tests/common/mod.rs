//! Helpers shared by the element and pipeline tests: set-up, keys, stats, bus
//! messages, and real VP8/Opus frames made once per test binary by real encoders.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::sync::{Arc, Mutex, Once, OnceLock};

use gst::prelude::*;
use gst_check::Harness;

#[path = "../vector_file/mod.rs"]
mod vector_file;

/// Registers GStreamer and the jframe plugin, once per test binary.
pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().expect("GStreamer initialises");
        gstjframe::plugin_register_static().expect("the jframe plugin registers");
    });
}

/// Key material (key-mode=hkdf) of the senders and receivers that agree.
pub const MATERIAL: [u8; 32] = *b"material of the tests, 32 bytes!";
/// `MATERIAL` as the `key` property takes it on a launch line.
pub fn material_hex() -> String {
    hex::encode(MATERIAL)
}

/// Another material: a receiver holding it cannot decrypt frames made with `MATERIAL`.
pub const OTHER_MATERIAL: [u8; 32] = *b"another material for the tests!!";
pub const RAW_KEY_16: [u8; 16] = *b"AES-128 raw key!";
pub const RAW_KEY_32: [u8; 32] = *b"AES-256 raw key, 32 bytes long.!";

/// JFrame overhead: tag (16), IV (12), IV length byte, key index.
pub const OVERHEAD: usize = 30;

pub fn buffer(bytes: &[u8]) -> gst::Buffer {
    gst::Buffer::from_slice(bytes.to_vec())
}

/// A buffer holding `frame` with `room` free bytes after it in its one memory, as an
/// encoder that takes the allocation query's padding makes it.
pub fn buffer_with_room(frame: &[u8], room: usize) -> gst::Buffer {
    let mut buffer = gst::Buffer::with_size(frame.len() + room).expect("a buffer");
    let writable = buffer.get_mut().expect("a new buffer");
    writable.set_size(frame.len());
    writable.copy_from_slice(0, frame).expect("the frame fits");
    buffer
}

pub fn bytes(buffer: &gst::BufferRef) -> Vec<u8> {
    buffer.map_readable().expect("readable buffer").to_vec()
}

/// Makes an element with its properties set from strings, in the order given, as
/// gst-launch does (a `key` is hex).
pub fn make(factory: &str, properties: &[(&str, &str)]) -> gst::Element {
    init();
    let element = gst::ElementFactory::make(factory).build().expect("element exists");
    for (name, value) in properties {
        element.set_property_from_str(name, value);
    }
    element
}

/// Emits `set-key(index, key)` and returns what the element answered.
pub fn set_key(element: &gst::Element, index: u32, key: &[u8]) -> bool {
    element.emit_by_name::<bool>("set-key", &[&index, &buffer(key)])
}

pub fn stats(element: &gst::Element) -> gst::Structure {
    element.property::<gst::Structure>("stats")
}

/// A counter of the `stats` property.
pub fn stat(element: &gst::Element, field: &str) -> u64 {
    stats(element).get::<u64>(field).unwrap_or_else(|e| panic!("stats field {field}: {e}"))
}

/// The `current-key-index` of the `stats` property (-1: none).
pub fn current_key_index(element: &gst::Element) -> i32 {
    stats(element).get::<i32>("current-key-index").expect("current-key-index field")
}

pub const DROP_COUNTERS: [&str; 5] = [
    "dropped-no-key",
    "dropped-unknown-key-index",
    "dropped-authentication-failed",
    "dropped-malformed",
    "dropped-replayed",
];

/// The counters that say why frames were dropped, with their values.
pub fn drop_counters(element: &gst::Element) -> Vec<(&'static str, u64)> {
    DROP_COUNTERS.into_iter().map(|field| (field, stat(element, field))).collect()
}

/// Every per-frame counter: each frame moves exactly one of them.
pub fn frame_counters(element: &gst::Element) -> Vec<(&'static str, u64)> {
    ["frames-processed", "frames-passed-through"]
        .into_iter()
        .chain(DROP_COUNTERS)
        .map(|field| (field, stat(element, field)))
        .collect()
}

/// The counters that differ between two readings of `frame_counters`.
pub fn moved(before: &[(&'static str, u64)], after: &[(&'static str, u64)]) -> Vec<&'static str> {
    before.iter().zip(after).filter(|(b, a)| b.1 != a.1).map(|(b, _)| b.0).collect()
}

/// One element under test in a harness, with a bus of its own to read its messages.
pub struct Tested {
    pub h: Harness,
    pub element: gst::Element,
    pub bus: gst::Bus,
}

impl Tested {
    /// Puts `element` (configured while in NULL) into a harness and starts it with `caps`.
    pub fn new(element: gst::Element, caps: &gst::Caps) -> Tested {
        let bus = gst::Bus::new();
        element.set_bus(Some(&bus));
        let mut h = Harness::with_element(&element, Some("sink"), Some("src"));
        h.play();
        h.set_src_caps(caps.clone());
        Tested { h, element, bus }
    }

    /// Pushes one frame; returns the frames that came out of the element for it.
    pub fn push(&mut self, frame: &[u8]) -> Vec<Vec<u8>> {
        assert_eq!(self.h.push(buffer(frame)), Ok(gst::FlowSuccess::Ok), "push a frame");
        self.pull_all()
    }

    /// Pushes frames in order; returns everything that came out, in order.
    pub fn push_all<'a>(&mut self, frames: impl IntoIterator<Item = &'a Vec<u8>>) -> Vec<Vec<u8>> {
        frames.into_iter().flat_map(|frame| self.push(frame)).collect()
    }

    pub fn pull_all(&mut self) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| self.h.try_pull()).map(|b| bytes(&b)).collect()
    }

    /// The `jframe-state` messages posted since the last call, as (state, key-index).
    pub fn state_messages(&self) -> Vec<(String, i32)> {
        state_messages(&self.bus)
    }

    /// Error and warning messages posted since the last call.
    pub fn errors_and_warnings(&self) -> Vec<gst::Message> {
        std::iter::from_fn(|| self.bus.pop_filtered(&[gst::MessageType::Error, gst::MessageType::Warning])).collect()
    }
}

/// Pops the `jframe-state` element messages queued on `bus`, as (state, key-index).
pub fn state_messages(bus: &gst::Bus) -> Vec<(String, i32)> {
    std::iter::from_fn(|| bus.pop_filtered(&[gst::MessageType::Element]))
        .filter_map(|message| {
            let s = message.structure()?;
            (s.name() == "jframe-state").then(|| {
                (s.get::<String>("state").expect("state field"), s.get::<i32>("key-index").expect("key-index field"))
            })
        })
        .collect()
}

pub fn state(name: &str, key_index: i32) -> (String, i32) {
    (name.to_string(), key_index)
}

/// Frames made by a real encoder, with the caps it gave them.
pub struct Encoded {
    pub caps: gst::Caps,
    pub frames: Vec<Vec<u8>>,
}

/// 30 VP8 frames of 64x48 test video: one key frame, then inter frames.
pub fn vp8_frames() -> &'static Encoded {
    static FRAMES: OnceLock<Encoded> = OnceLock::new();
    FRAMES.get_or_init(|| {
        encode("videotestsrc num-buffers=30 ! video/x-raw,width=64,height=48,framerate=30/1 ! vp8enc deadline=1")
    })
}

/// About 20 Opus frames of test audio (20 ms each).
pub fn opus_frames() -> &'static Encoded {
    static FRAMES: OnceLock<Encoded> = OnceLock::new();
    FRAMES.get_or_init(|| {
        encode("audiotestsrc num-buffers=20 samplesperbuffer=960 ! audio/x-raw,rate=48000,channels=1 ! opusenc")
    })
}

fn encode(launch: &str) -> Encoded {
    init();
    let pipeline = gst::parse::launch(&format!("{launch} ! appsink name=sink sync=false"))
        .expect("encoding pipeline")
        .downcast::<gst::Pipeline>()
        .expect("a pipeline");
    let sink = pipeline.by_name("sink").and_downcast::<gst_app::AppSink>().expect("appsink");
    pipeline.set_state(gst::State::Playing).expect("encoding pipeline plays");
    let mut caps = None;
    let mut frames = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        caps = caps.or_else(|| sample.caps_owned());
        frames.push(bytes(sample.buffer().expect("sample buffer")));
    }
    pipeline.set_state(gst::State::Null).expect("encoding pipeline stops");
    assert!(!frames.is_empty(), "{launch} gave no frames");
    Encoded { caps: caps.expect("caps"), frames }
}

/// What a pipeline posted before it reached EOS (or failed).
pub struct Run {
    pub errors: Vec<gst::Message>,
    pub warnings: Vec<gst::Message>,
    pub states: Vec<(String, i32)>,
    pub eos: bool,
}

/// Plays `pipeline` until EOS or an error, then stops it. The timeout only guards
/// against a hang; nothing depends on how long the run takes.
pub fn run(pipeline: &gst::Pipeline) -> Run {
    let bus = pipeline.bus().expect("pipeline bus");
    // A pipeline that cannot start has posted why already: read what is there.
    let wait = match pipeline.set_state(gst::State::Playing) {
        Ok(_) => gst::ClockTime::from_seconds(120),
        Err(_) => gst::ClockTime::ZERO,
    };
    let mut run = Run { errors: Vec::new(), warnings: Vec::new(), states: Vec::new(), eos: false };
    while let Some(message) = bus.timed_pop(wait) {
        match message.view() {
            gst::MessageView::Eos(_) => {
                run.eos = true;
                break;
            }
            gst::MessageView::Error(_) => {
                run.errors.push(message.clone());
                break;
            }
            gst::MessageView::Warning(_) => run.warnings.push(message.clone()),
            gst::MessageView::Element(e) => {
                if let Some(s) = e.structure().filter(|s| s.name() == "jframe-state") {
                    run.states.push((
                        s.get::<String>("state").expect("state field"),
                        s.get::<i32>("key-index").expect("key-index field"),
                    ));
                }
            }
            _ => (),
        }
    }
    pipeline.set_state(gst::State::Null).expect("pipeline stops");
    run
}

/// Builds a pipeline from a launch line.
pub fn pipeline(launch: &str) -> gst::Pipeline {
    init();
    gst::parse::launch(launch)
        .unwrap_or_else(|e| panic!("{launch}: {e}"))
        .downcast::<gst::Pipeline>()
        .expect("a pipeline")
}

pub fn element(pipeline: &gst::Pipeline, name: &str) -> gst::Element {
    pipeline.by_name(name).unwrap_or_else(|| panic!("no element {name}"))
}

/// Records the bytes of every buffer going through `pad`, in order.
pub fn capture(pad: &gst::Pad) -> Arc<Mutex<Vec<Vec<u8>>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let store = seen.clone();
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(buffer) = info.buffer() {
            store.lock().expect("capture lock").push(bytes(buffer));
        }
        gst::PadProbeReturn::Ok
    });
    seen
}

/// Records every sample `sink` (an appsink) receives, pulling as they come so that
/// the appsink does not hold EOS back.
pub fn collect(sink: &gst::Element) -> Arc<Mutex<Vec<Vec<u8>>>> {
    let sink = sink.clone().downcast::<gst_app::AppSink>().expect("an appsink");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let store = seen.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let buffer = sample.buffer().ok_or(gst::FlowError::Error)?;
                store.lock().expect("collect lock").push(bytes(buffer));
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    seen
}

/// When frame number `at` (from 0) reaches `pad`, runs `action` on another thread and
/// holds the frame there until it is done: the action happens while playing, exactly
/// between frames `at - 1` and `at`.
pub fn on_frame(pad: &gst::Pad, at: usize, action: impl FnOnce() + Send + 'static) {
    // (frames seen, action not yet run)
    let pending = Mutex::new((0, Some(action)));
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        let mut pending = pending.lock().expect("probe lock");
        if pending.0 == at
            && let Some(action) = pending.1.take()
        {
            std::thread::spawn(action).join().expect("mid-stream action");
        }
        pending.0 += 1;
        gst::PadProbeReturn::Ok
    });
}

pub fn pad(element: &gst::Element, name: &str) -> gst::Pad {
    element.static_pad(name).unwrap_or_else(|| panic!("no pad {name}"))
}

/// Clear prefix of a VP8 frame by its P bit (0 = key frame): what JFrame leaves in clear.
pub fn vp8_clear_len(frame: &[u8]) -> usize {
    match frame.first() {
        Some(first) if first & 1 == 0 => 10,
        _ => 3,
    }
}

/// The reference vectors, as `tests/vectors.rs` finds them.
pub fn vectors() -> serde_json::Value {
    read_vectors("JFRAME_VECTORS", "jframe-vectors.json")
}

pub fn hex_field(v: &serde_json::Value, field: &str) -> Vec<u8> {
    let text = v[field].as_str().unwrap_or_else(|| panic!("{field} is not a hex string in {v}"));
    hex::decode(text).unwrap_or_else(|e| panic!("{field}: {e}"))
}

/// LiveKit's vectors, as `tests/livekit_vectors.rs` finds them.
pub fn livekit_vectors() -> serde_json::Value {
    read_vectors("LIVEKIT_VECTORS", "livekit-vectors.json")
}

fn read_vectors(var: &str, file: &str) -> serde_json::Value {
    let path = vector_file::path(var, file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (set {var} to the vector file)", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
