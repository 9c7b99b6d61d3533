//! The use cases: the life of an image, each step written once — store the blob then the record,
//! transform, publish and unpublish under a lease, take in a direct upload. Handlers parse and
//! respond around one of these; the CLI's `transform` uses the same functions. Services depend
//! on the ports in [`App`](crate::app::App) and on the engine, never on an adapter.

pub mod images;
pub mod publishing;
pub mod transform;
pub mod uploads;

/// Runs CPU-heavy engine work off the async threads. A panic there stays a panic, which the API
/// answers with a 500 error object.
async fn off_the_async_threads<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(error) => match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("engine work did not finish: {error}"),
        },
    }
}
