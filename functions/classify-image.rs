//! The Lambda of one endpoint; see `imgforge::api::routes`.
imgforge::lambda_main!(classify_image);
