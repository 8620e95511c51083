//! Frame kinds, the clear prefix each keeps under each format, and the trailer.

use super::annexb;
use super::rules::Format;

/// Length of the AES-GCM authentication tag.
pub const TAG_LEN: usize = 16;
/// Length of the IV this implementation writes (the reference's too).
pub const IV_LEN: usize = 12;
/// Bytes appended to every encrypted frame: tag, IV, IV-length byte, key index.
pub const TRAILER_LEN: usize = TAG_LEN + IV_LEN + 2;

/// What the caller knows about a frame; fixes how many leading bytes stay in clear.
///
/// The clear bytes are what payloaders, SFUs and depayloaders read, and they are
/// authenticated as the AES-GCM additional data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// VP8 key frame: frame tag, start code, width and height (RFC 6386 §9.1).
    VideoKey,
    /// VP8 inter frame: the 3-byte frame tag.
    VideoDelta,
    /// Audio (Opus): the TOC byte (RFC 6716 §3.1).
    Audio,
}

impl FrameKind {
    /// Number of leading bytes left in clear.
    pub const fn clear_len(self) -> usize {
        match self {
            FrameKind::VideoKey => 10,
            FrameKind::VideoDelta => 3,
            FrameKind::Audio => 1,
        }
    }

    /// Tells a VP8 key frame from an inter frame by the frame tag's P bit (bit 0 of
    /// the first byte: 0 = key frame). `None` for an empty frame.
    pub fn of_vp8(frame: &[u8]) -> Option<FrameKind> {
        let first = *frame.first()?;
        Some(if first & 0x01 == 0 { FrameKind::VideoKey } else { FrameKind::VideoDelta })
    }
}

/// The codec of a video frame, for the rules that depend on it (LiveKit's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    Vp8,
    Vp9,
    H264,
    H265,
    Av1,
    /// Not known: LiveKit then looks for H.264/H.265 slices, else uses the VP8 rule.
    Unknown,
}

/// WebRTC's type of an encoded video frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VideoFrameType {
    Key,
    Delta,
    /// WebRTC's `empty` (no picture data).
    Empty,
}

/// What the caller knows about a frame: enough for either format's clear-prefix rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MediaFrame {
    Audio,
    Video { codec: VideoCodec, frame_type: VideoFrameType },
}

impl From<FrameKind> for MediaFrame {
    /// A `FrameKind` is a VP8 or an audio frame.
    fn from(kind: FrameKind) -> MediaFrame {
        let video = |frame_type| MediaFrame::Video { codec: VideoCodec::Vp8, frame_type };
        match kind {
            FrameKind::VideoKey => video(VideoFrameType::Key),
            FrameKind::VideoDelta => video(VideoFrameType::Delta),
            FrameKind::Audio => MediaFrame::Audio,
        }
    }
}

/// A frame the format has no rule for (AV1 under LiveKit's rules, `empty` video
/// frames under JFrame's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnsupportedFrame;

/// How a frame is laid out: where its clear prefix ends, and whether it is an Annex B
/// access unit whose encrypted part must be escaped to stay one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) clear: usize,
    pub(crate) annex_b: bool,
}

impl Layout {
    const fn plain(clear: usize) -> Layout {
        Layout { clear, annex_b: false }
    }
}

/// The clear prefix of a VP8 frame by its type (an `empty` frame keeps nothing).
fn vp8_clear_len(frame_type: VideoFrameType) -> usize {
    match frame_type {
        VideoFrameType::Key => FrameKind::VideoKey.clear_len(),
        VideoFrameType::Delta => FrameKind::VideoDelta.clear_len(),
        VideoFrameType::Empty => 0,
    }
}

