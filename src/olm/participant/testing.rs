//! Hooks for checks of a [`Participant`]: negative controls for interop checks, replayed
//! sessions, and a digest of the whole state.

use sha2::{Digest, Sha256};
use vodozemac::olm::Session;

use super::super::protocol::MacEncoding;
use super::super::sas::Verification;
use super::Participant;

impl Participant {
    /// Negative control for interop checks: MACs in another encoding.
    #[doc(hidden)]
    pub fn testing_set_mac_encoding(&mut self, encoding: MacEncoding) {
        self.mac_encoding = encoding;
    }

    /// Negative control for interop checks: as responder, commit to another SAS key.
    #[doc(hidden)]
    pub fn testing_tamper_commitment(&mut self) {
        self.tamper_commitment = true;
    }

    /// For replaying recorded runs: the session with `peer` becomes `session` (a reference's,
    /// restored from its pickle).
    #[doc(hidden)]
    pub fn testing_restore_session(&mut self, peer: &str, session: Session) {
        if let Some(peer) = self.peers.get_mut(peer) {
            peer.session = Some(session);
        }
    }

    /// A digest of the whole state (secrets included, hashed): equal before and after an input
    /// means the input changed nothing.
    #[doc(hidden)]
    pub fn testing_state_digest(&self) -> [u8; 32] {
        let mut hash = Sha256::new();
        let mut put = |text: &[u8]| {
            hash.update((text.len() as u64).to_le_bytes());
            hash.update(text);
        };
        put(&serde_json::to_vec(&self.account.pickle()).unwrap_or_default());
        put(format!(
            "{}|{:?}|{:?}|{:?}|{:?}|{}",
            self.enabled, self.key_index, self.enabling, self.requests, self.rounds, self.next_round
        )
        .as_bytes());
        match &self.key {
            Some(Some(key)) => put(key.as_bytes()),
            other => put(format!("{}", other.is_some()).as_bytes()),
        }
        for (id, peer) in &self.peers {
            put(id.as_bytes());
            put(format!(
                "{}|{:?}|{:?}|{}|{:?}|{}|{}|{:?}",
                peer.has_e2ee_feature,
                peer.curve25519.map(|k| k.to_base64()),
                peer.ed25519,
                peer.e2ee_enabled,
                peer.pending_session_uuid,
                peer.key_info_after_ack,
                peer.key_info_after_enabling,
                peer.verification.as_ref().map(Verification::summary),
            )
            .as_bytes());
            match &peer.last_key {
                Some(Some(key)) => put(key.as_bytes()),
                other => put(format!("{}", other.is_some()).as_bytes()),
            }
            if let Some(session) = &peer.session {
                put(&serde_json::to_vec(&session.pickle()).unwrap_or_default());
            }
        }
        hash.finalize().into()
    }
}
