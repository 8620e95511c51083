//! The pads of `jframeenc` and `jframedec`: a sink and a src pad with the same caps
//! (those the element's format can process; under SFrame the encrypted side's caps say
//! so, see `media`), frames changed in place in the chain function, queries answered for
//! a filter that keeps its caps.
//!
//! Not a `GstBaseTransform`: for a filter that keeps its caps and works in place, the base
//! class's path per buffer (five virtual methods, each through the bindings) cost about
//! 2 300 instructions, more than AES-GCM on an audio frame (about 1 400); a chain
//! function costs a fraction of it (docs/performance.md).

use gst::prelude::*;
use gst::subclass::prelude::*;

use super::filter::{FrameFilter, Verdict};
use super::media::{Side, side_caps, transform_caps};
use super::memory::FrameCopies;
use crate::keystore::settings::FormatSetting;

pub struct Pads {
    pub(super) sink: gst::Pad,
    pub(super) src: gst::Pad,
    /// Where frames that are not writable are copied to.
    pub(super) copies: FrameCopies,
}

impl Pads {
    /// The pads, from the element's "sink" and "src" templates.
    pub fn new<T: FrameFilter>() -> Pads {
        let template = |name: &str| {
            T::pad_templates()
                .iter()
                .find(|template| template.name_template() == name)
                .expect("the element has sink and src pad templates")
        };
        let sink = gst::Pad::builder_from_template(template("sink"))
            .chain_function(|_pad, parent, buffer| {
                T::catch_panic_pad_function(parent, || Err(gst::FlowError::Error), |filter| chain(filter, buffer))
            })
            .event_function(|pad, parent, event| {
                T::catch_panic_pad_function(parent, || false, |filter| sink_event(filter, pad, event))
            })
            .query_function(|pad, parent, query| {
                T::catch_panic_pad_function(parent, || false, |filter| pad_query(filter, pad, query))
            })
            .build();
        let src = gst::Pad::builder_from_template(template("src"))
            .query_function(|pad, parent, query| {
                T::catch_panic_pad_function(parent, || false, |filter| pad_query(filter, pad, query))
            })
            .build();
        Pads { sink, src, copies: FrameCopies::default() }
    }
}

fn chain<T: FrameFilter>(filter: &T, mut buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
    let verdict = match buffer.get_mut() {
        Some(frame) => filter.process(frame)?,
        // A frame upstream still holds is copied once, with room for what the filter adds.
        None => {
            let mut copy = filter.pads().copies.copy(&buffer, T::PREFIX, T::ROOM)?;
            let verdict = filter.process(copy.make_mut())?;
            buffer = copy;
            verdict
        }
    };
    match verdict {
        Verdict::Push => filter.pads().src.push(buffer),
        Verdict::Drop => Ok(gst::FlowSuccess::Ok),
    }
}

/// The side of the element a pad is on.
fn side<T: FrameFilter>(pads: &Pads, pad: &gst::Pad) -> Side {
    match (pad == &pads.src) == T::ENCRYPTS {
        true => Side::Encrypted,
        false => Side::Plain,
    }
}

fn sink_event<T: FrameFilter>(filter: &T, pad: &gst::Pad, event: gst::Event) -> bool {
    match event.view() {
        // The same caps go downstream (the default handler would keep them), under SFrame
        // as the other side's.
        gst::EventView::Caps(caps) => {
            let keying = filter.keying();
            if keying.set_media(filter.obj().upcast_ref(), caps.caps()).is_err() {
                return false;
            }
            let format = keying.format();
            if format != FormatSetting::SFrame {
                return filter.pads().src.push_event(event);
            }
            let src_caps =
                transform_caps(format, side::<T>(filter.pads(), &filter.pads().src), &caps.caps_owned(), None);
            !src_caps.is_empty() && filter.pads().src.push_event(gst::event::Caps::new(&src_caps))
        }
        _ => gst::Pad::event_default(pad, Some(&*filter.obj()), event),
    }
}

fn pad_query<T: FrameFilter>(filter: &T, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
    let pads = filter.pads();
    let other = if pad == &pads.sink { &pads.src } else { &pads.sink };
    match query.view_mut() {
        // Both sides take the same caps: the other side's, as far as the format goes.
        gst::QueryViewMut::Caps(caps) => {
            let wanted = caps.filter_owned();
            let format = filter.keying().format();
            let other_wanted = wanted.as_ref().map(|w| transform_caps(format, side::<T>(pads, other), w, None));
            let peer = other.peer_query_caps(other_wanted.as_ref());
            caps.set_result(&transform_caps(format, side::<T>(pads, pad), &peer, wanted.as_ref()));
            true
        }
        // Caps are accepted for what the element can process, whatever downstream takes
        // (as a `GstBaseTransform` does).
        gst::QueryViewMut::AcceptCaps(accept) => {
            let caps = accept.caps_owned();
            let processable = !side_caps(filter.keying().format(), side::<T>(pads, pad), &caps).is_empty();
            accept.set_result(processable && caps.is_subset(&pad.pad_template_caps()));
            true
        }
        gst::QueryViewMut::Allocation(allocation) => {
            // Frames are changed in place: downstream's answer holds, plus room for a trailer
            // (and an SFrame header in front).
            let answered = other.peer_query(allocation.query_mut());
            if T::ROOM == 0 && T::PREFIX == 0 {
                return answered;
            }
            ask_for_room(allocation, T::PREFIX, T::ROOM);
            true
        }
        _ => gst::Pad::query_default(pad, Some(&*filter.obj()), query),
    }
}

/// Asks for `prefix` bytes before and `room` bytes of padding after each allocated frame.
fn ask_for_room(allocation: &mut gst::query::Allocation, prefix: usize, room: usize) {
    let params: Vec<_> = allocation.allocation_params().collect();
    if params.is_empty() {
        let params = gst::AllocationParams::new(gst::MemoryFlags::empty(), 0, prefix, room);
        allocation.add_allocation_param(None::<&gst::Allocator>, params);
    }
    for (index, (allocator, params)) in params.into_iter().enumerate() {
        let padded = gst::AllocationParams::new(
            params.flags(),
            params.align(),
            params.prefix().max(prefix),
            params.padding().max(room),
        );
        allocation.set_nth_allocation_param(index as u32, allocator.as_ref(), padded);
    }
}
