//! What the element and its timer thread share: the participant, the outputs on their way
//! out, the counters; and the timer thread itself.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use gst::glib;
use gst::subclass::prelude::*;

use crate::keystore::KeyStore;
use crate::olm::{Error, Event, MediaKey, Participant};
use crate::sync::lock;

/// Counters of the `stats` property.
#[derive(Debug, Default)]
pub(super) struct Stats {
    pub(super) messages_handled: u64,
    pub(super) messages_rejected: u64,
    pub(super) inputs_rejected: u64,
    pub(super) messages_sent: u64,
    pub(super) sessions_started: u64,
    pub(super) keys_received: u64,
    pub(super) own_keys: u64,
    pub(super) timeouts: u64,
    pub(super) verifications_ok: u64,
    pub(super) verifications_failed: u64,
    pub(super) key_store_errors: u64,
    pub(super) own_key_index: Option<u32>,
}

/// What the element does outside its lock, in the order the participant asked for it.
pub(super) enum Output {
    Event(Event),
    /// The own key ratcheted in place (`ratchet-key`): the key store ratchets it too.
    Ratcheted {
        key: MediaKey,
        index: u32,
    },
    /// An input the element refused: it has not started.
    Error {
        participant: String,
        reason: String,
    },
}

pub(super) struct State {
    pub(super) participant: Participant,
    pub(super) local_id: Option<String>,
    /// The `enabled` property: applied when the element starts, or at once while started.
    pub(super) enabled: bool,
    /// READY or above: inputs are taken and timeouts run.
    pub(super) started: bool,
    pub(super) store: KeyStore,
    /// Whether the store came from the application (through a context).
    pub(super) shared_store: bool,
    pub(super) outputs: VecDeque<Output>,
    /// A thread is emitting `outputs`: others only queue theirs.
    pub(super) emitting: bool,
    pub(super) stats: Stats,
}

impl State {
    /// Moves the participant's events to the outputs, counting them; gives the number of errors.
    pub(super) fn collect(&mut self, ratcheting: bool) -> u64 {
        let mut errors = 0;
        while let Some(event) = self.participant.poll_event() {
            let stats = &mut self.stats;
            match &event {
                Event::SendMessage { .. } => stats.messages_sent += 1,
                Event::SessionReady { .. } => stats.sessions_started += 1,
                Event::PeerKey { key: Some(_), .. } => stats.keys_received += 1,
                Event::OwnKey { index, key } => {
                    stats.own_keys += 1;
                    stats.own_key_index = key.as_ref().map(|_| *index);
                }
                Event::VerificationCompleted { ok: true, .. } => stats.verifications_ok += 1,
                Event::VerificationCompleted { ok: false, .. } => stats.verifications_failed += 1,
                Event::Error { error: Error::Timeout { .. }, .. } => stats.timeouts += 1,
                Event::Error { .. } => errors += 1,
                _ => {}
            }
            self.outputs.push_back(match event {
                Event::OwnKey { key: Some(key), index } if ratcheting => Output::Ratcheted { key, index },
                event => Output::Event(event),
            });
        }
        errors
    }

    /// An input refused by the element itself: it has not started.
    pub(super) fn refuse(&mut self, peer: Option<&str>) {
        let reason = "jframeolm takes input in READY or above (with local-id set)".to_owned();
        self.outputs.push_back(Output::Error { participant: peer.unwrap_or_default().to_owned(), reason });
    }

    pub(super) fn stats(&self) -> gst::Structure {
        let s = &self.stats;
        let sessions = self.participant.peers().filter(|id| self.participant.has_session(id)).count();
        gst::Structure::builder("application/x-jframeolm-stats")
            .field("messages-handled", s.messages_handled)
            .field("messages-rejected", s.messages_rejected)
            .field("inputs-rejected", s.inputs_rejected)
            .field("messages-sent", s.messages_sent)
            .field("sessions", sessions as u64)
            .field("sessions-started", s.sessions_started)
            .field("keys-received", s.keys_received)
            .field("own-keys", s.own_keys)
            .field("own-key-index", s.own_key_index.map_or(-1, i64::from))
            .field("timeouts", s.timeouts)
            .field("verifications-ok", s.verifications_ok)
            .field("verifications-failed", s.verifications_failed)
            .field("key-store-errors", s.key_store_errors)
            .build()
    }
}

/// What the element and its timer thread share.
pub(super) struct Shared {
    pub(super) state: Mutex<State>,
    /// Wakes the timer thread: a deadline may have changed, or the element stops.
    pub(super) wake: Condvar,
    pub(super) origin: Instant,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Milliseconds of a monotonic clock: the participant's time.
    pub(super) fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// The timer thread: calls the participant's `handle_timeout` at its next deadline, while started.
pub(super) fn run_timer(shared: &Shared, element: &glib::WeakRef<super::super::JFrameOlm>) {
    let mut state = shared.lock();
    while state.started {
        let now = shared.now();
        match state.participant.next_deadline() {
            Some(due) if due <= now => {
                state.participant.handle_timeout(now);
                let errors = state.collect(false);
                state.stats.inputs_rejected += errors;
                drop(state);
                if let Some(element) = element.upgrade() {
                    element.imp().flush();
                }
                state = shared.lock();
            }
            Some(due) => {
                let wait = Duration::from_millis(due - now);
                state = shared.wake.wait_timeout(state, wait).map_or_else(|p| p.into_inner().0, |(s, _)| s);
            }
            None => state = shared.wake.wait(state).unwrap_or_else(|p| p.into_inner()),
        }
    }
}
