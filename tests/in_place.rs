//! Writable frames are encrypted and decrypted where they are: no copy of the frame, and
//! the trailer in the room after it when upstream left some (jframeenc asks allocators for
//! it), else in a memory of its own that jframeenc uses again once nothing holds it.

mod common;

use common::*;
use gst::prelude::*;
use gstjframe::jframe::{Context, DecryptOutcome, FrameKind, KeyMode, TRAILER_LEN};

fn encoder() -> Tested {
    Tested::new(make("jframeenc", &[("key", &material_hex())]), &opus_frames().caps)
}

/// Where the bytes of a buffer's first memory start.
fn data_address(buffer: &gst::BufferRef) -> usize {
    buffer.peek_memory(0).map_readable().expect("readable memory").as_ptr() as usize
}

/// The bytes of a buffer, read without merging its memories (mapping a buffer of
/// several memories would replace them with one).
fn contents(buffer: &gst::BufferRef) -> Vec<u8> {
    let mut contents = vec![0; buffer.size()];
    buffer.copy_to_slice(0, &mut contents).expect("the whole buffer");
    contents
}

fn decrypts_to(encrypted: &[u8], frame: &[u8]) -> bool {
    let mut ctx = Context::new(KeyMode::Derived);
    ctx.keys_mut().set_key(0, &MATERIAL).expect("key material");
    let mut encrypted = encrypted.to_vec();
    matches!(ctx.decrypt(FrameKind::Audio, &mut encrypted),
        Ok(DecryptOutcome::Decrypted { len, .. }) if encrypted[..len] == *frame)
}

#[test]
fn a_frame_with_room_is_encrypted_in_its_memory_trailer_included() {
    let mut enc = encoder();
    let frame = &opus_frames().frames[0];
    let buffer = buffer_with_room(frame, TRAILER_LEN);
    let address = data_address(&buffer);
    assert_eq!(enc.h.push(buffer), Ok(gst::FlowSuccess::Ok));
    let out = enc.h.pull().expect("an encrypted frame");
    assert_eq!(out.n_memory(), 1, "the trailer went into the room after the frame");
    assert_eq!(data_address(&out), address, "the frame was not copied");
    assert!(decrypts_to(&bytes(&out), frame));
}

#[test]
fn a_frame_without_room_keeps_its_memory_and_gets_a_trailer_memory() {
    let mut enc = encoder();
    let frame = &opus_frames().frames[1];
    let buffer = buffer_with_room(frame, 0);
    let address = data_address(&buffer);
    assert_eq!(enc.h.push(buffer), Ok(gst::FlowSuccess::Ok));
    let out = enc.h.pull().expect("an encrypted frame");
    assert_eq!(out.n_memory(), 2);
    assert_eq!(out.peek_memory(1).size(), TRAILER_LEN);
    assert_eq!(data_address(&out), address, "the frame was not copied");
    assert!(decrypts_to(&bytes(&out), frame));
}

#[test]
fn a_trailer_memory_is_used_again_only_once_no_buffer_holds_it() {
    let mut enc = encoder();
    let frames = &opus_frames().frames;
    let mut push = |count: usize| -> Vec<(gst::Buffer, &Vec<u8>)> {
        (0..count)
            .map(|n| {
                let frame = &frames[n % frames.len()];
                assert_eq!(enc.h.push(buffer_with_room(frame, 0)), Ok(gst::FlowSuccess::Ok));
                (enc.h.pull().expect("an encrypted frame"), frame)
            })
            .collect()
    };
    let all_decrypt =
        |held: &[(gst::Buffer, &Vec<u8>)]| held.iter().all(|(out, frame)| decrypts_to(&contents(out), frame));
    // More frames held downstream than trailer memories are kept: none is overwritten.
    let mut held = push(200);
    assert!(all_decrypt(&held));
    let trailer = |out: &gst::Buffer| out.peek_memory(1).map_readable().expect("trailer").as_ptr() as usize;
    let released: Vec<usize> = held.iter().skip(1).step_by(2).map(|(out, _)| trailer(out)).collect();
    let mut n = 0;
    held.retain(|_| {
        n += 1;
        n % 2 == 1
    });
    let more = push(200);
    assert!(all_decrypt(&held), "a trailer still held downstream was overwritten");
    assert!(all_decrypt(&more));
    assert!(more.iter().any(|(out, _)| released.contains(&trailer(out))), "trailer memories let go of are used again");
}

#[test]
fn a_frame_is_decrypted_in_its_memory() {
    let mut enc = encoder();
    let mut dec = Tested::new(make("jframedec", &[("key", &material_hex())]), &opus_frames().caps);
    let frame = &opus_frames().frames[2];
    let encrypted = enc.push(frame).pop().expect("an encrypted frame");
    let buffer = buffer_with_room(&encrypted, 0);
    let address = data_address(&buffer);
    assert_eq!(dec.h.push(buffer), Ok(gst::FlowSuccess::Ok));
    let out = dec.h.pull().expect("a decrypted frame");
    assert_eq!(bytes(&out), *frame);
    assert_eq!(data_address(&out), address, "the frame was not copied");
}

