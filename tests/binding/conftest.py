"""The C binding's robustness: errors, fuzzing of every entry point, memory safety, reference counts, leaks,
allocations, threads, interrupts, result recycling, free threading, build configuration and import hints."""
