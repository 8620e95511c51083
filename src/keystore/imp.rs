use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::Participant;
use crate::jframe::KeyMode;
use crate::keying::{KeyModeSetting, verification_structure};

#[derive(Default)]
pub struct KeyStore {
    participants: Mutex<HashMap<String, Arc<Participant>>>,
}

impl KeyStore {
    pub(super) fn participants(&self) -> MutexGuard<'_, HashMap<String, Arc<Participant>>> {
        crate::lock(&self.participants)
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

impl ObjectImpl for KeyStore {
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
                        let participant = args.get(1)?.get::<String>().ok()?;
                        let index = args.get(2)?.get::<u32>().ok()?;
                        let key = args.get(3)?.get::<gst::Buffer>().ok()?;
                        let mode: KeyModeSetting = args.get(4)?.get().ok()?;
                        let map = key.map_readable().ok()?;
                        let done = store.set_key(&participant, index, &map, KeyMode::from(mode)).is_ok();
                        Some(done.to_value())
                    })
                    .build(),
                glib::subclass::Signal::builder("ratchet")
                    .param_types([String::static_type()])
                    .return_type::<bool>()
                    .action()
                    .class_handler(|args| {
                        let store = store_of(args)?;
                        let participant = args.get(1)?.get::<String>().ok()?;
                        Some(store.ratchet(&participant).is_ok().to_value())
                    })
                    .build(),
                glib::subclass::Signal::builder("remove-participant")
                    .param_types([String::static_type()])
                    .action()
                    .class_handler(|args| {
                        let store = store_of(args)?;
                        store.remove_participant(&args.get(1)?.get::<String>().ok()?);
                        None
                    })
                    .build(),
                // Bindings (PyGObject) copy the structure of a context, so they cannot
                // fill one in; this one carries the store.
                glib::subclass::Signal::builder("get-context")
                    .return_type::<gst::Context>()
                    .action()
                    .class_handler(|args| Some(store_of(args)?.context().to_value()))
                    .build(),
                glib::subclass::Signal::builder("get-verification-code")
                    .param_types([String::static_type()])
                    .return_type::<Option<gst::Structure>>()
                    .action()
                    .class_handler(|args| {
                        let store = store_of(args)?;
                        let code = store.verification_code(&args.get(1)?.get::<String>().ok()?);
                        Some(code.map(|c| verification_structure(&c)).to_value())
                    })
                    .build(),
            ]
        });
        SIGNALS.as_ref()
    }
}
