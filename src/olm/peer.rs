//! What a participant knows about one other participant of the room.

use vodozemac::Curve25519PublicKey;
use vodozemac::olm::Session;

use super::event::MediaKey;
use super::sas::Verification;

#[derive(Default)]
pub(crate) struct Peer {
    pub has_e2ee_feature: bool,
    /// From presence: `e2ee.idKey.curve25519` (checked against its Olm messages) and
    /// `e2ee.idKey.ed25519` (MACed in the SAS).
    pub curve25519: Option<Curve25519PublicKey>,
    pub ed25519: Option<String>,
    pub e2ee_enabled: bool,
    pub session: Option<Session>,
    /// The uuid of our session-init waiting for its session-ack.
    pub pending_session_uuid: Option<String>,
    /// Send our key-info once the session-init we sent is acked.
    pub key_info_after_ack: bool,
    /// The peer enabled E2EE while we were enabling: session and key-info once that is done.
    pub key_info_after_enabling: bool,
    /// The last key it sent: `None` none yet, `Some(None)` the key `false`.
    pub last_key: Option<Option<MediaKey>>,
    pub verification: Option<Verification>,
}

impl Peer {
    /// lib-jitsi-meet's `clearParticipantSession`: the session and all that hangs on it.
    pub fn clear_session(&mut self) {
        self.session = None;
        self.pending_session_uuid = None;
        self.key_info_after_ack = false;
        self.key_info_after_enabling = false;
        self.last_key = None;
        self.verification = None;
    }
}
