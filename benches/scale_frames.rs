//! One `jframedec` receiving a whole meeting: N senders (N = 1, 16, 128, 1024), each with its own
//! SSRC, participant and key in one key store, their frames interleaved as a media server gets
//! them, and one sender changing its key halfway through the timed frames. JFrame (key index 0,
//! then 1) and SFrame (one KID each, then a new KID). Measures ns per frame against `identity`
//! fed the same buffers in the same rounds, and resident memory per participant (each N in a
//! process of its own). The ns are CPU time of the streaming thread (where appsrc, the element
//! and fakesink run), so that other processes taking the core do not count.
//!
//! `cargo bench --bench scale_frames` prints a table and writes `target/scale/frames.json`
//! (`scripts/scale-plots` draws it). Under `cargo test` it runs N = 1 and 16 once, as a check.
//! `SCALE_FRAMES_RUN=<format>@<N>@<frames>` runs one case once and nothing else (for
//! `valgrind --tool=callgrind`).

use std::sync::{Arc, Mutex, Once};
use std::time::Instant;

use gst::prelude::*;
use gstjframe::jframe::{Context, EncryptOutcome, FrameKind, IV_LEN, KeyMode};
use gstjframe::keystore::KeyStore;
use gstjframe::sframe::{CipherSuite, KeySet};

#[path = "scale/cpu_time.rs"]
mod cpu_time;
use cpu_time::thread_cpu_ns;

const SENDERS: [usize; 4] = [1, 16, 128, 1024];
/// Timed frames per run, whatever N (after one untimed frame of each sender).
const FRAMES: usize = 16_384;
const FRAME_LEN: usize = 160;
const ROUNDS: usize = 20;
/// Buffers made per request for data.
const BATCH: usize = 32;
const FIRST_SSRC: u32 = 0x1000_0000;
/// The SFrame KID of the key sender 0 changes to.
const NEW_KID: u64 = 1 << 32;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Format {
    JFrame,
    SFrame,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::JFrame => "jframe",
            Format::SFrame => "sframe",
        }
    }

    fn caps(self) -> &'static str {
        match self {
            Format::JFrame => "audio/x-opus",
            Format::SFrame => "application/x-sframe,media-type=audio/x-opus",
        }
    }
}

fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().expect("GStreamer initialises");
        gstjframe::plugin_register_static().expect("the plugin registers");
    });
}

fn participant(sender: usize) -> String {
    format!("p{sender:04}")
}

fn key(sender: usize, generation: u8) -> [u8; 32] {
    let mut key = [generation; 32];
    key[..8].copy_from_slice(&(sender as u64).to_le_bytes());
    key
}

/// A meeting: its key store, and each frame to send in order (sender, bytes).
struct Meeting {
    format: Format,
    senders: usize,
    store: KeyStore,
    /// One untimed frame per sender first, then the timed ones.
    frames: Vec<(usize, Vec<u8>)>,
    /// The index in `frames` from which sender 0 uses its new key.
    key_change_at: usize,
}

fn jframe_ciphertext(key: &[u8; 32], index: u32, counter: u64) -> Vec<u8> {
    let mut ctx = Context::new(KeyMode::Derived);
    ctx.keys_mut().set_key(index, key).expect("a key");
    let mut frame = vec![0x5a; FRAME_LEN];
    let mut iv = [0u8; IV_LEN];
    iv[4..].copy_from_slice(&counter.to_be_bytes());
    match ctx.encrypt(FrameKind::Audio, &mut frame, iv) {
        Ok(EncryptOutcome::Encrypted(trailer)) => frame.extend_from_slice(trailer.as_bytes()),
        other => panic!("encrypt gave {other:?}"),
    }
    frame
}

