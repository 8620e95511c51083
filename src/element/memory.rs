//! A frame's bytes, mapped for writing through its one memory where it has one: the
//! cheaper way, which keeps frames in place.

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
