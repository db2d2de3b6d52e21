internal import CLibvirt

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension Connection {
    /// The UUID libvirt reports for the machine behind this connection (`<host><uuid>` of the
    /// capabilities: `host_uuid` from libvirtd.conf, else the SMBIOS system UUID). Two URIs that
    /// reach the same daemon, such as `qemu:///system` and `qemu+ssh://` to this machine, report
    /// the same UUID; that is how `HostPool` notices one machine listed twice.
    ///
    /// - Returns: the UUID, or nil when the driver reports none (libvirt's test driver) or the
    ///   capabilities cannot be read as XML.
    /// - Throws: `LibvirtError` (operation `virConnectGetCapabilities`).
    public func hostUUID() throws(LibvirtError) -> String? {
        guard let capabilities = try? ParsedElement.parse(try capabilitiesXML()),
            let uuid = capabilities.child("host")?.child("uuid")?.text
        else { return nil }
        return uuid.isEmpty ? nil : uuid.lowercased()
    }

    /// The host's capabilities document (`virConnectGetCapabilities`).
    /// - Throws: `LibvirtError` (operation `virConnectGetCapabilities`).
    public func capabilitiesXML() throws(LibvirtError) -> String {
        guard let raw = virConnectGetCapabilities(handle) else {
            throw LibvirtError.takeLast(operation: "virConnectGetCapabilities")
        }
        defer { free(raw) }
        return String(cString: raw)
    }
}
