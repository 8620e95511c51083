//! A frame's bytes, mapped for writing through its one memory where it has one: the
//! cheaper way, which keeps frames in place; memories used again once downstream lets go
//! of them; and writable copies of frames that are not writable.

use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, Ordering};

use crate::sync::lock;

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

/// Memories that go downstream in buffers and are used again once no buffer holds them:
/// a memory allocated for each frame, and freed downstream, cost about 70 ns more per
/// frame, a third of the AEAD on an audio frame. Held here as well as in a buffer, a
/// memory stays writable for the buffer's holder (it has one parent).
pub struct SpareMemories {
    memories: Vec<gst::Memory>,
    /// Where to look first: downstream lets go of frames in order.
    next: usize,
    /// Memories kept at most; past that, frames get memories of their own.
    limit: usize,
}

/// Spare memories kept at most for what goes around a frame (trailers, headers, tags).
const SPARE_MEMORIES: usize = 64;

/// Spare memories kept at most for copies of frames, which may be large (video).
const SPARE_COPIES: usize = 16;

impl Default for SpareMemories {
    fn default() -> SpareMemories {
        SpareMemories::with_limit(SPARE_MEMORIES)
    }
}

/// Smallest spare memory: an audio frame with room for a trailer, or an SFrame header.
const MIN_SPARE_LEN: usize = 256;

impl SpareMemories {
    pub fn with_limit(limit: usize) -> SpareMemories {
        SpareMemories { memories: Vec::new(), next: 0, limit }
    }

    /// A memory that no buffer holds, of `size` bytes from its start (`prefix` free bytes
    /// before them, `room` after them), its bytes filled by `fill`.
    pub fn memory(&mut self, prefix: usize, size: usize, room: usize, fill: impl FnOnce(&mut [u8])) -> gst::Memory {
        let needed = prefix + size + room;
        let count = self.memories.len();
        let free = (0..count)
            .map(|step| (self.next + step) % count)
            .find(|&index| self.memories[index].maxsize() >= needed && no_other_holder(&self.memories[index]));
        let mut memory = match free {
            Some(index) => {
                self.next = index + 1;
                self.memories[index].clone()
            }
            None => {
                let memory = gst::Memory::with_size(needed.next_power_of_two().max(MIN_SPARE_LEN));
                if count < self.limit {
                    self.memories.push(memory.clone());
                }
                memory
            }
        };
        if let Err(fill) = fill_memory(&mut memory, prefix..prefix + size, fill) {
            // Not expected: no buffer holds it, so it has no parent and is writable.
            memory = gst::Memory::with_size(needed);
            let _ = fill_memory(&mut memory, prefix..prefix + size, fill);
        }
        memory
    }

    /// A memory holding `bytes`.
    pub fn memory_with(&mut self, bytes: &[u8]) -> gst::Memory {
        self.memory(0, bytes.len(), 0, |memory| memory.copy_from_slice(bytes))
    }

    /// Lets the memories go (those still in buffers when these are freed).
    pub fn clear(&mut self) {
        self.memories.clear();
        self.next = 0;
    }
}

/// Cuts `memory` to `range` of its bytes and fills them; gives `fill` back if it cannot.
fn fill_memory<F: FnOnce(&mut [u8])>(memory: &mut gst::Memory, range: Range<usize>, fill: F) -> Result<(), F> {
    let Some(writable) = memory.get_mut() else { return Err(fill) };
    writable.resize_maxsize(range);
    match writable.map_writable() {
        Ok(mut map) => {
            fill(&mut map);
            Ok(())
        }
        Err(_) => Err(fill),
    }
}

/// Whether the one reference to `memory` is the caller's: no buffer holds it any more.
fn no_other_holder(memory: &gst::Memory) -> bool {
    // SAFETY: the caller's reference keeps the memory alive, and GStreamer changes the
    // reference count only atomically.
    let refcount = unsafe { AtomicI32::from_ptr(std::ptr::addr_of_mut!((*memory.as_mut_ptr()).mini_object.refcount)) };
    refcount.load(Ordering::Acquire) == 1
}

/// Writable copies of frames that come in not writable (upstream keeps a reference: a
/// `tee`, an application), in spare memories with room for what the element adds: a new
/// memory per frame, freed downstream, or a buffer pool, cost more.
pub struct FrameCopies {
    spare: Mutex<SpareMemories>,
}

impl Default for FrameCopies {
    fn default() -> FrameCopies {
        FrameCopies { spare: Mutex::new(SpareMemories::with_limit(SPARE_COPIES)) }
    }
}

impl FrameCopies {
    /// A writable copy of `frame` (its bytes, flags, timestamps and metas) in one memory,
    /// with `prefix` free bytes before it and `room` after it.
    pub fn copy(&self, frame: &gst::BufferRef, prefix: usize, room: usize) -> Result<gst::Buffer, gst::FlowError> {
        let mut copied = Err(gst::FlowError::Error);
        let memory = lock(&self.spare).memory(prefix, frame.size(), room, |bytes| {
            copied = frame.copy_to_slice(0, bytes).map_err(|_| gst::FlowError::Error);
        });
        copied?;
        let mut copy = gst::Buffer::new();
        let writable = copy.make_mut();
        let flags = gst::BufferCopyFlags::FLAGS | gst::BufferCopyFlags::TIMESTAMPS | gst::BufferCopyFlags::META;
        frame.copy_into(writable, flags, ..).map_err(|_| gst::FlowError::Error)?;
        writable.append_memory(memory);
        Ok(copy)
    }

    /// Lets the spare memories go, when the element stops.
    pub fn stop(&self) {
        lock(&self.spare).clear();
    }
}
