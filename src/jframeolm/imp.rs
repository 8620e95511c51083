use std::collections::VecDeque;
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::jframe::verification::VerificationCode;
use crate::jframe::{KeyMode, Rules};
use crate::keystore::{KEY_STORE_CONTEXT, KeyRules, KeyStore, code_text};
use crate::lock;
use crate::olm::{Error, Event, MediaKey, PRESENCE_ID_KEY_CURVE25519, PRESENCE_ID_KEY_ED25519, Participant, SasCode};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("jframeolm", gst::DebugColorFlags::empty(), Some("lib-jitsi-meet Olm key exchange"))
});

/// The id the participant has until `local-id` is set; inputs are refused until then.
const UNSET_ID: &str = "unset";

/// Counters of the `stats` property.
#[derive(Debug, Default)]
struct Stats {
    messages_handled: u64,
    messages_rejected: u64,
    inputs_rejected: u64,
    messages_sent: u64,
    sessions_started: u64,
    keys_received: u64,
    own_keys: u64,
    timeouts: u64,
    verifications_ok: u64,
    verifications_failed: u64,
    key_store_errors: u64,
    own_key_index: Option<u32>,
}

/// What the element does outside its lock, in the order the participant asked for it.
enum Output {
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

struct State {
    participant: Participant,
    local_id: Option<String>,
    /// The `enabled` property: applied when the element starts, or at once while started.
    enabled: bool,
    /// READY or above: inputs are taken and timeouts run.
    started: bool,
    store: KeyStore,
    /// Whether the store came from the application (through a context).
    shared_store: bool,
    outputs: VecDeque<Output>,
    /// A thread is emitting `outputs`: others only queue theirs.
    emitting: bool,
    stats: Stats,
}

impl State {
    /// Moves the participant's events to the outputs, counting them; gives the number of errors.
    fn collect(&mut self, ratcheting: bool) -> u64 {
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
    fn refuse(&mut self, peer: Option<&str>) {
        let reason = "jframeolm takes input in READY or above (with local-id set)".to_owned();
        self.outputs.push_back(Output::Error { participant: peer.unwrap_or_default().to_owned(), reason });
    }

    fn stats(&self) -> gst::Structure {
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
struct Shared {
    state: Mutex<State>,
    /// Wakes the timer thread: a deadline may have changed, or the element stops.
    wake: Condvar,
    origin: Instant,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Milliseconds of a monotonic clock: the participant's time.
    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

pub struct JFrameOlm {
    shared: Arc<Shared>,
    timer: Mutex<Option<JoinHandle<()>>>,
}

#[glib::object_subclass]
impl ObjectSubclass for JFrameOlm {
    const NAME: &'static str = "GstJFrameOlm";
    type Type = super::JFrameOlm;
    type ParentType = gst::Element;

    fn new() -> Self {
        // A valid constant id cannot be refused.
        let Ok(mut participant) = Participant::new(UNSET_ID) else { unreachable!("a valid id") };
        // The identity keys are announced when the element starts.
        while participant.poll_event().is_some() {}
        JFrameOlm {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    participant,
                    local_id: None,
                    enabled: false,
                    started: false,
                    store: KeyStore::new(),
                    shared_store: false,
                    outputs: VecDeque::new(),
                    emitting: false,
                    stats: Stats::default(),
                }),
                wake: Condvar::new(),
                origin: Instant::now(),
            }),
            timer: Mutex::new(None),
        }
    }
}

/// Which kind of input an action is, for the counters.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Input {
    Message,
    Other,
}

impl JFrameOlm {
    /// Gives an input to the participant (refused before the element starts), then emits
    /// what came of it. `true` when it was taken without error.
    fn input(&self, kind: Input, peer: Option<&str>, apply: impl FnOnce(&mut Participant, u64)) -> bool {
        self.input_with(kind, peer, false, apply)
    }

    fn input_with(
        &self,
        kind: Input,
        peer: Option<&str>,
        ratcheting: bool,
        apply: impl FnOnce(&mut Participant, u64),
    ) -> bool {
        let errors = {
            let mut state = self.shared.lock();
            let errors = match state.started {
                true => {
                    apply(&mut state.participant, self.shared.now());
                    state.collect(ratcheting)
                }
                false => {
                    state.refuse(peer);
                    1
                }
            };
            match (kind, errors) {
                (Input::Message, 0) => state.stats.messages_handled += 1,
                (Input::Message, _) => state.stats.messages_rejected += 1,
                (Input::Other, errors) => state.stats.inputs_rejected += errors,
            }
            errors
        };
        self.shared.wake.notify_all();
        self.flush();
        errors == 0
    }

