#![cfg(all(target_os = "linux", target_env = "gnu"))]
//! `runtime::keep_freed_memory`: the buffers of one request are reused by the next, instead of
//! being mapped afresh and faulted in page by page. A process of its own, with no test harness,
//! because the setting is process-wide and made on the main thread before any other exists, as
//! imgforge's own `main`s make it.

/// One 5120×2880 RGB frame.
const FRAME: usize = 5120 * 2880 * 3;
const PAGE: usize = 4096;

fn main() {
    a_freed_frame_is_reused_by_the_next_request_on_any_thread();
    println!("a freed frame is reused by the next request on any thread: ok");
}

fn a_freed_frame_is_reused_by_the_next_request_on_any_thread() {
    imgforge::runtime::keep_freed_memory();
    fill_and_free_a_frame();
    let again_on_this_thread = faults_of(fill_and_free_a_frame);
    // Requests run on the blocking pool's threads: what one freed, another reuses.
    let on_another_thread = std::thread::spawn(|| faults_of(fill_and_free_a_frame))
        .join()
        .unwrap();
    let fresh = FRAME / PAGE;
    for (case, faults) in [
        ("again on this thread", again_on_this_thread),
        ("on another thread", on_another_thread),
    ] {
        assert!(
            faults < fresh / 20,
            "{case}: a frame faulted {faults} pages in, of {fresh}"
        );
    }
}

fn fill_and_free_a_frame() {
    let frame = vec![1u8; FRAME];
    std::hint::black_box(&frame);
}

/// The page faults `work` takes on this thread.
fn faults_of(work: impl FnOnce()) -> usize {
    let before = minor_faults_of_this_thread();
    work();
    minor_faults_of_this_thread() - before
}

fn minor_faults_of_this_thread() -> usize {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a whole rusage into the pointer it is given.
    let usage = unsafe {
        assert_eq!(libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr()), 0);
        usage.assume_init()
    };
    usize::try_from(usage.ru_minflt).unwrap()
}
