//! One SAS verification with a peer (lib-jitsi-meet's flow, after Matrix's): the initiator
//! sends `sas-start`, the responder commits to its SAS key (`sas-accept`), both exchange keys
//! (`sas-key`), both users compare the codes, and each side MACs its ed25519 key (`sas-mac`).

use sha2::{Digest, Sha256};
use vodozemac::Curve25519PublicKey;
use vodozemac::sas::{EstablishedSas, Sas};

use super::Error;
use super::event::SasCode;

enum Keys {
    Created(Sas),
    Established(EstablishedSas),
    /// Only if vodozemac refused a key it had accepted in the check before: never expected.
    Lost,
}

pub(crate) struct Verification {
    pub transaction_id: String,
    pub initiator: bool,
    keys: Keys,
    our_public: String,
    /// The responder's commitment to its SAS key, as the initiator received it.
    pub commitment: Option<String>,
    pub key_sent: bool,
    /// Our MAC was sent: our user confirmed the codes.
    pub mac_sent: bool,
    pub peer_mac_ok: bool,
    /// A result was reported; like the reference, a new verification with the same peer needs
    /// a new Olm session (or our user's rejection, which resets it).
    pub finished: bool,
}

impl Verification {
    pub fn new(transaction_id: String, initiator: bool) -> Verification {
        let sas = Sas::new();
        let our_public = sas.public_key().to_base64();
        Verification {
            transaction_id,
            initiator,
            keys: Keys::Created(sas),
            our_public,
            commitment: None,
            key_sent: false,
            mac_sent: false,
            peer_mac_ok: false,
            finished: false,
        }
    }

    pub fn our_public(&self) -> &str {
        &self.our_public
    }

    pub fn established(&self) -> Option<&EstablishedSas> {
        match &self.keys {
            Keys::Established(sas) => Some(sas),
            _ => None,
        }
    }

    pub fn is_created(&self) -> bool {
        matches!(self.keys, Keys::Created(_))
    }

    /// Takes the peer's SAS key (checked with [`usable_key`] first) and gives the code.
    pub fn establish(&mut self, their_key: &str, my_id: &str, peer_id: &str) -> Result<SasCode, Error> {
        let Keys::Created(sas) = std::mem::replace(&mut self.keys, Keys::Lost) else {
            return Err(Error::Sas("SAS key set already"));
        };
        let sas = sas.diffie_hellman_with_raw(their_key).map_err(|e| Error::Olm(e.to_string()))?;
        let (mine, theirs) = (format!("{my_id}|{}", self.our_public), format!("{peer_id}|{their_key}"));
        let info = if self.initiator { format!("{mine}|{theirs}") } else { format!("{theirs}|{mine}") };
        let code = SasCode::from_bytes(*sas.bytes(&info).as_bytes());
        self.keys = Keys::Established(sas);
        Ok(code)
    }

    /// A description for the state digest (no secret in it).
    pub fn summary(&self) -> String {
        let phase = match self.keys {
            Keys::Created(_) => "created",
            Keys::Established(_) => "established",
            Keys::Lost => "lost",
        };
        format!(
            "{}|{}|{phase}|{}|{:?}|{}|{}|{}|{}",
            self.transaction_id,
            self.initiator,
            self.our_public,
            self.commitment,
            self.key_sent,
            self.mac_sent,
            self.peer_mac_ok,
            self.finished
        )
    }
}

/// The responder's commitment: SHA-256 of its SAS key and of `JSON.stringify` of the received
/// `sas-start` data, which is `{"transactionId":"<uuid>"}` (nothing in a uuid needs escaping).
pub(crate) fn commitment(public_key: &str, transaction_id: &str) -> String {
    let text = format!("{public_key}{{\"transactionId\":\"{transaction_id}\"}}");
    vodozemac::base64_encode(Sha256::digest(text.as_bytes()))
}

/// A SAS key we can use: valid, and not of low order (a key every shared secret with it is
/// zero for; libolm would accept it). Checked before the real key pair is spent on it.
pub(crate) fn usable_key(key: &str) -> Result<(), Error> {
    let key = Curve25519PublicKey::from_base64(key).map_err(|e| Error::Olm(e.to_string()))?;
    Sas::new().diffie_hellman(key).map(drop).map_err(|e| Error::Olm(e.to_string()))
}
