//! The participant state machine: lib-jitsi-meet's `OlmAdapter` with the parts of
//! `KeyHandler`/`ManagedKeyHandler` that decide when keys change.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use sha2::{Digest, Sha256};
use vodozemac::olm::{Account, OlmMessage, Session};
use vodozemac::{Curve25519PublicKey, Ed25519PublicKey};
use zeroize::Zeroizing;

use super::error::field;
use super::event::{Event, MediaKey};
use super::messages::{self, Incoming};
use super::peer::Peer;
use super::protocol::{MacEncoding, SessionInit};
use super::sas::Verification;
mod sessions;
mod verification;

use super::{Error, PRESENCE_E2EE_ENABLED, PRESENCE_ID_KEY_CURVE25519, PRESENCE_ID_KEY_ED25519};

/// How long the reference waits for the sessions with all E2EE participants when enabling.
pub const SESSION_WAIT_MS: u64 = 10_000;
/// How long the reference waits for a session-ack or a key-info-ack.
pub const REQUEST_TIMEOUT_MS: u64 = 5_000;
const MAX_ID_LEN: usize = 256;
const MAX_PRESENCE_LEN: usize = 1024;

/// The Olm identity keys, unpadded base64, as published in presence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityKeys {
    pub curve25519: String,
    pub ed25519: String,
}

#[derive(Debug)]
enum RequestKind {
    SessionInit,
    /// A key-info; `round` when it is part of distributing our key.
    KeyInfo {
        round: Option<u64>,
    },
}

#[derive(Debug)]
struct Request {
    peer: String,
    deadline: u64,
    kind: RequestKind,
}

/// Distributing a new own key: it becomes the sender's key once every peer acked (or timed out).
#[derive(Debug)]
struct Round {
    id: u64,
    /// Disabling: the sessions are cleared once it is done.
    disable: bool,
}

/// `initSessions`: first the session-inits we sent are answered (or time out), then the
/// sessions with every E2EE participant are waited for, at most [`SESSION_WAIT_MS`].
#[derive(Debug)]
struct Enabling {
    outgoing: BTreeSet<String>,
    waiting: Option<(BTreeSet<String>, u64)>,
}

/// One participant of an E2EE meeting: inputs in, [`Event`]s out, no I/O, no clock.
///
/// Every input that changes nothing because it is malformed or unexpected gives one
/// [`Event::Error`]. Time is the caller's: `now` in milliseconds, from any fixed origin;
/// [`next_deadline`](Participant::next_deadline) tells when to call
/// [`handle_timeout`](Participant::handle_timeout).
pub struct Participant {
    local_id: String,
    account: Account,
    peers: BTreeMap<String, Peer>,
    enabled: bool,
    /// `None` before the first key (key-info `{}`), `Some(None)` after disabling (`false`).
    key: Option<Option<MediaKey>>,
    key_index: Option<u32>,
    enabling: Option<Enabling>,
    requests: BTreeMap<String, Request>,
    rounds: Vec<Round>,
    next_round: u64,
    events: VecDeque<Event>,
    mac_encoding: MacEncoding,
    tamper_commitment: bool,
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_LEN && !id.chars().any(char::is_control)
}

fn random_bytes<const N: usize>() -> Result<Zeroizing<[u8; N]>, Error> {
    let mut bytes = Zeroizing::new([0u8; N]);
    getrandom::fill(bytes.as_mut_slice()).map_err(|_| Error::Rng)?;
    Ok(bytes)
}

/// A version 4 uuid, as the reference's `uuidv4()` writes them.
fn new_uuid() -> Result<String, Error> {
    let mut b = *random_bytes::<16>()?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..]))
}

/// A copy to try a decryption on, so that a message rejected afterwards leaves the real one as it was.
fn copy_session(session: &Session) -> Session {
    Session::from_pickle(session.pickle())
}

impl Participant {
    /// Creates the Olm account; the first events publish its identity keys in presence.
    pub fn new(local_id: &str) -> Result<Participant, Error> {
        if !valid_id(local_id) {
            return Err(Error::InvalidPeerId);
        }
        let mut participant = Participant {
            local_id: local_id.to_owned(),
            account: Account::new(),
            peers: BTreeMap::new(),
            enabled: false,
            key: None,
            key_index: None,
            enabling: None,
            requests: BTreeMap::new(),
            rounds: Vec::new(),
            next_round: 0,
            events: VecDeque::new(),
            mac_encoding: MacEncoding::Libolm,
            tamper_commitment: false,
        };
        let keys = participant.identity_keys();
        participant.emit(Event::SetPresence { name: PRESENCE_ID_KEY_CURVE25519, value: keys.curve25519 });
        participant.emit(Event::SetPresence { name: PRESENCE_ID_KEY_ED25519, value: keys.ed25519 });
        Ok(participant)
    }

