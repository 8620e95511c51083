//! The SFrame RTP reassembler on fuzzed packets, and the packetizer round trip.
//!
//! Byte 0 bit 7 chooses the route:
//! * clear: the rest is a list of packets `[seq delta, timestamp, length, payload...]`
//!   pushed into a reassembler (frames up to 4 KiB): no panic; every frame it gives is
//!   within the limit and every packet is counted once;
//! * set: `[payload size, frame...]`: the frame is packetized at that size (at least 2)
//!   and pushed in order: exactly the frame comes back.

#![no_main]

use gstjframe::sframe::rtp::{Packetizer, Reassembler, RtpPacket};
use libfuzzer_sys::fuzz_target;

const MAX_FRAME: usize = 4096;

fn arbitrary_packets(mut bytes: &[u8]) {
    let mut reassembler = Reassembler::new(MAX_FRAME);
    let (mut seq, mut pushed) = (0u16, 0u64);
    while let [delta, timestamp, len, rest @ ..] = bytes {
        let (payload, tail) = rest.split_at(usize::from(*len).min(rest.len()));
        seq = seq.wrapping_add(u16::from(*delta));
        let packet = RtpPacket { seq, timestamp: u32::from(*timestamp), payload };
        if let Ok(Some(frame)) = reassembler.push(packet) {
            assert!(frame.len() <= MAX_FRAME, "a frame of {} bytes", frame.len());
        }
        pushed += 1;
        bytes = tail;
    }
    let stats = reassembler.stats();
    assert_eq!(stats.packets, pushed);
    let dropped = stats.no_descriptor + stats.no_start + stats.out_of_order + stats.other_timestamp + stats.oversize;
    assert!(dropped <= pushed && stats.frames <= pushed - dropped);
}

fn round_trip(payload_size: u8, frame: &[u8]) {
    let Ok(packetizer) = Packetizer::new(usize::from(payload_size).max(2)) else { panic!("a valid size refused") };
    let mut reassembler = Reassembler::new(MAX_FRAME * 16);
    let mut out = None;
    for (i, fragment) in packetizer.fragments(frame).enumerate() {
        let payload = fragment.to_payload();
        let packet = RtpPacket { seq: 65_000u16.wrapping_add(i as u16), timestamp: 7, payload: &payload };
        match reassembler.push(packet) {
            Ok(Some(done)) => out = Some(done.to_vec()),
            Ok(None) => {}
            Err(e) => panic!("fragment {i} dropped: {e:?}"),
        }
    }
    if frame.is_empty() {
        assert_eq!(out, None);
    } else {
        assert_eq!(out.as_deref(), Some(frame), "the frame did not come back whole");
    }
}

fuzz_target!(|data: &[u8]| {
    match data {
        [first, size, frame @ ..] if first & 0x80 != 0 => round_trip(*size, frame),
        [_, packets @ ..] => arbitrary_packets(packets),
        [] => {}
    }
});
