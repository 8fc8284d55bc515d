//! Conformance and emulator tests live under `tests/`.
