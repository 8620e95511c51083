//! The participant state machine: lib-jitsi-meet's `OlmAdapter` with the parts of
//! `KeyHandler`/`ManagedKeyHandler` that decide when keys change.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use vodozemac::olm::{Account, Session};
use zeroize::Zeroizing;

use super::event::{Event, MediaKey};
use super::messages::{self, Incoming};
use super::peer::Peer;
use super::protocol::MacEncoding;

mod distribution;
mod presence;
mod sessions;
mod testing;
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
    /// presence has the feature [`FEATURE_E2EE`](super::FEATURE_E2EE). Known already: its feature
    /// is updated, as by [`peer_features`](Self::peer_features).
    pub fn peer_joined(&mut self, id: &str, has_e2ee_feature: bool) {
        if !valid_id(id) || id == self.local_id {
            return self.reject(Some(id), Error::InvalidPeerId);
        }
        self.peers.entry(id.to_owned()).or_default().has_e2ee_feature = has_e2ee_feature;
    }

    /// A later presence of a peer has the E2EE feature, or no longer has it (lib-jitsi-meet's
    /// `PARTICIPANT_FEATURES_CHANGED`). As in the reference, the feature counts where it is
    /// read: when the peer's `e2ee.enabled` turns true (give the features before that
    /// presence's properties) and when we enable; a peer that gains it so gets a session and
    /// our key.
    pub fn peer_features(&mut self, id: &str, has_e2ee_feature: bool) {
        match self.peers.get_mut(id) {
            Some(peer) => peer.has_e2ee_feature = has_e2ee_feature,
            None => self.reject(Some(id), Error::UnknownPeer),
        }
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
