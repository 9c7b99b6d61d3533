//! `POST /v1/images/upload`: a multipart form with `name` and the `image` file.

use std::convert::Infallible;

use bytes::Bytes;
use chrono::Utc;
use lambda_http::Request;

use super::inspected;
use crate::api::input::{body_bytes, content_type};
use crate::api::{Caller, HandlerResult, output};
use crate::app::App;
use crate::domain::{ApiError, Image, ImageId, name_problem};
use crate::store::original_key;

struct UploadForm {
    name: Option<String>,
    image: Option<Bytes>,
}

pub async fn upload_image(app: &App, caller: Caller, request: Request) -> HandlerResult {
    let boundary = content_type(&request)
        .and_then(|value| multer::parse_boundary(value).ok())
        .ok_or_else(|| {
            ApiError::BadRequest("The Content-Type must be multipart/form-data.".into())
        })?;
    let form = read_form(body_bytes(request), boundary).await?;

    let mut problems = Vec::new();
    match &form.name {
        None => problems.push("name is required".to_owned()),
        Some(name) => problems.extend(name_problem("name", name)),
    }
    let max_bytes = app.limits.max_upload_bytes;
    let image = match form.image {
        None => {
            problems.push("image is required".to_owned());
            None
        }
        Some(bytes) if bytes.len() as u64 > max_bytes => {
            return Err(ApiError::PayloadTooLarge(format!(
                "The image is {} bytes; the limit is {max_bytes} bytes.",
                bytes.len()
            )));
        }
        Some(bytes) => match inspected(&bytes, app.limits.max_pixels)
            .await
            .map_err(ApiError::internal)?
        {
            Ok(probed) => Some((bytes, probed)),
            Err(error) => {
                problems.push(format!("image {error}"));
                None
            }
        },
    };
    let (Some(name), Some((bytes, probed)), true) = (form.name, image, problems.is_empty()) else {
        return Err(ApiError::Validation(problems));
    };

    let id = ImageId::generate(Utc::now());
    let size = bytes.len() as u64;
    let image = Image::new(id, name, probed.format, probed.width, probed.height, size);
    // The blob first, then the record: a failure in between leaves an unreferenced file, never
    // a record without its bytes.
    let key = original_key(&caller.owner, &image.id);
    app.blobs.put(&key, bytes, image.format).await?;
    app.images.insert(&caller.owner, &image).await?;
    output::json(201, &image)
}

async fn read_form(body: Bytes, boundary: String) -> Result<UploadForm, ApiError> {
    let malformed = |error: multer::Error| {
        ApiError::BadRequest(format!("The multipart body is malformed: {error}."))
    };
    let stream = futures_util::stream::once(async move { Ok::<_, Infallible>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut form = UploadForm {
        name: None,
        image: None,
    };
    while let Some(field) = multipart.next_field().await.map_err(malformed)? {
        match field.name() {
            Some("name") if form.name.is_none() => {
                form.name = Some(field.text().await.map_err(malformed)?);
            }
            Some("image") if form.image.is_none() => {
                form.image = Some(field.bytes().await.map_err(malformed)?);
            }
            _ => {}
        }
    }
    Ok(form)
}
