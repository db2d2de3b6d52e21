#ifndef KEYSHARD_CLIBVIRT_SHIM_H
#define KEYSHARD_CLIBVIRT_SHIM_H

#include <stddef.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

/* libvirt prints every error to stderr unless an error function is installed;
 * a daemon reports errors through its own typed errors instead. */
static void CLibvirt_silentErrorFunc(void *userData, virErrorPtr error) {
    (void)userData;
    (void)error;
}

static inline void CLibvirt_silenceDefaultErrors(void) {
    virSetErrorFunc(NULL, CLibvirt_silentErrorFunc);
}

#endif
