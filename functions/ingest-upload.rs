//! The Lambda S3 invokes when a direct upload lands under `uploads/`.
fn main() -> Result<(), imgforge::lambda::Error> {
    imgforge::lambda::start_ingest()
}
