//! `rtpsframepay`: the generic RTP payloader of SFrame ciphertexts
//! (draft-ietf-avtcore-rtp-sframe, per-frame mode).
//!
//! A codec's payloader parses its frames (VP8 partitions, H.264 NAL units); an SFrame
//! ciphertext encrypts the whole frame, header included, so none can carry it. This one
//! splits each ciphertext at the MTU behind a one-byte descriptor (S on the first
//! fragment, E on the last), as the draft's per-frame mode does; the RTP payload type and
//! `encoding-name` still name the media inside, and the caps carry `a-sframe` (the SDP
//! attribute `a=sframe`).

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct RtpSFramePay(ObjectSubclass<imp::RtpSFramePay>)
        @extends gst_rtp::RTPBasePayload, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "rtpsframepay", gst::Rank::NONE, RtpSFramePay::static_type())
}

/// The media an SFrame RTP stream can carry: its caps name (`media-type` of
/// `application/x-sframe`), its RTP `encoding-name`, `media` and clock rate. The
/// payload type names the media inside, as the draft says; the depayloader reads it back.
pub(crate) const MEDIA: [(&str, &str, &str, i32); 6] = [
    ("video/x-vp8", "VP8", "video", 90_000),
    ("video/x-vp9", "VP9", "video", 90_000),
    ("video/x-h264", "H264", "video", 90_000),
    ("video/x-h265", "H265", "video", 90_000),
    ("video/x-av1", "AV1", "video", 90_000),
    ("audio/x-opus", "OPUS", "audio", 48_000),
];

/// The caps field that says an RTP stream is SFrame: GStreamer's SDP conversion (and so
/// `webrtcbin`) turns it into the media attribute `a=sframe`.
pub(crate) const SFRAME_FIELD: &str = "a-sframe";

/// The caps of SFrame ciphertexts of `caps_name` that an RTP stream carries: what a
/// receiver cannot learn from the stream is fixed (H.264/H.265 byte-stream access units,
/// AV1 temporal units of OBUs, Opus mono or stereo as RFC 7587 carries it), so both ends
/// agree on it.
pub(crate) fn ciphertext_caps(caps_name: &str) -> gst::Caps {
    let caps = gst::Caps::builder("application/x-sframe").field("media-type", caps_name);
    match caps_name {
        "video/x-h264" | "video/x-h265" => caps.field("stream-format", "byte-stream").field("alignment", "au"),
        "video/x-av1" => caps.field("stream-format", "obu-stream").field("alignment", "tu"),
        "audio/x-opus" => caps.field("channel-mapping-family", 0i32),
        _ => caps,
    }
    .build()
}

/// The caps of every media's ciphertexts an RTP stream carries.
pub(crate) fn all_ciphertext_caps() -> gst::Caps {
    let mut caps = gst::Caps::new_empty();
    for (caps_name, ..) in MEDIA {
        caps.merge(ciphertext_caps(caps_name));
    }
    caps
}
