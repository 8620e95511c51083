//! Cost of the JFrame core, and of the SFrame core, beside the bare AES-GCM they are built on.
//!
//! `cargo bench --bench core` (aes-gcm) or `cargo bench --bench core --features ring`.
//! Every frame operation is measured twice in the same run: through `Context` and as a
//! bare seal/open of the same bytes with the backend crate. After criterion's report, the
//! run prints a table of core/bare ratios, measured again on short batches that alternate
//! between the two sides so that a machine busy with other work skews neither.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use gstjframe::jframe::{
    Context, DEFAULT_RATCHET_WINDOW, EncryptOutcome, FrameKind, IV_LEN, KeyMode, TAG_LEN, TRAILER_LEN, derive_aes_key,
    ratchet,
};

const SIZES: [usize; 4] = [160, 1200, 32 * 1024, 128 * 1024];
const FLOOD_SIZE: usize = 1200;
const KIND: FrameKind = FrameKind::VideoDelta;
const IV: [u8; IV_LEN] = [7; IV_LEN];
/// Frames are copied fresh before each timed batch; a batch stays within L2.
const BATCH_BYTES: usize = 256 * 1024;

mod bare;
mod sframe;

/// Times `routine` on fresh copies of `frame`, so that the bytes it changes in place
/// are restored outside the timed loop.
fn time_on_copies(iters: u64, frame: &[u8], mut routine: impl FnMut(&mut [u8])) -> Duration {
    let batch_len = (BATCH_BYTES / frame.len()).max(1);
    let mut copies = vec![frame.to_vec(); batch_len];
    let mut elapsed = Duration::ZERO;
    let mut left = iters as usize;
    while left > 0 {
        let batch = &mut copies[..left.min(batch_len)];
        batch.iter_mut().for_each(|copy| copy.copy_from_slice(frame));
        let start = Instant::now();
        batch.iter_mut().for_each(|copy| routine(black_box(copy)));
        elapsed += start.elapsed();
        left -= batch.len();
    }
    elapsed
}

/// Runs a measured operation `n` times and returns the time it took.
type Timed<'a> = Box<dyn FnMut(u64) -> Duration + 'a>;

fn on_copies<'a>(frame: Vec<u8>, mut routine: impl FnMut(&mut [u8]) + 'a) -> Timed<'a> {
    Box::new(move |iters| time_on_copies(iters, &frame, &mut routine))
}

fn repeated<'a>(mut routine: impl FnMut() + 'a) -> Timed<'a> {
    Box::new(move |iters| {
        let start = Instant::now();
        (0..iters).for_each(|_| routine());
        start.elapsed()
    })
}

/// An operation through the core and its baseline, measured side by side.
struct Comparison<'a> {
    name: String,
    core: Timed<'a>,
    bare: Timed<'a>,
    /// Iterations in one batch of the interleaved measurement (tens of microseconds).
    batch: u64,
}

/// Fastest time per iteration of `core` and `bare` (ns), over short batches that
/// alternate between the two: on a loaded machine the fastest batches are the ones
/// nothing preempted, and both sides see the same conditions.
fn fastest_interleaved(comparison: &mut Comparison) -> (f64, f64) {
    let per_iteration = |timed: &mut Timed, batch: u64| timed(batch).as_nanos() as f64 / batch as f64;
    let (mut core, mut bare) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..ROUNDS {
        core = core.min(per_iteration(&mut comparison.core, comparison.batch));
        bare = bare.min(per_iteration(&mut comparison.bare, comparison.batch));
    }
    (core, bare)
}

const ROUNDS: usize = 300;

/// Criterion's benchmarks of both sides, then the interleaved figures for the table.
fn compare(c: &mut Criterion, bytes: Option<usize>, mut comparison: Comparison) -> Row {
    let mut group = c.benchmark_group(&comparison.name);
    if let Some(bytes) = bytes {
        group.throughput(Throughput::Bytes(bytes as u64));
    }
    group.bench_function("core", |b| b.iter_custom(&mut comparison.core));
    group.bench_function("bare", |b| b.iter_custom(&mut comparison.bare));
    group.finish();
    let (core, bare) = fastest_interleaved(&mut comparison);
    Row { name: comparison.name, core, bare }
}

struct Row {
    name: String,
    core: f64,
    bare: f64,
}

fn receiver_with_key(material: &[u8]) -> Context {
    let mut ctx = Context::new(KeyMode::Derived);
    ctx.keys_mut().set_key(0, material).expect("key material");
    ctx
}

/// A frame of `size` bytes encrypted by `sender`, trailer appended.
fn encrypted_frame(sender: &Context, size: usize) -> Vec<u8> {
    let mut frame: Vec<u8> = (0..size).map(|i| i as u8).collect();
    match sender.encrypt(KIND, &mut frame, IV) {
        Ok(EncryptOutcome::Encrypted(trailer)) => frame.extend_from_slice(trailer.as_bytes()),
        other => panic!("encrypt gave {other:?}"),
    }
    frame
}

/// Splits an encrypted frame into (aad, ciphertext, tag) as a bare open sees it.
fn split(frame: &mut [u8]) -> (&mut [u8], &mut [u8], [u8; TAG_LEN]) {
    let ciphertext_end = frame.len() - TRAILER_LEN;
    let (head, trailer) = frame.split_at_mut(ciphertext_end);
    let tag = trailer[..TAG_LEN].try_into().expect("a 16-byte tag");
    let (aad, ciphertext) = head.split_at_mut(KIND.clear_len());
    (aad, ciphertext, tag)
}

const MATERIAL: &[u8] = b"bench key material, 32 bytes...!";

/// Iterations of a batch of about 32 KiB of frames.
fn batch_for(size: usize) -> u64 {
    (32 * 1024 / size).max(1) as u64
}

