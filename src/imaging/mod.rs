//! The imaging engine: pure functions over bytes and pixels, no I/O and no async.

mod adjust;
mod analysis;
mod composite;
mod decode;
mod encode;
mod error;
#[cfg(any(test, feature = "test-support"))]
pub mod fixtures;
mod geometry;
mod libjpeg;
mod lossless;
mod memory;
mod placeholder;
mod probe;
mod profile;
mod resize;
mod sequential;
mod simd;
mod statistics;
mod transform;

pub use adjust::{Adjustments, LchModulation, Modulation};
pub use analysis::{cut_out, model_input, reader_input};
pub use composite::Repetition;
pub use decode::{DecodeHint, Decoded, decode, verify};
pub use encode::{DEFAULT_QUALITY, encode};
pub use error::ImagingError;
pub use geometry::{Mirror, Rect};
pub use memory::{cut_out_memory, reduction_memory, transform_memory, verify_memory};
pub use placeholder::test_image;
pub use probe::{ImageInfo, ProbeError, probe, sniff};
pub use resize::{Fit, Gravity, ResizeSpec};
pub use simd::jpeg_simd;
pub use transform::{Operation, Output, Watermark, transform};