    /// Emits the queued outputs, in order, with no lock held. A thread that finds another
    /// emitting leaves its outputs to it (and a handler that feeds this element again from
    /// a signal only queues), so outputs never overtake each other.
    fn flush(&self) {
        {
            let mut state = self.shared.lock();
            if state.emitting {
                return;
            }
            state.emitting = true;
        }
        loop {
            let (output, store, local_id) = {
                let mut state = self.shared.lock();
                let Some(output) = state.outputs.pop_front() else {
                    state.emitting = false;
                    return;
                };
                (output, state.store.clone(), state.local_id.clone().unwrap_or_default())
            };
            self.deliver(output, &store, &local_id);
        }
    }

    /// Does what one output says: a signal, a key into the store, a bus message.
    fn deliver(&self, output: Output, store: &KeyStore, local_id: &str) {
        let element = self.obj();
        match output {
            Output::Event(Event::SendMessage { to, json }) => {
                gst::debug!(CAT, imp = self, "message of {} bytes to '{to}'", json.len());
                element.emit_by_name::<()>("send-message", &[&to, &json]);
            }
            Output::Event(Event::SetPresence { name, value }) => {
                gst::debug!(CAT, imp = self, "presence {name}: {value:?}");
                element.emit_by_name::<()>("set-presence", &[&name, &value]);
            }
            Output::Event(Event::OwnKey { key, index }) => {
                if self.store_key(store, local_id, key.as_ref(), index) {
                    self.post_key(local_id, true, Some(index), key.as_ref());
                }
            }
            Output::Ratcheted { key, index } => {
                // The store ratchets the key it holds; should that not be the participant's
                // (a new key still on its way to the others), the participant's key wins.
                let expected = VerificationCode::of_key(key.as_bytes());
                let in_store = store.ratchet(local_id).is_ok() && store.verification_code(local_id) == Some(expected);
                if in_store || self.store_key(store, local_id, Some(&key), index) {
                    self.post_key(local_id, true, Some(index), Some(&key));
                }
            }
            Output::Event(Event::PeerKey { peer, key, index }) => {
                if self.store_key(store, &peer, key.as_ref(), index) {
                    self.post_key(&peer, false, Some(index), key.as_ref());
                }
            }
            Output::Event(Event::PeerKeysDropped { peer }) => {
                store.participant(&peer).clear();
                self.post_key(&peer, false, None, None);
            }
            Output::Event(Event::SessionReady { peer, initiator }) => {
                let role = if initiator { "initiator" } else { "responder" };
                gst::info!(CAT, imp = self, "Olm session with '{peer}' ready ({role})");
                self.post(gst::Structure::builder("jframeolm-session").field("participant", peer).field("role", role));
            }
            Output::Event(Event::SasAvailable { peer }) => {
                gst::debug!(CAT, imp = self, "'{peer}' can be verified");
            }
            Output::Event(Event::SasReady { peer, sas }) => {
                let (decimal, emoji, names) = sas_text(&sas);
                gst::info!(CAT, imp = self, "SAS with '{peer}': {decimal} | {emoji}");
                self.post(
                    gst::Structure::builder("jframeolm-sas-ready")
                        .field("participant", peer)
                        .field("decimal", decimal)
                        .field("emoji", emoji)
                        .field("emoji-names", names),
                );
            }
            Output::Event(Event::VerificationCompleted { peer, ok, reason }) => {
                let reason = reason.map_or("", |r| r.as_str());
                gst::info!(CAT, imp = self, "verification of '{peer}': ok={ok} {reason}");
                self.post(
                    gst::Structure::builder("jframeolm-verification")
                        .field("participant", peer)
                        .field("ok", ok)
                        .field("reason", reason),
                );
            }
            Output::Event(Event::Error { peer, error }) => {
                self.post_error(peer.as_deref().unwrap_or(""), &error.to_string())
            }
            Output::Error { participant, reason } => self.post_error(&participant, &reason),
        }
    }

