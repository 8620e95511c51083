//! The media a stream carries, from its caps, and the caps each format takes.
//!
//! JFrame and LiveKit frames stay parsable media: both sides of an element have the same
//! caps. An SFrame ciphertext is no longer the media it carries, so its caps say so:
//! `application/x-sframe`, with the media's caps name in `media-type` and its other
//! fields kept (e.g. `application/x-sframe, media-type=video/x-h264,
//! stream-format=byte-stream, alignment=au`). Nothing that takes the media takes these
//! caps by mistake, and decrypting gives the media's caps back.

use crate::jframe::{MediaFrame, VideoCodec, VideoFrameType};
use crate::keystore::settings::FormatSetting as Format;

/// The caps name of SFrame ciphertexts.
pub const SFRAME_CAPS: &str = "application/x-sframe";
/// The field that names the media inside.
pub const MEDIA_TYPE_FIELD: &str = "media-type";

/// Which side of an element caps are for: the media's, or the encrypted frames'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Plain,
    Encrypted,
}

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
    /// The media of plain caps, or of SFrame caps (from their `media-type`).
    pub fn from_caps(caps: &gst::CapsRef) -> Option<Media> {
        let structure = caps.structure(0)?;
        let name = match structure.name().as_str() {
            SFRAME_CAPS => structure.get::<&str>(MEDIA_TYPE_FIELD).ok()?,
            name => name,
        };
        Media::from_name(name)
    }

    fn from_name(name: &str) -> Option<Media> {
        match name {
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
            (Format::Jitsi, Media::Vp8 | Media::Opus) => Ok(()),
            (Format::Jitsi, _) => Err(format!(
                "format=jitsi carries VP8 and Opus only, not {}; format=livekit carries VP9, H.264 and H.265 too, \
                 format=sframe AV1 as well",
                self.name()
            )),
            (Format::SFrame, _) => Ok(()),
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

/// The caps a format takes on one side. LiveKit's include AV1, to refuse it when set with
/// the reason rather than at negotiation with none. SFrame takes any of the media, whole.
fn format_caps(format: Format, side: Side) -> gst::Caps {
    if (format, side) == (Format::SFrame, Side::Encrypted) {
        return gst::Caps::builder(SFRAME_CAPS).build();
    }
    let mut caps = gst::Caps::new_empty();
    let names: &[&str] = match format {
        Format::Jitsi => &["video/x-vp8", "audio/x-opus"],
        Format::LiveKit | Format::SFrame => &["video/x-vp8", "video/x-vp9", "video/x-av1", "audio/x-opus"],
    };
    for name in names {
        caps.merge(gst::Caps::builder(*name).build());
    }
    for name in ["video/x-h264", "video/x-h265"] {
        match format {
            Format::Jitsi => (),
            Format::LiveKit => caps
                .merge(gst::Caps::builder(name).field("stream-format", "byte-stream").field("alignment", "au").build()),
            Format::SFrame => caps.merge(gst::Caps::builder(name).build()),
        }
    }
    caps
}

/// The caps both elements take and give (any format's, either side).
pub fn pad_templates() -> Vec<gst::PadTemplate> {
    let mut caps = format_caps(Format::SFrame, Side::Plain);
    caps.merge(format_caps(Format::SFrame, Side::Encrypted));
    [gst::PadDirection::Src, gst::PadDirection::Sink]
        .into_iter()
        .filter_map(|direction| {
            let name = if direction == gst::PadDirection::Src { "src" } else { "sink" };
            gst::PadTemplate::new(name, direction, gst::PadPresence::Always, &caps).ok()
        })
        .collect()
}

/// The caps `format` takes on `side`, of those given.
pub fn side_caps(format: Format, side: Side, caps: &gst::Caps) -> gst::Caps {
    caps.intersect_with_mode(&format_caps(format, side), gst::CapsIntersectMode::First)
}

/// The caps on the `to` side of an element, given the caps of its other side: the same
/// caps, as SFrame ciphertexts or back under SFrame, less what `format` never takes.
pub fn transform_caps(format: Format, to: Side, caps: &gst::Caps, filter: Option<&gst::Caps>) -> gst::Caps {
    let from = if to == Side::Plain { Side::Encrypted } else { Side::Plain };
    let caps = side_caps(format, from, caps);
    let caps = match (format, to) {
        (Format::SFrame, Side::Encrypted) => sframe_caps(&caps),
        (Format::SFrame, Side::Plain) => media_caps(&caps),
        _ => caps,
    };
    let taken = side_caps(format, to, &caps);
    match filter {
        Some(filter) => filter.intersect_with_mode(&taken, gst::CapsIntersectMode::First),
        None => taken,
    }
}

/// Media caps as the caps of their SFrame ciphertexts.
pub fn sframe_caps(caps: &gst::CapsRef) -> gst::Caps {
    let mut sframe = gst::Caps::new_empty();
    for structure in caps.iter() {
        let mut encrypted = structure.to_owned();
        encrypted.set_name(SFRAME_CAPS);
        encrypted.set(MEDIA_TYPE_FIELD, structure.name().as_str());
        sframe.merge_structure(encrypted);
    }
    sframe
}

/// SFrame caps as the caps of the media inside; those that name none stand for any.
pub fn media_caps(caps: &gst::CapsRef) -> gst::Caps {
    let mut media = gst::Caps::new_empty();
    for structure in caps.iter() {
        let Some(name) = structure.get::<&str>(MEDIA_TYPE_FIELD).ok().filter(|name| Media::from_name(name).is_some())
        else {
            media.merge(format_caps(Format::SFrame, Side::Plain));
            continue;
        };
        let mut plain = structure.to_owned();
        plain.set_name(name);
        plain.remove_field(MEDIA_TYPE_FIELD);
        media.merge_structure(plain);
    }
    media
}
