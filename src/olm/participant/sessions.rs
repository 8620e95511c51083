//! The Olm session and key-info messages of a [`Participant`].

use vodozemac::Curve25519PublicKey;
use vodozemac::olm::{Account, OlmMessage, Session, SessionConfig, SessionCreationError};
use zeroize::Zeroizing;

use super::super::Error;
use super::super::error::field;
use super::super::event::{Event, MediaKey};
use super::super::messages::{self, KeyInfo};
use super::super::protocol::{SessionAck, SessionInit};
use super::{Participant, REQUEST_TIMEOUT_MS, Request, RequestKind, copy_session, new_uuid};

impl Participant {
    /// Sends a session-init unless there is a session or one is pending; gives its uuid.
    pub(super) fn send_session_init(&mut self, id: &str, now: u64) -> Result<Option<String>, Error> {
        let peer = self.peer(id)?;
        if peer.session.is_some() || peer.pending_session_uuid.is_some() {
            return Ok(None);
        }
        let uuid = new_uuid()?;
        let created = self.account.generate_one_time_keys(1).created;
        let Some(one_time_key) = created.first() else { return Err(Error::Olm("no one-time key".to_owned())) };
        self.account.mark_keys_as_published();
        let json = SessionInit::build(&self.account.curve25519_key(), one_time_key, &uuid);
        self.send(id, json);
        self.peer(id)?.pending_session_uuid = Some(uuid.clone());
        self.requests.insert(
            uuid.clone(),
            Request { peer: id.to_owned(), deadline: now + REQUEST_TIMEOUT_MS, kind: RequestKind::SessionInit },
        );
        Ok(Some(uuid))
    }

    /// The peer's presence key, which its Olm messages must carry.
    fn presence_identity(&mut self, from: &str, claimed: Curve25519PublicKey) -> Result<Curve25519PublicKey, Error> {
        match self.peer(from)?.curve25519 {
            None => Err(Error::IdentityKeyUnknown),
            Some(key) if key != claimed => Err(Error::IdentityKeyMismatch),
            Some(key) => Ok(key),
        }
    }

    pub(super) fn on_session_init(&mut self, from: &str, init: SessionInit, now: u64) -> Result<(), Error> {
        if self.peer(from)?.session.is_some() {
            self.send(from, messages::error("Session already established"));
            return Err(Error::SessionExists);
        }
        let identity_key = self.presence_identity(from, init.identity_key)?;
        let mut session = self
            .account
            .create_outbound_session(SessionConfig::version_1(), identity_key, init.one_time_key)
            .map_err(|e| Error::Olm(e.to_string()))?;
        let ciphertext = self.encrypt_key_info(&mut session)?;
        self.send(from, SessionAck::build(&ciphertext, &init.uuid));
        self.peer(from)?.session = Some(session);
        self.emit(Event::SessionReady { peer: from.to_owned(), initiator: false });
        self.advance(now);
        Ok(())
    }

