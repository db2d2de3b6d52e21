#include "CFuzzerDriver.h"

// Weak: resolved when -sanitize=fuzzer links libFuzzer's runtime, null otherwise, so
// the same executable builds without the sanitizer (as a replay tool).
extern int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *, size_t))
    __attribute__((weak));

int cfuzzerdriver_run(int *argc, char ***argv, int (*callback)(const uint8_t *, size_t)) {
    if (!LLVMFuzzerRunDriver) {
        return -1;
    }
    return LLVMFuzzerRunDriver(argc, argv, callback);
}
