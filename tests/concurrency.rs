//! Frames flow through jframeenc and jframedec while other threads change keys,
//! ratchet the sender, toggle `enabled` and read properties, all at a high rate.
//! Every frame the receiver reports as decrypted must equal the frame that was sent,
//! nothing may deadlock (a watchdog ends the process), and the run ends by itself.
//!
//! The receiver's own counters tell, frame by frame, what it did: frames are pushed
//! from this thread only, so the change of `frames-processed` around one push says
//! whether that frame was decrypted, and `frames-passed-through` whether it went
//! through untouched. A frame sent in clear (sender disabled) that reaches an enabled
//! receiver is dropped, one encrypted by a sender that ratcheted too far ahead too:
//! both are allowed, a wrong frame out of the receiver never is.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use gst::prelude::*;

const FRAMES: u64 = 100_000;
/// Ends the process if the run has not finished by then: a deadlock, not slowness
/// (a release build needs a few seconds).
const WATCHDOG: Duration = Duration::from_secs(300);

/// A VP8-like frame tagged with its sequence number: a key frame every tenth.
fn frame(seq: u64) -> Vec<u8> {
    let mut frame = if seq.is_multiple_of(10) {
        vec![0x50, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x00, 0x30, 0x00]
    } else {
        vec![0x31, 0x02, 0x00]
    };
    frame.extend_from_slice(&seq.to_be_bytes());
    frame.extend((0..24).map(|i| (seq as u8) ^ i));
    frame
}

fn material(n: u64) -> [u8; 32] {
    let mut material = OTHER_MATERIAL;
    material[..8].copy_from_slice(&n.to_be_bytes());
    material
}

/// Exits the process with a message unless `done` is dropped within `limit`.
fn watchdog(limit: Duration) -> mpsc::Sender<()> {
    let (done, wait) = mpsc::channel::<()>();
    thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(limit) {
            eprintln!("concurrency: not finished after {limit:?}: deadlock");
            std::process::exit(101);
        }
    });
    done
}

/// Runs `action` in a loop on its own thread until `running` is cleared; returns
/// how many times it ran.
fn busy(
    running: &Arc<AtomicBool>,
    pause: Duration,
    mut action: impl FnMut(u64) + Send + 'static,
) -> thread::JoinHandle<u64> {
    let running = running.clone();
    thread::spawn(move || {
        let mut n = 0;
        while running.load(Ordering::Relaxed) {
            n += 1;
            action(n);
            thread::sleep(pause);
        }
        n
    })
}

/// (frames-processed, frames-passed-through) of an element.
fn processed_and_passed(element: &gst::Element) -> (u64, u64) {
    let stats = stats(element);
    let get = |field| stats.get::<u64>(field).expect("stats counter");
    (get("frames-processed"), get("frames-passed-through"))
}

#[derive(Debug, Default)]
struct Counts {
    encrypted: u64,
    sent_in_clear: u64,
    decrypted: u64,
    passed_through: u64,
    dropped: u64,
    wrong: Vec<String>,
}

