//! A peer's presence as a [`Participant`] reads it: its identity keys and `e2ee.enabled`.

use vodozemac::{Curve25519PublicKey, Ed25519PublicKey};

use super::super::error::field;
use super::super::event::Event;
use super::super::{Error, PRESENCE_E2EE_ENABLED, PRESENCE_ID_KEY_CURVE25519, PRESENCE_ID_KEY_ED25519};
use super::{MAX_PRESENCE_LEN, Participant};

impl Participant {
    pub(super) fn on_presence(&mut self, from: &str, name: &str, value: Option<&str>, now: u64) -> Result<(), Error> {
        if !self.peers.contains_key(from) {
            return Err(Error::UnknownPeer);
        }
        let value = value.filter(|v| !v.is_empty());
        if value.is_some_and(|v| v.len() > MAX_PRESENCE_LEN) {
            return Err(field("presence value", "too long"));
        }
        match name {
            PRESENCE_ID_KEY_CURVE25519 => {
                let key = value
                    .map(|v| match v.len() {
                        43 => Curve25519PublicKey::from_base64(v)
                            .map_err(|_| field(PRESENCE_ID_KEY_CURVE25519, "not a curve25519 key")),
                        _ => Err(field(PRESENCE_ID_KEY_CURVE25519, "not unpadded base64 of 32 bytes")),
                    })
                    .transpose()?;
                let taken = key.is_some_and(|key| {
                    key == self.account.curve25519_key()
                        || self.peers.iter().any(|(id, p)| id != from && p.curve25519 == Some(key))
                });
                if taken {
                    return Err(Error::DuplicateIdentityKey);
                }
                self.peer(from)?.curve25519 = key;
            }
            PRESENCE_ID_KEY_ED25519 => {
                if let Some(v) = value {
                    if v.len() != 43 || Ed25519PublicKey::from_base64(v).is_err() {
                        return Err(field(PRESENCE_ID_KEY_ED25519, "not an ed25519 key"));
                    }
                    let own = self.account.ed25519_key().to_base64();
                    if v == own || self.peers.iter().any(|(id, p)| id != from && p.ed25519.as_deref() == Some(v)) {
                        return Err(Error::DuplicateIdentityKey);
                    }
                }
                self.peer(from)?.ed25519 = value.map(str::to_owned);
                if value.is_some() {
                    self.emit(Event::SasAvailable { peer: from.to_owned() });
                }
            }
            PRESENCE_E2EE_ENABLED => {
                let (we_enabled, we_enabling, smaller) =
                    (self.enabled, self.enabling.is_some(), self.local_id.as_str() < from);
                let peer = self.peer(from)?;
                let enabled = value.is_some();
                if peer.e2ee_enabled == enabled {
                    return Ok(());
                }
                peer.e2ee_enabled = enabled;
                if enabled {
                    if we_enabled && peer.has_e2ee_feature && smaller {
                        if we_enabling {
                            peer.key_info_after_enabling = true;
                        } else {
                            self.session_then_key_info(from, now)?;
                        }
                    }
                } else {
                    if we_enabled {
                        peer.clear_session();
                        self.requests.retain(|_, r| r.peer != from);
                    }
                    self.emit(Event::PeerKeysDropped { peer: from.to_owned() });
                    self.advance(now);
                }
            }
            _ => {}
        }
        Ok(())
    }
}
