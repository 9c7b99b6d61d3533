//! The Lambda of one endpoint; see `imgforge::api::routes`.
imgforge::lambda_main!(remove_image_background);
