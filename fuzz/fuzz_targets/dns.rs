#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| meshchat::fuzzing::dns(data));
