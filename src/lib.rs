//! GStreamer plugin `jframe`: end-to-end media encryption in the JFrame format of
//! lib-jitsi-meet, LiveKit's and SFrame (RFC 9605), with the elements `jframeenc` and
//! `jframedec`, RTP payloaders for encrypted frames, and `jframeolm`, which takes part in
//! lib-jitsi-meet's Olm key exchange and gives them their keys.

use gst::glib;
use gst::prelude::*;

mod element;
pub mod jframe;
mod jframedec;
mod jframeenc;
mod jframeolm;
pub mod keystore;
pub mod olm;
mod random;
mod rtpsframedepay;
mod rtpsframepay;
pub mod sframe;
mod sync;
mod vp8pay;

pub use jframedec::JFrameDec;
pub use jframeenc::JFrameEnc;
pub use jframeolm::JFrameOlm;
pub use keystore::KeyStore;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    // Registered with the plugin, so that applications find the store's type by name
    // (`GstJFrameKeyStore`) once the plugin is loaded.
    KeyStore::static_type();
    jframeenc::register(plugin)?;
    jframedec::register(plugin)?;
    vp8pay::register(plugin)?;
    rtpsframepay::register(plugin)?;
    rtpsframedepay::register(plugin)?;
    jframeolm::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    jframe,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MPL",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
