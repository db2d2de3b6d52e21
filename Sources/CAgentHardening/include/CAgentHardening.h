#ifndef KEYSHARD_CAGENTHARDENING_H
#define KEYSHARD_CAGENTHARDENING_H

/// prctl(PR_SET_DUMPABLE, 0): no core dumps, no ptrace by non-root, /proc/PID/mem closed.
/// A C function because prctl is variadic and Swift cannot call it. Returns 0 or -1 (errno set).
int keyshard_disable_dumping(void);

#endif
