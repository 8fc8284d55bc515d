//! Example binaries live beside this file; run one with
//! `cargo run -p kupgrade-examples --example NAME`.
