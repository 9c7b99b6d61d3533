//! Direct uploads: an image id reserved for a file the client puts straight into the blob store,
//! past the API's payload limit, and what became of it.

use chrono::{DateTime, Utc};

use super::{Format, ImageId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadStatus {
    /// Waiting for the file.
    Pending,
    /// The file became the image of the same id.
    Ready,
    /// The file was refused, for this reason; it has been deleted.
    Failed(String),
}

impl UploadStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Ready => "ready",
            Self::Failed(_) => "failed",
        }
    }

    pub fn error(&self) -> Option<&str> {
        match self {
            Self::Failed(reason) => Some(reason),
            _ => None,
        }
    }

    pub fn from_parts(status: &str, error: Option<String>) -> Option<Self> {
        match status {
            "pending" => Some(Self::Pending),
            "ready" => Some(Self::Ready),
            "failed" => Some(Self::Failed(error.unwrap_or_default())),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub id: ImageId,
    pub name: String,
    /// The exact size the client declared and the upload URL enforces.
    pub size: u64,
    pub format: Format,
    pub status: UploadStatus,
    /// When the record itself may be forgotten.
    pub expires_at: DateTime<Utc>,
}
