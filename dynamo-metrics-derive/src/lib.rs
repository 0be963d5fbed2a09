//! Procedural macros of `dynamo-metrics`. Empty until the macros land; see the workspace README.
