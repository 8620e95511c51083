//! What `jframeenc` and `jframedec` share as elements: a sink and a src pad with the same
//! caps (those the element's format can process), frames changed in place in the chain
//! function, the key store asked for on NULL to READY and the keys installed on READY to
//! PAUSED.
//!
//! Not a `GstBaseTransform`: for a filter that keeps its caps and works in place, the base
//! class's path per buffer (five virtual methods, each through the bindings) cost about
//! 2 300 instructions, more than AES-GCM on an audio frame (about 1 400); a chain
//! function costs a fraction of it (README, Performance).

use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::keying::Keyed;

/// What becomes of a processed frame.
pub enum Verdict {
    Push,
    Drop,
}

pub trait FrameFilter: Keyed + ElementImpl {
    /// Bytes the filter appends to a frame: asked of upstream allocators as padding, so
    /// that the frames come with room for them.
    const ROOM: usize = 0;

    fn pads(&self) -> &Pads;

    /// Encrypts or decrypts one frame, in place.
    fn process(&self, frame: &mut gst::BufferRef) -> Result<Verdict, gst::FlowError>;
}

pub struct Pads {
    sink: gst::Pad,
    src: gst::Pad,
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
        Pads { sink, src }
    }
}

fn chain<T: FrameFilter>(filter: &T, mut buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
    match filter.process(buffer.make_mut())? {
        Verdict::Push => filter.pads().src.push(buffer),
        Verdict::Drop => Ok(gst::FlowSuccess::Ok),
    }
}

fn sink_event<T: FrameFilter>(filter: &T, pad: &gst::Pad, event: gst::Event) -> bool {
    match event.view() {
        // The same caps go downstream (the default handler would keep them).
        gst::EventView::Caps(caps) => {
            filter.keying().set_media(filter.obj().upcast_ref(), caps.caps()).is_ok() && filter.pads().src.push_event(event)
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
            let peer = other.peer_query_caps(wanted.as_ref());
            caps.set_result(&filter.keying().transform_caps(&peer, wanted.as_ref()));
            true
        }
        // Caps are accepted for what the element can process, whatever downstream takes
        // (as a `GstBaseTransform` does).
        gst::QueryViewMut::AcceptCaps(accept) => {
            let caps = accept.caps_owned();
            let processable = !filter.keying().transform_caps(&caps, None).is_empty();
            accept.set_result(processable && caps.is_subset(&pad.pad_template_caps()));
            true
        }
        gst::QueryViewMut::Allocation(allocation) => {
            // Frames are changed in place: downstream's answer holds, plus room for a trailer.
            let answered = other.peer_query(allocation.query_mut());
            if T::ROOM == 0 {
                return answered;
            }
            ask_for_room(allocation, T::ROOM);
            true
        }
        _ => gst::Pad::query_default(pad, Some(&*filter.obj()), query),
    }
}

/// Asks for `room` bytes of padding after each allocated frame.
fn ask_for_room(allocation: &mut gst::query::Allocation, room: usize) {
    let params: Vec<_> = allocation.allocation_params().collect();
    if params.is_empty() {
        allocation.add_allocation_param(None::<&gst::Allocator>, gst::AllocationParams::new(gst::MemoryFlags::empty(), 0, 0, room));
    }
    for (index, (allocator, params)) in params.into_iter().enumerate() {
        let padded = gst::AllocationParams::new(
            params.flags(),
            params.align(),
            params.prefix(),
            params.padding().max(room),
        );
        allocation.set_nth_allocation_param(index as u32, allocator.as_ref(), padded);
    }
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
    filter.keying().set_context(context);
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
    }
    Ok(success)
}

/// The frame's one memory, when the buffer alone holds it and it can be mapped for
/// writing: mapped directly, it costs less than through the buffer.
pub fn sole_memory(buffer: &mut gst::BufferRef) -> Option<&mut gst::MemoryRef> {
    if buffer.n_memory() != 1 {
        return None;
    }
    let memory = buffer.peek_memory_mut(0).ok()?;
    let mappable = !memory.flags().intersects(gst::MemoryFlags::READONLY | gst::MemoryFlags::NOT_MAPPABLE);
    mappable.then_some(memory)
}

/// Runs `edit` on the frame's bytes, mapped for writing, and cuts the frame to the length
/// it returns, if any. A frame in one memory is mapped and cut through that memory (the
/// cheaper way), else through the buffer (which merges its memories into one).
pub fn edit_frame<R>(
    buffer: &mut gst::BufferRef,
    edit: impl FnOnce(&mut [u8]) -> (R, Option<usize>),
) -> Result<R, gst::FlowError> {
    if let Some(memory) = sole_memory(buffer) {
        let mut map = memory.map_writable().map_err(|_| gst::FlowError::Error)?;
        let (result, len) = edit(&mut map);
        drop(map);
        if let Some(len) = len {
            memory.resize(..len);
        }
        return Ok(result);
    }
    let mut map = buffer.map_writable().map_err(|_| gst::FlowError::Error)?;
    let (result, len) = edit(&mut map);
    drop(map);
    if let Some(len) = len {
        buffer.set_size(len);
    }
    Ok(result)
}