impl Meeting {
    fn new(format: Format, senders: usize, timed: usize) -> Meeting {
        let store = KeyStore::new();
        let order: Vec<usize> = (0..senders).chain((0..timed).map(|i| i % senders)).collect();
        let key_change_at = senders + timed / 2;
        let frames = match format {
            Format::JFrame => {
                // JFrame has no replay window: one ciphertext per sender and key serves every frame.
                let old: Vec<Vec<u8>> = (0..senders).map(|s| jframe_ciphertext(&key(s, 0), 0, s as u64)).collect();
                let new = jframe_ciphertext(&key(0, 1), 1, 1 << 40);
                for s in 0..senders {
                    store.set_key(&participant(s), 0, &key(s, 0), KeyMode::Derived).expect("a key");
                }
                order
                    .iter()
                    .enumerate()
                    .map(|(i, &s)| (s, if s == 0 && i >= key_change_at { new.clone() } else { old[s].clone() }))
                    .collect()
            }
            Format::SFrame => {
                // The replay window refuses a CTR seen before: every frame is a ciphertext of its own.
                let mut sets: Vec<KeySet> = (0..senders)
                    .map(|s| {
                        let mut set = KeySet::new(CipherSuite::AesGcm128Sha256);
                        set.insert(s as u64, &key(s, 0)).expect("a key");
                        set
                    })
                    .collect();
                sets[0].insert(NEW_KID, &key(0, 1)).expect("a key");
                for s in 0..senders {
                    store.set_sframe_key(&participant(s), s as u64, &key(s, 0)).expect("a key");
                }
                order
                    .iter()
                    .enumerate()
                    .map(|(i, &s)| {
                        let kid = if s == 0 && i >= key_change_at { NEW_KID } else { s as u64 };
                        let mut frame = vec![0x5a; FRAME_LEN];
                        sets[s].encrypt_vec(kid, i as u64, &[], &mut frame).expect("encrypts");
                        (s, frame)
                    })
                    .collect()
            }
        };
        Meeting { format, senders, store, frames, key_change_at }
    }

    /// Sender 0's new key, as the application sets it when that sender changed it.
    fn change_key(&self) {
        match self.format {
            Format::JFrame => self.store.set_key(&participant(0), 1, &key(0, 1), KeyMode::Derived),
            Format::SFrame => self.store.set_sframe_key(&participant(0), NEW_KID, &key(0, 1)),
        }
        .expect("the new key");
    }
}

/// A new buffer holding `frame` from `sender`'s SSRC.
fn fresh(sender: usize, frame: &[u8]) -> gst::Buffer {
    let mut buffer = gst::Buffer::from_mut_slice(frame.to_vec());
    let writable = buffer.get_mut().expect("a new buffer is writable");
    gst_rtp::RTPSourceMeta::add(writable, Some(FIRST_SSRC + sender as u32), &[]);
    buffer
}

#[derive(Default)]
struct Feed {
    made: usize,
    /// When timing started: the time, the streaming thread's CPU time, the frames made.
    timed_from: Option<(Instant, u64, usize)>,
    last_request: Option<(Instant, u64)>,
}

/// What one run measured.
struct Run {
    /// CPU time of the streaming thread per frame.
    ns_per_frame: f64,
    wall_ns_per_frame: f64,
    /// Frames jframedec decrypted (all of them, or the run is wrong).
    decrypted: u64,
    dropped: u64,
}

