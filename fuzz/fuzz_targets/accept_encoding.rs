#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dynamo_metrics_fuzz::accept_encoding(data));
