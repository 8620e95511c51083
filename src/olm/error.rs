//! What can go wrong with an input: every rejected input gives one of these, in an
//! [`Event::Error`](super::Event::Error), and leaves the participant as it was.

use std::fmt;

/// Why an input was rejected, or a request of ours ended without an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A message longer than [`MAX_MESSAGE_LEN`](super::MAX_MESSAGE_LEN) bytes.
    MessageTooLong { len: usize },
    /// Not JSON (the parser's words).
    InvalidJson(String),
    /// JSON, but not an Olm message (`type` is not `"olm"`): some other private message.
    NotOlm,
    /// A field is missing, of the wrong type or out of range.
    InvalidField { field: &'static str, problem: &'static str },
    /// An Olm message type this version does not know.
    UnknownMessageType(String),
    /// A participant id that is not in the room (or not valid as an id).
    UnknownPeer,
    /// A peer id that cannot be used: empty, too long, control characters, or our own.
    InvalidPeerId,
    /// The message needs an Olm session with the peer and there is none.
    NoSession,
    /// A session-init or session-ack for a peer we already have a session with.
    SessionExists,
    /// A uuid or transaction id that matches nothing we wait for.
    UnexpectedUuid,
    /// The peer's identity key in the message is not the one in its presence.
    IdentityKeyMismatch,
    /// The peer has not published its curve25519 identity key in presence yet.
    IdentityKeyUnknown,
    /// The peer published an identity key that belongs to another participant (or to us).
    DuplicateIdentityKey,
    /// Olm refused the message or key (vodozemac's words: bad MAC, replay, low-order key, ...).
    Olm(String),
    /// The peer sent an `error` message (its text, shortened).
    Remote(String),
    /// The action needs E2EE enabled (and its keys distributed).
    NotEnabled,
    /// E2EE is already enabled.
    AlreadyEnabled,
    /// Enabling or disabling is still in progress; try again when it has finished.
    Busy,
    /// A SAS message or action that does not fit the verification's state.
    Sas(&'static str),
    /// A request of ours got no answer in time (`session-init` or `key-info`).
    Timeout { what: &'static str },
    /// The operating system's random number generator failed; nothing was done.
    Rng,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::MessageTooLong { len } => write!(f, "message of {len} bytes is too long"),
            Error::InvalidJson(why) => write!(f, "not JSON: {why}"),
            Error::NotOlm => write!(f, "not an Olm message"),
            Error::InvalidField { field, problem } => write!(f, "field {field}: {problem}"),
            Error::UnknownMessageType(t) => write!(f, "unknown Olm message type {t:?}"),
            Error::UnknownPeer => write!(f, "no such participant"),
            Error::InvalidPeerId => write!(f, "invalid participant id"),
            Error::NoSession => write!(f, "no Olm session with the participant"),
            Error::SessionExists => write!(f, "an Olm session with the participant exists already"),
            Error::UnexpectedUuid => write!(f, "uuid or transaction id not expected"),
            Error::IdentityKeyMismatch => write!(f, "identity key differs from the one in presence"),
            Error::IdentityKeyUnknown => write!(f, "no identity key in presence"),
            Error::DuplicateIdentityKey => write!(f, "identity key belongs to another participant"),
            Error::Olm(why) => write!(f, "Olm: {why}"),
            Error::Remote(text) => write!(f, "the participant reported an error: {text}"),
            Error::NotEnabled => write!(f, "E2EE is not enabled"),
            Error::AlreadyEnabled => write!(f, "E2EE is already enabled"),
            Error::Busy => write!(f, "enabling or disabling is in progress"),
            Error::Sas(why) => write!(f, "verification: {why}"),
            Error::Timeout { what } => write!(f, "no answer to {what} in time"),
            Error::Rng => write!(f, "the random number generator failed"),
        }
    }
}

impl std::error::Error for Error {}

/// Shorthand for a field error.
pub(crate) fn field(field: &'static str, problem: &'static str) -> Error {
    Error::InvalidField { field, problem }
}
