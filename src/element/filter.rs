//! What an element built on the shared code is: a [`FrameFilter`], which processes
//! frames and may add properties and signals of its own; and its GObject and
//! GstElement glue, written once for every such element ([`frame_filter_glue!`]).

use std::sync::LazyLock;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::keying::{self, Keying};
use super::pads::Pads;

/// What becomes of a processed frame.
pub enum Verdict {
    Push,
    Drop,
}

/// An element that changes frames in place between two pads, with the shared keys,
/// properties and signals.
pub trait FrameFilter: ElementImpl {
    /// Bytes the filter appends to a frame: asked of upstream allocators as padding, so
    /// that the frames come with room for them.
    const ROOM: usize = 0;

    /// Bytes the filter puts in front of a frame: asked of upstream allocators as a prefix.
    const PREFIX: usize = 0;

    /// Whether the filter encrypts (its src side carries the encrypted frames) or decrypts.
    const ENCRYPTS: bool;

    fn keying(&self) -> &Keying;

    fn pads(&self) -> &Pads;

    /// Encrypts or decrypts one frame, in place.
    fn process(&self, frame: &mut gst::BufferRef) -> Result<Verdict, gst::FlowError>;

    /// The element's long name, classification and description.
    fn element_metadata() -> gst::subclass::ElementMetadata;

    /// Properties of this element only, besides the shared ones.
    fn own_properties() -> Vec<glib::ParamSpec> {
        Vec::new()
    }

    /// Signals of this element only, besides the shared ones.
    fn own_signals() -> Vec<glib::subclass::Signal> {
        Vec::new()
    }

    /// Sets a property of this element only; `false` for a shared one.
    fn set_own_property(&self, _value: &glib::Value, _pspec: &glib::ParamSpec) -> bool {
        false
    }

    /// Reads a property of this element only, or one it reads its own way; `None` for
    /// the shared ones.
    fn own_property(&self, _pspec: &glib::ParamSpec) -> Option<glib::Value> {
        None
    }

    /// A context handed over another key store: keys the element found in the old one
    /// move to the new one.
    fn store_changed(&self) {}
}

/// Implements `ObjectImpl`, `GstObjectImpl` and `ElementImpl` of a [`FrameFilter`]:
/// the shared properties and signals plus its own, its pads, the key store taken from a
/// context and the shared state changes.
macro_rules! frame_filter_glue {
    ($filter:ty) => {
        impl glib::subclass::object::ObjectImpl for $filter {
            fn constructed(&self) {
                $crate::element::filter::constructed(self);
            }

            fn properties() -> &'static [glib::ParamSpec] {
                static PROPERTIES: std::sync::LazyLock<Vec<glib::ParamSpec>> =
                    std::sync::LazyLock::new($crate::element::filter::properties::<$filter>);
                PROPERTIES.as_ref()
            }

            fn signals() -> &'static [glib::subclass::Signal] {
                static SIGNALS: std::sync::LazyLock<Vec<glib::subclass::Signal>> =
                    std::sync::LazyLock::new($crate::element::filter::signals::<$filter>);
                SIGNALS.as_ref()
            }

            fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
                $crate::element::filter::set_property(self, value, pspec);
            }

            fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
                $crate::element::filter::property(self, pspec)
            }
        }

        impl gst::subclass::prelude::GstObjectImpl for $filter {}

        impl gst::subclass::prelude::ElementImpl for $filter {
            fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
                static METADATA: std::sync::LazyLock<gst::subclass::ElementMetadata> =
                    std::sync::LazyLock::new(<$filter as $crate::element::filter::FrameFilter>::element_metadata);
                Some(&*METADATA)
            }

            fn pad_templates() -> &'static [gst::PadTemplate] {
                $crate::element::filter::pad_templates()
            }

            fn set_context(&self, context: &gst::Context) {
                $crate::element::filter::set_context(self, context);
            }

            fn change_state(
                &self,
                transition: gst::StateChange,
            ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
                $crate::element::filter::change_state(self, transition)
            }
        }
    };
}
pub(crate) use frame_filter_glue;

/// The shared properties, then the element's own.
pub fn properties<T: FrameFilter>() -> Vec<glib::ParamSpec> {
    let mut properties = Keying::properties();
    properties.extend(T::own_properties());
    properties
}

/// The shared signals, then the element's own.
pub fn signals<T: FrameFilter>() -> Vec<glib::subclass::Signal>
where
    T::Type: IsA<gst::Element>,
{
    let mut signals = keying::signals::<T>();
    signals.extend(T::own_signals());
    signals
}

pub fn set_property<T: FrameFilter>(filter: &T, value: &glib::Value, pspec: &glib::ParamSpec)
where
    T::Type: IsA<gst::Element>,
{
    if !filter.set_own_property(value, pspec) {
        filter.keying().set_property(filter.obj().upcast_ref(), pspec, value);
    }
}

pub fn property<T: FrameFilter>(filter: &T, pspec: &glib::ParamSpec) -> glib::Value {
    filter
        .own_property(pspec)
        .or_else(|| filter.keying().property(pspec))
        .unwrap_or_else(|| pspec.default_value().clone())
}

/// The pad templates of every frame filter: the caps of any format, output equal to input.
pub fn pad_templates() -> &'static [gst::PadTemplate] {
    static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(super::media::pad_templates);
    TEMPLATES.as_ref()
}

/// `constructed`, as both elements do it: the pads are added to the element.
pub fn constructed<T: FrameFilter>(filter: &T) {
    filter.parent_constructed();
    let element = filter.obj();
    for pad in [&filter.pads().sink, &filter.pads().src] {
        if element.add_pad(pad).is_err() {
            gst::error!(gst::CAT_RUST, obj = element, "could not add pad {}", pad.name());
        }
    }
}

/// `set_context`, as both elements do it: a key store handed over is taken.
pub fn set_context<T: FrameFilter>(filter: &T, context: &gst::Context) {
    if filter.keying().set_context(context) {
        filter.store_changed();
    }
    filter.parent_set_context(context);
}

/// The state changes both elements handle alike.
pub fn change_state<T: FrameFilter>(
    filter: &T,
    transition: gst::StateChange,
) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
    match transition {
        gst::StateChange::NullToReady => filter.keying().request_store(filter.obj().upcast_ref()),
        gst::StateChange::ReadyToPaused => {
            if let Err(message) = filter.keying().start() {
                filter.post_error_message(message);
                return Err(gst::StateChangeError);
            }
        }
        _ => (),
    }
    let success = filter.parent_change_state(transition)?;
    if transition == gst::StateChange::PausedToReady {
        filter.keying().stop();
        filter.pads().copies.stop();
    }
    Ok(success)
}
