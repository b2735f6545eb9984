"""The C binding's robustness: errors, fuzzing of every entry point, memory safety, reference counts, leaks,
allocations, threads, interrupts, result recycling, free threading, build configuration, import hints and the
type stub (_core.pyi) against the module."""
