internal import CLibvirt

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A libvirt domain handle (`virDomainPtr`), freed when the last reference goes.
///
/// Freeing the handle does not stop the domain: a transient custodian keeps running until
/// `destroy()` (or its own power-off). The domain keeps its `Connection` alive.
/// Thread-safe for the same reason as `Connection`.
public final class Domain: @unchecked Sendable {
    /// The connection the domain was found or created on.
    public let connection: Connection
    /// The domain's name (unique per host).
    public let name: String
    /// The domain's UUID in its canonical text form.
    public let uuid: String

    let handle: OpaquePointer

    /// Takes ownership of `handle` (one reference, released in `deinit`).
    init(takingOwnership handle: OpaquePointer, connection: Connection) throws(LibvirtError) {
        self.handle = handle
        self.connection = connection
        guard let rawName = virDomainGetName(handle) else {
            let failure = LibvirtError.takeLast(operation: "virDomainGetName")
            virDomainFree(handle)
            throw failure
        }
        name = String(cString: rawName)
        var uuidBuffer = [CChar](repeating: 0, count: Int(VIR_UUID_STRING_BUFLEN))
        guard virDomainGetUUIDString(handle, &uuidBuffer) == 0 else {
            let failure = LibvirtError.takeLast(operation: "virDomainGetUUIDString")
            virDomainFree(handle)
            throw failure
        }
        uuid = String(decoding: uuidBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit {
        virDomainFree(handle)
    }

    /// Whether the domain is running.
    ///
    /// - Throws: `LibvirtError` (operation `virDomainIsActive`), e.g. `.noDomain` once a transient
    ///   domain was destroyed.
    public func isActive() throws(LibvirtError) -> Bool {
        let result = virDomainIsActive(handle)
        if result < 0 { throw LibvirtError.takeLast(operation: "virDomainIsActive") }
        return result == 1
    }

    /// Stops the domain at once (power cut). A transient domain ceases to exist.
    ///
    /// - Throws: `LibvirtError` (operation `virDomainDestroy`).
    public func destroy() throws(LibvirtError) {
        if virDomainDestroy(handle) < 0 { throw LibvirtError.takeLast(operation: "virDomainDestroy") }
    }

    /// The live domain XML as libvirt reports it now (with the devices libvirt added).
    ///
    /// - Throws: `LibvirtError` (operation `virDomainGetXMLDesc`).
    public func liveXML() throws(LibvirtError) -> String {
        guard let xml = virDomainGetXMLDesc(handle, 0) else {
            throw LibvirtError.takeLast(operation: "virDomainGetXMLDesc")
        }
        defer { free(xml) }
        return String(cString: xml)
    }

    /// The domain's `<metadata>` child element in the namespace `namespaceURI`, as XML text.
    ///
    /// - Returns: the element, or `nil` when the domain has no metadata in that namespace.
    /// - Throws: `LibvirtError` (operation `virDomainGetMetadata`) for any other failure.
    public func metadata(namespaceURI: String) throws(LibvirtError) -> String? {
        let metadataType = Int32(VIR_DOMAIN_METADATA_ELEMENT.rawValue)
        guard let xml = virDomainGetMetadata(handle, metadataType, namespaceURI, 0) else {
            let failure = LibvirtError.takeLast(operation: "virDomainGetMetadata")
            if failure.code == .noDomainMetadata { return nil }
            throw failure
        }
        defer { free(xml) }
        return String(cString: xml)
    }
}

extension Connection {
    /// Starts a transient domain from XML: it exists only while it runs and is never written to
    /// the host's configuration.
    ///
    /// - Parameter xml: a complete domain description (see `CustodianDomainSpec.domainXML()`).
    /// - Returns: the running domain.
    /// - Throws: `LibvirtError` (operation `virDomainCreateXML`), e.g. `.xmlError` or
    ///   `.operationFailed` when a domain with the same name runs already.
    public func createTransientDomain(xml: String) throws(LibvirtError) -> Domain {
        guard let created = virDomainCreateXML(handle, xml, 0) else {
            throw LibvirtError.takeLast(operation: "virDomainCreateXML")
        }
        return try Domain(takingOwnership: created, connection: self)
    }

    /// Looks a domain up by name.
    ///
    /// - Returns: the domain, or `nil` when no domain has that name.
    /// - Throws: `LibvirtError` (operation `virDomainLookupByName`) for failures other than
    ///   "no such domain".
    public func domain(named name: String) throws(LibvirtError) -> Domain? {
        guard let found = virDomainLookupByName(handle, name) else {
            let failure = LibvirtError.takeLast(operation: "virDomainLookupByName")
            if failure.code == .noDomain { return nil }
            throw failure
        }
        return try Domain(takingOwnership: found, connection: self)
    }

    /// The running domains whose names start with `namePrefix` (all running domains for "").
    ///
    /// - Throws: `LibvirtError` (operation `virConnectListAllDomains`).
    public func activeDomains(namePrefix: String = "") throws(LibvirtError) -> [Domain] {
        var list: UnsafeMutablePointer<OpaquePointer?>?
        let flags = VIR_CONNECT_LIST_DOMAINS_ACTIVE.rawValue
        let count = virConnectListAllDomains(handle, &list, flags)
        if count < 0 { throw LibvirtError.takeLast(operation: "virConnectListAllDomains") }
        guard let list else { return [] }
        defer { free(list) }
        // Take ownership of every handle first so none leaks if a later one fails.
        var owned: [OpaquePointer] = []
        for index in 0..<Int(count) {
            if let handle = list[index] { owned.append(handle) }
        }
        var domains: [Domain] = []
        var firstFailure: LibvirtError?
        for handle in owned {
            if firstFailure != nil {
                virDomainFree(handle)
                continue
            }
            do {
                let domain = try Domain(takingOwnership: handle, connection: self)
                if domain.name.hasPrefix(namePrefix) { domains.append(domain) }
            } catch {
                firstFailure = error
            }
        }
        if let firstFailure { throw firstFailure }
        return domains.sorted { $0.name < $1.name }
    }
}
