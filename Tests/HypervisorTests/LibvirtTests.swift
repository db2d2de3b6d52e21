import Hypervisor
import Testing

@Suite struct LibvirtTests {
    @Test func libraryVersionIsDebian12sOrNewer() {
        // Debian 12 ships libvirt 9.0; the features keyshard relies on (transient
        // domains, vTPM emulator backend, NVRAM templates) predate it.
        #expect(Libvirt.libraryVersion >= Libvirt.Version(major: 9, minor: 0, release: 0))
    }
}
