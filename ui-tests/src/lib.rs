//! Compile-time guarantees of `dynamo-metrics`, proven by trybuild cases under `tests/`.
//! `pass/` must compile; each `fail/` case must fail with exactly its `.stderr`.