    /// Puts a key (or none) into the store for a participant, under JFrame's rules; a refusal
    /// is counted and reported. `true` when it is in.
    fn store_key(&self, store: &KeyStore, id: &str, key: Option<&MediaKey>, index: u32) -> bool {
        let participant = store.participant(id);
        let result = match (participant.use_rules(&KeyRules::from(Rules::jframe())), key) {
            (Err(_), _) => Err("the key store has other rules than JFrame's for this participant".to_owned()),
            (Ok(()), Some(key)) => {
                participant.set_key(index, key.as_bytes(), KeyMode::Derived).map_err(|e| e.to_string())
            }
            (Ok(()), None) => {
                participant.clear();
                Ok(())
            }
        };
        if let Err(reason) = &result {
            self.shared.lock().stats.key_store_errors += 1;
            self.post_error(id, &format!("key not stored: {reason}"));
        }
        result.is_ok()
    }

    /// `jframeolm-key`: the index and verification code of a new key, never the key.
    fn post_key(&self, id: &str, local: bool, index: Option<u32>, key: Option<&MediaKey>) {
        let code = key.map(|key| code_text(&VerificationCode::of_key(key.as_bytes())));
        gst::info!(
            CAT,
            imp = self,
            "key of '{id}' (local={local}) at index {index:?}: {}",
            code.as_deref().unwrap_or("none")
        );
        let mut structure = gst::Structure::builder("jframeolm-key")
            .field("participant", id)
            .field("local", local)
            .field("key-index", index.map_or(-1, i64::from))
            .field("has-key", key.is_some());
        if let Some(code) = code {
            structure = structure.field("verification-code", code);
        }
        self.post(structure);
    }

    fn post_error(&self, peer: &str, reason: &str) {
        gst::warning!(CAT, imp = self, "'{peer}': {reason}");
        self.post(gst::Structure::builder("jframeolm-error").field("participant", peer).field("reason", reason));
    }

    fn post(&self, structure: gst::structure::Builder) {
        let element = self.obj();
        let message = gst::message::Element::builder(structure.build()).src(&*element).build();
        let _ = element.post_message(message);
    }

    /// NULL to READY: the key store, the identity keys in presence, E2EE if asked, the timer.
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let shared_store = {
            let state = self.shared.lock();
            if state.local_id.is_none() {
                return Err(gst::error_msg!(
                    gst::LibraryError::Settings,
                    ("jframeolm needs local-id, the own participant id")
                ));
            }
            state.shared_store
        };
        if !shared_store {
            let element = self.obj();
            let message = gst::message::NeedContext::builder(KEY_STORE_CONTEXT).src(&*element).build();
            let _ = element.post_message(message);
        }
        {
            let mut state = self.shared.lock();
            state.started = true;
            let keys = state.participant.identity_keys();
            for (name, value) in
                [(PRESENCE_ID_KEY_CURVE25519, keys.curve25519), (PRESENCE_ID_KEY_ED25519, keys.ed25519)]
            {
                state.outputs.push_back(Output::Event(Event::SetPresence { name, value }));
            }
            if state.enabled && !state.participant.is_enabled() {
                let now = self.shared.now();
                state.participant.enable(now);
                let errors = state.collect(false);
                state.stats.inputs_rejected += errors;
            }
        }
        let shared = self.shared.clone();
        let element = self.obj().downgrade();
        let spawned =
            std::thread::Builder::new().name("jframeolm-timer".to_owned()).spawn(move || run_timer(&shared, &element));
        match spawned {
            Ok(handle) => *lock(&self.timer) = Some(handle),
            Err(e) => {
                return Err(gst::error_msg!(
                    gst::CoreError::Thread,
                    ("jframeolm cannot start its timer thread: {}", e)
                ));
            }
        }
        self.flush();
        Ok(())
    }

    /// READY to NULL: the timer stops; the participant and its sessions stay.
    fn stop(&self) {
        self.shared.lock().started = false;
        self.shared.wake.notify_all();
        // The timer thread itself may drop the last reference: it ends by itself then.
        if let Some(handle) = lock(&self.timer).take().filter(|h| h.thread().id() != std::thread::current().id()) {
            let _ = handle.join();
        }
    }

    fn set_enabled(&self, enabled: bool) {
        let started = {
            let mut state = self.shared.lock();
            let changed = state.enabled != enabled;
            state.enabled = enabled;
            state.started && changed
        };
        if started {
            self.input(Input::Other, None, |participant, now| match enabled {
                true => participant.enable(now),
                false => participant.disable(now),
            });
        }
    }

    fn set_local_id(&self, id: Option<String>) {
        let mut state = self.shared.lock();
        let Some(id) = id.filter(|id| !id.is_empty()) else {
            state.local_id = None;
            return;
        };
        if self.obj().current_state() > gst::State::Ready {
            drop(state);
            gst::element_imp_warning!(self, gst::LibraryError::Settings, ["local-id can change in NULL or READY only"]);
            return;
        }
        match state.participant.set_local_id(&id) {
            Ok(()) => state.local_id = Some(id),
            Err(error) => {
                drop(state);
                gst::element_imp_warning!(
                    self,
                    gst::LibraryError::Settings,
                    ["local-id {:?} refused ({}): set it before anyone joins and before enabling E2EE", id, error]
                );
            }
        }
    }
}

