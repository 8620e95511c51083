use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::settings::{FormatSettings, KeyModeSetting, rules_structure};
use super::{Participant, verification_structure};
use crate::jframe::KeyMode;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("jframekeystore", gst::DebugColorFlags::empty(), Some("JFrame key store"))
});

#[derive(Default)]
pub struct KeyStore {
    participants: Mutex<HashMap<String, Arc<Participant>>>,
}

impl KeyStore {
    pub(super) fn participants(&self) -> MutexGuard<'_, HashMap<String, Arc<Participant>>> {
        crate::sync::lock(&self.participants)
    }
}

#[glib::object_subclass]
impl ObjectSubclass for KeyStore {
    const NAME: &'static str = "GstJFrameKeyStore";
    type Type = super::KeyStore;
    type ParentType = glib::Object;
}

fn store_of(args: &[glib::Value]) -> Option<super::KeyStore> {
    args.first()?.get::<super::KeyStore>().ok()
}

/// The string argument at `at` (a participant, a passphrase).
fn text(args: &[glib::Value], at: usize) -> Option<String> {
    args.get(at)?.get::<Option<String>>().ok()?
}

/// `true`, or `false` with a warning that says why (never a key).
fn done<E: std::fmt::Display>(signal: &str, participant: &str, result: Result<(), E>) -> glib::Value {
    if let Err(e) = &result {
        gst::warning!(CAT, "{signal} for participant '{participant}' refused: {e}");
    }
    result.is_ok().to_value()
}

impl ObjectImpl for KeyStore {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecBoxed::builder::<gst::Context>("context")
                    .nick("Context")
                    .blurb("A GstContext of type gst-jframe.key-store carrying this store, for gst_element_set_context")
                    .read_only()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "context" => self.obj().context().to_value(),
            _ => pspec.default_value().clone(),
        }
    }

    /// The store's calls as action signals, for applications in C or other languages.
    fn signals() -> &'static [glib::subclass::Signal] {
        static SIGNALS: LazyLock<Vec<glib::subclass::Signal>> = LazyLock::new(|| {
            vec![
                glib::subclass::Signal::builder("set-key")
                    .param_types([
                        String::static_type(),
                        u32::static_type(),
                        gst::Buffer::static_type(),
                        KeyModeSetting::static_type(),
                    ])
                    .return_type::<bool>()
                    .action()
                    .class_handler(|args| {
                        let store = store_of(args)?;
                        let participant = text(args, 1)?;
                        let index = args.get(2)?.get::<u32>().ok()?;
                        let key = args.get(3)?.get::<gst::Buffer>().ok()?;
                        let mode: KeyModeSetting = args.get(4)?.get().ok()?;
                        let map = key.map_readable().ok()?;
                        let result = store.set_key(&participant, index, &map, KeyMode::from(mode));
                        Some(done("set-key", &participant, result))
                    })
                    .build(),
                glib::subclass::Signal::builder("set-sframe-key")
                    .param_types([String::static_type(), u64::static_type(), gst::Buffer::static_type()])
                    .return_type::<bool>()
                    .action()
                    .class_handler(|args| {
                        let store = store_of(args)?;
                        let participant = text(args, 1)?;
                        let kid = args.get(2)?.get::<u64>().ok()?;
                        let key = args.get(3)?.get::<gst::Buffer>().ok()?;
                        let map = key.map_readable().ok()?;
                        Some(done("set-sframe-key", &participant, store.set_sframe_key(&participant, kid, &map)))
                    })
                    .build(),
                glib::subclass::Signal::builder("ratchet")
                    .param_types([String::static_type()])
                    .return_type::<bool>()
                    .action()
                    .class_handler(|args| {
                        let store = store_of(args)?;
                        let participant = text(args, 1)?;
                        Some(done("ratchet", &participant, store.ratchet(&participant)))
                    })
                    .build(),
                glib::subclass::Signal::builder("set-passphrase")
                    .param_types([String::static_type(), u32::static_type(), String::static_type()])
                    .return_type::<bool>()
                    .action()
                    .class_handler(|args| {
                        let store = store_of(args)?;
                        let participant = text(args, 1)?;
                        let index = args.get(2)?.get::<u32>().ok()?;
                        let passphrase = zeroize::Zeroizing::new(text(args, 3)?);
                        Some(done(
                            "set-passphrase",
                            &participant,
                            store.set_passphrase(&participant, index, &passphrase),
                        ))
                    })
                    .build(),
                glib::subclass::Signal::builder("clear-keys")
                    .param_types([String::static_type()])
                    .action()
                    .class_handler(|args| {
                        store_of(args)?.clear_keys(&text(args, 1)?);
                        None
                    })
                    .build(),
                glib::subclass::Signal::builder("set-rules")
                    .param_types([String::static_type(), gst::Structure::static_type()])
                    .return_type::<bool>()
                    .action()
                    .class_handler(|args| {
                        let store = store_of(args)?;
                        let participant = text(args, 1)?;
                        let structure = args.get(2)?.get::<gst::Structure>().ok()?;
                        let result = FormatSettings::from_structure(&structure).and_then(|settings| {
                            store.set_rules(&participant, settings.rules()).map_err(|e| e.to_string())
                        });
                        Some(done("set-rules", &participant, result))
                    })
                    .build(),
                glib::subclass::Signal::builder("get-rules")
                    .param_types([String::static_type()])
                    .return_type::<gst::Structure>()
                    .action()
                    .class_handler(|args| {
                        let store = store_of(args)?;
                        Some(rules_structure(&store.rules(&text(args, 1)?)).to_value())
                    })
                    .build(),
                glib::subclass::Signal::builder("remove-participant")
                    .param_types([String::static_type()])
                    .action()
                    .class_handler(|args| {
                        let store = store_of(args)?;
                        store.remove_participant(&text(args, 1)?);
                        None
                    })
                    .build(),
                glib::subclass::Signal::builder("get-verification-code")
                    .param_types([String::static_type()])
                    .return_type::<Option<gst::Structure>>()
                    .action()
                    .class_handler(|args| {
                        let store = store_of(args)?;
                        let code = store.verification_code(&text(args, 1)?);
                        Some(code.map(|c| verification_structure(&c)).to_value())
                    })
                    .build(),
            ]
        });
        SIGNALS.as_ref()
    }
}
