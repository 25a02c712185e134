//! Upload validation: any bytes at all must get a verdict, never a panic; bytes it accepts
//! start with the component preamble.

#![no_main]

use libfuzzer_sys::fuzz_target;
use quarry_core::upload;

fuzz_target!(|bytes: &[u8]| {
    if upload::check(bytes).is_ok() {
        assert!(bytes.starts_with(b"\0asm") && bytes[4..8] != [1, 0, 0, 0]);
    }
});
