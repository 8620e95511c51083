//! What `jframeenc` and `jframedec` share as elements, one concern per file:
//!
//! - [`filter`]: what such an element implements, and its GObject glue written once;
//! - [`pads`]: the pads, the chain function and the caps and allocation queries;
//! - [`memory`]: a frame mapped for writing through its memory, spare memories used again,
//!   and copies of frames that are not writable;
//! - [`media`]: the media of a stream from its caps, and the caps of each format;
//! - [`keying`]: the element's keys in the key store, from properties and signals;
//! - [`properties`]: the shared properties;
//! - [`stats`]: counters and state messages.
//!
//! It depends on the key store and the core, never the other way round.

pub mod filter;
pub mod keying;
pub mod media;
pub mod memory;
pub mod pads;
pub mod properties;
pub mod stats;
