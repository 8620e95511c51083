//! `rtpsframedepay`: the generic RTP depayloader of SFrame ciphertexts
//! (draft-ietf-avtcore-rtp-sframe, per-frame mode): fragments are put back together in
//! sequence order into one ciphertext per frame, for `jframedec format=sframe`. Packets
//! that do not fit (no descriptor, a fragment without its start, out of order or lost)
//! are dropped with the frame they belong to, and counted in `sframe-stats`.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct RtpSFrameDepay(ObjectSubclass<imp::RtpSFrameDepay>)
        @extends gst_rtp::RTPBaseDepayload, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "rtpsframedepay", gst::Rank::NONE, RtpSFrameDepay::static_type())
}