    pub fn local_id(&self) -> &str {
        &self.local_id
    }

    /// Changes the own id (the MUC nick) while nobody else is known and E2EE is off; the Olm
    /// account, and so the identity keys, stay.
    pub fn set_local_id(&mut self, local_id: &str) -> Result<(), Error> {
        if !valid_id(local_id) {
            return Err(Error::InvalidPeerId);
        }
        if self.enabled || self.busy() || !self.peers.is_empty() {
            return Err(Error::Busy);
        }
        self.local_id = local_id.to_owned();
        Ok(())
    }

    pub fn identity_keys(&self) -> IdentityKeys {
        IdentityKeys {
            curve25519: self.account.curve25519_key().to_base64(),
            ed25519: self.account.ed25519_key().to_base64(),
        }
    }

    /// E2EE is on (from [`enable`](Self::enable) until [`disable`](Self::disable)).
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Enabling waits for Olm sessions before it makes and sends the first key.
    pub fn is_waiting_for_sessions(&self) -> bool {
        self.enabling.is_some()
    }

    /// The ids of the participants in the room, in order.
    pub fn peers(&self) -> impl Iterator<Item = &str> {
        self.peers.keys().map(String::as_str)
    }

    pub fn has_session(&self, peer: &str) -> bool {
        self.peers.get(peer).is_some_and(|p| p.session.is_some())
    }

    /// The next output, in the order they happened.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due next (milliseconds, the clock of `now`).
    pub fn next_deadline(&self) -> Option<u64> {
        let requests = self.requests.values().map(|r| r.deadline).min();
        let waiting = self.enabling.as_ref().and_then(|e| e.waiting.as_ref()).map(|(_, deadline)| *deadline);
        requests.into_iter().chain(waiting).min()
    }

    // ---- inputs: the room ----

    /// A participant is in the room (joined, or there when we came); `has_e2ee_feature` when its
    /// presence has the feature [`FEATURE_E2EE`](super::FEATURE_E2EE). Known already: its feature is updated.
    pub fn peer_joined(&mut self, id: &str, has_e2ee_feature: bool) {
        if !valid_id(id) || id == self.local_id {
            return self.reject(Some(id), Error::InvalidPeerId);
        }
        self.peers.entry(id.to_owned()).or_default().has_e2ee_feature = has_e2ee_feature;
    }

    /// A participant left: its session, verification and keys go ([`Event::PeerKeysDropped`]).
    pub fn peer_left(&mut self, id: &str, now: u64) {
        if self.peers.remove(id).is_none() {
            return self.reject(Some(id), Error::UnknownPeer);
        }
        self.requests.retain(|_, r| r.peer != id);
        self.emit(Event::PeerKeysDropped { peer: id.to_owned() });
        self.advance(now);
    }

    /// A presence property of a peer: `e2ee.idKey.curve25519`, `e2ee.idKey.ed25519` or
    /// `e2ee.enabled` (`None` or `""`: the element is absent or empty). Other names are ignored.
    pub fn handle_presence(&mut self, from: &str, name: &str, value: Option<&str>, now: u64) {
        if let Err(error) = self.on_presence(from, name, value, now) {
            self.reject(Some(from), error);
        }
    }

    /// A MUC private message from `from`: the text of its `<json-message>`.
    pub fn handle_message(&mut self, from: &str, json: &str, now: u64) {
        let result = match self.peers.contains_key(from) {
            false => Err(Error::UnknownPeer),
            true => messages::parse(json).and_then(|message| self.on_message(from, message, now)),
        };
        if let Err(error) = result {
            self.reject(Some(from), error);
        }
    }

    /// Time passed: requests without answer expire, the wait for sessions ends.
    pub fn handle_timeout(&mut self, now: u64) {
        while let Some(due) = self.next_deadline().filter(|due| *due <= now) {
            let expired: Vec<String> =
                self.requests.iter().filter(|(_, r)| r.deadline == due).map(|(u, _)| u.clone()).collect();
            for uuid in expired {
                let Some(request) = self.requests.remove(&uuid) else { continue };
                let what = match request.kind {
                    RequestKind::SessionInit => "session-init",
                    RequestKind::KeyInfo { .. } => "key-info",
                };
                if let (RequestKind::SessionInit, Some(peer)) = (&request.kind, self.peers.get_mut(&request.peer)) {
                    peer.pending_session_uuid = None;
                    peer.key_info_after_ack = false;
                }
                self.emit(Event::Error { peer: Some(request.peer), error: Error::Timeout { what } });
            }
            self.advance(due);
        }
    }

