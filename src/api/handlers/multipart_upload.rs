//! `POST /v1/images/upload`: a multipart form with `name` and the `image` file.

use std::convert::Infallible;

use bytes::Bytes;
use chrono::Utc;
use lambda_http::Request;

use crate::api::input::{body_bytes, content_type};
use crate::api::{Caller, HandlerResult, output};
use crate::app::App;
use crate::domain::{ApiError, ImageId, name_problem};
use crate::services::images;
use crate::services::memory::ImageWorkError;

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
    let file = match form.image {
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
        Some(bytes) => match images::verify_file(app, bytes).await {
            Ok(file) => Some(file),
            Err(ImageWorkError::Refused(error)) => {
                problems.push(error.about("image"));
                None
            }
            Err(ImageWorkError::Busy(error)) => return Err(error),
        },
    };
    let (Some(name), Some(file), true) = (form.name, file, problems.is_empty()) else {
        return Err(ApiError::Validation(problems));
    };
    let id = ImageId::generate(Utc::now());
    let image = images::create(app, &caller.owner, id, name, file).await?;
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