    pub(super) fn on_session_ack(&mut self, from: &str, ack: SessionAck, now: u64) -> Result<(), Error> {
        let peer = self.peer(from)?;
        if peer.session.is_some() {
            self.send(from, messages::error("No session found"));
            return Err(Error::SessionExists);
        }
        if peer.pending_session_uuid.as_deref() != Some(ack.uuid.as_str()) {
            self.send(from, messages::error("Invalid UUID"));
            return Err(Error::UnexpectedUuid);
        }
        let OlmMessage::PreKey(pre_key) = &ack.ciphertext else {
            return Err(field("olm.data.ciphertext.type", "a session-ack carries a pre-key message (0)"));
        };
        let identity_key = self.presence_identity(from, pre_key.identity_key())?;
        // The one-time key is used up only once the whole message is good: vodozemac removes it
        // only after decrypting, and a key-info refused after that restores the account. (A copy
        // of the account for every ack rebuilt each pending one-time key: O(N) per ack.)
        let before = self.account.pickle();
        let created = self.account.create_inbound_session(SessionConfig::version_1(), identity_key, pre_key).map_err(
            |e| match e {
                SessionCreationError::MismatchedIdentityKey(..) => Error::IdentityKeyMismatch,
                other => Error::Olm(other.to_string()),
            },
        )?;
        let plaintext = Zeroizing::new(created.plaintext);
        let info = match messages::parse_key_info(&plaintext) {
            Ok(info) => info,
            Err(error) => {
                self.account = Account::from_pickle(before);
                return Err(error);
            }
        };
        self.requests.remove(&ack.uuid);
        let peer = self.peer(from)?;
        peer.session = Some(created.session);
        peer.pending_session_uuid = None;
        let after_ack = std::mem::take(&mut peer.key_info_after_ack);
        self.emit(Event::SessionReady { peer: from.to_owned(), initiator: true });
        // The reference takes a session-ack's key whenever there is one, unlike key-info's.
        if let KeyInfo::Key { key: Some(key), index } = info {
            self.peer(from)?.last_key = Some(Some(key.clone()));
            self.emit(Event::PeerKey { peer: from.to_owned(), key: Some(key), index });
        }
        if after_ack && let Err(error) = self.send_key_info(from, None, now) {
            self.reject(Some(from), error);
        }
        self.advance(now);
        Ok(())
    }

    /// Decrypts on a copy of the session and parses the key-info; the caller commits the copy.
    fn open_key_info(&mut self, from: &str, ciphertext: &OlmMessage) -> Result<(Session, KeyInfo), Error> {
        let session = self.peer(from)?.session.as_ref().ok_or(Error::NoSession)?;
        let mut session = copy_session(session);
        let plaintext = Zeroizing::new(session.decrypt(ciphertext).map_err(|e| Error::Olm(e.to_string()))?);
        let info = messages::parse_key_info(&plaintext)?;
        Ok((session, info))
    }

    /// A changed key of the peer (the reference compares keys only, not indices).
    fn take_peer_key(&mut self, from: &str, key: Option<MediaKey>, index: u32) -> Result<(), Error> {
        let peer = self.peer(from)?;
        if peer.last_key.as_ref() != Some(&key) {
            peer.last_key = Some(key.clone());
            self.emit(Event::PeerKey { peer: from.to_owned(), key, index });
        }
        Ok(())
    }

    pub(super) fn on_key_info(&mut self, from: &str, ciphertext: &OlmMessage, uuid: &str) -> Result<(), Error> {
        self.require_session(from, "key-info")?;
        let (mut session, info) = self.open_key_info(from, ciphertext)?;
        // `{}` is not acked (the reference's sender times out).
        let KeyInfo::Key { key, index } = info else {
            self.peer(from)?.session = Some(session);
            return Ok(());
        };
        let ack = self.encrypt_key_info(&mut session)?;
        self.peer(from)?.session = Some(session);
        self.take_peer_key(from, key, index)?;
        self.send(from, messages::key_info("key-info-ack", &ack, uuid));
        Ok(())
    }

    pub(super) fn on_key_info_ack(
        &mut self,
        from: &str,
        ciphertext: &OlmMessage,
        uuid: &str,
        now: u64,
    ) -> Result<(), Error> {
        self.require_session(from, "key-info-ack")?;
        let expected =
            self.requests.get(uuid).is_some_and(|r| r.peer == from && matches!(r.kind, RequestKind::KeyInfo { .. }));
        if !expected {
            return Err(Error::UnexpectedUuid);
        }
        let (session, info) = self.open_key_info(from, ciphertext)?;
        self.peer(from)?.session = Some(session);
        if let KeyInfo::Key { key, index } = info {
            self.take_peer_key(from, key, index)?;
        }
        self.requests.remove(uuid);
        self.advance(now);
        Ok(())
    }
}
