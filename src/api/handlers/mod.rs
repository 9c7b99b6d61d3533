//! One async function per endpoint: `(app, caller, request) -> response`. Each parses the
//! request, calls one service, and answers.

mod analysis;
mod direct_upload;
mod from_url;
mod generation;
mod multipart_upload;
mod publishing;
mod read;
mod transform;

pub use analysis::{classify_image, extract_formatted_text, extract_text, remove_image_background};
pub use direct_upload::{create_upload, get_upload};
pub use from_url::create_image;
pub use generation::{imagine_image, visualize_image};
pub use multipart_upload::upload_image;
pub use publishing::{delete_image, publish_image, unpublish_image};
pub use read::{download_image, get_image, list_images};
pub use transform::{
    blur_image, convert_image, crop_image, mirror_image, modulate_image, resize_image,
    rotate_image, watermark_image,
};
