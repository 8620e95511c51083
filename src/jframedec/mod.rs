//! `jframedec`: decrypts JFrame-encrypted VP8 and Opus frames.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct JFrameDec(ObjectSubclass<imp::JFrameDec>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "jframedec", gst::Rank::NONE, JFrameDec::static_type())
}