    // ---- inputs: the application ----

    /// Turns E2EE on: presence `e2ee.enabled`, sessions with the E2EE participants, then a new
    /// random key to all of them ([`Event::OwnKey`] once they acked it).
    pub fn enable(&mut self, now: u64) {
        if self.enabled {
            return self.reject(None, Error::AlreadyEnabled);
        }
        if self.busy() {
            return self.reject(None, Error::Busy);
        }
        self.enabled = true;
        self.emit(Event::SetPresence { name: PRESENCE_E2EE_ENABLED, value: "true".to_owned() });
        let targets: Vec<String> = self
            .peers
            .iter()
            .filter(|(id, p)| p.has_e2ee_feature && self.local_id < **id)
            .map(|(id, _)| id.clone())
            .collect();
        let mut outgoing = BTreeSet::new();
        for id in targets {
            match self.send_session_init(&id, now) {
                Ok(Some(uuid)) => drop(outgoing.insert(uuid)),
                Ok(None) => {}
                Err(error) => self.reject(Some(&id), error),
            }
        }
        self.enabling = Some(Enabling { outgoing, waiting: None });
        self.advance(now);
    }

    /// Turns E2EE off: presence first, then the key `false` to everyone, then the sessions go.
    pub fn disable(&mut self, now: u64) {
        if !self.enabled {
            return self.reject(None, Error::NotEnabled);
        }
        if self.busy() {
            return self.reject(None, Error::Busy);
        }
        self.enabled = false;
        self.emit(Event::SetPresence { name: PRESENCE_E2EE_ENABLED, value: String::new() });
        self.distribute(None, true, now);
    }

    /// Someone left: a new random key at the next index, to everyone.
    pub fn rotate_key(&mut self, now: u64) {
        if !self.enabled || self.enabling.is_some() {
            return self.reject(None, Error::NotEnabled);
        }
        match random_bytes::<32>() {
            Ok(bytes) => self.distribute(Some(MediaKey::from_bytes(*bytes)), false, now),
            Err(error) => self.reject(None, error),
        }
    }

    /// Someone joined: the own key ratchets in place (same index); nothing is sent, the peers'
    /// receivers follow by themselves.
    pub fn ratchet_key(&mut self) {
        let (Some(Some(key)), Some(index), true) = (&self.key, self.key_index, self.enabled) else {
            return self.reject(None, Error::NotEnabled);
        };
        let next = crate::jframe::ratchet(key.as_bytes());
        let Ok(bytes) = <[u8; 32]>::try_from(next.as_slice()) else { unreachable!("the ratchet gives 32 bytes") };
        let key = MediaKey::from_bytes(bytes);
        self.key = Some(Some(key.clone()));
        self.emit(Event::OwnKey { key: Some(key), index });
    }

    /// Starts a SAS verification with `peer` (we are the initiator).
    pub fn start_verification(&mut self, peer_id: &str) {
        if let Err(error) = self.on_start_verification(peer_id) {
            self.reject(Some(peer_id), error);
        }
    }

    /// Our user compared the codes: `matches` sends our MAC; otherwise the verification fails
    /// (the peer is not told, as in the reference) and can be started again.
    pub fn confirm_verification(&mut self, peer_id: &str, matches: bool) {
        if let Err(error) = self.on_confirm(peer_id, matches) {
            self.reject(Some(peer_id), error);
        }
    }

    // ---- hooks for checks ----

    /// Negative control for interop checks: MACs in another encoding.
    #[doc(hidden)]
    pub fn testing_set_mac_encoding(&mut self, encoding: MacEncoding) {
        self.mac_encoding = encoding;
    }

    /// Negative control for interop checks: as responder, commit to another SAS key.
    #[doc(hidden)]
    pub fn testing_tamper_commitment(&mut self) {
        self.tamper_commitment = true;
    }

    /// For replaying recorded runs: the session with `peer` becomes `session` (a reference's,
    /// restored from its pickle).
    #[doc(hidden)]
    pub fn testing_restore_session(&mut self, peer: &str, session: Session) {
        if let Some(peer) = self.peers.get_mut(peer) {
            peer.session = Some(session);
        }
    }

