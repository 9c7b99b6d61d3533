//! Any bytes through what an upload and a transformation do with them: sniff, probe, decode in
//! full and at reduced scale, operate, encode. A result or an error is fine; a panic, a hang or
//! a runaway allocation is a finding.
#![no_main]

/// Small, so that the fuzzer spends its time on parsing rather than on pixels.
const MAX_PIXELS: u64 = 1 << 20;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = imgforge::imaging::fixtures::exercise(data, MAX_PIXELS);
});
