//! `jframeolm`: takes part in lib-jitsi-meet's Olm key exchange and puts the keys it
//! learns into the key store that `jframeenc` and `jframedec` use.
//!
//! A pad-less element around the sans-I/O [`Participant`](crate::olm::Participant): the
//! application feeds it what its XMPP client sees (action signals `handle-message`,
//! `handle-presence`, `handle-features`, `participant-joined`, `participant-left`) and sends what it asks for
//! (signals `send-message`, `set-presence`), as with webrtcbin. Keys, sessions, SAS codes
//! and errors are element messages on the bus; timeouts run inside the element.
//!
//! The strings the action signals take are C strings (GLib's): a NUL byte ends one, so a
//! message with a NUL is read up to it, and refused as malformed JSON if it is cut there.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct JFrameOlm(ObjectSubclass<imp::JFrameOlm>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "jframeolm", gst::Rank::NONE, JFrameOlm::static_type())
}
