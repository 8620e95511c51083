//! lib-jitsi-meet's E2EE key exchange (its `OlmAdapter`), as a sans-I/O participant: no
//! GStreamer, no clock, no sockets, no threads.
//!
//! A [`Participant`] takes what happens in the room (peers joining and leaving, their presence
//! properties, the MUC private messages they send, the time) and the application's actions
//! (enable, disable, rotate, ratchet, verify), and gives [`Event`]s: messages to send,
//! presence to set, the own media key and the peers' keys, SAS codes and results, errors.
//! A wrapper (the `jframeolm` element, a bot) moves messages and presence between it and an
//! XMPP MUC, calls [`Participant::handle_timeout`] at [`Participant::next_deadline`], and
//! puts the keys into the key store.
//!
//! It speaks the protocol of lib-jitsi-meet commit `01daa07c`; the messages a later version
//! changes are built and checked in one place each (`protocol.rs`, see there). Olm sessions
//! are libolm-compatible ([`vodozemac`] with `SessionConfig::version_1()`), SAS MACs are
//! libolm's (`calculate_mac_invalid_base64`), as the reference needs.
//!
//! ```
//! use gstjframe::olm::{Event, Participant, FEATURE_E2EE};
//!
//! let mut alice = Participant::new("a1").unwrap();
//! let mut bob = Participant::new("b2").unwrap();
//! alice.peer_joined("b2", true);
//! bob.peer_joined("a1", true);
//! // Relay everything until nothing moves (a MUC would do this).
//! let mut now = 0;
//! alice.enable(now);
//! bob.enable(now);
//! loop {
//!     let mut moved = false;
//!     for (from, to) in [(0, 1), (1, 0)] {
//!         let (sender, receiver) = if from == 0 { (&mut alice, &mut bob) } else { (&mut bob, &mut alice) };
//!         let id = sender.local_id().to_owned();
//!         while let Some(event) = sender.poll_event() {
//!             moved = true;
//!             match event {
//!                 Event::SendMessage { json, .. } => receiver.handle_message(&id, &json, now),
//!                 Event::SetPresence { name, value } => receiver.handle_presence(&id, name, Some(&value), now),
//!                 _ => {}
//!             }
//!         }
//!     }
//!     if !moved { break; }
//!     now += 10;
//! }
//! assert!(alice.has_session("b2") && bob.has_session("a1"));
//! # let _ = FEATURE_E2EE;
//! ```

mod error;
mod event;
mod messages;
mod participant;
mod peer;
mod protocol;
mod sas;

pub use crate::jframe::verification::EMOJI;
pub use error::Error;
pub use event::{Event, MediaKey, SasCode, VerificationFailure};
pub use participant::{IdentityKeys, Participant, REQUEST_TIMEOUT_MS, SESSION_WAIT_MS};
#[doc(hidden)]
pub use protocol::MacEncoding;

/// The presence feature of participants that take part in E2EE.
pub const FEATURE_E2EE: &str = "https://jitsi.org/meet/e2ee";
/// Presence properties (`<jitsi_participant_NAME>` elements of the MUC presence).
pub const PRESENCE_ID_KEY_CURVE25519: &str = "e2ee.idKey.curve25519";
pub const PRESENCE_ID_KEY_ED25519: &str = "e2ee.idKey.ed25519";
pub const PRESENCE_E2EE_ENABLED: &str = "e2ee.enabled";
/// Longer private messages are refused unread (the longest the reference sends is about 400 bytes).
pub const MAX_MESSAGE_LEN: usize = 16 * 1024;
