//! `GstJFrameKeyStore`: keys of every participant of a call, shared by elements.
//!
//! An application makes one store, sets each participant's keys on it from any
//! thread, and hands it to the pipeline as a `GstContext` of type
//! [`KEY_STORE_CONTEXT`] (`pipeline.set_context(&store.context())`, or in answer to the
//! `need-context` message the elements post when they go to READY). Every element
//! then encrypts or decrypts for its participant with the keys found there; an
//! element given no store keeps a private one.

use std::sync::Arc;

use gst::glib;
use gst::subclass::prelude::*;

use crate::jframe::verification::VerificationCode;
use crate::jframe::{self, KeyMode, RulesError};
use crate::sframe;

mod imp;
mod participant;
pub mod settings;
mod sframe_keys;

pub use participant::{KeyRules, LocalKeys, Participant, SharedLocalKeys, current_code, passphrase_key};
pub use sframe_keys::{SFrameKeys, SFrameRules};

/// Why a participant's keys or rules were refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyError {
    Rules(RulesError),
    /// Under JFrame's or LiveKit's rules.
    JFrame(jframe::KeyError),
    /// Under SFrame's rules.
    SFrame(sframe::KeyError),
    /// SFrame keys are base keys, always derived (RFC 9605 §4.4.2): there is no raw mode.
    SFrameRawKey,
    /// An SFrame key for a participant whose keys follow JFrame's or LiveKit's rules.
    NotSFrame,
}

impl From<RulesError> for KeyError {
    fn from(e: RulesError) -> KeyError {
        KeyError::Rules(e)
    }
}

impl From<jframe::KeyError> for KeyError {
    fn from(e: jframe::KeyError) -> KeyError {
        KeyError::JFrame(e)
    }
}

impl From<sframe::KeyError> for KeyError {
    fn from(e: sframe::KeyError) -> KeyError {
        KeyError::SFrame(e)
    }
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::Rules(e) => e.fmt(f),
            KeyError::JFrame(e) => e.fmt(f),
            KeyError::SFrame(e) => e.fmt(f),
            KeyError::SFrameRawKey => write!(f, "SFrame keys are base keys: key-mode=raw does not apply"),
            KeyError::NotSFrame => write!(f, "the participant's keys follow JFrame's or LiveKit's rules, not SFrame's"),
        }
    }
}

impl std::error::Error for KeyError {}

/// The context type under which the store travels through a pipeline.
pub const KEY_STORE_CONTEXT: &str = "gst-jframe.key-store";
const CONTEXT_FIELD: &str = "key-store";

glib::wrapper! {
    pub struct KeyStore(ObjectSubclass<imp::KeyStore>);
}

impl Default for KeyStore {
    fn default() -> Self {
        glib::Object::new()
    }
}

impl KeyStore {
    pub fn new() -> KeyStore {
        KeyStore::default()
    }

    /// A persistent context carrying this store, for `set_context`.
    pub fn context(&self) -> gst::Context {
        let mut context = gst::Context::new(KEY_STORE_CONTEXT, true);
        if let Some(context) = context.get_mut() {
            context.structure_mut().set(CONTEXT_FIELD, self);
        }
        context
    }

    /// The store a context carries, if it is a key-store context.
    pub fn from_context(context: &gst::ContextRef) -> Option<KeyStore> {
        if !context.has_context_type(KEY_STORE_CONTEXT) {
            return None;
        }
        context.structure().get::<KeyStore>(CONTEXT_FIELD).ok()
    }

    /// The participant of that id, created empty on first use.
    pub fn participant(&self, id: &str) -> Arc<Participant> {
        let mut participants = self.imp().participants();
        participants.entry(id.to_owned()).or_insert_with(|| Arc::new(Participant::new())).clone()
    }

    /// Installs a key for a participant at `index` and makes it current. Under SFrame's
    /// rules the index is the KID (see [`set_sframe_key`](Self::set_sframe_key) for any
    /// 64-bit KID).
    pub fn set_key(&self, participant: &str, index: u32, key: &[u8], mode: KeyMode) -> Result<(), KeyError> {
        self.participant(participant).set_key(index, key, mode)
    }

    /// Installs an SFrame base key for a participant under `kid` and makes it current
    /// (the participant's rules become SFrame's with the default suite unless they are
    /// SFrame's already).
    pub fn set_sframe_key(&self, participant: &str, kid: u64, base_key: &[u8]) -> Result<(), KeyError> {
        self.participant(participant).set_sframe_key(kid, base_key)
    }

    /// Chooses the format rules of a participant's keys (JFrame's until then), e.g.
    /// [`jframe::Rules::livekit`] or an [`SFrameRules`]. Other rules than the current ones forget
    /// its keys. Elements for the participant must be configured for the same rules, or
    /// they refuse to start.
    pub fn set_rules(&self, participant: &str, rules: impl Into<KeyRules>) -> Result<(), KeyError> {
        self.participant(participant).set_rules(rules)
    }

    /// The format rules of a participant's keys.
    pub fn rules(&self, participant: &str) -> KeyRules {
        self.participant(participant).rules()
    }

    /// Installs the key of a passphrase for a participant at `index` and makes it current,
    /// as the elements' `passphrase` property does: PBKDF2 under LiveKit's rules (100 000
    /// rounds: call it off the streaming thread), under JFrame's the SHA-256 of the
    /// passphrase as key material.
    pub fn set_passphrase(&self, participant: &str, index: u32, passphrase: &str) -> Result<(), KeyError> {
        self.participant(participant).set_passphrase(index, passphrase.as_bytes(), KeyMode::Derived)
    }

    /// Empties every slot of a participant's keys.
    pub fn clear_keys(&self, participant: &str) {
        self.participant(participant).clear();
    }

    /// Ratchets a participant's current key in place, as a sender does when someone joins.
    pub fn ratchet(&self, participant: &str) -> Result<(), KeyError> {
        self.participant(participant).ratchet()
    }

    /// Forgets a participant (who left the call) and its keys.
    pub fn remove_participant(&self, participant: &str) {
        self.imp().participants().remove(participant);
    }

    /// The verification code of a participant's current key.
    pub fn verification_code(&self, participant: &str) -> Option<VerificationCode> {
        self.participant(participant).verification_code()
    }
}

/// `"1234 5678 9012 | 🐶 🐱 …"`.
pub fn code_text(code: &VerificationCode) -> String {
    format!("{} | {}", code.decimal_string(), code.emoji_string())
}

/// A verification code as a structure: `decimal`, `emoji` and `emoji-names`.
pub fn verification_structure(code: &VerificationCode) -> gst::Structure {
    gst::Structure::builder("application/x-jframe-verification-code")
        .field("decimal", code.decimal_string())
        .field("emoji", code.emoji_string())
        .field("emoji-names", code.emoji_names())
        .build()
}
