//! A frame's bytes, mapped for writing through its one memory where it has one: the
//! cheaper way, which keeps frames in place; and writable copies of frames that are not
//! writable, from a pool.

use std::ops::Range;
use std::sync::Mutex;

use gst::prelude::*;

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

/// Runs `edit` on the frame's bytes, mapped for writing, and cuts the frame to the range
/// it returns, if any (no bytes move). A frame in one memory is mapped and cut through
/// that memory (the cheaper way), else through the buffer (which merges its memories
/// into one).
pub fn edit_frame<R>(
    buffer: &mut gst::BufferRef,
    edit: impl FnOnce(&mut [u8]) -> (R, Option<Range<usize>>),
) -> Result<R, gst::FlowError> {
    if let Some(memory) = sole_memory(buffer) {
        let mut map = memory.map_writable().map_err(|_| gst::FlowError::Error)?;
        let (result, kept) = edit(&mut map);
        drop(map);
        if let Some(kept) = kept {
            memory.resize(kept);
        }
        return Ok(result);
    }
    let mut map = buffer.map_writable().map_err(|_| gst::FlowError::Error)?;
    let (result, kept) = edit(&mut map);
    drop(map);
    if let Some(kept) = kept {
        buffer.resize(kept).map_err(|_| gst::FlowError::Error)?;
    }
    Ok(result)
}

/// Writable copies of frames that come in not writable (upstream keeps a reference: a
/// `tee`, an application), in buffers of a pool, with room for what the element adds: a
/// new buffer (and memories) per frame, freed downstream, cost twice the AEAD on an
/// audio frame. The pool's buffers are as large as the largest frame so far needed.
#[derive(Default)]
pub struct FrameCopies {
    /// The pool and the size of its buffers.
    pool: Mutex<Option<(gst::BufferPool, usize)>>,
}

/// Smallest buffer the pool hands out: an audio frame with its trailer.
const MIN_COPY_SIZE: usize = 256;

impl FrameCopies {
    /// A writable copy of `frame` (its bytes, flags, timestamps and metas) in one memory,
    /// with `prefix` free bytes before it and `room` after it.
    pub fn copy(&self, frame: &gst::BufferRef, prefix: usize, room: usize) -> Result<gst::Buffer, gst::FlowError> {
        let size = frame.size();
        let mut copy = self.acquire(prefix + size + room)?;
        let writable = copy.make_mut();
        let flags = gst::BufferCopyFlags::FLAGS | gst::BufferCopyFlags::TIMESTAMPS | gst::BufferCopyFlags::META;
        frame.copy_into(writable, flags, ..).map_err(|_| gst::FlowError::Error)?;
        let memory = writable.peek_memory_mut(0).map_err(|_| gst::FlowError::Error)?;
        memory.resize_maxsize(prefix..prefix + size);
        let mut map = memory.map_writable().map_err(|_| gst::FlowError::Error)?;
        frame.copy_to_slice(0, &mut map).map_err(|_| gst::FlowError::Error)?;
        drop(map);
        Ok(copy)
    }

    /// A buffer of at least `size` bytes, in one memory.
    fn acquire(&self, size: usize) -> Result<gst::Buffer, gst::FlowError> {
        let mut pool = crate::lock(&self.pool);
        let pool = match &mut *pool {
            Some((pool, pool_size)) if *pool_size >= size => pool,
            slot => {
                if let Some((old, _)) = slot.take() {
                    // Its buffers still downstream are freed when they come back.
                    let _ = old.set_active(false);
                }
                let pool_size = size.next_power_of_two().max(MIN_COPY_SIZE);
                let pool = gst::BufferPool::new();
                let mut config = pool.config();
                config.set_params(None, u32::try_from(pool_size).map_err(|_| gst::FlowError::Error)?, 0, 0);
                pool.set_config(config).and_then(|()| pool.set_active(true)).map_err(|_| gst::FlowError::Error)?;
                &slot.insert((pool, pool_size)).0
            }
        };
        pool.acquire_buffer(None)
    }

    /// Lets the pool go (its buffers are freed as they come back).
    pub fn stop(&self) {
        if let Some((pool, _)) = crate::lock(&self.pool).take() {
            let _ = pool.set_active(false);
        }
    }
}
