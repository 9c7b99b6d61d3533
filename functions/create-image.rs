//! The Lambda of the endpoint named like this file; see `imgforge::api::routes`.
imgforge::lambda_main!();
