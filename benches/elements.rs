//! The elements in a pipeline: `appsrc ! jframeenc ! fakesink` and `appsrc ! jframedec !
//! fakesink` against `appsrc ! identity ! fakesink` with the same buffers, measured side
//! by side; and a flood of frames jframedec cannot decrypt. Ends with a table of the
//! nanoseconds each element adds per buffer.

use std::hint::black_box;
use std::sync::Once;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group};
use gst::prelude::*;
use gstjframe::jframe::iv::IvSequence;
use gstjframe::jframe::{Context, EncryptOutcome, FrameKind, KeyMode};

const KEY: [u8; 32] = [0x5a; 32];
const OTHER_KEY: [u8; 32] = [0xa5; 32];
const SIZES: [usize; 2] = [160, 1200];

fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().expect("GStreamer initialises");
        gstjframe::plugin_register_static().expect("the plugin registers");
    });
}

/// `count` distinct writable frames of `size` bytes, encrypted with `KEY` if asked.
fn frames(count: u64, size: usize, encrypted: bool) -> Vec<gst::Buffer> {
    let mut ctx = Context::new(KeyMode::Derived);
    let _ = ctx.keys_mut().set_key(0, &KEY);
    let mut ivs = IvSequence::new(1);
    (0..count)
        .map(|n| {
            let mut frame = vec![(n % 251) as u8; size];
            if encrypted {
                let iv = ivs.next().unwrap_or_default();
                if let Ok(EncryptOutcome::Encrypted(trailer)) = ctx.encrypt(FrameKind::Audio, &mut frame, iv) {
                    frame.extend_from_slice(trailer.as_bytes());
                }
            }
            gst::Buffer::from_mut_slice(frame)
        })
        .collect()
}

/// Time to push `buffers` through `appsrc ! <element> ! fakesink` until EOS. With
/// `shared`, a second reference to each buffer is kept, so none is writable and the
/// element has to copy.
fn push_through(element: &str, buffers: Vec<gst::Buffer>) -> Duration {
    push(element, buffers, false)
}

fn push(element: &str, buffers: Vec<gst::Buffer>, shared: bool) -> Duration {
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src format=time max-bytes=0 caps=audio/x-opus ! {element} ! fakesink sync=false"
    ))
    .expect("pipeline")
    .downcast::<gst::Pipeline>()
    .expect("a pipeline");
    let src = pipeline.by_name("src").and_downcast::<gst_app::AppSrc>().expect("appsrc");
    // Queue every buffer first, so the time is the streaming thread's alone.
    let _ = pipeline.set_state(gst::State::Paused);
    let mut kept = Vec::with_capacity(if shared { buffers.len() } else { 0 });
    for buffer in buffers {
        if shared {
            kept.push(buffer.clone());
        }
        let _ = src.push_buffer(buffer);
    }
    let _ = src.end_of_stream();
    let start = Instant::now();
    pipeline.set_state(gst::State::Playing).expect("plays");
    let bus = pipeline.bus().expect("bus");
    let _ = bus.timed_pop_filtered(gst::ClockTime::from_seconds(120), &[gst::MessageType::Eos, gst::MessageType::Error]);
    let elapsed = start.elapsed();
    let _ = pipeline.set_state(gst::State::Null);
    elapsed
}

fn hex(key: &[u8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// The element under test and the frames it gets, per case.
fn cases() -> Vec<(&'static str, String, bool)> {
    vec![
        ("identity", "identity".to_string(), false),
        ("jframeenc", format!("jframeenc key={}", hex(&KEY)), false),
        ("jframedec", format!("jframedec key={}", hex(&KEY)), true),
        ("jframedec-wrong-key", format!("jframedec key={}", hex(&OTHER_KEY)), true),
    ]
}

fn bench_elements(c: &mut Criterion) {
    init();
    let mut group = c.benchmark_group("element");
    group.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(10);
    for size in SIZES {
        for (name, element, encrypted) in cases() {
            group.bench_with_input(BenchmarkId::new(name, size), &size, |b, &size| {
                b.iter_custom(|iters| push_through(&element, black_box(frames(iters.max(1000), size, encrypted))))
            });
        }
    }
    group.finish();
}

/// ns of one bare AES-128-GCM seal of `size` bytes (aes-gcm, as the default backend):
/// the budget is this plus 100 ns per buffer.
fn bare_seal_ns(size: usize) -> f64 {
    use aes_gcm::aead::array::Array;
    use aes_gcm::{AeadInOut, Aes128Gcm, KeyInit};
    const SEALS: u32 = 20_000;
    let Ok(cipher) = Aes128Gcm::new_from_slice(&KEY[..16]) else { return 0.0 };
    let nonce = Array::from([1u8; 12]);
    let mut data = vec![0u8; size];
    (0..5)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..SEALS {
                let _ = black_box(cipher.encrypt_inout_detached(&nonce, &[0], data.as_mut_slice().into()));
            }
            start.elapsed().as_nanos() as f64 / f64::from(SEALS)
        })
        .fold(f64::INFINITY, f64::min)
}

/// The added cost per buffer, each element against `identity` in the same run.
fn summary() {
    init();
    const BUFFERS: u64 = 20_000;
    println!("\nadded ns per buffer over `appsrc ! identity ! fakesink` ({BUFFERS} buffers, best of 5):");
    for size in SIZES {
        println!("  {:>24} {size:>5} B: {:>7.0} ns (budget: that + 100 ns)", "bare AES-GCM seal", bare_seal_ns(size));
        let per_buffer = |element: &str, encrypted: bool| {
            (0..5)
                .map(|_| push_through(element, frames(BUFFERS, size, encrypted)))
                .min()
                .map_or(0.0, |d| d.as_nanos() as f64 / BUFFERS as f64)
        };
        let baseline = per_buffer("identity", false);
        for (name, element, encrypted) in cases().into_iter().skip(1) {
            let cost = per_buffer(&element, encrypted);
            println!("  {name:>24} {size:>5} B: {:>7.0} ns ({cost:.0} vs identity {baseline:.0})", cost - baseline);
        }
        // The same encryption on buffers that are not writable: the copy it costs.
        let element = format!("jframeenc key={}", hex(&KEY));
        let shared = (0..5)
            .map(|_| push(&element, frames(BUFFERS, size, false), true))
            .min()
            .map_or(0.0, |d| d.as_nanos() as f64 / BUFFERS as f64);
        println!("  {:>24} {size:>5} B: {:>7.0} ns ({shared:.0} vs identity {baseline:.0})", "jframeenc (not writable)", shared - baseline);
    }
}

criterion_group!(benches, bench_elements);

fn main() {
    benches();
    // `cargo bench` passes --bench; under `cargo test` the benches only run once, as a check.
    if std::env::args().any(|a| a == "--bench") {
        summary();
    }
    criterion::Criterion::default().configure_from_args().final_summary();
}
