#include "CAgentHardening.h"

#include <sys/prctl.h>

int keyshard_disable_dumping(void) {
    return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}
