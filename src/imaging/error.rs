use super::ProbeError;
use crate::domain::ApiError;

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
    #[error(
        "would need about {needed_mib} MiB of memory to process, more than this server's \
         budget of {budget_mib} MiB"
    )]
    TooLargeToProcess { needed_mib: u32, budget_mib: u32 },
}

impl ImagingError {
    /// The problem as a validation message about `subject`: the field that carried the file
    /// ("image", "url"), or "the image" being transformed.
    pub fn about(&self, subject: &str) -> String {
        match self {
            Self::Probe(_) | Self::Corrupt(_) | Self::TooLargeToProcess { .. } => {
                format!("{subject} {self}")
            }
            Self::OutputTooLarge { .. } => format!("the result {self}"),
            Self::Invalid(problem) => problem.clone(),
        }
    }
}

/// The engine's refusals are the client's input: a 422 naming what was wrong.
impl From<ImagingError> for ApiError {
    fn from(error: ImagingError) -> Self {
        Self::validation(error.about("the image"))
    }
}
