//! The per-frame path allocates nothing once running: encrypting and decrypting in
//! place, and refusing frames under an unknown key (whose ratcheted keys are derived,
//! and so allocated, only for the first frame); and in the elements, frames with or
//! without room for the trailer (GStreamer's own allocations, in C, are not counted:
//! `tests/in_place.rs` shows that the frames are not copied).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::{Tested, buffer_with_room, make, material_hex, opus_frames};
use gstjframe::jframe::{Context, DecryptOutcome, EncryptOutcome, FrameKind, KeyMode, TRAILER_LEN};

/// Counts the allocations of the current thread, so that the test harness's own
/// threads do not count.
struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_one() {
    // Unavailable while the thread is being torn down; nothing is measured then.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

const FRAMES: usize = 1000;
const KINDS: [FrameKind; 3] = [FrameKind::VideoKey, FrameKind::VideoDelta, FrameKind::Audio];

fn context_with(material: &[u8]) -> Context {
    let mut ctx = Context::new(KeyMode::Derived);
    ctx.keys_mut().set_key(5, material).expect("non-empty key material");
    ctx
}

/// Encrypts `plain` into `frame` (which has room for the trailer) and decrypts it back.
fn round_trip(
    sender: &Context,
    receiver: &mut Context,
    kind: FrameKind,
    plain: &[u8],
    frame: &mut Vec<u8>,
    counter: u64,
) {
    frame.clear();
    frame.extend_from_slice(plain);
    let mut iv = [0u8; 12];
    iv[4..].copy_from_slice(&counter.to_be_bytes());
    match sender.encrypt(kind, frame, iv) {
        Ok(EncryptOutcome::Encrypted(trailer)) => frame.extend_from_slice(trailer.as_bytes()),
        other => panic!("encrypt gave {other:?}"),
    }
    match receiver.decrypt(kind, frame) {
        Ok(DecryptOutcome::Decrypted { len, ratchet_steps: 0 }) => frame.truncate(len),
        other => panic!("decrypt gave {other:?}"),
    }
    assert_eq!(frame.as_slice(), plain, "round trip of a {kind:?} frame");
}

#[test]
fn steady_state_encrypt_and_decrypt_allocate_nothing() {
    let sender = context_with(b"shared key material");
    let mut receiver = context_with(b"shared key material");
    for kind in KINDS {
        for size in [kind.clear_len(), 160, 1200] {
            let plain: Vec<u8> = (0..size).map(|i| (i * 7) as u8).collect();
            let mut frame = Vec::with_capacity(size + TRAILER_LEN);
            round_trip(&sender, &mut receiver, kind, &plain, &mut frame, 0);
            let allocations = allocations_during(|| {
                for counter in 1..=FRAMES as u64 {
                    round_trip(&sender, &mut receiver, kind, &plain, &mut frame, counter);
                }
            });
            assert_eq!(allocations, 0, "{FRAMES} {kind:?} frames of {size} bytes");
        }
    }
}

#[test]
fn refusing_frames_under_an_unknown_key_allocates_after_the_first_only() {
    let stranger = context_with(b"a key the receiver never got");
    let mut receiver = context_with(b"the receiver's own key");
    for kind in KINDS {
        let mut frame = vec![0x3c; 1200];
        match stranger.encrypt(kind, &mut frame, [9; 12]) {
            Ok(EncryptOutcome::Encrypted(trailer)) => frame.extend_from_slice(trailer.as_bytes()),
            other => panic!("encrypt gave {other:?}"),
        }
        let sent = frame.clone();
        let first = allocations_during(|| assert!(receiver.decrypt(kind, &mut frame).is_err()));
        let rest = allocations_during(|| {
            for _ in 0..FRAMES {
                assert!(receiver.decrypt(kind, &mut frame).is_err());
            }
        });
        assert_eq!(frame, sent, "a refused {kind:?} frame is left as it came");
        if kind == KINDS[0] {
            assert!(first > 0, "the first refused frame derives the window's keys");
        }
        assert_eq!(rest, 0, "{FRAMES} refused {kind:?} frames after the first");
    }
}

/// Allocations while `frames` go through the element of `tested` (after as many went
/// through first); checks that each comes out.
fn allocations_in(tested: &mut Tested, mut frames: impl FnMut() -> gst::Buffer) -> u64 {
    let push = |tested: &mut Tested, buffer| {
        assert_eq!(tested.h.push(buffer), Ok(gst::FlowSuccess::Ok));
        drop(tested.h.pull().expect("a frame out"));
    };
    let warm_up: Vec<_> = (0..FRAMES).map(|_| frames()).collect();
    warm_up.into_iter().for_each(|buffer| push(tested, buffer));
    let buffers: Vec<_> = (0..FRAMES).map(|_| frames()).collect();
    allocations_during(|| buffers.into_iter().for_each(|buffer| push(tested, buffer)))
}

#[test]
fn the_elements_allocate_nothing_per_frame() {
    let key = material_hex();
    let element = |factory| Tested::new(make(factory, &[("key", key.as_str())]), &opus_frames().caps);
    let frame = &opus_frames().frames[0];
    let mut enc = element("jframeenc");
    for (room, case) in [(TRAILER_LEN, "with room for the trailer"), (0, "without room")] {
        let allocations = allocations_in(&mut enc, || buffer_with_room(frame, room));
        assert_eq!(allocations, 0, "jframeenc, {FRAMES} frames {case}");
    }
    let encrypted = enc.push(frame).pop().expect("an encrypted frame");
    let mut dec = element("jframedec");
    assert_eq!(allocations_in(&mut dec, || buffer_with_room(&encrypted, 0)), 0, "jframedec, {FRAMES} frames");
}
