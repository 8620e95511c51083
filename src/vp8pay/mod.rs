//! `jframevp8pay`: an RFC 7741 VP8 RTP payloader that never parses the VP8 bitstream.
//!
//! The plugin ships its own payloader because JFrame leaves only the first 10 bytes of a
//! VP8 key frame (3 of an inter frame) in clear and the rest is AES-GCM ciphertext. The C
//! `rtpvp8pay` of GStreamer 1.22 bool-decodes the first partition header to find the
//! partition boundaries; on ciphertext that parse fails, it posts `Failed to parse VP8
//! frame` and stops the pipeline, with no option to skip the parse. The Rust
//! `rtpvp8pay2` tolerates the failure but is not packaged by Debian 12. This element
//! treats the frame as opaque bytes: one partition (PID 0), the S bit on the first packet
//! of a frame and a 15-bit PictureID, which is all a receiver such as `rtpvp8depay` or a
//! WebRTC peer needs.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct JFrameVp8Pay(ObjectSubclass<imp::JFrameVp8Pay>)
        @extends gst_rtp::RTPBasePayload, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "jframevp8pay", gst::Rank::NONE, JFrameVp8Pay::static_type())
}