/// `"1785 2343 3696"`, the seven emoji and their names (separated by commas, as some have spaces).
fn sas_text(sas: &SasCode) -> (String, String, String) {
    let [a, b, c] = sas.decimal;
    let emoji = sas.emoji_symbols();
    let symbols: Vec<&str> = emoji.iter().map(|(symbol, _)| *symbol).collect();
    let names: Vec<&str> = emoji.iter().map(|(_, name)| *name).collect();
    (format!("{a} {b} {c}"), symbols.join(" "), names.join(", "))
}

/// The timer thread: calls the participant's `handle_timeout` at its next deadline, while started.
fn run_timer(shared: &Shared, element: &glib::WeakRef<super::JFrameOlm>) {
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

fn string_arg(args: &[glib::Value], at: usize) -> Option<String> {
    args.get(at)?.get::<Option<String>>().ok().flatten()
}

fn element_arg(args: &[glib::Value]) -> Option<super::JFrameOlm> {
    args.first()?.get::<super::JFrameOlm>().ok()
}

/// An action signal taking strings (and then a boolean): `run` gets the element and them.
fn action(
    name: &str,
    strings: usize,
    with_bool: bool,
    run: fn(&JFrameOlm, &[String], bool) -> bool,
    returns_bool: bool,
) -> glib::subclass::Signal {
    let mut types = vec![String::static_type(); strings];
    if with_bool {
        types.push(bool::static_type());
    }
    let builder = glib::subclass::Signal::builder(name).param_types(types).action();
    let builder = if returns_bool { builder.return_type::<bool>() } else { builder };
    builder
        .class_handler(move |args| {
            let element = element_arg(args)?;
            let strings: Vec<String> = (1..=strings).map(|at| string_arg(args, at).unwrap_or_default()).collect();
            let flag = with_bool && args.get(strings.len() + 1).and_then(|v| v.get::<bool>().ok()).unwrap_or(false);
            let done = run(element.imp(), &strings, flag);
            returns_bool.then(|| done.to_value())
        })
        .build()
}

impl ObjectImpl for JFrameOlm {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("local-id")
                    .nick("Local id")
                    .blurb(
                        "Own participant id (the MUC nick); the own media key goes into the key store under \
                            this participant: set participant=<local-id> on the jframeenc that sends. Required; \
                            NULL or READY only, before anyone joined",
                    )
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("enabled")
                    .nick("Enabled")
                    .blurb(
                        "E2EE on or off, as lib-jitsi-meet's setEnabled: on sets presence e2ee.enabled, makes \
                            Olm sessions and a new own key; off empties e2ee.enabled, sends the key false and \
                            clears the sessions. Set while NULL it applies when the element goes to READY",
                    )
                    .default_value(false)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("identity-key-curve25519")
                    .nick("Curve25519 identity key")
                    .blurb("Own Olm curve25519 identity key, unpadded base64 (presence e2ee.idKey.curve25519)")
                    .read_only()
                    .build(),
                glib::ParamSpecString::builder("identity-key-ed25519")
                    .nick("Ed25519 identity key")
                    .blurb("Own Olm ed25519 identity key, unpadded base64 (presence e2ee.idKey.ed25519)")
                    .read_only()
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb(
                        "application/x-jframeolm-stats: messages-handled, messages-rejected, inputs-rejected, \
                            messages-sent, sessions, sessions-started, keys-received, own-keys, own-key-index \
                            (-1 none), timeouts, verifications-ok, verifications-failed, key-store-errors",
                    )
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn signals() -> &'static [glib::subclass::Signal] {
        static SIGNALS: LazyLock<Vec<glib::subclass::Signal>> = LazyLock::new(|| {
            vec![
                action(
                    "handle-message",
                    2,
                    false,
                    |olm, a, _| olm.input(Input::Message, Some(&a[0]), |p, now| p.handle_message(&a[0], &a[1], now)),
                    true,
                ),
                glib::subclass::Signal::builder("handle-presence")
                    .param_types([String::static_type(), String::static_type(), String::static_type()])
                    .action()
                    .class_handler(|args| {
                        let element = element_arg(args)?;
                        let (from, name) =
                            (string_arg(args, 1).unwrap_or_default(), string_arg(args, 2).unwrap_or_default());
                        let value = string_arg(args, 3);
                        gst::debug!(CAT, obj = element, "presence of '{from}': {name} = {value:?}");
                        element.imp().input(Input::Other, Some(&from), |p, now| {
                            p.handle_presence(&from, &name, value.as_deref(), now)
                        });
                        None
                    })
                    .build(),
                action(
                    "participant-joined",
                    1,
                    true,
                    |olm, a, feature| olm.input(Input::Other, Some(&a[0]), |p, _| p.peer_joined(&a[0], feature)),
                    false,
                ),
                action(
                    "participant-left",
                    1,
                    false,
                    |olm, a, _| olm.input(Input::Other, Some(&a[0]), |p, now| p.peer_left(&a[0], now)),
                    false,
                ),
                action(
                    "rotate-key",
                    0,
                    false,
                    |olm, _, _| olm.input(Input::Other, None, Participant::rotate_key),
                    false,
                ),
                action(
                    "ratchet-key",
                    0,
                    false,
                    |olm, _, _| olm.input_with(Input::Other, None, true, |p, _| p.ratchet_key()),
                    false,
                ),
                action(
                    "start-verification",
                    1,
                    false,
                    |olm, a, _| olm.input(Input::Other, Some(&a[0]), |p, _| p.start_verification(&a[0])),
                    false,
                ),
                action(
                    "confirm-verification",
                    1,
                    true,
                    |olm, a, matches| {
                        olm.input(Input::Other, Some(&a[0]), |p, _| p.confirm_verification(&a[0], matches))
                    },
                    false,
                ),
                glib::subclass::Signal::builder("send-message")
                    .param_types([String::static_type(), String::static_type()])
                    .run_last()
                    .build(),
                glib::subclass::Signal::builder("set-presence")
                    .param_types([String::static_type(), String::static_type()])
                    .run_last()
                    .build(),
            ]
        });
        SIGNALS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        match pspec.name() {
            "local-id" => self.set_local_id(value.get::<Option<String>>().ok().flatten()),
            "enabled" => self.set_enabled(value.get().unwrap_or(false)),
            _ => {}
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let state = self.shared.lock();
        match pspec.name() {
            "local-id" => state.local_id.to_value(),
            "enabled" => state.enabled.to_value(),
            "identity-key-curve25519" => state.participant.identity_keys().curve25519.to_value(),
            "identity-key-ed25519" => state.participant.identity_keys().ed25519.to_value(),
            "stats" => state.stats().to_value(),
            _ => pspec.default_value().clone(),
        }
    }

    fn dispose(&self) {
        self.stop();
    }
}

impl GstObjectImpl for JFrameOlm {}

impl ElementImpl for JFrameOlm {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "JFrame Olm key exchange",
                "Generic",
                "Takes part in lib-jitsi-meet's E2EE key exchange (Olm sessions, key distribution, SAS \
                 verification; lib-jitsi-meet 01daa07c) and puts the keys it learns into the key store of \
                 jframeenc and jframedec (context gst-jframe.key-store). Action signals: handle-message(from, \
                 json) -> bool, handle-presence(from, name, value), participant-joined(id, has-e2ee-feature), \
                 participant-left(id), rotate-key(), ratchet-key(), start-verification(id), \
                 confirm-verification(id, matches) (their strings end at the first NUL byte: a message cut by one is \
                 malformed and refused); signals: send-message(to, json), set-presence(name, value); \
                 element messages jframeolm-key, jframeolm-session, jframeolm-sas-ready, \
                 jframeolm-verification, jframeolm-error",
                "gst-jframe developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        &[]
    }

    fn set_context(&self, context: &gst::Context) {
        if let Some(store) = KeyStore::from_context(context) {
            let mut state = self.shared.lock();
            state.store = store;
            state.shared_store = true;
        }
        self.parent_set_context(context);
    }

    fn change_state(&self, transition: gst::StateChange) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::NullToReady
            && let Err(message) = self.start()
        {
            self.post_error_message(message);
            return Err(gst::StateChangeError);
        }
        let success = self.parent_change_state(transition)?;
        if transition == gst::StateChange::ReadyToNull {
            self.stop();
        }
        Ok(success)
    }
}
