//! The generic RTP packetization of SFrame ciphertexts, per-frame mode
//! (draft-ietf-avtcore-rtp-sframe-02): each RTP payload is one descriptor byte
//! `|S|E|T|x|x|x|x|x|` and a fragment of the ciphertext. S marks the first fragment of
//! a frame, E the last; T (added in -02) is 0 for per-frame SFrame, and the other bits
//! are reserved. Drafts -00 and -01 have only S and E, the rest reserved and 0, so what
//! this module sends is the same under every version.
//!
//! Received descriptors are read for S and E only: T and the reserved bits are
//! counted, not acted on (the T polarity differs between the draft and libwebrtc's
//! design notes). The RTP marker bit is not used to find frame ends: the draft leaves
//! it as the media's payload format sets it, which for audio is not the end of a frame.

/// The descriptor byte before every fragment.
pub const DESCRIPTOR_LEN: usize = 1;
pub const START: u8 = 0x80;
pub const END: u8 = 0x40;
/// The T bit and the reserved bits.
const OTHER_BITS: u8 = 0x3F;
/// Largest frame a [`Reassembler`] collects by default.
pub const DEFAULT_MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// A payload size too small to carry a descriptor and one byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayloadTooSmall(pub usize);

impl std::fmt::Display for PayloadTooSmall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "an RTP payload of {} bytes cannot carry a descriptor and a fragment", self.0)
    }
}

impl std::error::Error for PayloadTooSmall {}

/// Splits SFrame ciphertexts into RTP payloads of at most `max_payload_len` bytes
/// (descriptor included): the MTU less the RTP, UDP and IP headers.
#[derive(Clone, Copy, Debug)]
pub struct Packetizer {
    max_fragment_len: usize,
}

/// One RTP payload: `descriptor || data`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragment<'a> {
    pub descriptor: u8,
    pub data: &'a [u8],
}

impl Fragment<'_> {
    pub fn is_first(&self) -> bool {
        self.descriptor & START != 0
    }

    pub fn is_last(&self) -> bool {
        self.descriptor & END != 0
    }

    /// The RTP payload (a copy).
    pub fn to_payload(&self) -> Vec<u8> {
        [&[self.descriptor][..], self.data].concat()
    }
}

impl Packetizer {
    pub fn new(max_payload_len: usize) -> Result<Packetizer, PayloadTooSmall> {
        match max_payload_len.checked_sub(DESCRIPTOR_LEN) {
            Some(max_fragment_len) if max_fragment_len > 0 => Ok(Packetizer { max_fragment_len }),
            _ => Err(PayloadTooSmall(max_payload_len)),
        }
    }

    /// The fragments of `frame`, in order; none for an empty frame (no SFrame
    /// ciphertext is empty).
    pub fn fragments<'a>(&self, frame: &'a [u8]) -> impl ExactSizeIterator<Item = Fragment<'a>> + 'a {
        let count = frame.len().div_ceil(self.max_fragment_len);
        frame.chunks(self.max_fragment_len).enumerate().map(move |(i, data)| {
            let start = if i == 0 { START } else { 0 };
            let end = if i + 1 == count { END } else { 0 };
            Fragment { descriptor: start | end, data }
        })
    }
}

/// An RTP packet as the reassembler needs it.
#[derive(Clone, Copy, Debug)]
pub struct RtpPacket<'a> {
    pub seq: u16,
    pub timestamp: u32,
    pub payload: &'a [u8],
}

/// Why a packet was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dropped {
    /// An empty payload: not even a descriptor.
    NoDescriptor,
    /// S clear (both flags clear, or only E) with no frame in progress: its start was
    /// lost or came out of order.
    NoStart,
    /// Not the next sequence number of the frame in progress (a packet lost or out
    /// of order): the frame in progress is dropped too.
    OutOfOrder,
    /// Another RTP timestamp than the frame in progress: that frame is dropped too.
    OtherTimestamp,
    /// The frame would grow beyond the largest allowed: dropped with its fragments.
    Oversize,
}

