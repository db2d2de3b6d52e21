#ifndef CFUZZERDRIVER_H
#define CFUZZERDRIVER_H

#include <stddef.h>
#include <stdint.h>

/// Runs libFuzzer's driver with `callback` when the binary was linked with
/// -sanitize=fuzzer; returns -1 without doing anything otherwise.
int cfuzzerdriver_run(int *argc, char ***argv, int (*callback)(const uint8_t *, size_t));

#endif