#[test]
fn a_frame_whose_memory_another_buffer_holds_is_decrypted_in_a_copy() {
    let mut enc = encoder();
    let mut dec = Tested::new(make("jframedec", &[("key", &material_hex())]), &opus_frames().caps);
    let frame = &opus_frames().frames[2];
    let encrypted = enc.push(frame).pop().expect("an encrypted frame");
    let other = buffer_with_room(&encrypted, 0);
    // A buffer of its own, writable, whose one memory is the other buffer's too.
    let mut buffer = gst::Buffer::new();
    buffer.get_mut().expect("a new buffer").append_memory(other.memory(0).expect("its memory"));
    assert!(buffer.is_writable() && !buffer.is_all_memory_writable());
    assert_eq!(dec.h.push(buffer), Ok(gst::FlowSuccess::Ok));
    let out = dec.h.pull().expect("a decrypted frame");
    assert_eq!(bytes(&out), *frame);
    assert_eq!(bytes(&other), encrypted, "the other buffer's frame is untouched");
}

#[test]
fn jframeenc_asks_allocators_for_room_for_the_trailer() {
    let enc = encoder();
    let mut query = gst::query::Allocation::new(Some(&opus_frames().caps), true);
    assert!(enc.element.static_pad("sink").expect("sink pad").query(&mut query));
    assert!(
        query.allocation_params().any(|(_, params)| params.padding() >= TRAILER_LEN),
        "padding for the trailer in {:?}",
        query.allocation_params().map(|(_, params)| params.padding()).collect::<Vec<_>>()
    );
}

#[test]
fn opus_frames_from_opusenc_get_their_trailer_in_place() {
    // opusenc allocates each frame at the largest Opus size and shrinks it: the trailer
    // fits in the room left.
    let pipeline = pipeline(&format!(
        "audiotestsrc num-buffers=20 samplesperbuffer=960 ! audio/x-raw,rate=48000,channels=1 ! opusenc \
         ! jframeenc key={} ! appsink name=sink sync=false",
        material_hex()
    ));
    let sink = element(&pipeline, "sink").downcast::<gst_app::AppSink>().expect("appsink");
    pipeline.set_state(gst::State::Playing).expect("plays");
    let mut memories = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        memories.push(sample.buffer().expect("a buffer").n_memory());
    }
    pipeline.set_state(gst::State::Null).expect("stops");
    assert!(memories.len() >= 20, "{} frames", memories.len());
    assert!(memories.iter().all(|&n| n == 1), "memories per frame: {memories:?}");
}

/// A frame that is not writable (upstream keeps a reference), with a timestamp, a flag and
/// a meta set.
fn held_frame(frame: &[u8]) -> (gst::Buffer, gst::Buffer) {
    let mut buffer = buffer_with_room(frame, 0);
    let writable = buffer.get_mut().expect("a new buffer");
    writable.set_pts(gst::ClockTime::from_mseconds(20));
    writable.set_flags(gst::BufferFlags::DISCONT);
    gst_rtp::RTPSourceMeta::add(writable, Some(0x1234), &[]);
    (buffer.clone(), buffer)
}

fn has_the_metadata(out: &gst::BufferRef) -> bool {
    out.pts() == Some(gst::ClockTime::from_mseconds(20))
        && out.flags().contains(gst::BufferFlags::DISCONT)
        && out.meta::<gst_rtp::RTPSourceMeta>().and_then(|meta| meta.ssrc()) == Some(0x1234)
}

#[test]
fn a_frame_that_is_not_writable_is_copied_once_with_room_and_its_metadata() {
    let mut enc = encoder();
    let frame = &opus_frames().frames[3];
    for _ in 0..3 {
        // The copies go into spare memories: the second and third into one used before.
        let (held, buffer) = held_frame(frame);
        assert_eq!(enc.h.push(buffer), Ok(gst::FlowSuccess::Ok));
        let out = enc.h.pull().expect("an encrypted frame");
        assert_eq!(bytes(&held), *frame, "the frame upstream holds is untouched");
        assert_eq!(out.n_memory(), 1, "the copy has room for the trailer");
        assert!(has_the_metadata(&out), "timestamp, flags and meta of the frame: {out:?}");
        assert!(decrypts_to(&bytes(&out), frame));
    }
}

#[test]
fn a_frame_that_is_not_writable_is_decrypted_in_a_copy() {
    let mut enc = encoder();
    let mut dec = Tested::new(make("jframedec", &[("key", &material_hex())]), &opus_frames().caps);
    for frame in &opus_frames().frames[..3] {
        let encrypted = enc.push(frame).pop().expect("an encrypted frame");
        let (held, buffer) = held_frame(&encrypted);
        assert_eq!(dec.h.push(buffer), Ok(gst::FlowSuccess::Ok));
        let out = dec.h.pull().expect("a decrypted frame");
        assert_eq!(bytes(&held), encrypted, "the frame upstream holds is untouched");
        assert_eq!(bytes(&out), *frame);
        assert!(has_the_metadata(&out), "timestamp, flags and meta of the frame: {out:?}");
    }
}
