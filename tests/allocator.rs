#![cfg(all(target_os = "linux", target_env = "gnu"))]
//! `runtime::keep_freed_memory`: the buffers of one request are reused by the next, instead of
//! being mapped afresh and faulted in page by page. A process of its own, with no test harness,
//! because the setting is process-wide and made on the main thread before any other exists, as
//! imgforge's own `main`s make it.

/// The DCT coefficients of a 5120×2880 JPEG's luma plane (two bytes per pixel).
const PLANE: usize = 5120 * 2880 * 2;
const PAGE: usize = 4096;

fn main() {
    a_freed_plane_is_reused_by_the_next_request_on_any_thread();
    println!("a freed plane is reused by the next request on any thread: ok");
}

fn a_freed_plane_is_reused_by_the_next_request_on_any_thread() {
    imgforge::runtime::keep_freed_memory();
    fill_and_free_a_plane();
    let again_on_this_thread = faults_of(fill_and_free_a_plane);
    // Requests run on the blocking pool's threads: what one freed, another reuses.
    let on_another_thread = std::thread::spawn(|| faults_of(fill_and_free_a_plane))
        .join()
        .unwrap();
    let fresh = PLANE / PAGE;
    for (case, faults) in [
        ("again on this thread", again_on_this_thread),
        ("on another thread", on_another_thread),
    ] {
        assert!(
            faults < fresh / 20,
            "{case}: a plane faulted {faults} pages in, of {fresh}"
        );
    }
}

fn fill_and_free_a_plane() {
    let plane = vec![1u8; PLANE];
    std::hint::black_box(&plane);
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