/// The layout of `data`, a frame to send or a received one, under `format`.
pub(crate) fn layout(format: Format, frame: MediaFrame, data: &[u8]) -> Result<Layout, UnsupportedFrame> {
    let (codec, frame_type) = match frame {
        MediaFrame::Audio => return Ok(Layout::plain(FrameKind::Audio.clear_len())),
        MediaFrame::Video { codec, frame_type } => (codec, frame_type),
    };
    match (format, codec) {
        // lib-jitsi-meet looks at the frame type only; for `empty` it would both keep
        // and encrypt the whole frame, which no receiver can use.
        (Format::JFrame, _) if frame_type == VideoFrameType::Empty => Err(UnsupportedFrame),
        (Format::JFrame, _) => Ok(Layout::plain(vp8_clear_len(frame_type))),
        (Format::LiveKit, VideoCodec::Av1) => Err(UnsupportedFrame),
        (Format::LiveKit, VideoCodec::Vp9) => Ok(Layout::plain(0)),
        (Format::LiveKit, VideoCodec::Vp8) => Ok(Layout::plain(vp8_clear_len(frame_type))),
        // The codec comes from the units themselves, whatever the frame says (as LiveKit).
        (Format::LiveKit, VideoCodec::H264 | VideoCodec::H265 | VideoCodec::Unknown) => {
            // Bytes that are no Annex B stream with a slice fall back to the VP8 rule.
            Ok(match annexb::first_slice_prefix(data) {
                Some(clear) => Layout { clear, annex_b: true },
                None => Layout::plain(vp8_clear_len(frame_type)),
            })
        }
    }
}

/// The bytes appended to an encrypted frame: `tag (16) || IV (12) || 0x0C || KID`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trailer(pub [u8; TRAILER_LEN]);

impl Trailer {
    pub(crate) fn new(tag: &[u8; TAG_LEN], iv: &[u8; IV_LEN], kid: u8) -> Self {
        let mut bytes = [0u8; TRAILER_LEN];
        bytes[..TAG_LEN].copy_from_slice(tag);
        bytes[TAG_LEN..TAG_LEN + IV_LEN].copy_from_slice(iv);
        bytes[TRAILER_LEN - 2] = IV_LEN as u8;
        bytes[TRAILER_LEN - 1] = kid;
        Trailer(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The clear prefix of an access unit under LiveKit's rules, for each way the codec
    /// may be signalled (or not).
    fn clear_lens(au: &[u8]) -> Vec<usize> {
        [VideoCodec::H264, VideoCodec::H265, VideoCodec::Unknown]
            .into_iter()
            .map(|codec| {
                let frame = MediaFrame::Video { codec, frame_type: VideoFrameType::Delta };
                let layout = layout(Format::LiveKit, frame, au).expect("a rule for H.264/H.265");
                assert!(layout.annex_b, "{codec:?}: read as Annex B");
                layout.clear
            })
            .collect()
    }

    #[test]
    fn h264_units_before_the_slice_never_pass_for_h265_slices() {
        // SEI (0x06 reads as H.265 TSA_R), non-IDR slice.
        let sei = [0, 0, 0, 1, 0x06, 5, 1, 0x80, 0, 0, 0, 1, 0x41, 0x9a, 7, 7, 7];
        assert_eq!(clear_lens(&sei), [14; 3]);
        // AUD (0x09 reads as H.265 STSA_N), SPS, PPS, SEI, IDR slice.
        let aud = [
            0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2, 0, 0, 0, 1, 0x06, 5, 0x80, 0, 0, 0, 1,
            0x65, 0x88, 7, 7,
        ];
        assert_eq!(clear_lens(&aud), [31; 3]);
    }

    #[test]
    fn h265_parameter_sets_and_sei_before_the_slice_are_skipped() {
        // AUD, VPS, SPS, PPS, prefix SEI, IDR_W_RADL slice.
        let au = [
            0, 0, 0, 1, 0x46, 1, 0x50, 0, 0, 0, 1, 0x40, 1, 0x0c, 0, 0, 0, 1, 0x42, 1, 1, 0, 0, 0, 1, 0x44, 1, 0xc1, 0,
            0, 0, 1, 0x4e, 1, 5, 0, 0, 0, 1, 0x26, 1, 0xaf, 9, 9,
        ];
        assert_eq!(clear_lens(&au), [41; 3]);
    }

    #[test]
    fn without_any_slice_the_vp8_rule_applies() {
        let parameter_sets = [0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 3, 4, 5, 6];
        for codec in [VideoCodec::H264, VideoCodec::H265, VideoCodec::Unknown] {
            let frame = MediaFrame::Video { codec, frame_type: VideoFrameType::Delta };
            assert_eq!(layout(Format::LiveKit, frame, &parameter_sets), Ok(Layout::plain(3)));
        }
    }
}
