//! The imaging engine: pure functions over bytes and pixels, no I/O and no async.

mod adjust;
mod composite;
mod decode;
mod encode;
mod error;
#[doc(hidden)]
pub mod fixtures;
mod geometry;
mod probe;
mod profile;
mod resize;
mod transform;

pub use adjust::{Adjustments, LchModulation, Modulation};
pub use composite::Repetition;
pub use decode::{DecodeHint, Decoded, decode, inspect};
pub use encode::{DEFAULT_QUALITY, encode};
pub use error::ImagingError;
pub use geometry::{Mirror, Rect};
pub use probe::{Probe, ProbeError, probe, sniff};
pub use resize::{Fit, Gravity, ResizeSpec};
pub use transform::{Operation, Output, Watermark, transform};
