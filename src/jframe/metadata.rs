//! LiveKit's optional frame metadata trailer ("packet trailer"), appended to video frames
//! after encryption (or to clear frames when encryption is off) and removed before
//! decryption:
//!
//! `TLVs || (trailer length XOR 0xFF) || "LKTS"`, each TLV byte XOR 0xFF: tag 1 = user
//! timestamp (8 bytes, big-endian, µs), tag 2 = frame id (4 bytes, big-endian). The
//! trailer length counts everything from the first TLV to the magic.

/// The trailer's last bytes.
pub const MAGIC: &[u8; 4] = b"LKTS";
const TIMESTAMP_TAG: u8 = 1;
const FRAME_ID_TAG: u8 = 2;
/// Length byte and magic.
const ENVELOPE_LEN: usize = 1 + MAGIC.len();

/// What a trailer carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameMetadata {
    /// Capture time in µs since the Unix epoch, as the sender stamped it.
    pub user_timestamp: Option<u64>,
    /// The sender's frame number (see [`FrameIds`]).
    pub frame_id: Option<u32>,
}

fn push_xored(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend(bytes.iter().map(|b| b ^ 0xff));
}

impl FrameMetadata {
    /// Appends the trailer to `frame`; nothing when there is nothing to carry.
    pub fn append_to(&self, frame: &mut Vec<u8>) {
        if self.user_timestamp.is_none() && self.frame_id.is_none() {
            return;
        }
        let start = frame.len();
        if let Some(timestamp) = self.user_timestamp {
            push_xored(frame, &[TIMESTAMP_TAG, 8]);
            push_xored(frame, &timestamp.to_be_bytes());
        }
        if let Some(id) = self.frame_id {
            push_xored(frame, &[FRAME_ID_TAG, 4]);
            push_xored(frame, &id.to_be_bytes());
        }
        // At most 10 + 6 + 5 bytes.
        let trailer_len = (frame.len() - start + ENVELOPE_LEN) as u8;
        frame.push(trailer_len ^ 0xff);
        frame.extend_from_slice(MAGIC);
    }

    /// Reads the trailer at the end of `frame`: the frame's length without it, and what
    /// it carries. `None` when the frame has no trailer with a known TLV (LiveKit then
    /// leaves the frame as it is); unknown TLVs are skipped.
    pub fn parse(frame: &[u8]) -> Option<(usize, FrameMetadata)> {
        if frame.len() < ENVELOPE_LEN || !frame.ends_with(MAGIC) {
            return None;
        }
        let trailer_len = usize::from(frame[frame.len() - ENVELOPE_LEN] ^ 0xff);
        if trailer_len < ENVELOPE_LEN || trailer_len > frame.len() {
            return None;
        }
        let start = frame.len() - trailer_len;
        let tlvs = &frame[start..frame.len() - ENVELOPE_LEN];
        let mut metadata = FrameMetadata::default();
        let mut offset = 0;
        while let Some(&[tag, len]) = tlvs.get(offset..offset + 2) {
            let (tag, len) = (tag ^ 0xff, usize::from(len ^ 0xff));
            offset += 2;
            let Some(value) = tlvs.get(offset..offset + len) else { break };
            let number = || value.iter().fold(0u64, |n, b| n << 8 | u64::from(b ^ 0xff));
            match (tag, len) {
                (TIMESTAMP_TAG, 8) => metadata.user_timestamp = Some(number()),
                (FRAME_ID_TAG, 4) => metadata.frame_id = Some(number() as u32),
                _ => {}
            }
            offset += len;
        }
        (metadata != FrameMetadata::default()).then_some((start, metadata))
    }
}

/// A sender's frame ids: 1, 2, … and after `u32::MAX` back to 1 (0 means none).
#[derive(Clone, Copy, Debug, Default)]
pub struct FrameIds {
    last: u32,
}

impl FrameIds {
    pub fn next_id(&mut self) -> u32 {
        self.last = if self.last == u32::MAX { 1 } else { self.last + 1 };
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailer_round_trips() {
        let metadata = FrameMetadata { user_timestamp: Some(1_767_225_600_123_000), frame_id: Some(1) };
        let mut frame = vec![1, 2, 3];
        metadata.append_to(&mut frame);
        assert_eq!(hex(&frame[3..]), "fef7fff9b8b7b9dddf87fdfbfffffffeea4c4b5453");
        assert_eq!(FrameMetadata::parse(&frame), Some((3, metadata)));
        assert_eq!(FrameMetadata::parse(&frame[..frame.len() - 1]), None);
        assert_eq!(FrameMetadata::parse(MAGIC), None);
        assert_eq!(FrameMetadata::parse(b"\xfaLKTS"), None);
    }

    #[test]
    fn nothing_to_carry_appends_nothing() {
        let mut frame = vec![1, 2, 3];
        FrameMetadata::default().append_to(&mut frame);
        assert_eq!(frame, [1, 2, 3]);
    }

    #[test]
    fn frame_ids_skip_zero_when_wrapping() {
        let mut ids = FrameIds { last: u32::MAX - 1 };
        assert_eq!([ids.next_id(), ids.next_id(), ids.next_id()], [u32::MAX, 1, 2]);
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
