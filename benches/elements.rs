//! The elements in a pipeline: `appsrc ! jframeenc ! fakesink` and `appsrc ! jframedec !
//! fakesink` (JFrame, and SFrame with AES_128_GCM_SHA256_128) against `appsrc ! identity !
//! fakesink` with the same buffers, a flood of
//! frames jframedec cannot decrypt, and input that is not writable. Ends with a table of
//! the nanoseconds each element adds per buffer, beside a bare AES-GCM seal or open of the
//! same size measured in the same rounds.
//!
//! Buffers are made in the streaming thread as they are needed (copied from one frame), as
//! an encoder or a depayloader makes them: hot in the cache, and one allocation each, for
//! every case alike. The time runs from the first request for data to the last, so
//! pipeline start-up and shutdown are not in it. A case whose source works differently
//! (thousands of distinct SFrame ciphertexts, or references kept to every buffer) is
//! taken against an `identity` run with that same source: its cost is the source's, not
//! the element's.

use std::hint::black_box;
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use gst::prelude::*;
use gstjframe::jframe::{Context, DEFAULT_RATCHET_WINDOW, EncryptOutcome, FrameKind, IV_LEN, KeyMode, TRAILER_LEN};
use gstjframe::sframe::{CipherSuite, KeySet, MAX_HEADER_LEN};

mod bare;

const KEY: [u8; 32] = [0x5a; 32];
const OTHER_KEY: [u8; 32] = [0xa5; 32];
const SIZES: [usize; 2] = [160, 1200];
const IV: [u8; IV_LEN] = [7; IV_LEN];
/// Buffers made per request for data.
const BATCH: usize = 32;
/// Buffers per timed run, and runs per case, interleaved between the cases.
const BUFFERS: usize = 2_000;
const ROUNDS: usize = 40;

fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().expect("GStreamer initialises");
        gstjframe::plugin_register_static().expect("the plugin registers");
    });
}

