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

/* virConnectDomainEventRegisterAny takes a generic callback type; the lifecycle
 * callback has a different signature and C code casts it with the
 * VIR_DOMAIN_EVENT_CALLBACK macro, which Swift cannot import. */
static inline int CLibvirt_registerLifecycleEvents(virConnectPtr conn,
                                                   virConnectDomainEventCallback callback,
                                                   void *opaque,
                                                   virFreeCallback freeOpaque) {
    return virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                            VIR_DOMAIN_EVENT_CALLBACK(callback), opaque, freeOpaque);
}

#endif
