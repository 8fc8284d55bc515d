//! smoke (in progress).
