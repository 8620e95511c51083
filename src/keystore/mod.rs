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
use crate::jframe::{KeyError, KeyMode, Rules, RulesError};

mod imp;
mod participant;
pub mod settings;

pub use participant::{LocalKeys, Participant, SharedLocalKeys, current_code};

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

    /// Installs a key for a participant at `index` and makes it current.
    pub fn set_key(&self, participant: &str, index: u32, key: &[u8], mode: KeyMode) -> Result<(), KeyError> {
        self.participant(participant).set_key(index, key, mode)
    }

    /// Chooses the format rules of a participant's keys (JFrame's until then), e.g.
    /// [`Rules::livekit`]. Other rules than the current ones forget its keys. Elements
    /// for the participant must be configured for the same rules, or they refuse to start.
    pub fn set_rules(&self, participant: &str, rules: Rules) -> Result<(), RulesError> {
        self.participant(participant).set_rules(rules)
    }

    /// The format rules of a participant's keys.
    pub fn rules(&self, participant: &str) -> Rules {
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