#[test]
fn frames_stay_right_while_keys_ratchets_and_enabled_change_from_other_threads() {
    let done = watchdog(WATCHDOG);
    let key = material_hex();
    let caps = &vp8_frames().caps;
    let mut enc = Tested::new(make("jframeenc", &[("key", key.as_str())]), caps);
    let mut dec = Tested::new(make("jframedec", &[("key", key.as_str())]), caps);

    let running = Arc::new(AtomicBool::new(true));
    let refused = Arc::new(AtomicU64::new(0));
    let (e, d, r) = (enc.element.clone(), dec.element.clone(), refused.clone());
    let keys = busy(&running, Duration::from_micros(50), move |n| {
        // The receiver first: it has the key before the sender uses it.
        let index = (n % 16) as u32;
        for element in [&d, &e] {
            if !set_key(element, index, &material(n)) {
                r.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let (e, r) = (enc.element.clone(), refused.clone());
    let ratchets = busy(&running, Duration::from_micros(200), move |_| {
        if !e.emit_by_name::<bool>("ratchet", &[]) {
            r.fetch_add(1, Ordering::Relaxed);
        }
    });
    let (e, d) = (enc.element.clone(), dec.element.clone());
    let toggles = busy(&running, Duration::from_micros(50), move |n| {
        // Each element on and off, out of step with the other.
        e.set_property("enabled", n % 3 != 0);
        d.set_property("enabled", n % 5 != 0);
    });
    let (e, d) = (enc.element.clone(), dec.element.clone());
    let reads = busy(&running, Duration::from_micros(100), move |_| {
        for element in [&e, &d] {
            let _ = stats(element);
            let _ = element.property::<Option<String>>("verification-code");
        }
    });

    let start = Instant::now();
    let mut counts = Counts::default();
    let mut before = processed_and_passed(&dec.element);
    for seq in 0..FRAMES {
        let sent = frame(seq);
        let out = enc.push(&sent);
        let [on_the_wire] = out.as_slice() else {
            counts.wrong.push(format!("frame {seq}: {} frames out of the sender", out.len()));
            continue;
        };
        if *on_the_wire == sent {
            counts.sent_in_clear += 1;
        } else if on_the_wire.len() == sent.len() + OVERHEAD && on_the_wire[..3] == sent[..3] {
            counts.encrypted += 1;
        } else {
            counts.wrong.push(format!("frame {seq}: the sender gave neither it nor its encryption"));
        }

        let received = dec.push(on_the_wire);
        let after = processed_and_passed(&dec.element);
        let expected = match (after.0 - before.0, after.1 - before.1) {
            (1, 0) => {
                counts.decrypted += 1;
                Some(&sent)
            }
            (0, 1) => {
                counts.passed_through += 1;
                Some(on_the_wire)
            }
            _ => {
                counts.dropped += 1;
                None
            }
        };
        if received.as_slice() != expected.map(std::slice::from_ref).unwrap_or_default() {
            counts.wrong.push(format!("frame {seq}: the receiver gave {} frame(s), not {expected:?}", received.len()));
        }
        before = after;
    }
    let seconds = start.elapsed().as_secs_f64();
    running.store(false, Ordering::Relaxed);
    let key_changes = keys.join().expect("key thread");
    let ratchets = ratchets.join().expect("ratchet thread");
    let toggles = toggles.join().expect("toggle thread");
    let reads = reads.join().expect("reader thread");
    drop(done);

    println!(
        "concurrency: {FRAMES} frames in {seconds:.2} s: sender encrypted {}, sent in clear {}; receiver \
         decrypted {}, passed through {}, dropped {}; meanwhile {key_changes} key changes (on both), \
         {ratchets} ratchets, {toggles} toggles of both, {reads} rounds of property reads",
        counts.encrypted, counts.sent_in_clear, counts.decrypted, counts.passed_through, counts.dropped,
    );
    assert!(
        counts.wrong.is_empty(),
        "{} wrong frames, first: {:?}",
        counts.wrong.len(),
        &counts.wrong[..counts.wrong.len().min(5)]
    );
    assert_eq!(refused.load(Ordering::Relaxed), 0, "a set-key or ratchet was refused");
    assert_eq!(counts.encrypted + counts.sent_in_clear, FRAMES);
    assert_eq!(counts.decrypted + counts.passed_through + counts.dropped, FRAMES);
    // The other threads really ran during the frames, and decryption really happened.
    assert!(key_changes > 1 && ratchets > 1 && toggles > 1 && reads > 1);
    assert!(counts.decrypted > FRAMES / 50, "only {} frames decrypted", counts.decrypted);
    assert_eq!(stat(&enc.element, "dropped-no-key") + stat(&enc.element, "dropped-malformed"), 0);
}
