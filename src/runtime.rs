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

/// Has glibc's malloc keep the memory a request frees for the next one, instead of handing it
/// back to the kernel. Left to malloc's defaults, blocks of a few MiB to 32 MiB (a photograph's
/// DCT coefficient planes, rows of pixels) are mapped afresh and faulted in page by page on every
/// request: a quarter of a lossless JPEG rotation's time. Blocks of 32 MiB and more (whole
/// frames) are still mapped and unmapped: kept, their varying sizes would fragment the heap and
/// raise the peak. All threads share one arena, so that what is kept is reused by whichever thread
/// runs the next request: the resident size stays near the high-water mark of the work in flight,
/// which the memory budget bounds, instead of growing by an arena's worth per thread. An
/// operator's own `GLIBC_TUNABLES` wins. Every process of imgforge calls this before any work.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("GLIBC_TUNABLES").is_none() {
        /// The largest mmap threshold glibc accepts on 64-bit.
        const LARGEST_HEAP_BLOCK: i32 = 32 * 1024 * 1024;
        // SAFETY: mallopt only sets malloc's parameters, before any other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
            libc::mallopt(libc::M_MMAP_THRESHOLD, LARGEST_HEAP_BLOCK);
            libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        }
    }
}
