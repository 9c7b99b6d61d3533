//! The vocabulary of the API: images, ids, owners, keys and errors. No I/O.

mod account;
mod document;
mod error;
mod id;
mod image;
mod upload;

pub use account::{
    KEY_ID_LENGTH, KeyRecord, Owner, Stage, hash_api_key, new_account_id, new_api_key,
    stage_of_key, valid_account_id,
};
pub use document::{Block, BlockKind, Document, append_line, list_item_text};
pub use error::{ApiError, BackendError, ErrorBody};
pub use id::ImageId;
pub use image::{Format, Image, NAME_MAX_CHARS, format_timestamp, name_problem};
pub use upload::{Upload, UploadStatus};
