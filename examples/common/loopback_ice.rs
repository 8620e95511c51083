//! Keeping webrtcbin's ICE on 127.0.0.1: libnice gathers candidates on every interface
//! but loopback unless it is given the loopback address itself (through its C API).

use std::ffi::{CString, c_char};

use gst::glib;
use gst::prelude::*;

#[repr(C)]
struct NiceAddress {
    _opaque: [u8; 0],
}

#[link(name = "nice")]
unsafe extern "C" {
    fn nice_address_new() -> *mut NiceAddress;
    fn nice_address_set_from_string(address: *mut NiceAddress, text: *const c_char) -> glib::ffi::gboolean;
    fn nice_address_free(address: *mut NiceAddress);
    fn nice_agent_add_local_address(
        agent: *mut glib::gobject_ffi::GObject,
        address: *const NiceAddress,
    ) -> glib::ffi::gboolean;
}

/// Makes webrtcbin gather one UDP host candidate, on 127.0.0.1 (call before PLAYING).
pub fn use_loopback_only(webrtc: &gst::Element) -> Result<(), &'static str> {
    let ice = webrtc.property::<glib::Object>("ice-agent");
    ice.set_property("ice-tcp", false);
    let agent = ice.property::<glib::Object>("agent");
    let text = CString::new("127.0.0.1").map_err(|_| "address text")?;
    // SAFETY: `agent` is webrtcbin's live NiceAgent; the address is allocated, set and
    // freed here, and libnice copies it.
    let added = unsafe {
        let address = nice_address_new();
        let added = nice_address_set_from_string(address, text.as_ptr()) != 0
            && nice_agent_add_local_address(agent.as_ptr(), address) != 0;
        nice_address_free(address);
        added
    };
    if added { Ok(()) } else { Err("libnice refused 127.0.0.1 as a local address") }
}

/// Whether an ICE candidate line is a 127.0.0.1 one: only those cross between peers.
pub fn is_loopback_candidate(candidate: &str) -> bool {
    candidate.split_whitespace().nth(4) == Some("127.0.0.1")
}
