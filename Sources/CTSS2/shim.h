#ifndef KEYSHARD_CTSS2_SHIM_H
#define KEYSHARD_CTSS2_SHIM_H

#include <tss2/tss2_common.h>
#include <tss2/tss2_tpm2_types.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#endif
