//! Shared pieces of the benchmark binaries in `src/bin/`. Each binary documents its own
//! command line; results are recorded in BENCHMARKS.md.
