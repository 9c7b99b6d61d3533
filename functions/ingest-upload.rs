//! The Lambda S3 invokes when a direct upload lands under `uploads/`.
imgforge::ingest_main!();
