//! The media a stream carries, from its caps, and the caps each format takes.

use crate::jframe::{Format, MediaFrame, VideoCodec, VideoFrameType};

/// The media of a stream, from its caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    Vp8,
    Vp9,
    H264,
    H265,
    Av1,
    Opus,
}

impl Media {
    pub fn from_caps(caps: &gst::CapsRef) -> Option<Media> {
        match caps.structure(0)?.name().as_str() {
            "video/x-vp8" => Some(Media::Vp8),
            "video/x-vp9" => Some(Media::Vp9),
            "video/x-h264" => Some(Media::H264),
            "video/x-h265" => Some(Media::H265),
            "video/x-av1" => Some(Media::Av1),
            "audio/x-opus" => Some(Media::Opus),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Media::Vp8 => "VP8",
            Media::Vp9 => "VP9",
            Media::H264 => "H.264",
            Media::H265 => "H.265",
            Media::Av1 => "AV1",
            Media::Opus => "Opus",
        }
    }

    /// Whether `format` has rules for this media; why not when it has none.
    pub fn check(self, format: Format) -> Result<(), String> {
        match (format, self) {
            (Format::JFrame, Media::Vp8 | Media::Opus) => Ok(()),
            (Format::JFrame, _) => Err(format!(
                "format=jitsi carries VP8 and Opus only, not {}; format=livekit carries VP9, H.264 and H.265 too",
                self.name()
            )),
            (Format::LiveKit, Media::Av1) => {
                Err("format=livekit has no rule for AV1: LiveKit's frame encryption refuses AV1 frames".to_owned())
            }
            (Format::LiveKit, _) => Ok(()),
        }
    }

    /// H.264/H.265 access units: under LiveKit's rules their encrypted part is escaped,
    /// so encryption changes their size and decryption may need the whole frame.
    pub fn is_annex_b(self) -> bool {
        matches!(self, Media::H264 | Media::H265)
    }

    /// The frame as the rules see it. A VP8 frame's type comes from its frame tag (an
    /// empty one counts as an inter frame: shorter than any clear prefix, it is dropped
    /// as such under JFrame's rules, passed under LiveKit's); other video's from the
    /// buffer's delta-unit flag, which only decides when an H.264/H.265 frame is no
    /// Annex B stream.
    pub fn frame(self, data: &[u8], delta_unit: bool) -> MediaFrame {
        let video = |codec, delta| MediaFrame::Video {
            codec,
            frame_type: if delta { VideoFrameType::Delta } else { VideoFrameType::Key },
        };
        match self {
            Media::Opus => MediaFrame::Audio,
            Media::Vp8 => video(VideoCodec::Vp8, data.first().is_none_or(|tag| tag & 1 == 1)),
            Media::Vp9 => video(VideoCodec::Vp9, delta_unit),
            Media::H264 => video(VideoCodec::H264, delta_unit),
            Media::H265 => video(VideoCodec::H265, delta_unit),
            Media::Av1 => video(VideoCodec::Av1, delta_unit),
        }
    }
}

/// The caps a format takes. LiveKit's include AV1, to refuse it when set with the reason
/// rather than at negotiation with none.
fn format_caps(format: Format) -> gst::Caps {
    let mut caps = gst::Caps::new_empty();
    let names: &[&str] = match format {
        Format::JFrame => &["video/x-vp8", "audio/x-opus"],
        Format::LiveKit => &["video/x-vp8", "video/x-vp9", "video/x-av1", "audio/x-opus"],
    };
    for name in names {
        caps.merge(gst::Caps::builder(*name).build());
    }
    if format == Format::LiveKit {
        for name in ["video/x-h264", "video/x-h265"] {
            caps.merge(gst::Caps::builder(name).field("stream-format", "byte-stream").field("alignment", "au").build());
        }
    }
    caps
}

/// The caps both elements take and give (any format's), output equal to input.
pub fn pad_templates() -> Vec<gst::PadTemplate> {
    let caps = format_caps(Format::LiveKit);
    [gst::PadDirection::Src, gst::PadDirection::Sink]
        .into_iter()
        .filter_map(|direction| {
            let name = if direction == gst::PadDirection::Src { "src" } else { "sink" };
            gst::PadTemplate::new(name, direction, gst::PadPresence::Always, &caps).ok()
        })
        .collect()
}

/// The caps on the other pad: the same, less what `format` never takes.
pub fn transform_caps(format: Format, caps: &gst::Caps, filter: Option<&gst::Caps>) -> gst::Caps {
    let taken = caps.intersect_with_mode(&format_caps(format), gst::CapsIntersectMode::First);
    match filter {
        Some(filter) => filter.intersect_with_mode(&taken, gst::CapsIntersectMode::First),
        None => taken,
    }
}
