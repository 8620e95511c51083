//! Soak: a million small frames through `jframeenc ! jframedec` in one process, with
//! key changes and ratchets along the way. Every frame must come back exactly, and the
//! resident memory after warm-up and at the end must stay within a bound.
//!
//! Run it in release mode (`cargo test --release --test soak -- --nocapture` prints the figures).

mod common;

use std::time::Instant;

use common::*;
use gst::prelude::*;
use gst_check::Harness;

const FRAMES: u64 = 1_000_000;
const WARM_UP: u64 = 50_000;
/// Growth of resident memory allowed between the end of warm-up and the end.
const MAX_GROWTH: u64 = 8 << 20;
const FRAME_LEN: usize = 64;

/// Resident memory of this process, from /proc/self/statm (resident pages × page size).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 =
        statm.split_whitespace().nth(1).and_then(|field| field.parse().ok()).expect("resident pages in statm");
    pages * page_size()
}

/// The kernel page size, from the first mapping in /proc/self/smaps.
fn page_size() -> u64 {
    let smaps = std::fs::read_to_string("/proc/self/smaps").expect("/proc/self/smaps");
    smaps
        .lines()
        .find_map(|line| line.strip_prefix("KernelPageSize:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .expect("KernelPageSize in smaps")
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

/// An Opus-like frame: TOC byte, the sequence number, then filler that changes with it.
fn frame(seq: u64) -> Vec<u8> {
    let mut frame = Vec::with_capacity(FRAME_LEN);
    frame.push(0x78);
    frame.extend_from_slice(&seq.to_be_bytes());
    frame.extend((0..FRAME_LEN - 9).map(|i| (seq as u8).wrapping_add(i as u8)));
    frame
}

/// Key material number `n`.
fn material(n: u64) -> [u8; 32] {
    let mut material = MATERIAL;
    material[..8].copy_from_slice(&n.to_be_bytes());
    material
}

#[test]
#[cfg_attr(debug_assertions, ignore = "a million frames: run in release (scripts/test)")]
fn a_million_frames_round_trip_with_bounded_memory() {
    init();
    let key = material_hex();
    let mut h = Harness::new_parse(&format!("jframeenc name=enc key={key} ! jframedec name=dec key={key}"));
    let bin = h.element().and_downcast::<gst::Bin>().expect("the harness bin");
    let enc = bin.by_name("enc").expect("jframeenc");
    let dec = bin.by_name("dec").expect("jframedec");
    h.play();
    h.set_src_caps(opus_frames().caps.clone());

    let mut failures = 0u64;
    let mut key_changes = 0u64;
    let mut warm = None;
    for seq in 0..FRAMES {
        if seq == WARM_UP {
            warm = Some((resident_bytes(), Instant::now()));
        }
        if seq % 100_000 == 50_000 {
            assert!(enc.emit_by_name::<bool>("ratchet", &[]));
        }
        if seq % 250_000 == 125_000 {
            key_changes += 1;
            let index = (key_changes % 16) as u32;
            // The receiver first, so that no frame arrives before its key.
            assert!(set_key(&dec, index, &material(key_changes)));
            assert!(set_key(&enc, index, &material(key_changes)));
        }
        let sent = frame(seq);
        assert_eq!(h.push(buffer(&sent)), Ok(gst::FlowSuccess::Ok));
        match h.try_pull() {
            Some(out) if out.map_readable().is_ok_and(|map| map.as_slice() == sent) => (),
            _ => failures += 1,
        }
    }
    let (start_rss, start) = warm.expect("warm-up reached");
    let seconds = start.elapsed().as_secs_f64();
    let end_rss = resident_bytes();
    let timed = FRAMES - WARM_UP;
    println!(
        "soak: {FRAMES} frames of {FRAME_LEN} bytes through jframeenc ! jframedec ({key_changes} key changes, \
         {} ratchets), {failures} failures; \
         after warm-up ({WARM_UP} frames) {timed} frames in {seconds:.2} s ({:.2} µs per frame); \
         RSS {:.2} MiB after warm-up, {:.2} MiB at the end ({:+.2} MiB)",
        FRAMES / 100_000,
        seconds * 1e6 / timed as f64,
        mib(start_rss),
        mib(end_rss),
        mib(end_rss) - mib(start_rss),
    );
    assert_eq!(failures, 0);
    assert_eq!(stat(&enc, "frames-processed"), FRAMES);
    assert_eq!(stat(&dec, "frames-processed"), FRAMES);
    assert_eq!(stat(&enc, "ratchets"), FRAMES / 100_000);
    assert_eq!(stat(&dec, "ratchets"), FRAMES / 100_000, "the receiver followed every ratchet");
    for (counter, count) in drop_counters(&enc).into_iter().chain(drop_counters(&dec)) {
        assert_eq!(count, 0, "{counter}");
    }
    let growth = end_rss.saturating_sub(start_rss);
    assert!(growth < MAX_GROWTH, "resident memory grew by {:.2} MiB (bound {:.0} MiB)", mib(growth), mib(MAX_GROWTH));
}
