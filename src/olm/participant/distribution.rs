//! Distributing the own key of a [`Participant`]: key-info to every peer with a session, in
//! rounds that end when they all acked or timed out, and the wait for sessions when enabling.

use vodozemac::olm::{OlmMessage, Session};
use zeroize::Zeroizing;

use super::super::Error;
use super::super::event::{Event, MediaKey};
use super::super::messages;
use super::super::peer::Peer;
use super::{Participant, REQUEST_TIMEOUT_MS, Request, RequestKind, Round, SESSION_WAIT_MS, new_uuid, random_bytes};

impl Participant {
    fn key_info_plaintext(&self) -> Zeroizing<String> {
        messages::key_info_plaintext(self.key.as_ref(), self.key_index.unwrap_or(0))
    }

    pub(super) fn encrypt_key_info(&self, session: &mut Session) -> Result<OlmMessage, Error> {
        session.encrypt(self.key_info_plaintext().as_bytes()).map_err(|e| Error::Olm(e.to_string()))
    }

    /// Sends our key-info to a peer with a session, waiting for its ack.
    pub(super) fn send_key_info(&mut self, id: &str, round: Option<u64>, now: u64) -> Result<(), Error> {
        let uuid = new_uuid()?;
        let plaintext = self.key_info_plaintext();
        let session = self.peer(id)?.session.as_mut().ok_or(Error::NoSession)?;
        let ciphertext = session.encrypt(plaintext.as_bytes()).map_err(|e| Error::Olm(e.to_string()))?;
        self.send(id, messages::key_info("key-info", &ciphertext, &uuid));
        self.requests.insert(
            uuid,
            Request { peer: id.to_owned(), deadline: now + REQUEST_TIMEOUT_MS, kind: RequestKind::KeyInfo { round } },
        );
        Ok(())
    }

    /// `updateKey`: the next index, the key to everyone with a session; [`Event::OwnKey`] when
    /// they all acked or timed out.
    pub(super) fn distribute(&mut self, key: Option<MediaKey>, disable: bool, now: u64) {
        self.key = Some(key);
        self.key_index = Some(self.key_index.map_or(0, |i| i.wrapping_add(1)));
        let round = self.next_round;
        self.next_round += 1;
        self.rounds.push(Round { id: round, disable });
        let with_session: Vec<String> =
            self.peers.iter().filter(|(_, p)| p.session.is_some()).map(|(id, _)| id.clone()).collect();
        for id in with_session {
            if let Err(error) = self.send_key_info(&id, Some(round), now) {
                self.reject(Some(&id), error);
            }
        }
        self.advance(now);
    }

    /// A peer that enabled E2EE: the smaller id makes sure of a session, then sends its key-info.
    pub(super) fn session_then_key_info(&mut self, id: &str, now: u64) -> Result<(), Error> {
        let peer = self.peer(id)?;
        if peer.session.is_some() {
            self.send_key_info(id, None, now)
        } else if peer.pending_session_uuid.is_some() {
            Ok(())
        } else {
            self.send_session_init(id, now)?;
            self.peer(id)?.key_info_after_ack = true;
            Ok(())
        }
    }

    /// Moves the enabling and the key distributions on, after anything that may end them.
    pub(super) fn advance(&mut self, now: u64) {
        if let Some(mut enabling) = self.enabling.take() {
            if enabling.waiting.is_none() && !enabling.outgoing.iter().any(|uuid| self.requests.contains_key(uuid)) {
                let waiting = self
                    .peers
                    .iter()
                    .filter(|(_, p)| p.has_e2ee_feature && p.session.is_none())
                    .map(|(id, _)| id.clone());
                enabling.waiting = Some((waiting.collect(), now + SESSION_WAIT_MS));
            }
            let done = enabling.waiting.as_ref().is_some_and(|(peers, deadline)| {
                now >= *deadline || peers.iter().all(|id| self.peers.get(id).is_none_or(|p| p.session.is_some()))
            });
            if done {
                self.finish_enabling(now);
            } else {
                self.enabling = Some(enabling);
            }
        }
        while let Some(round) = self.rounds.first() {
            let (id, disable) = (round.id, round.disable);
            if self.requests.values().any(|r| matches!(r.kind, RequestKind::KeyInfo { round: Some(x) } if x == id)) {
                break;
            }
            self.rounds.remove(0);
            let key = self.key.clone().flatten();
            self.emit(Event::OwnKey { key, index: self.key_index.unwrap_or(0) });
            if disable {
                // clearAllParticipantsSessions; the peers' keys stay (the reference keeps them too).
                self.peers.values_mut().for_each(Peer::clear_session);
                self.requests.clear();
            }
        }
    }

    fn finish_enabling(&mut self, now: u64) {
        let deferred: Vec<String> =
            self.peers.iter().filter(|(_, p)| p.key_info_after_enabling).map(|(id, _)| id.clone()).collect();
        // The key first: the deferred key-infos carry it, as the reference's do (they wait for
        // `initSessions`, after which `updateKey` sets the key). Sent before, they carried `{}`,
        // which is never acked, and each of them timed out.
        match random_bytes::<32>() {
            Ok(bytes) => self.distribute(Some(MediaKey::from_bytes(*bytes)), false, now),
            Err(error) => self.reject(None, error),
        }
        for id in deferred {
            if let Ok(peer) = self.peer(&id) {
                peer.key_info_after_enabling = false;
            }
            if let Err(error) = self.session_then_key_info(&id, now) {
                self.reject(Some(&id), error);
            }
        }
    }
}
