//! The participant's outputs, delivered outside the element's lock: signals, keys into the
//! key store, bus messages.

use gst::prelude::*;
use gst::subclass::prelude::*;

use super::shared::Output;
use super::{CAT, JFrameOlm};
use crate::jframe::verification::VerificationCode;
use crate::jframe::{KeyMode, Rules};
use crate::keystore::{KeyRules, KeyStore, code_text};
use crate::olm::{Event, MediaKey, SasCode};

impl JFrameOlm {
    /// Emits the queued outputs, in order, with no lock held. A thread that finds another
    /// emitting leaves its outputs to it (and a handler that feeds this element again from
    /// a signal only queues), so outputs never overtake each other.
    pub(super) fn flush(&self) {
        {
            let mut state = self.shared.lock();
            if state.emitting {
                return;
            }
            state.emitting = true;
        }
        loop {
            let (output, store, local_id) = {
                let mut state = self.shared.lock();
                let Some(output) = state.outputs.pop_front() else {
                    state.emitting = false;
                    return;
                };
                (output, state.store.clone(), state.local_id.clone().unwrap_or_default())
            };
            self.deliver(output, &store, &local_id);
        }
    }

    /// Does what one output says: a signal, a key into the store, a bus message.
    fn deliver(&self, output: Output, store: &KeyStore, local_id: &str) {
        let element = self.obj();
        match output {
            Output::Event(Event::SendMessage { to, json }) => {
                gst::debug!(CAT, imp = self, "message of {} bytes to '{to}'", json.len());
                element.emit_by_name::<()>("send-message", &[&to, &json]);
            }
            Output::Event(Event::SetPresence { name, value }) => {
                gst::debug!(CAT, imp = self, "presence {name}: {value:?}");
                element.emit_by_name::<()>("set-presence", &[&name, &value]);
            }
            Output::Event(Event::OwnKey { key, index }) => {
                if self.store_key(store, local_id, key.as_ref(), index) {
                    self.post_key(local_id, true, Some(index), key.as_ref());
                }
            }
            Output::Ratcheted { key, index } => {
                // The store ratchets the key it holds; should that not be the participant's
                // (a new key still on its way to the others), the participant's key wins.
                let expected = VerificationCode::of_key(key.as_bytes());
                let in_store = store.ratchet(local_id).is_ok() && store.verification_code(local_id) == Some(expected);
                if in_store || self.store_key(store, local_id, Some(&key), index) {
                    self.post_key(local_id, true, Some(index), Some(&key));
                }
            }
            Output::Event(Event::PeerKey { peer, key, index }) => {
                if self.store_key(store, &peer, key.as_ref(), index) {
                    self.post_key(&peer, false, Some(index), key.as_ref());
                }
            }
            Output::Event(Event::PeerKeysDropped { peer }) => {
                store.participant(&peer).clear();
                self.post_key(&peer, false, None, None);
            }
            Output::Event(Event::SessionReady { peer, initiator }) => {
                let role = if initiator { "initiator" } else { "responder" };
                gst::info!(CAT, imp = self, "Olm session with '{peer}' ready ({role})");
                self.post(gst::Structure::builder("jframeolm-session").field("participant", peer).field("role", role));
            }
            Output::Event(Event::SasAvailable { peer }) => {
                gst::debug!(CAT, imp = self, "'{peer}' can be verified");
            }
            Output::Event(Event::SasReady { peer, sas }) => {
                let (decimal, emoji, names) = sas_text(&sas);
                gst::info!(CAT, imp = self, "SAS with '{peer}': {decimal} | {emoji}");
                self.post(
                    gst::Structure::builder("jframeolm-sas-ready")
                        .field("participant", peer)
                        .field("decimal", decimal)
                        .field("emoji", emoji)
                        .field("emoji-names", names),
                );
            }
            Output::Event(Event::VerificationCompleted { peer, ok, reason }) => {
                let reason = reason.map_or("", |r| r.as_str());
                gst::info!(CAT, imp = self, "verification of '{peer}': ok={ok} {reason}");
                self.post(
                    gst::Structure::builder("jframeolm-verification")
                        .field("participant", peer)
                        .field("ok", ok)
                        .field("reason", reason),
                );
            }
            Output::Event(Event::Error { peer, error }) => {
                self.post_error(peer.as_deref().unwrap_or(""), &error.to_string())
            }
            Output::Error { participant, reason } => self.post_error(&participant, &reason),
        }
    }

    /// Puts a key (or none) into the store for a participant, under JFrame's rules; a refusal
    /// is counted and reported. `true` when it is in.
    fn store_key(&self, store: &KeyStore, id: &str, key: Option<&MediaKey>, index: u32) -> bool {
        let participant = store.participant(id);
        let result = match (participant.use_rules(&KeyRules::from(Rules::jframe())), key) {
            (Err(_), _) => Err("the key store has other rules than JFrame's for this participant".to_owned()),
            (Ok(()), Some(key)) => {
                participant.set_key(index, key.as_bytes(), KeyMode::Derived).map_err(|e| e.to_string())
            }
            (Ok(()), None) => {
                participant.clear();
                Ok(())
            }
        };
        if let Err(reason) = &result {
            self.shared.lock().stats.key_store_errors += 1;
            self.post_error(id, &format!("key not stored: {reason}"));
        }
        result.is_ok()
    }

    /// `jframeolm-key`: the index and verification code of a new key, never the key.
    fn post_key(&self, id: &str, local: bool, index: Option<u32>, key: Option<&MediaKey>) {
        let code = key.map(|key| code_text(&VerificationCode::of_key(key.as_bytes())));
        gst::info!(
            CAT,
            imp = self,
            "key of '{id}' (local={local}) at index {index:?}: {}",
            code.as_deref().unwrap_or("none")
        );
        let mut structure = gst::Structure::builder("jframeolm-key")
            .field("participant", id)
            .field("local", local)
            .field("key-index", index.map_or(-1, i64::from))
            .field("has-key", key.is_some());
        if let Some(code) = code {
            structure = structure.field("verification-code", code);
        }
        self.post(structure);
    }

    pub(super) fn post_error(&self, peer: &str, reason: &str) {
        gst::warning!(CAT, imp = self, "'{peer}': {reason}");
        self.post(gst::Structure::builder("jframeolm-error").field("participant", peer).field("reason", reason));
    }

    fn post(&self, structure: gst::structure::Builder) {
        let element = self.obj();
        let message = gst::message::Element::builder(structure.build()).src(&*element).build();
        let _ = element.post_message(message);
    }
}

/// `"1785 2343 3696"`, the seven emoji and their names (separated by commas, as some have spaces).
fn sas_text(sas: &SasCode) -> (String, String, String) {
    let [a, b, c] = sas.decimal;
    let emoji = sas.emoji_symbols();
    let symbols: Vec<&str> = emoji.iter().map(|(symbol, _)| *symbol).collect();
    let names: Vec<&str> = emoji.iter().map(|(_, name)| *name).collect();
    (format!("{a} {b} {c}"), symbols.join(" "), names.join(", "))
}
