/// Where the host reaches a custodian's agent, read from the live domain XML.
public enum AgentEndpoint: Sendable, Hashable {
    /// virtio-vsock with the context ID libvirt assigned (or the fixed one requested).
    case vsock(cid: UInt32)
    /// The Unix socket QEMU bound for the `org.keyshard.agent.0` virtio-serial port.
    case virtioSerial(socketPath: String)

    /// The agent endpoint in a live domain XML: a vsock with an assigned CID, else the agent channel.
    ///
    /// - Throws: `HypervisorError.Code.malformedXML` for unparseable XML;
    ///   `.noAgentEndpoint` when there is neither (or the CID is not assigned yet).
    public init(liveXML: String) throws(HypervisorError) {
        let domain = try ParsedElement.parse(liveXML)
        let devices = domain.child("devices")
        if let vsock = devices?.child("vsock") {
            guard let address = vsock.child("cid")?["address"], let cid = UInt32(address) else {
                throw HypervisorError(.noAgentEndpoint, "vsock device has no assigned CID yet")
            }
            self = .vsock(cid: cid)
            return
        }
        let agentChannel = devices?.children("channel").first {
            $0.child("target")?["name"] == CustodianDomainSpec.agentChannelName
        }
        if let path = agentChannel?.child("source")?["path"], agentChannel?["type"] == "unix" {
            self = .virtioSerial(socketPath: path)
            return
        }
        throw HypervisorError(
            .noAgentEndpoint, "domain has no vsock device and no '\(CustodianDomainSpec.agentChannelName)' channel")
    }
}

extension CustodianIdentity {
    /// Reads an identity from keyshard's metadata element, as `virDomainGetMetadata` returns it
    /// (libvirt may drop the prefix) or as it appears inside live domain XML.
    ///
    /// - Throws: `HypervisorError.Code.malformedMetadata` when the element is not a custodian
    ///   record or a field is missing or out of range.
    public init(metadataXML: String) throws(HypervisorError) {
        let element: ParsedElement
        do {
            element = try ParsedElement.parse(metadataXML)
        } catch {
            throw HypervisorError(.malformedMetadata, "metadata is not well-formed XML")
        }
        try self.init(metadataElement: element)
    }

    init(metadataElement element: ParsedElement) throws(HypervisorError) {
        guard element.localName == "custodian" else {
            throw HypervisorError(.malformedMetadata, "metadata element is <\(element.name)>, not <custodian>")
        }
        guard let ring = element.child("ring")?.text,
            let indexText = element.child("shareIndex")?.text, let shareIndex = UInt16(indexText),
            let epochText = element.child("epoch")?.text, let epoch = UInt64(epochText)
        else {
            throw HypervisorError(.malformedMetadata, "custodian metadata needs ring, shareIndex (1…65535) and epoch")
        }
        do {
            try self.init(ring: ring, shareIndex: shareIndex, epoch: epoch)
        } catch {
            throw HypervisorError(.malformedMetadata, "custodian metadata refused: \(error.reason)")
        }
    }
}

/// A running custodian found on a host.
public struct DiscoveredCustodian: Sendable {
    /// The domain.
    public let domain: Domain
    /// What its metadata says it holds.
    public let identity: CustodianIdentity
    /// Its owner and launch time, when the metadata has them.
    public let annotations: CustodianAnnotations?
}

/// A domain with keyshard's name prefix whose metadata could not be read as a custodian.
public struct UnrecognizedDomain: Sendable, Hashable {
    /// The domain's name.
    public let name: String
    /// Why it was not recognised.
    public let reason: String
}

/// What `Connection.discoverCustodians()` found.
public struct CustodianDiscovery: Sendable {
    /// Custodians with readable metadata, sorted by domain name.
    public let custodians: [DiscoveredCustodian]
    /// Prefixed domains without usable metadata (a person should look at them).
    public let unrecognized: [UnrecognizedDomain]
}

extension Connection {
    /// Validates `spec`, renders its XML and starts it as a transient domain.
    ///
    /// - Throws: `HypervisorError` (`.invalidSpec`) before libvirt is asked; `LibvirtError`
    ///   (operation `virDomainCreateXML`) when libvirt refuses.
    public func createCustodian(_ spec: CustodianDomainSpec) throws -> Domain {
        let xml = try spec.domainXML()
        return try createTransientDomain(xml: xml)
    }

    /// Finds the running custodians on this host by their metadata, so a restarted daemon
    /// picks up where it left off.
    ///
    /// - Throws: `LibvirtError` when listing fails; per-domain failures (a domain that vanished
    ///   meanwhile, unreadable metadata) are skipped or reported in `unrecognized`.
    public func discoverCustodians() throws(LibvirtError) -> CustodianDiscovery {
        var custodians: [DiscoveredCustodian] = []
        var unrecognized: [UnrecognizedDomain] = []
        for domain in try activeDomains(namePrefix: CustodianDomainSpec.domainNamePrefix) {
            let metadata: String?
            do {
                metadata = try domain.metadata(namespaceURI: CustodianDomainSpec.metadataNamespace)
            } catch  where error.code == .noDomain {
                continue  // destroyed between listing and reading
            }
            guard let metadata else {
                unrecognized.append(UnrecognizedDomain(name: domain.name, reason: "no keyshard metadata"))
                continue
            }
            do throws(HypervisorError) {
                let element: ParsedElement
                do { element = try ParsedElement.parse(metadata) } catch {
                    throw HypervisorError(.malformedMetadata, "metadata is not well-formed XML")
                }
                custodians.append(
                    DiscoveredCustodian(
                        domain: domain, identity: try CustodianIdentity(metadataElement: element),
                        annotations: CustodianAnnotations(metadataElement: element)))
            } catch {
                unrecognized.append(UnrecognizedDomain(name: domain.name, reason: error.reason))
            }
        }
        return CustodianDiscovery(custodians: custodians, unrecognized: unrecognized)
    }
}

extension Domain {
    /// The agent endpoint from the live XML.
    ///
    /// - Throws: `LibvirtError` reading the XML; `HypervisorError` (`.noAgentEndpoint`,
    ///   `.malformedXML`) interpreting it.
    public func agentEndpoint() throws -> AgentEndpoint {
        try AgentEndpoint(liveXML: try liveXML())
    }
}
