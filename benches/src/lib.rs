//! Shared helpers for zkinfer benchmarks.