fn frames(c: &mut Criterion, rows: &mut Vec<Row>) {
    let sender = receiver_with_key(MATERIAL);
    let mut receiver = receiver_with_key(MATERIAL);
    let bare = bare::Key::new(sender.keys().aes_key(0).expect("slot 0 has a key"));
    for size in SIZES {
        let plain = vec![0x5a; size];
        let encrypt = Comparison {
            name: format!("encrypt/{size}"),
            core: on_copies(plain.clone(), |frame| {
                black_box(sender.encrypt(KIND, frame, IV).expect("encrypts"));
            }),
            bare: on_copies(plain, |frame| {
                let (aad, data) = frame.split_at_mut(KIND.clear_len());
                black_box(bare.seal(&IV, aad, data));
            }),
            batch: batch_for(size),
        };
        rows.push(compare(c, Some(size), encrypt));

        let sealed = encrypted_frame(&sender, size);
        let decrypt = Comparison {
            name: format!("decrypt/{size}"),
            core: on_copies(sealed.clone(), |frame| {
                assert!(receiver.decrypt(KIND, frame).is_ok(), "core decrypts");
            }),
            bare: on_copies(sealed, |frame| {
                let (aad, data, tag) = split(frame);
                assert!(bare.open(&IV, aad, data, &tag), "bare open authenticates");
            }),
            batch: batch_for(size),
        };
        rows.push(compare(c, Some(size), decrypt));
    }
}

/// Frames under a key the receiver does not have: each costs the current key and
/// `DEFAULT_RATCHET_WINDOW` ratcheted keys, all derived once on the first frame. Beside
/// them, that many bare failed opens, each under a key of its own as the window's are,
/// and a single bare failed open.
fn wrong_key_flood(c: &mut Criterion, rows: &mut Vec<Row>) {
    let stranger = receiver_with_key(b"some other participant's key....");
    let attempts = 1 + DEFAULT_RATCHET_WINDOW as usize;
    let bare_keys: Vec<bare::Key> = (0..attempts).map(|n| bare::Key::new(&[n as u8; 16])).collect();
    let sealed = encrypted_frame(&stranger, FLOOD_SIZE);
    let fails = |key: &bare::Key, frame: &mut [u8]| {
        let (aad, data, tag) = split(frame);
        assert!(!key.open(&IV, aad, data, &tag), "bare open fails");
    };
    // Each comparison has a receiver of its own: both closures of one are alive at once.
    let mut receivers = [receiver_with_key(MATERIAL), receiver_with_key(MATERIAL)];
    let [against_attempts, against_one] = &mut receivers;
    let refuse = |receiver: &mut Context, frame: &mut [u8]| {
        assert!(receiver.decrypt(KIND, frame).is_err(), "no key in the window fits");
    };
    let flood = Comparison {
        name: format!("wrong-key/{FLOOD_SIZE}"),
        core: on_copies(sealed.clone(), |frame| refuse(against_attempts, frame)),
        bare: on_copies(sealed.clone(), |frame| bare_keys.iter().for_each(|key| fails(key, frame))),
        batch: 4,
    };
    rows.push(compare(c, None, flood));
    let one_open = Comparison {
        name: format!("wrong-key/{FLOOD_SIZE}:1"),
        core: on_copies(sealed.clone(), |frame| refuse(against_one, frame)),
        bare: on_copies(sealed, |frame| fails(&bare_keys[0], frame)),
        batch: 16,
    };
    rows.push(compare(c, None, one_open));
}

/// Installing and ratcheting keys, each beside one key derivation (ratchet + AES key):
/// the work a receiver would repeat per ratchet step if it did not keep the keys.
fn keys(c: &mut Criterion, rows: &mut Vec<Row>) {
    let kdf = || {
        black_box(derive_aes_key(&ratchet(black_box(MATERIAL))));
    };
    let mut ctx = Context::new(KeyMode::Derived);
    let set_key = Comparison {
        name: "keys/set_key".into(),
        core: repeated(|| ctx.keys_mut().set_key(3, black_box(MATERIAL)).expect("key material")),
        bare: repeated(kdf),
        batch: 16,
    };
    rows.push(compare(c, None, set_key));
    let ratchet_current = Comparison {
        name: "keys/ratchet_current".into(),
        core: repeated(|| ctx.keys_mut().ratchet_current().expect("a derived key")),
        bare: repeated(kdf),
        batch: 16,
    };
    rows.push(compare(c, None, ratchet_current));
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "Core (JFrame, SFrame) vs bare ({}): ns per operation, fastest of {ROUNDS} interleaved batches",
        bare::BACKEND
    );
    println!("{:<22} {:>10} {:>10} {:>7}", "operation", "core", "bare", "ratio");
    for Row { name, core, bare } in rows {
        println!("{name:<22} {core:>10.0} {bare:>10.0} {:>7.3}", core / bare);
    }
    println!(
        "(bare: AES-128-GCM seal/open of the same bytes; for wrong-key, {} failed opens (window {}), each under \
         a key of its own; for wrong-key/..:1, one failed open; for keys/*, one ratchet + AES key derivation; \
         for sframe-*, aes-gcm's AES-128/256-GCM seal/open of the same bytes with the header as AAD)",
        DEFAULT_RATCHET_WINDOW + 1,
        DEFAULT_RATCHET_WINDOW,
    );
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(50)
        .configure_from_args();
    let mut rows = Vec::new();
    frames(&mut c, &mut rows);
    wrong_key_flood(&mut c, &mut rows);
    keys(&mut c, &mut rows);
    sframe::frames(&mut c, &mut rows);
    c.final_summary();
    print_table(&rows);
}
