//! Frame kinds, the clear prefix each keeps, and the JFrame trailer.

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
        Some(if first & 0x01 == 0 {
            FrameKind::VideoKey
        } else {
            FrameKind::VideoDelta
        })
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
