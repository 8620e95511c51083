//! The outputs of a [`Participant`](super::Participant), drained by the caller.

use std::fmt;

use zeroize::Zeroizing;

use super::Error;
use crate::jframe::verification::{EMOJI, VerificationCode};

/// A 32-byte JFrame key material (lib-jitsi-meet's media key). Wiped when dropped; its
/// `Debug` shows no byte of it.
#[derive(Clone)]
pub struct MediaKey(Zeroizing<[u8; 32]>);

impl MediaKey {
    pub const LEN: usize = 32;

    pub fn from_bytes(bytes: [u8; 32]) -> MediaKey {
        MediaKey(Zeroizing::new(bytes))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl PartialEq for MediaKey {
    fn eq(&self, other: &MediaKey) -> bool {
        // Without early exit, so that the time taken says nothing about where they differ.
        self.0.iter().zip(other.0.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

impl Eq for MediaKey {}

impl fmt::Debug for MediaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MediaKey(..)")
    }
}

/// The short authentication string of a verification, in lib-jitsi-meet's two forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SasCode {
    /// The six bytes both sides derive (HKDF of the SAS shared secret).
    pub bytes: [u8; 6],
    /// Three numbers from 1000 to 9191.
    pub decimal: [u16; 3],
    /// Seven indices into [`EMOJI`].
    pub emoji: [u8; 7],
}

impl SasCode {
    /// The code of six SAS bytes, as lib-jitsi-meet's `generateSas` makes it.
    pub fn from_bytes(bytes: [u8; 6]) -> SasCode {
        let code = VerificationCode::from_bytes(bytes);
        SasCode { bytes, decimal: code.decimal(), emoji: code.emoji_indices().map(|i| i as u8) }
    }

    /// The emoji as `(symbol, name)`, as lib-jitsi-meet shows them.
    pub fn emoji_symbols(&self) -> [(&'static str, &'static str); 7] {
        self.emoji.map(|i| EMOJI[usize::from(i) & 63])
    }
}

/// Why a verification did not succeed; `as_str` gives lib-jitsi-meet's error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerificationFailure {
    /// Our user said the codes differ.
    ChannelVerificationFailed,
    /// The peer's SAS key does not match the commitment it made.
    CommitmentMismatched,
    /// No verification in progress, or one exists already.
    InvalidSasVerification,
    /// The MAC of the key ids is wrong.
    KeysMacMismatch,
    /// The MAC of the peer's ed25519 key is wrong.
    MacMismatch,
    /// The peer has no ed25519 key in presence.
    MissingKey,
}

impl VerificationFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            VerificationFailure::ChannelVerificationFailed => "e2ee.sas.channel-verification-failed",
            VerificationFailure::CommitmentMismatched => "e2ee.sas.commitment-mismatched",
            VerificationFailure::InvalidSasVerification => "e2ee.sas.invalid-sas-verification",
            VerificationFailure::KeysMacMismatch => "e2ee.sas.keys-mac-mismatch",
            VerificationFailure::MacMismatch => "e2ee.sas.mac-mismatch",
            VerificationFailure::MissingKey => "e2ee.sas.missing-key",
        }
    }
}

/// One output of the participant. Keys appear only as [`MediaKey`], whose `Debug` hides them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Send a MUC private message to `to`: `json` is the text of its `<json-message>`.
    SendMessage { to: String, json: String },
    /// Set an own presence property (`<jitsi_participant_NAME>`); an empty `value` is an empty
    /// element (lib-jitsi-meet's `false`), never the text `false`.
    SetPresence { name: &'static str, value: String },
    /// The local sender's key from now on: `None` when E2EE was disabled.
    OwnKey { key: Option<MediaKey>, index: u32 },
    /// A peer's key (or `None`: the peer disabled E2EE) at `index`.
    PeerKey { peer: String, key: Option<MediaKey>, index: u32 },
    /// Forget every key of `peer`: it left, or its `e2ee.enabled` went away.
    PeerKeysDropped { peer: String },
    /// An Olm session with `peer` is ready; `initiator` when we sent the session-init.
    SessionReady { peer: String, initiator: bool },
    /// The peer published its ed25519 key: it can be verified.
    SasAvailable { peer: String },
    /// The codes to compare with the peer's user.
    SasReady { peer: String, sas: SasCode },
    /// A verification ended: `ok` only when our user confirmed and the peer's MAC is right.
    VerificationCompleted { peer: String, ok: bool, reason: Option<VerificationFailure> },
    /// An input was rejected (the state is unchanged), or a request timed out.
    Error { peer: Option<String>, error: Error },
}