/// Pushes the meeting's frames through `appsrc ! <element> ! fakesink`; the time runs from the
/// first request for data after each sender's first frame to the last request.
fn run(meeting: &Arc<Meeting>, element: &str) -> Run {
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src format=time caps={} ! {element} name=filter ! fakesink sync=false",
        meeting.format.caps()
    ))
    .expect("pipeline")
    .downcast::<gst::Pipeline>()
    .expect("a pipeline");
    pipeline.set_context(&meeting.store.context());
    let filter = pipeline.by_name("filter").expect("the element");
    let is_decoder = filter.has_property("ratchet-window");
    if is_decoder {
        filter.connect("request-participant", false, |args| {
            let ssrc = args[1].get::<u32>().expect("an SSRC");
            Some(Some(participant((ssrc - FIRST_SSRC) as usize)).to_value())
        });
    }
    let src = pipeline.by_name("src").and_downcast::<gst_app::AppSrc>().expect("appsrc");
    let feed = Arc::new(Mutex::new(Feed::default()));
    let (feeding, frames) = (feed.clone(), meeting.clone());
    let need_data = move |src: &gst_app::AppSrc, _: u32| {
        let mut feed = feeding.lock().expect("feed");
        let (now, cpu) = (Instant::now(), thread_cpu_ns());
        let total = frames.frames.len();
        if feed.made >= frames.senders && feed.timed_from.is_none() {
            feed.timed_from = Some((now, cpu, feed.made));
        }
        if feed.made >= total {
            feed.last_request = Some((now, cpu));
            let _ = src.end_of_stream();
            return;
        }
        for _ in 0..BATCH.min(total - feed.made) {
            if feed.made == frames.key_change_at {
                frames.change_key();
            }
            let (sender, frame) = &frames.frames[feed.made];
            let _ = src.push_buffer(fresh(*sender, frame));
            feed.made += 1;
        }
    };
    src.set_callbacks(gst_app::AppSrcCallbacks::builder().need_data(need_data).build());
    pipeline.set_state(gst::State::Playing).expect("plays");
    let bus = pipeline.bus().expect("bus");
    let message =
        bus.timed_pop_filtered(gst::ClockTime::from_seconds(300), &[gst::MessageType::Eos, gst::MessageType::Error]);
    if let Some(gst::MessageView::Error(error)) = message.as_ref().map(|m| m.view()) {
        panic!("{element}: {}", error.error());
    }
    let (decrypted, dropped) = if is_decoder {
        let stats = filter.property::<gst::Structure>("stats");
        let field = |name: &str| stats.get::<u64>(name).unwrap_or(0);
        let dropped = ["no-key", "unknown-key-index", "authentication-failed", "malformed", "replayed"];
        (field("frames-processed"), dropped.iter().map(|d| field(&format!("dropped-{d}"))).sum())
    } else {
        (0, 0)
    };
    let _ = pipeline.set_state(gst::State::Null);
    let feed = feed.lock().expect("feed");
    let ((first, first_cpu, from), (last, last_cpu)) =
        (feed.timed_from.expect("timed"), feed.last_request.expect("ended"));
    let frames = (feed.made - from) as f64;
    Run {
        ns_per_frame: (last_cpu - first_cpu) as f64 / frames,
        wall_ns_per_frame: (last - first).as_nanos() as f64 / frames,
        decrypted,
        dropped,
    }
}

fn decoder(format: Format) -> String {
    let setting = match format {
        Format::JFrame => "jitsi",
        Format::SFrame => "sframe",
    };
    format!("jframedec format={setting}")
}

/// Resident memory of this process, bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

/// In a process of its own: the resident memory the meeting's keys, the decoder's streams and
/// their working copies take, after every sender's frames went through (the frames to send are
/// made first, and not counted).
fn memory_of(format: Format, senders: usize) -> u64 {
    let output = std::process::Command::new(std::env::current_exe().expect("this bench"))
        .env("SCALE_FRAMES_MEMORY", format!("{}@{senders}", format.name()))
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines().find_map(|l| l.strip_prefix("rss-added ")).and_then(|v| v.parse().ok()).expect("a figure")
}

fn measure_memory(spec: &str) {
    init();
    let (format, senders) = parse_spec(spec);
    // Warm GStreamer's one-time costs (plugin, caps, pipeline code) before the baseline.
    run(&Arc::new(Meeting::new(format, 1, BATCH)), &decoder(format));
    let frames_per_sender = 4;
    let meeting = Arc::new(Meeting::new(format, senders, senders * frames_per_sender));
    let before = rss();
    check(&run(&meeting, &decoder(format)), &meeting);
    println!("rss-added {}", rss().saturating_sub(before));
}

fn parse_spec(spec: &str) -> (Format, usize) {
    let mut parts = spec.split('@');
    let format = match parts.next() {
        Some("sframe") => Format::SFrame,
        _ => Format::JFrame,
    };
    (format, parts.next().and_then(|n| n.parse().ok()).expect("<format>@<N>"))
}

struct Row {
    format: Format,
    senders: usize,
    identity: f64,
    decoder: f64,
    rss: u64,
}