    /// A digest of the whole state (secrets included, hashed): equal before and after an input
    /// means the input changed nothing.
    #[doc(hidden)]
    pub fn testing_state_digest(&self) -> [u8; 32] {
        let mut hash = Sha256::new();
        let mut put = |text: &[u8]| {
            hash.update((text.len() as u64).to_le_bytes());
            hash.update(text);
        };
        put(&serde_json::to_vec(&self.account.pickle()).unwrap_or_default());
        put(format!(
            "{}|{:?}|{:?}|{:?}|{:?}|{}",
            self.enabled, self.key_index, self.enabling, self.requests, self.rounds, self.next_round
        )
        .as_bytes());
        match &self.key {
            Some(Some(key)) => put(key.as_bytes()),
            other => put(format!("{}", other.is_some()).as_bytes()),
        }
        for (id, peer) in &self.peers {
            put(id.as_bytes());
            put(format!(
                "{}|{:?}|{:?}|{}|{:?}|{}|{}|{:?}",
                peer.has_e2ee_feature,
                peer.curve25519.map(|k| k.to_base64()),
                peer.ed25519,
                peer.e2ee_enabled,
                peer.pending_session_uuid,
                peer.key_info_after_ack,
                peer.key_info_after_enabling,
                peer.verification.as_ref().map(Verification::summary),
            )
            .as_bytes());
            match &peer.last_key {
                Some(Some(key)) => put(key.as_bytes()),
                other => put(format!("{}", other.is_some()).as_bytes()),
            }
            if let Some(session) = &peer.session {
                put(&serde_json::to_vec(&session.pickle()).unwrap_or_default());
            }
        }
        hash.finalize().into()
    }

    // ---- inner workings ----

    fn emit(&mut self, event: Event) {
        self.events.push_back(event);
    }

    fn reject(&mut self, peer: Option<&str>, error: Error) {
        self.emit(Event::Error { peer: peer.map(str::to_owned), error });
    }

    fn send(&mut self, to: &str, json: String) {
        self.emit(Event::SendMessage { to: to.to_owned(), json });
    }

    fn busy(&self) -> bool {
        self.enabling.is_some() || self.rounds.iter().any(|r| r.disable)
    }

    fn peer(&mut self, id: &str) -> Result<&mut Peer, Error> {
        self.peers.get_mut(id).ok_or(Error::UnknownPeer)
    }

    /// The session with `id`, or the reference's error reply and [`Error::NoSession`].
    fn require_session(&mut self, id: &str, while_processing: &str) -> Result<(), Error> {
        if self.peer(id)?.session.is_some() {
            return Ok(());
        }
        self.send(id, messages::error(&format!("No session found while processing {while_processing}")));
        Err(Error::NoSession)
    }

    fn key_info_plaintext(&self) -> Zeroizing<String> {
        messages::key_info_plaintext(self.key.as_ref(), self.key_index.unwrap_or(0))
    }

    fn encrypt_key_info(&self, session: &mut Session) -> Result<OlmMessage, Error> {
        session.encrypt(self.key_info_plaintext().as_bytes()).map_err(|e| Error::Olm(e.to_string()))
    }

    /// Sends a session-init unless there is a session or one is pending; gives its uuid.
    fn send_session_init(&mut self, id: &str, now: u64) -> Result<Option<String>, Error> {
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

    /// Sends our key-info to a peer with a session, waiting for its ack.
    fn send_key_info(&mut self, id: &str, round: Option<u64>, now: u64) -> Result<(), Error> {
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
    fn distribute(&mut self, key: Option<MediaKey>, disable: bool, now: u64) {
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
    fn session_then_key_info(&mut self, id: &str, now: u64) -> Result<(), Error> {
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
    fn advance(&mut self, now: u64) {
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

    fn on_presence(&mut self, from: &str, name: &str, value: Option<&str>, now: u64) -> Result<(), Error> {
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

    fn on_message(&mut self, from: &str, message: Incoming, now: u64) -> Result<(), Error> {
        match message {
            Incoming::SessionInit(init) => self.on_session_init(from, init, now),
            Incoming::SessionAck(ack) => self.on_session_ack(from, ack, now),
            Incoming::KeyInfo { ciphertext, uuid } => self.on_key_info(from, &ciphertext, &uuid),
            Incoming::KeyInfoAck { ciphertext, uuid } => self.on_key_info_ack(from, &ciphertext, &uuid, now),
            Incoming::Error { text } => Err(Error::Remote(text)),
            Incoming::SasStart { transaction_id } => self.on_sas_start(from, transaction_id),
            Incoming::SasAccept { commitment, transaction_id } => self.on_sas_accept(from, commitment, &transaction_id),
            Incoming::SasKey { key, transaction_id } => self.on_sas_key(from, &key, &transaction_id),
            Incoming::SasMac(mac) => self.on_sas_mac(from, &mac),
        }
    }
}