fn hex(key: &[u8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// An Opus-like frame of `size` bytes, encrypted with `KEY` if asked.
fn frame(size: usize, encrypted: bool) -> Vec<u8> {
    let mut frame = vec![0x5a; size];
    if encrypted {
        let mut ctx = Context::new(KeyMode::Derived);
        ctx.keys_mut().set_key(0, &KEY).expect("a key");
        match ctx.encrypt(FrameKind::Audio, &mut frame, IV) {
            Ok(EncryptOutcome::Encrypted(trailer)) => frame.extend_from_slice(trailer.as_bytes()),
            other => panic!("encrypt gave {other:?}"),
        }
    }
    frame
}

/// SFrame ciphertexts of an Opus-like frame of `size` bytes under `KEY`, each with its
/// own CTR: the receiver refuses a CTR it has seen.
fn sframe_frames(size: usize) -> Vec<Vec<u8>> {
    let mut keys = KeySet::new(CipherSuite::AesGcm128Sha256);
    keys.insert(0, &KEY).expect("a key");
    (0..BUFFERS as u64 * 2)
        .map(|ctr| {
            let mut frame = vec![0x5a; size];
            keys.encrypt_vec(0, ctr + (1 << 40), &[], &mut frame).expect("encrypts");
            frame
        })
        .collect()
}

/// The AES-GCM work an element does per buffer.
#[derive(Clone, Copy, PartialEq)]
enum Aead {
    None,
    Seal,
    Open,
    /// The opens of a frame no key fits: the current key and the ratchet window.
    FailedOpens,
}

/// One thing to measure: an element and the buffers it gets.
struct Case {
    name: &'static str,
    aead: Aead,
    element: String,
    caps: &'static str,
    /// The frames, sent in turn.
    frames: Vec<Vec<u8>>,
    /// Free bytes before each frame in its memory (an allocation query's prefix, for the
    /// SFrame header).
    prefix: usize,
    /// Free bytes after each frame in its memory (encoders that take the allocation
    /// query's padding leave room for the trailer; `vp8enc` leaves none).
    room: usize,
    /// Whether the source keeps a reference to each buffer, so that none is writable.
    shared: bool,
    /// The `identity` case with the same frames, which the case's cost is taken against.
    baseline: &'static str,
}

fn cases(size: usize) -> Vec<Case> {
    let enc = format!("jframeenc key={}", hex(&KEY));
    let dec = |key: &[u8]| format!("jframedec key={}", hex(key));
    let (plain, sealed) = (frame(size, false), frame(size, true));
    let case = |name, aead, element: &str, frame: &Vec<u8>, room, shared| Case {
        name,
        aead,
        element: element.into(),
        caps: "audio/x-opus",
        frames: vec![frame.clone()],
        prefix: 0,
        room,
        shared,
        baseline: "identity",
    };
    let sframe_enc = format!("jframeenc format=sframe key={}", hex(&KEY));
    let sframe_dec = format!("jframedec format=sframe key={}", hex(&KEY));
    let sframe_ciphertexts = sframe_frames(size);
    vec![
        case("identity", Aead::None, "identity", &plain, TRAILER_LEN, false),
        case("jframeenc", Aead::Seal, &enc, &plain, TRAILER_LEN, false),
        case("jframeenc, no room for the trailer", Aead::Seal, &enc, &plain, 0, false),
        case("identity, kept upstream", Aead::None, "identity", &plain, TRAILER_LEN, true),
        Case {
            baseline: "identity, kept upstream",
            ..case("jframeenc, not writable", Aead::Seal, &enc, &plain, TRAILER_LEN, true)
        },
        case("jframedec", Aead::Open, &dec(&KEY), &sealed, 0, false),
        case("jframedec, wrong key", Aead::FailedOpens, &dec(&OTHER_KEY), &sealed, 0, false),
        Case {
            prefix: MAX_HEADER_LEN,
            ..case("jframeenc format=sframe", Aead::Seal, &sframe_enc, &plain, TRAILER_LEN, false)
        },
        case("jframeenc format=sframe, no room", Aead::Seal, &sframe_enc, &plain, 0, false),
        // Thousands of distinct frames (the replay window refuses a repeated one), colder in
        // the cache than one frame sent again: its own baseline makes the same buffers.
        Case {
            caps: "application/x-sframe,media-type=audio/x-opus",
            frames: sframe_ciphertexts.clone(),
            ..case("identity, SFrame ciphertexts", Aead::None, "identity", &plain, 0, false)
        },
        Case {
            caps: "application/x-sframe,media-type=audio/x-opus",
            frames: sframe_ciphertexts,
            baseline: "identity, SFrame ciphertexts",
            ..case("jframedec format=sframe", Aead::Open, &sframe_dec, &plain, 0, false)
        },
    ]
}

/// A new buffer holding `frame`, with `prefix` free bytes before it and `room` after it.
fn fresh(frame: &[u8], prefix: usize, room: usize) -> gst::Buffer {
    let mut buffer = gst::Buffer::with_size(prefix + frame.len() + room).expect("a buffer");
    let writable = buffer.get_mut().expect("a new buffer is writable");
    writable.resize(prefix..prefix + frame.len()).expect("within the buffer");
    writable.copy_from_slice(0, frame).expect("the frame fits");
    buffer
}

#[derive(Default)]
struct Feed {
    made: usize,
    first_request: Option<Instant>,
    last_request: Option<Instant>,
    /// The previous batch, when the case keeps references.
    kept: Vec<gst::Buffer>,
}

/// Time to make `count` buffers and push them through `appsrc ! <element> ! fakesink`.
fn run(case: &Case, count: usize) -> Duration {
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src format=time caps={} ! {} ! fakesink sync=false",
        case.caps, case.element
    ))
    .expect("pipeline")
    .downcast::<gst::Pipeline>()
    .expect("a pipeline");
    let src = pipeline.by_name("src").and_downcast::<gst_app::AppSrc>().expect("appsrc");
    let feed = Arc::new(Mutex::new(Feed::default()));
    let (frames, prefix, room, shared) = (case.frames.clone(), case.prefix, case.room, case.shared);
    let feeding = feed.clone();
    // Called in the streaming thread when the queue is empty: the buffers of the batch
    // before have all gone through.
    let need_data = move |src: &gst_app::AppSrc, _: u32| {
        let mut feed = feeding.lock().expect("feed");
        let now = Instant::now();
        feed.first_request.get_or_insert(now);
        feed.kept.clear();
        if feed.made >= count {
            feed.last_request = Some(now);
            let _ = src.end_of_stream();
            return;
        }
        for _ in 0..BATCH.min(count - feed.made) {
            let buffer = fresh(&frames[feed.made % frames.len()], prefix, room);
            if shared {
                feed.kept.push(buffer.clone());
            }
            let _ = src.push_buffer(buffer);
            feed.made += 1;
        }
    };
    src.set_callbacks(gst_app::AppSrcCallbacks::builder().need_data(need_data).build());
    pipeline.set_state(gst::State::Playing).expect("plays");
    let bus = pipeline.bus().expect("bus");
    let _ =
        bus.timed_pop_filtered(gst::ClockTime::from_seconds(120), &[gst::MessageType::Eos, gst::MessageType::Error]);
    let _ = pipeline.set_state(gst::State::Null);
    let feed = feed.lock().expect("feed");
    match (feed.first_request, feed.last_request) {
        (Some(first), Some(last)) => last - first,
        _ => panic!("{}: the pipeline did not run to the end", case.name),
    }
}

fn bench_elements(c: &mut Criterion) {
    init();
    let mut group = c.benchmark_group("element");
    group.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(10);
    for size in SIZES {
        for case in cases(size) {
            group.bench_with_input(BenchmarkId::new(case.name, size), &case, |b, case| {
                b.iter_custom(|iters| run(case, iters.max(BATCH as u64) as usize))
            });
        }
    }
    group.finish();
}