fn check(run: &Run, meeting: &Meeting) {
    assert_eq!(run.decrypted as usize, meeting.frames.len(), "every frame decrypted");
    assert_eq!(run.dropped, 0, "no frame dropped");
}

fn bench(senders: &[usize], rounds: usize, frames: usize) -> Vec<Row> {
    let mut rows = Vec::new();
    for format in [Format::JFrame, Format::SFrame] {
        let meetings: Vec<Arc<Meeting>> = senders.iter().map(|&n| Arc::new(Meeting::new(format, n, frames))).collect();
        let mut identity = vec![f64::INFINITY; senders.len()];
        let mut decoding = vec![f64::INFINITY; senders.len()];
        // Rounds take turns over every N and both elements, so that a busy machine skews none.
        for _ in 0..rounds {
            for (i, meeting) in meetings.iter().enumerate() {
                identity[i] = identity[i].min(run(meeting, "identity").ns_per_frame);
                let decoded = run(meeting, &decoder(format));
                check(&decoded, meeting);
                decoding[i] = decoding[i].min(decoded.ns_per_frame);
            }
        }
        for (i, &n) in senders.iter().enumerate() {
            let rss = if rounds > 1 { memory_of(format, n) } else { 0 };
            rows.push(Row { format, senders: n, identity: identity[i], decoder: decoding[i], rss });
        }
    }
    rows
}

fn report(rows: &[Row]) {
    println!("\njframedec fed by N interleaved senders, {FRAME_LEN} B frames, {FRAMES} timed frames per run,");
    println!(
        "CPU time of the streaming thread, fastest of {ROUNDS} interleaved rounds; one sender changes its key halfway"
    );
    println!(
        "| format | N | identity ns/frame | jframedec ns/frame | added ns/frame | added vs N=1 | RSS per participant |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let mut json = Vec::new();
    for row in rows {
        let base = rows.iter().find(|r| r.format == row.format && r.senders == 1).expect("N=1");
        let added = row.decoder - row.identity;
        let base_added = base.decoder - base.identity;
        // Per participant beyond what one sender costs: the slope from N = 1.
        let per_participant = match row.senders {
            1 => row.rss as f64,
            n => (row.rss as f64 - base.rss as f64) / (n - 1) as f64,
        };
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.0} | {:.2} | {:.0} B |",
            row.format.name(),
            row.senders,
            row.identity,
            row.decoder,
            added,
            added / base_added,
            per_participant
        );
        json.push(format!(
            "{{\"format\":\"{}\",\"senders\":{},\"identity_ns\":{:.1},\"jframedec_ns\":{:.1},\"added_ns\":{:.1},\
             \"rss_bytes\":{},\"rss_per_participant\":{:.0}}}",
            row.format.name(),
            row.senders,
            row.identity,
            row.decoder,
            added,
            row.rss,
            per_participant
        ));
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/scale");
    let _ = std::fs::create_dir_all(&dir);
    let text = format!("{{\"frame_len\":{FRAME_LEN},\"frames\":{FRAMES},\"rows\":[{}]}}\n", json.join(","));
    std::fs::write(dir.join("frames.json"), text).expect("writes the results");
    println!("written to target/scale/frames.json");
}

fn main() {
    if let Ok(spec) = std::env::var("SCALE_FRAMES_MEMORY") {
        return measure_memory(&spec);
    }
    init();
    if let Ok(spec) = std::env::var("SCALE_FRAMES_RUN") {
        let (format, senders) = parse_spec(&spec);
        let frames = spec.split('@').nth(2).and_then(|f| f.parse().ok()).unwrap_or(FRAMES);
        let meeting = Arc::new(Meeting::new(format, senders, frames));
        let result = run(&meeting, &decoder(format));
        check(&result, &meeting);
        return println!("{spec}: {:.0} ns per frame ({:.0} wall)", result.ns_per_frame, result.wall_ns_per_frame);
    }
    if !std::env::args().any(|a| a == "--bench") {
        // `cargo test`: a quick check that every frame of a small meeting decrypts.
        bench(&[1, 16], 1, 256);
        return println!("scale_frames: checked N = 1 and 16");
    }
    report(&bench(&SENDERS, ROUNDS, FRAMES));
}
