use super::ProbeError;

/// Why an image could not be processed: each is the client's input, never a server fault.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImagingError {
    #[error(transparent)]
    Probe(#[from] ProbeError),
    #[error("could not be decoded: {0}")]
    Corrupt(String),
    #[error("would produce {width}x{height} pixels, more than the limit of {max} pixels")]
    OutputTooLarge { width: u64, height: u64, max: u64 },
    #[error("{0}")]
    Invalid(String),
}