/// What a reassembler saw. `frames_incomplete` counts frames in progress given up
/// (a fragment missing, out of order, or a new start before the end).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReassemblyStats {
    pub packets: u64,
    pub frames: u64,
    pub frames_incomplete: u64,
    pub no_descriptor: u64,
    pub no_start: u64,
    pub out_of_order: u64,
    pub other_timestamp: u64,
    pub oversize: u64,
    /// Packets whose T or reserved bits were set (taken anyway).
    pub other_bits_set: u64,
}

#[derive(Clone, Copy, Debug)]
struct InProgress {
    next_seq: u16,
    timestamp: u32,
}

/// Collects the fragments of each frame, in RTP sequence order, into one ciphertext.
#[derive(Debug)]
pub struct Reassembler {
    max_frame_len: usize,
    frame: Vec<u8>,
    in_progress: Option<InProgress>,
    stats: ReassemblyStats,
}

impl Default for Reassembler {
    fn default() -> Self {
        Reassembler::new(DEFAULT_MAX_FRAME_LEN)
    }
}

impl Reassembler {
    pub fn new(max_frame_len: usize) -> Reassembler {
        Reassembler { max_frame_len, frame: Vec::new(), in_progress: None, stats: ReassemblyStats::default() }
    }

    pub fn stats(&self) -> ReassemblyStats {
        self.stats
    }

    /// Forgets the frame in progress (e.g. on a flush), without counting it.
    pub fn reset(&mut self) {
        self.in_progress = None;
        self.frame.clear();
    }

    /// Takes a packet; returns the frame it completes, if any. The frame is borrowed
    /// until the next call (its buffer is reused: no allocation per frame).
    pub fn push(&mut self, packet: RtpPacket<'_>) -> Result<Option<&mut [u8]>, Dropped> {
        self.stats.packets += 1;
        let Some((&descriptor, data)) = packet.payload.split_first() else {
            self.stats.no_descriptor += 1;
            return Err(Dropped::NoDescriptor);
        };
        if descriptor & OTHER_BITS != 0 {
            self.stats.other_bits_set += 1;
        }
        if descriptor & START != 0 {
            self.give_up();
            self.in_progress = Some(InProgress { next_seq: packet.seq, timestamp: packet.timestamp });
        }
        let Some(progress) = self.in_progress else {
            self.stats.no_start += 1;
            return Err(Dropped::NoStart);
        };
        if packet.seq != progress.next_seq {
            self.give_up();
            self.stats.out_of_order += 1;
            return Err(Dropped::OutOfOrder);
        }
        if packet.timestamp != progress.timestamp {
            self.give_up();
            self.stats.other_timestamp += 1;
            return Err(Dropped::OtherTimestamp);
        }
        if self.frame.len() + data.len() > self.max_frame_len {
            self.give_up();
            self.stats.oversize += 1;
            return Err(Dropped::Oversize);
        }
        self.frame.extend_from_slice(data);
        self.in_progress = Some(InProgress { next_seq: packet.seq.wrapping_add(1), ..progress });
        if descriptor & END == 0 {
            return Ok(None);
        }
        self.in_progress = None;
        self.stats.frames += 1;
        Ok(Some(self.frame.as_mut_slice()))
    }

