//! Whether this build's libjpeg has its SIMD code: built without `nasm` on x86-64, libjpeg
//! silently falls back to plain C, and JPEG work takes 1.3–2.7× as long.

use std::os::raw::c_int;

unsafe extern "C" {
    /// libjpeg-turbo's own check (in `jsimd.c`, or `jsimd_none.c` answering 0 in a build
    /// without SIMD): whether the accurate inverse DCT has a SIMD implementation on this CPU.
    fn jsimd_can_idct_islow() -> c_int;
}

/// Whether JPEG decoding runs libjpeg's SIMD code on this machine.
pub fn jpeg_simd() -> bool {
    // SAFETY: a query of libjpeg's static SIMD support, without arguments or shared state
    // beyond its own once-initialised CPU flags.
    unsafe { jsimd_can_idct_islow() != 0 }
}

#[cfg(test)]
mod tests {
    /// A release or test build on x86-64 must have libjpeg's SIMD: the Makefile installs nasm
    /// before building. (On arm64, libjpeg uses NEON, which needs no assembler.)
    #[test]
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn libjpeg_is_built_with_simd() {
        assert!(
            super::jpeg_simd(),
            "libjpeg was built without SIMD: install nasm (apt-get install nasm), then \
             `cargo clean -p mozjpeg-sys` and rebuild"
        );
    }
}
