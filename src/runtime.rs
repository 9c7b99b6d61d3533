//! Running CPU-heavy work (decoding, encoding, inference) off the async threads.

/// Runs `work` on the blocking pool. A panic there stays a panic, which the API answers with a
/// 500 error object.
pub async fn off_the_async_threads<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(error) => match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("blocking work did not finish: {error}"),
        },
    }
}