/// Bare AES-128-GCM on frames of `size` bytes, one byte in clear: ns of a seal, of an
/// open, and of an open that fails. Each seal turns a batch of frames into ciphertext,
/// the opens turn it back.
fn bare_ns(size: usize) -> (f64, f64, f64) {
    const COPIES: usize = 64;
    const BATCHES: usize = 80;
    let key = bare::Key::new(&KEY[..16]);
    let aad = [0x5a];
    let mut frames = vec![vec![0x5a; size - aad.len()]; COPIES];
    let mut tags = vec![[0; 16]; COPIES];
    let (mut seal, mut open, mut failed_open) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    for _ in 0..BATCHES {
        let start = Instant::now();
        for (frame, tag) in frames.iter_mut().zip(&mut tags) {
            *tag = black_box(key.seal(&IV, &aad, frame));
        }
        seal += start.elapsed();
        let start = Instant::now();
        for (frame, tag) in frames.iter_mut().zip(&tags) {
            assert!(key.open(&IV, &aad, frame, tag), "bare open authenticates");
        }
        open += start.elapsed();
        let start = Instant::now();
        for frame in frames.iter_mut() {
            assert!(!key.open(&IV, &aad, frame, &[0; 16]), "bare open fails");
        }
        failed_open += start.elapsed();
    }
    let per_op = |time: Duration| time.as_nanos() as f64 / (COPIES * BATCHES) as f64;
    (per_op(seal), per_op(open), per_op(failed_open))
}

/// Per buffer, the fastest of `ROUNDS` runs of every case (and of the bare AEAD), the
/// runs of all cases taking turns so that a busy machine skews none of them.
fn summary() {
    init();
    println!(
        "\nns per buffer, fastest of {ROUNDS} interleaved runs of {BUFFERS} buffers each; bare AEAD: {}",
        bare::BACKEND
    );
    for size in SIZES {
        let cases = cases(size);
        let mut fastest = vec![f64::INFINITY; cases.len()];
        let (mut seal, mut open, mut failed_open) = (f64::INFINITY, f64::INFINITY, f64::INFINITY);
        for _ in 0..ROUNDS {
            for (case, best) in cases.iter().zip(fastest.iter_mut()) {
                *best = best.min(run(case, BUFFERS).as_nanos() as f64 / BUFFERS as f64);
            }
            let bare = bare_ns(size);
            (seal, open, failed_open) = (seal.min(bare.0), open.min(bare.1), failed_open.min(bare.2));
        }
        let identity = fastest[0];
        println!(
            "  {size} B frames: appsrc ! identity ! fakesink {identity:.0}; bare seal {seal:.0}, open {open:.0}, \
             failed open {failed_open:.0}"
        );
        let baseline = |name| cases.iter().zip(&fastest).find(|(case, _)| case.name == name).map(|(_, cost)| *cost);
        for (case, cost) in cases.iter().zip(&fastest).skip(1) {
            let added = cost - baseline(case.baseline).expect("a baseline case of that name");
            let against_aead = match case.aead {
                Aead::None => String::new(),
                Aead::Seal => {
                    format!("beyond the AEAD {:>5.0} (target at most 100), {:.2}x the AEAD", added - seal, added / seal)
                }
                Aead::Open => {
                    format!("beyond the AEAD {:>5.0} (target at most 100), {:.2}x the AEAD", added - open, added / open)
                }
                Aead::FailedOpens => {
                    format!("{:.1} failed bare opens (budget {})", added / failed_open, DEFAULT_RATCHET_WINDOW + 1)
                }
            };
            println!("    {:<36} {cost:>6.0}  added {added:>6.0}  {against_aead}", case.name);
        }
    }
}

criterion::criterion_group!(benches, bench_elements);

/// `ELEMENT_BENCH_RUN="<case>@<size>@<buffers>"` runs one case once and nothing else,
/// e.g. under `valgrind --tool=callgrind` to count instructions.
fn run_one(spec: &str) {
    init();
    let mut parts = spec.split('@');
    let (name, size, count) = (parts.next(), parts.next().and_then(|s| s.parse().ok()), parts.next());
    let (Some(name), Some(size), Some(count)) = (name, size, count.and_then(|c| c.parse().ok())) else {
        panic!("ELEMENT_BENCH_RUN: expected <case>@<size>@<buffers>, got {spec}");
    };
    let case = cases(size).into_iter().find(|case| case.name == name).expect("a case of that name");
    println!("{name}, {size} B, {count} buffers: {:?}", run(&case, count));
}

fn main() {
    if let Ok(spec) = std::env::var("ELEMENT_BENCH_RUN") {
        return run_one(&spec);
    }
    benches();
    // `cargo bench` passes --bench; under `cargo test` the benches only run once, as a check.
    if std::env::args().any(|a| a == "--bench") {
        summary();
    }
    Criterion::default().configure_from_args().final_summary();
}
