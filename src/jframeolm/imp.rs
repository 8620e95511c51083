use std::collections::VecDeque;
use std::sync::{Arc, Condvar, LazyLock, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::keystore::{KEY_STORE_CONTEXT, KeyStore};
use crate::olm::{Event, PRESENCE_ID_KEY_CURVE25519, PRESENCE_ID_KEY_ED25519, Participant};
use crate::sync::lock;

mod outputs;
mod shared;

use shared::{Output, Shared, State, Stats, run_timer};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("jframeolm", gst::DebugColorFlags::empty(), Some("lib-jitsi-meet Olm key exchange"))
});

/// The id the participant has until `local-id` is set; inputs are refused until then.
const UNSET_ID: &str = "unset";

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
                    "handle-features",
                    1,
                    true,
                    |olm, a, feature| olm.input(Input::Other, Some(&a[0]), |p, _| p.peer_features(&a[0], feature)),
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
                 handle-features(from, has-e2ee-feature) (a later presence's feature, read when e2ee.enabled \
                 turns true), participant-left(id), rotate-key(), ratchet-key(), start-verification(id), \
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
