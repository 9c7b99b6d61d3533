//! The eight transformations: check the parameters against the source image, then let the
//! transform service make the new image.

use lambda_http::Request;

use crate::api::input::{image_id, json_object};
use crate::api::transform_params::{self, Transformation};
use crate::api::{Caller, HandlerResult, output};
use crate::app::App;
use crate::services::{images, transform};

macro_rules! transformations {
    ($($handler:ident => $kind:ident),* $(,)?) => {$(
        #[doc = concat!("`POST /v1/images/{image_id}/", stringify!($kind), "`")]
        pub async fn $handler(app: &App, caller: Caller, request: Request) -> HandlerResult {
            transform_image(app, caller, request, Transformation::$kind).await
        }
    )*};
}

transformations! {
    resize_image => Resize,
    crop_image => Crop,
    convert_image => Convert,
    rotate_image => Rotate,
    mirror_image => Mirror,
    blur_image => Blur,
    modulate_image => Modulate,
    watermark_image => Watermark,
}

async fn transform_image(
    app: &App,
    caller: Caller,
    request: Request,
    kind: Transformation,
) -> HandlerResult {
    let id = image_id(&request)?;
    let body = json_object(&request)?;
    let source = images::find(app, &caller.owner, &id).await?;
    let checked = transform_params::parse(kind, body, (source.width, source.height))?;
    let image = transform::transform_image(app, &caller.owner, source, checked).await?;
    output::json(201, &image)
}
