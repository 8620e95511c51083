//! The SAS verification messages and actions of a [`Participant`].

use super::super::Error;
use super::super::event::{Event, VerificationFailure};
use super::super::messages;
use super::super::protocol::SasMac;
use super::super::sas::{self, Verification};
use super::{Participant, new_uuid};

impl Participant {
    pub(super) fn on_start_verification(&mut self, peer_id: &str) -> Result<(), Error> {
        let peer = self.peer(peer_id)?;
        if peer.session.is_none() {
            return Err(Error::NoSession);
        }
        if peer.verification.is_some() {
            return Err(Error::Sas("a verification with this participant exists already"));
        }
        let transaction_id = new_uuid()?;
        self.send(peer_id, messages::sas("sas-start", None, &transaction_id));
        self.peer(peer_id)?.verification = Some(Verification::new(transaction_id, true));
        Ok(())
    }

    pub(super) fn on_sas_start(&mut self, from: &str, transaction_id: String) -> Result<(), Error> {
        self.require_session(from, "sas-init")?;
        if self.peer(from)?.verification.is_some() {
            return Err(Error::Sas("a verification with this participant exists already"));
        }
        let verification = Verification::new(transaction_id, false);
        let committed_key = match self.tamper_commitment {
            true => vodozemac::sas::Sas::new().public_key().to_base64(),
            false => verification.our_public().to_owned(),
        };
        let commitment = sas::commitment(&committed_key, &verification.transaction_id);
        self.send(from, messages::sas("sas-accept", Some(("commitment", &commitment)), &verification.transaction_id));
        self.peer(from)?.verification = Some(verification);
        Ok(())
    }

    /// The verification with `from` whose transaction id is `transaction_id`.
    fn verification(&mut self, from: &str, transaction_id: &str) -> Result<&mut Verification, Error> {
        let verification = self.peer(from)?.verification.as_mut().ok_or(Error::Sas("no verification in progress"))?;
        if verification.transaction_id != transaction_id {
            return Err(Error::UnexpectedUuid);
        }
        Ok(verification)
    }

    pub(super) fn on_sas_accept(&mut self, from: &str, commitment: String, transaction_id: &str) -> Result<(), Error> {
        self.require_session(from, "sas-accept")?;
        let verification = self.verification(from, transaction_id)?;
        if !verification.initiator {
            return Err(Error::Sas("sas-accept sent to the responder"));
        }
        if verification.commitment.is_some() {
            // The reference's text, `${pId}` and all.
            self.send(from, messages::error("Already received sas commitment message from ${pId}!"));
            return Err(Error::Sas("commitment received already"));
        }
        verification.commitment = Some(commitment);
        verification.key_sent = true;
        let key = verification.our_public().to_owned();
        self.send(from, messages::sas("sas-key", Some(("key", &key)), transaction_id));
        Ok(())
    }

    pub(super) fn on_sas_key(&mut self, from: &str, key: &str, transaction_id: &str) -> Result<(), Error> {
        self.require_session(from, "sas-key")?;
        let my_id = self.local_id.clone();
        let verification = self.verification(from, transaction_id)?;
        if !verification.is_created() || verification.finished {
            return Err(Error::Sas("SAS key set already"));
        }
        if verification.initiator {
            let Some(commitment) = &verification.commitment else {
                return Err(Error::Sas("sas-key before the commitment"));
            };
            if *commitment != sas::commitment(key, transaction_id) {
                verification.finished = true;
                self.send(from, messages::error("OlmAdapter commitments mismatched"));
                self.emit(Event::VerificationCompleted {
                    peer: from.to_owned(),
                    ok: false,
                    reason: Some(VerificationFailure::CommitmentMismatched),
                });
                return Ok(());
            }
        }
        sas::usable_key(key)?;
        let code = verification.establish(key, &my_id, from)?;
        let reply = (!verification.key_sent).then(|| verification.our_public().to_owned());
        verification.key_sent = true;
        self.emit(Event::SasReady { peer: from.to_owned(), sas: code });
        if let Some(our_key) = reply {
            self.send(from, messages::sas("sas-key", Some(("key", &our_key)), transaction_id));
        }
        Ok(())
    }

    pub(super) fn on_sas_mac(&mut self, from: &str, mac: &SasMac) -> Result<(), Error> {
        self.require_session(from, "sas-mac")?;
        let (my_id, encoding) = (self.local_id.clone(), self.mac_encoding);
        let peer = self.peer(from)?;
        let peer_ed25519 = peer.ed25519.clone();
        let verification = self.verification(from, &mac.transaction_id)?;
        if verification.finished || verification.peer_mac_ok {
            return Err(Error::Sas("verification is over"));
        }
        let sas = verification.established().ok_or(Error::Sas("sas-mac before the SAS keys"))?;
        let result = mac.check(sas, encoding, from, &my_id, peer_ed25519.as_deref());
        verification.peer_mac_ok = result.is_ok();
        // Verified only once our own user confirmed too (the reference reports the peer's MAC alone).
        let done = result.is_err() || verification.mac_sent;
        verification.finished = done;
        if done {
            let reason = result.err();
            self.emit(Event::VerificationCompleted { peer: from.to_owned(), ok: reason.is_none(), reason });
        }
        Ok(())
    }

    pub(super) fn on_confirm(&mut self, peer_id: &str, matches: bool) -> Result<(), Error> {
        let (my_id, encoding) = (self.local_id.clone(), self.mac_encoding);
        let own_ed25519 = self.account.ed25519_key().to_base64();
        let peer = self.peer(peer_id)?;
        if !matches {
            let reason = match peer.verification.take() {
                Some(_) => VerificationFailure::ChannelVerificationFailed,
                None => VerificationFailure::InvalidSasVerification,
            };
            self.emit(Event::VerificationCompleted { peer: peer_id.to_owned(), ok: false, reason: Some(reason) });
            return Ok(());
        }
        let verification = peer.verification.as_mut().ok_or(Error::Sas("no verification in progress"))?;
        if verification.mac_sent {
            return Err(Error::Sas("confirmed already"));
        }
        let sas = verification.established().ok_or(Error::Sas("the codes are not ready"))?;
        // Sent even after the peer's MAC failed, as the reference does: the peer reports its own result.
        let json = SasMac::build(sas, encoding, &my_id, peer_id, &verification.transaction_id, &own_ed25519);
        verification.mac_sent = true;
        let completed = verification.peer_mac_ok && !verification.finished;
        verification.finished |= completed;
        self.send(peer_id, json);
        if completed {
            self.emit(Event::VerificationCompleted { peer: peer_id.to_owned(), ok: true, reason: None });
        }
        Ok(())
    }
}