    /// Drops the frame in progress, counting it, and empties the buffer for the next.
    fn give_up(&mut self) {
        if self.in_progress.take().is_some() {
            self.stats.frames_incomplete += 1;
        }
        self.frame.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packets(frame: &[u8], max_payload: usize, seq: u16, timestamp: u32) -> Vec<(u16, u32, Vec<u8>)> {
        let packetizer = Packetizer::new(max_payload).unwrap();
        let fragments = packetizer.fragments(frame);
        fragments.enumerate().map(|(i, f)| (seq.wrapping_add(i as u16), timestamp, f.to_payload())).collect()
    }

    fn push(r: &mut Reassembler, (seq, timestamp, payload): &(u16, u32, Vec<u8>)) -> Result<Option<Vec<u8>>, Dropped> {
        r.push(RtpPacket { seq: *seq, timestamp: *timestamp, payload }).map(|frame| frame.map(|f| f.to_vec()))
    }

    #[test]
    fn splits_at_the_payload_size_and_flags_first_and_last() {
        let frame: Vec<u8> = (0..=255).collect();
        let packetizer = Packetizer::new(101).unwrap();
        let fragments: Vec<_> = packetizer.fragments(&frame).collect();
        assert_eq!(fragments.iter().map(|f| f.descriptor).collect::<Vec<_>>(), [START, 0, END]);
        assert_eq!(fragments.iter().map(|f| f.data.len()).collect::<Vec<_>>(), [100, 100, 56]);
        let single: Vec<_> = packetizer.fragments(&frame[..100]).collect();
        assert_eq!(single, [Fragment { descriptor: START | END, data: &frame[..100] }]);
        assert_eq!(packetizer.fragments(&[]).count(), 0);
        assert_eq!(Packetizer::new(1).unwrap_err(), PayloadTooSmall(1));
    }

    #[test]
    fn reassembles_frames_across_sequence_wrap() {
        let mut r = Reassembler::default();
        let frame: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let sent = packets(&frame, 300, u16::MAX - 1, 7);
        for p in &sent[..sent.len() - 1] {
            assert_eq!(push(&mut r, p), Ok(None));
        }
        assert_eq!(push(&mut r, sent.last().unwrap()), Ok(Some(frame.clone())));
        let next = packets(&[9, 9], 300, 3, 8);
        assert_eq!(push(&mut r, &next[0]), Ok(Some(vec![9, 9])));
        assert_eq!(r.stats().frames, 2);
        assert_eq!(r.stats().frames_incomplete, 0);
    }

    #[test]
    fn drops_and_counts_bad_packets_and_goes_on() {
        let mut r = Reassembler::new(1000);
        let frame = vec![1u8; 500];
        let sent = packets(&frame, 201, 10, 1);
        assert_eq!(sent.len(), 3);
        // Both flags clear with nothing in progress, and an empty payload.
        assert_eq!(push(&mut r, &(5, 1, vec![0x00, 1, 2])), Err(Dropped::NoStart));
        assert_eq!(push(&mut r, &(5, 1, vec![])), Err(Dropped::NoDescriptor));
        // Out of order: the last before the middle.
        assert_eq!(push(&mut r, &sent[0]), Ok(None));
        assert_eq!(push(&mut r, &sent[2]), Err(Dropped::OutOfOrder));
        assert_eq!(push(&mut r, &sent[1]), Err(Dropped::NoStart));
        // A missing middle fragment, then a new start before the end.
        assert_eq!(push(&mut r, &sent[0]), Ok(None));
        assert_eq!(push(&mut r, &sent[0]), Ok(None));
        // Another timestamp inside a frame.
        let mut other = sent[1].clone();
        other.1 = 2;
        assert_eq!(push(&mut r, &other), Err(Dropped::OtherTimestamp));
        // Oversize.
        let big = packets(&vec![2u8; 1200], 301, 40, 3);
        let results: Vec<_> = big.iter().map(|p| push(&mut r, p)).collect();
        assert!(results.contains(&Err(Dropped::Oversize)));
        // The stream goes on.
        for p in &sent[..2] {
            assert_eq!(push(&mut r, p), Ok(None));
        }
        assert_eq!(push(&mut r, &sent[2]), Ok(Some(frame)));
        // T and reserved bits are counted, not acted on.
        assert_eq!(push(&mut r, &(90, 4, vec![START | END | 0x20, 7])), Ok(Some(vec![7])));
        let stats = r.stats();
        assert_eq!(
            (stats.no_start, stats.no_descriptor, stats.out_of_order, stats.other_timestamp, stats.oversize),
            (2 + results.iter().filter(|r| **r == Err(Dropped::NoStart)).count() as u64, 1, 1, 1, 1)
        );
        assert_eq!(stats.frames, 2);
        assert_eq!(stats.frames_incomplete, 4);
        assert_eq!(stats.other_bits_set, 1);
    }
}
