//! `jframeenc`: encrypts encoded VP8 and Opus frames in the JFrame format.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct JFrameEnc(ObjectSubclass<imp::JFrameEnc>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "jframeenc", gst::Rank::NONE, JFrameEnc::static_type())
}
