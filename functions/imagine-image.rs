//! The Lambda of one endpoint; see `imgforge::api::routes`.
imgforge::lambda_main!(imagine_image);
