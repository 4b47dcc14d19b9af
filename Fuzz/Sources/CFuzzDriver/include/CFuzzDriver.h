#ifndef C_FUZZ_DRIVER_H
#define C_FUZZ_DRIVER_H

#include <stddef.h>
#include <stdint.h>

/// libFuzzer's entry point for programs with their own main (LLVM's libFuzzer.rst, "Using
/// libFuzzer as a library"): runs the fuzzer with the command line, calling `test_one_input`
/// for every input; defined by the libFuzzer runtime that -sanitize=fuzzer links.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*test_one_input)(const uint8_t *data, size_t size));

#endif
