//! The protocol version seam: the three messages that differ between versions of
//! lib-jitsi-meet's Olm key exchange are built and checked here, and only here.
//!
//! This speaks the version of lib-jitsi-meet commit `01daa07c` (OlmAdapter as of 2025-12-19,
//! wire format unchanged since 2022-11-29): `session-init` is `{idKey, otKey, uuid}`,
//! `session-ack` is `{ciphertext, uuid}`, and `sas-mac` MACs only the ed25519 identity key,
//! under the id `ed25519:<receiver id>`. A later upstream change signs the curve25519 keys of
//! session-init/session-ack and adds a `curve25519:<id>` entry to the SAS MAC; its exact bytes
//! are not known here, so it is not guessed. A second version would add its builders and
//! checkers beside these and pick them per peer.

use serde::Serialize;
use vodozemac::Curve25519PublicKey;
use vodozemac::olm::OlmMessage;
use vodozemac::sas::EstablishedSas;

use super::Error;
use super::error::field;
use super::event::VerificationFailure;
use super::messages::{Object, ciphertext, curve25519, envelope, object, string, uuid};

/// How SAS MACs are written. lib-jitsi-meet uses libolm's `calculate_mac`, whose base64 is
/// written over its own input (48 bits of the HMAC survive); `Fixed` is correct base64,
/// which the reference rejects: it exists for the negative control of the interop check.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MacEncoding {
    #[default]
    Libolm,
    Fixed,
}

const MAC_INFO: &str = "Jitsi-KEY_VERIFICATION_MAC";
const MAC_KEY_IDS: &str = "Jitsi-KEY_IDS";

/// `session-init`: the initiator's curve25519 identity key and a fresh one-time key.
pub(crate) struct SessionInit {
    pub identity_key: Curve25519PublicKey,
    pub one_time_key: Curve25519PublicKey,
    pub uuid: String,
}

impl SessionInit {
    pub fn parse(data: &Object) -> Result<SessionInit, Error> {
        Ok(SessionInit {
            identity_key: curve25519(data, "idKey", "olm.data.idKey")?,
            one_time_key: curve25519(data, "otKey", "olm.data.otKey")?,
            uuid: uuid(data, "uuid")?,
        })
    }

    pub fn build(identity_key: &Curve25519PublicKey, one_time_key: &Curve25519PublicKey, uuid: &str) -> String {
        #[derive(Serialize)]
        struct Data<'a> {
            #[serde(rename = "idKey")]
            id_key: String,
            #[serde(rename = "otKey")]
            ot_key: String,
            uuid: &'a str,
        }
        envelope("session-init", Data { id_key: identity_key.to_base64(), ot_key: one_time_key.to_base64(), uuid })
    }
}

/// `session-ack`: the responder's first Olm message (a pre-key message carrying its key-info),
/// with the uuid of the session-init.
pub(crate) struct SessionAck {
    pub ciphertext: OlmMessage,
    pub uuid: String,
}

impl SessionAck {
    pub fn parse(data: &Object) -> Result<SessionAck, Error> {
        Ok(SessionAck { ciphertext: ciphertext(data)?, uuid: uuid(data, "uuid")? })
    }

    pub fn build(ciphertext: &OlmMessage, uuid: &str) -> String {
        super::messages::key_info("session-ack", ciphertext, uuid)
    }
}

/// `sas-mac`: `mac` maps key ids to MACs of those keys; `keys` is the MAC of the sorted ids.
pub(crate) struct SasMac {
    pub keys: String,
    pub mac: Vec<(String, String)>,
    pub transaction_id: String,
}

impl SasMac {
    pub fn parse(data: &Object) -> Result<SasMac, Error> {
        let keys = string(data, "keys", "olm.data.keys")?;
        let entries = object(data.get("mac"), "olm.data.mac")?;
        if keys.len() > 64 || entries.len() > 4 {
            return Err(field("olm.data.mac", "too long"));
        }
        let mut mac = Vec::with_capacity(entries.len());
        for (id, value) in entries {
            let value = value.as_str().filter(|v| v.len() <= 64).ok_or(field("olm.data.mac", "not short strings"))?;
            if id.len() > 300 {
                return Err(field("olm.data.mac", "key id too long"));
            }
            mac.push((id.clone(), value.to_owned()));
        }
        Ok(SasMac { keys: keys.to_owned(), mac, transaction_id: uuid(data, "transactionId")? })
    }

    /// Our MAC of our ed25519 key, for the peer `peer_id`.
    pub fn build(
        sas: &EstablishedSas,
        encoding: MacEncoding,
        my_id: &str,
        peer_id: &str,
        transaction_id: &str,
        own_ed25519: &str,
    ) -> String {
        #[derive(Serialize)]
        struct Data<'a> {
            keys: String,
            mac: std::collections::BTreeMap<String, String>,
            #[serde(rename = "transactionId")]
            transaction_id: &'a str,
        }
        let base = format!("{MAC_INFO}{my_id}{peer_id}{transaction_id}");
        // The peer's id names our own key: the reference's labelling.
        let key_id = format!("ed25519:{peer_id}");
        let mac = calculate(sas, encoding, own_ed25519, &format!("{base}{key_id}"));
        let keys = calculate(sas, encoding, &key_id, &format!("{base}{MAC_KEY_IDS}"));
        envelope("sas-mac", Data { keys, mac: [(key_id, mac)].into(), transaction_id })
    }

    /// Checks the peer's MACs of its ed25519 key (from its presence), in the reference's order
    /// of checks. Stricter than the reference: exactly one entry, `ed25519:<my id>`.
    pub fn check(
        &self,
        sas: &EstablishedSas,
        encoding: MacEncoding,
        peer_id: &str,
        my_id: &str,
        peer_ed25519: Option<&str>,
    ) -> Result<(), VerificationFailure> {
        let base = format!("{MAC_INFO}{peer_id}{my_id}{}", self.transaction_id);
        let mut ids: Vec<&str> = self.mac.iter().map(|(id, _)| id.as_str()).collect();
        ids.sort_unstable();
        if calculate(sas, encoding, &ids.join(","), &format!("{base}{MAC_KEY_IDS}")) != self.keys {
            return Err(VerificationFailure::KeysMacMismatch);
        }
        let peer_ed25519 = peer_ed25519.ok_or(VerificationFailure::MissingKey)?;
        let expected_id = format!("ed25519:{my_id}");
        if self.mac.len() != 1 || self.mac[0].0 != expected_id {
            return Err(VerificationFailure::MacMismatch);
        }
        if calculate(sas, encoding, peer_ed25519, &format!("{base}{expected_id}")) != self.mac[0].1 {
            return Err(VerificationFailure::MacMismatch);
        }
        Ok(())
    }
}

fn calculate(sas: &EstablishedSas, encoding: MacEncoding, input: &str, info: &str) -> String {
    match encoding {
        MacEncoding::Libolm => sas.calculate_mac_invalid_base64(input, info),
        MacEncoding::Fixed => sas.calculate_mac(input, info).to_base64(),
    }
}
