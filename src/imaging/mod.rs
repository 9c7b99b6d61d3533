//! The imaging engine: pure functions over bytes and pixels, no I/O and no async.

#[doc(hidden)]
pub mod fixtures;
mod probe;

pub use probe::{Probe, ProbeError, probe, sniff};
