#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dynamo_metrics_fuzz::http_request(data));
