extension CustodianDomainSpec {
    /// The libvirt domain XML for this spec, every value escaped.
    ///
    /// - Throws: `HypervisorError.Code.invalidSpec` when `validate()` refuses the spec.
    public func domainXML() throws(HypervisorError) -> String {
        try validate()
        return domainElement.serialized()
    }

    var domainElement: MarkupElement {
        var os = MarkupElement(
            "os",
            children: [
                MarkupElement("type", [("arch", "x86_64"), ("machine", "q35")], text: "hvm")
            ])
        if let firmware {
            os.children += [
                MarkupElement("loader", [("readonly", "yes"), ("type", "pflash")], text: firmware.loaderPath),
                MarkupElement("nvram", [("template", firmware.nvramTemplatePath)], text: firmware.nvramPath),
            ]
        }
        os.children += [
            MarkupElement("kernel", text: boot.kernelPath),
            MarkupElement("initrd", text: boot.initrdPath),
            MarkupElement("cmdline", text: boot.commandLine),
        ]

        var children: [MarkupElement] = [
            MarkupElement("name", text: name),
            metadataElement,
            MarkupElement("memory", [("unit", "MiB")], text: String(memoryMiB)),
            MarkupElement("vcpu", text: String(vcpus)),
            os,
            MarkupElement("features", children: [MarkupElement("acpi")]),
            MarkupElement("clock", [("offset", "utc")]),
            MarkupElement("on_poweroff", text: "destroy"),
            // A reboot would come back without shares; destroying makes it a visible stop event.
            MarkupElement("on_reboot", text: "destroy"),
            MarkupElement("on_crash", text: "destroy"),
        ]
        children.append(MarkupElement("devices", children: deviceElements))
        return MarkupElement("domain", [("type", virtualization.rawValue)], children: children)
    }

    var metadataElement: MarkupElement {
        let prefix = Self.metadataPrefix
        return MarkupElement(
            "metadata",
            children: [
                MarkupElement(
                    "\(prefix):custodian", [("xmlns:\(prefix)", Self.metadataNamespace)],
                    children: [
                        MarkupElement("\(prefix):ring", text: identity.ring),
                        MarkupElement("\(prefix):shareIndex", text: String(identity.shareIndex)),
                        MarkupElement("\(prefix):epoch", text: String(identity.epoch)),
                    ]
                        + (annotations.map { annotations in
                            [
                                MarkupElement("\(prefix):owner", text: annotations.owner),
                                MarkupElement("\(prefix):launched", text: String(annotations.launchedAtSeconds)),
                                MarkupElement("\(prefix):generation", text: String(annotations.generation)),
                            ]
                        } ?? []))
            ])
    }

    private var deviceElements: [MarkupElement] {
        var devices: [MarkupElement] = []
        if let emulatorPath { devices.append(MarkupElement("emulator", text: emulatorPath)) }
        if let consoleLogPath {
            devices.append(
                MarkupElement(
                    "serial", [("type", "file")],
                    children: [
                        MarkupElement("source", [("path", consoleLogPath)]),
                        MarkupElement("target", [("port", "0")]),
                    ]))
        }
        switch transport {
        case .vsock(let cid):
            let cidElement =
                cid.map { MarkupElement("cid", [("auto", "no"), ("address", String($0))]) }
                ?? MarkupElement("cid", [("auto", "yes")])
            devices.append(MarkupElement("vsock", [("model", "virtio")], children: [cidElement]))
        case .virtioSerial(let socketPath):
            devices.append(
                MarkupElement(
                    "channel", [("type", "unix")],
                    children: [
                        MarkupElement("source", [("mode", "bind"), ("path", socketPath)]),
                        MarkupElement("target", [("type", "virtio"), ("name", Self.agentChannelName)]),
                    ]))
        }
        if virtualTPM {
            devices.append(
                MarkupElement(
                    "tpm", [("model", "tpm-crb")],
                    children: [
                        MarkupElement("backend", [("type", "emulator"), ("version", "2.0")])
                    ]))
        }
        devices.append(MarkupElement("memballoon", [("model", "none")]))
        return devices
    }
}
