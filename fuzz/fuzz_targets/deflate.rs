#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| meshchat::fuzzing::deflate(data));
