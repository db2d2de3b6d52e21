import Foundation
import KeyshardAPI
import Yams

extension KeyshardConfiguration {
    /// The largest configuration file read.
    public static let maximumFileSize = 1 << 20
    /// The most shares a ring may have.
    public static let maximumShares = 64

    /// Reads and checks the configuration file at `path`.
    /// - Throws: ``ConfigError`` listing every problem with its line and column (or the reason
    ///   the file cannot be read).
    public static func load(path: String) throws(ConfigError) -> KeyshardConfiguration {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            let reason = (error as NSError).localizedDescription
            throw ConfigError(problems: [
                ConfigProblem(file: path, line: nil, column: nil, path: "", message: "cannot read the file: \(reason)")
            ])
        }
        guard data.count <= maximumFileSize else {
            throw ConfigError(problems: [
                ConfigProblem(
                    file: path, line: nil, column: nil, path: "", message: "is larger than \(maximumFileSize) bytes")
            ])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(problems: [
                ConfigProblem(file: path, line: nil, column: nil, path: "", message: "is not UTF-8 text")
            ])
        }
        return try parse(text: text, file: path)
    }

    /// Parses and checks configuration text.
    ///
    /// Unknown keys are errors, with the nearest known key suggested: a misspelt setting that
    /// was silently ignored would leave its default in force (a wider socket mode, the wrong
    /// roles) without anyone noticing.
    /// - Parameters:
    ///   - text: the YAML.
    ///   - file: its name, for messages.
    /// - Throws: ``ConfigError`` listing every problem with its line and column.
    public static func parse(text: String, file: String = "keyshard.yaml") throws(ConfigError) -> KeyshardConfiguration
    {
        let reader = ConfigReader(file: file)
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw ConfigError(problems: [syntaxProblem(error, file: file)])
        } catch {
            throw ConfigError(problems: [
                ConfigProblem(file: file, line: nil, column: nil, path: "", message: "YAML: \(error)")
            ])
        }
        var configuration = defaults
        if let root, !ConfigReader.isNull(root) {
            ConfigParser(reader: reader).read(root, into: &configuration)
        }
        guard reader.problems.isEmpty else {
            // Sections are checked in schema order; people read problems in file order.
            let ordered = reader.problems.enumerated().sorted { a, b in
                let left = (a.element.line ?? 0, a.element.column ?? 0, a.offset)
                let right = (b.element.line ?? 0, b.element.column ?? 0, b.offset)
                return left < right
            }
            throw ConfigError(problems: ordered.map(\.element))
        }
        return configuration
    }

    private static func syntaxProblem(_ error: YamlError, file: String) -> ConfigProblem {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
            .composer(_, let problem, let mark, _):
            return ConfigProblem(
                file: file, line: mark.line, column: mark.column, path: "", message: "YAML syntax: \(problem)")
        case .reader(let problem, _, _, _):
            return ConfigProblem(file: file, line: nil, column: nil, path: "", message: "YAML encoding: \(problem)")
        default:
            return ConfigProblem(file: file, line: nil, column: nil, path: "", message: "YAML: \(error)")
        }
    }
}

/// The schema: which keys each section has, their types and the checks between them.
struct ConfigParser {
    let reader: ConfigReader

    static let topKeys = [
        "state_dir", "socket", "tcp", "backend", "heartbeat", "custodians", "rings", "audit", "security_events",
        "log_level", "roles",
    ]

    func read(_ root: Node, into configuration: inout KeyshardConfiguration) {
        guard let top = reader.fields(root, "", known: Self.topKeys) else { return }
        if let path = reader.absolutePath(top["state_dir"]) { configuration.stateDirectory = path }
        readSocket(top["socket"], into: &configuration.socket)
        configuration.tcp = readTCP(top["tcp"])
        readBackend(top["backend"], into: &configuration.backend)
        readHeartbeat(top["heartbeat"], into: &configuration.heartbeat)
        readCustodians(top["custodians"], heartbeat: configuration.heartbeat, into: &configuration.custodianMaximumAge)
        readRings(top["rings"], into: &configuration.defaultRing)
        if let audit = section(top["audit"], known: ["path"]), let path = reader.absolutePath(audit["path"]) {
            configuration.auditPath = path
        }
        if let events = section(top["security_events"], known: ["new_key_version_on"]),
            let list = reader.items(events["new_key_version_on"])
        {
            var chosen: [KeyshardConfiguration.SecurityEvent] = []
            for item in list {
                if let event = reader.choice(item, KeyshardConfiguration.SecurityEvent.self), !chosen.contains(event) {
                    chosen.append(event)
                }
            }
            configuration.newKeyVersionOn = chosen
        }
        if let level = reader.choice(top["log_level"], KeyshardConfiguration.LogLevel.self) {
            configuration.logLevel = level
        }
        if let roles = readRoles(top["roles"]) { configuration.roles = roles }
    }

    private func section(_ field: Field?, known: [String]) -> [String: Field]? {
        guard let field else { return nil }
        return reader.fields(field.value, field.path, known: known)
    }

    private func readSocket(_ field: Field?, into socket: inout KeyshardConfiguration.SocketSettings) {
        guard let fields = section(field, known: ["path", "mode", "group"]) else { return }
        if let path = reader.absolutePath(fields["path"]) { socket.path = path }
        if let mode = reader.mode(fields["mode"]) { socket.mode = mode }
        if let groupField = fields["group"], let name = reader.nonEmptyString(groupField) {
            if let group = Accounts.group(named: name) {
                socket.group = KeyshardConfiguration.GroupName(name: name, gid: group.gid)
            } else {
                reader.problem(groupField.value, groupField.path, "there is no group named \"\(name)\"")
            }
        }
    }

    private func readTCP(_ field: Field?) -> KeyshardConfiguration.TCPSettings? {
        guard let field, let fields = section(field, known: ["listen", "certificate", "key", "client_ca"]) else {
            return nil
        }
        var complete = true
        for required in ["listen", "certificate", "key", "client_ca"] where fields[required] == nil {
            reader.problem(
                field.key, "\(field.path).\(required)",
                required == "listen"
                    ? "is required when tcp is given (e.g. \"127.0.0.1:8200\")"
                    : "is required: TCP is served only with mutual TLS (certificate, key and client_ca)")
            complete = false
        }
        var endpoint: (String, Int)?
        if let listen = fields["listen"], let text = reader.nonEmptyString(listen) {
            endpoint = Self.hostAndPort(text)
            if endpoint == nil {
                reader.problem(
                    listen.value, listen.path, "\"\(text)\" is not host:port (e.g. 127.0.0.1:8200, [::1]:8200)")
            }
        }
        let certificate = reader.absolutePath(fields["certificate"])
        let key = reader.absolutePath(fields["key"])
        let clientCA = reader.absolutePath(fields["client_ca"])
        guard complete, let endpoint, let certificate, let key, let clientCA else { return nil }
        return KeyshardConfiguration.TCPSettings(
            host: endpoint.0, port: endpoint.1, certificate: certificate, key: key, clientCA: clientCA)
    }

    static func hostAndPort(_ text: String) -> (String, Int)? {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { return nil }  // a bare IPv6 address needs brackets
        }
        guard !host.isEmpty, !host.contains(where: \.isWhitespace), let port = Int(portText), (1...65535).contains(port)
        else { return nil }
        return (String(host), port)
    }

    private func readBackend(_ field: Field?, into backend: inout KeyshardConfiguration.BackendSettings) {
        guard let fields = section(field, known: ["kind", "libvirt", "process"]) else { return }
        if let kind = reader.choice(fields["kind"], KeyshardConfiguration.BackendKind.self) { backend.kind = kind }
        if let libvirt = section(
            fields["libvirt"],
            known: [
                "hosts", "image_dir", "policy", "directory", "vcpus", "virtualization", "transport", "boot_timeout",
                "firmware_code", "firmware_vars", "memory_mib",
            ])
        {
            if let hostsField = libvirt["hosts"], let items = reader.items(hostsField) {
                let hosts = items.compactMap(readLibvirtHost)
                if items.isEmpty {
                    reader.problem(hostsField.value, hostsField.path, "must list at least one libvirt URI")
                } else if hosts.count == items.count {
                    if let repeated = hosts.map(\.uri).first(where: { uri in hosts.count { $0.uri == uri } > 1 }) {
                        reader.problem(hostsField.value, hostsField.path, "lists \(repeated) twice")
                    }
                    backend.libvirt.hosts = hosts
                }
            }
            if let path = reader.absolutePath(libvirt["image_dir"]) { backend.libvirt.imageDirectory = path }
            if let path = reader.absolutePath(libvirt["policy"]) { backend.libvirt.policy = path }
            if let path = reader.absolutePath(libvirt["directory"]) { backend.libvirt.directory = path }
            if let field = libvirt["memory_mib"] {
                reader.problem(
                    field.key, field.path,
                    "the guest memory is the image's own (PCR 4 measures it); set it when building the image")
            }
            if let vcpus = reader.int(libvirt["vcpus"], in: 1...64) { backend.libvirt.vcpus = vcpus }
            if let mode = reader.choice(libvirt["virtualization"], KeyshardConfiguration.Virtualization.self) {
                backend.libvirt.virtualization = mode
            }
            if let transport = reader.choice(libvirt["transport"], KeyshardConfiguration.AgentTransport.self) {
                backend.libvirt.transport = transport
            }
            if let timeout = reader.duration(libvirt["boot_timeout"]) { backend.libvirt.bootTimeout = timeout }
            if let path = reader.absolutePath(libvirt["firmware_code"]) { backend.libvirt.firmwareCode = path }
            if let path = reader.absolutePath(libvirt["firmware_vars"]) { backend.libvirt.firmwareVariables = path }
        }
        if let process = section(fields["process"], known: ["agent", "policy"]) {
            if let path = reader.absolutePath(process["agent"]) { backend.process.agent = path }
            if let path = reader.absolutePath(process["policy"]) { backend.process.policy = path }
        }
    }

    /// A host as a URI, or as a mapping with `uri`, `max_custodians`, `ek_roots`, `directory`, `swtpm_logs`.
    private func readLibvirtHost(_ item: Field) -> KeyshardConfiguration.LibvirtHost? {
        func checked(_ uri: String, _ node: Node) -> String? {
            guard uri.contains("://") else {
                reader.problem(node, item.path, "\"\(uri)\" is not a libvirt URI (e.g. qemu:///system)")
                return nil
            }
            return uri
        }
        // Only qemu:///system has a default EK CA (libvirt's local one); another host's must be named.
        func rootsNamed(_ host: KeyshardConfiguration.LibvirtHost, _ node: Node) -> KeyshardConfiguration.LibvirtHost? {
            guard host.uri == "qemu:///system" || !host.endorsementRoots.isEmpty else {
                reader.problem(
                    node, item.path,
                    "\(host.uri) needs ek_roots: the PEM files of the CA its swtpm signs EK certificates with "
                        + "(only qemu:///system defaults to libvirt's, /var/lib/swtpm-localca)")
                return nil
            }
            return host
        }
        if case .scalar = item.value {
            guard let uri = reader.nonEmptyString(item), let valid = checked(uri, item.value) else { return nil }
            return rootsNamed(KeyshardConfiguration.LibvirtHost(uri: valid), item.value)
        }
        guard let fields = reader.fields(item.value, item.path, known: ["uri", "max_custodians", "ek_roots", "directory", "swtpm_logs"])
        else { return nil }
        guard let uriField = fields["uri"] else {
            reader.problem(item.value, item.path, "needs a uri")
            return nil
        }
        guard let uri = reader.nonEmptyString(uriField), let valid = checked(uri, uriField.value) else { return nil }
        var host = KeyshardConfiguration.LibvirtHost(uri: valid)
        if let limit = reader.int(fields["max_custodians"], in: 1...4096) { host.maxCustodians = limit }
        if let roots = fields["ek_roots"] {
            guard let items = reader.items(roots) else { return nil }
            var paths: [String] = []
            for root in items {
                guard let path = reader.absolutePath(root) else { return nil }
                paths.append(path)
            }
            host.endorsementRoots = paths
        }
        if let path = reader.absolutePath(fields["directory"]) { host.directory = path }
        if let path = reader.absolutePath(fields["swtpm_logs"]) { host.swtpmLogs = path }
        return rootsNamed(host, item.value)
    }

    private func readHeartbeat(_ field: Field?, into heartbeat: inout KeyshardConfiguration.HeartbeatSettings) {
        guard let fields = section(field, known: ["interval", "freshness_window"]) else {
            return
        }
        let interval = reader.duration(fields["interval"])
        let window = reader.duration(fields["freshness_window"])
        if let interval { heartbeat.interval = interval }
        if let window { heartbeat.freshnessWindow = window }
        if heartbeat.interval >= heartbeat.freshnessWindow, interval != nil || window != nil {
            let blamed = fields[interval != nil ? "interval" : "freshness_window"]!
            reader.problem(
                blamed.value, blamed.path,
                "the interval (\(DurationText.format(heartbeat.interval))) must be shorter than the freshness window "
                    + "(\(DurationText.format(heartbeat.freshnessWindow))), or every custodian goes stale between "
                    + "heartbeats")
        }
    }

    private func readCustodians(
        _ field: Field?, heartbeat: KeyshardConfiguration.HeartbeatSettings, into maximumAge: inout Duration?
    ) {
        guard let fields = section(field, known: ["max_age"]), let ageField = fields["max_age"],
            let age = reader.duration(ageField, allowZero: true)
        else { return }
        if age == .zero {
            maximumAge = nil
        } else if age <= heartbeat.freshnessWindow {
            reader.problem(
                ageField.value, ageField.path,
                "\(DurationText.format(age)) is not longer than the freshness window "
                    + "(\(DurationText.format(heartbeat.freshnessWindow))); use 0 to disable replacement by age")
        } else {
            maximumAge = age
        }
    }

    private func readRings(_ field: Field?, into ring: inout KeyshardConfiguration.RingDefaults) {
        guard let rings = section(field, known: ["default"]),
            let fields = section(rings["default"], known: ["name", "threshold", "shares"])
        else { return }
        if let nameField = fields["name"], let name = reader.nonEmptyString(nameField) {
            if Self.isRingName(name) {
                ring.name = name
            } else {
                reader.problem(
                    nameField.value, nameField.path,
                    "\"\(name)\" is not a ring name (1 to 63 letters, digits, '-' or '_', starting with a letter "
                        + "or digit)")
            }
        }
        let shares = reader.int(fields["shares"], in: 2...KeyshardConfiguration.maximumShares)
        let threshold = reader.int(fields["threshold"], in: 2...KeyshardConfiguration.maximumShares)
        if let shares { ring.shares = shares }
        if let threshold { ring.threshold = threshold }
        if ring.threshold > ring.shares, shares != nil || threshold != nil {
            let blamed = fields[threshold != nil ? "threshold" : "shares"]!
            reader.problem(
                blamed.value, blamed.path,
                "the threshold (\(ring.threshold)) must be between 2 and the number of shares (\(ring.shares))")
        }
    }

    static func isRingName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        func allowed(_ byte: UInt8) -> Bool {
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
        }
        guard (1...63).contains(bytes.count), allowed(bytes[0]) else { return false }
        return bytes.allSatisfy { allowed($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
    }

    private static let identityKeys = ["uid", "user", "group", "certificate_subject"]

    private func readRoles(_ field: Field?) -> RoleMap? {
        guard let field, let items = reader.items(field) else { return nil }
        guard !items.isEmpty else {
            reader.problem(
                field.value, field.path, "is empty: no caller could use keyshardd (leave it out for root as admin)")
            return nil
        }
        var entries: [RoleMap.Entry] = []
        var valid = true
        for item in items {
            if let entry = readRole(item) { entries.append(entry) } else { valid = false }
        }
        return valid ? RoleMap(entries: entries) : nil
    }

    private func readRole(_ item: Field) -> RoleMap.Entry? {
        guard let fields = reader.fields(item.value, item.path, known: Self.identityKeys + ["role", "keys"]) else {
            return nil
        }
        let given = Self.identityKeys.filter { fields[$0] != nil }
        guard given.count == 1, let identityField = fields[given[0]] else {
            reader.problem(
                item.value, item.path,
                given.isEmpty
                    ? "names nobody: give one of uid, user, group or certificate_subject"
                    : "gives \(given.joined(separator: " and ")): give exactly one of uid, user, group or "
                        + "certificate_subject per entry")
            return nil
        }
        var identity: RoleMap.Entry.Identity?
        switch given[0] {
        case "uid":
            if let uid = reader.int(identityField, in: 0...Int(UInt32.max - 1)) { identity = .uid(UInt32(uid)) }
        case "user":
            if let name = reader.nonEmptyString(identityField) {
                if let uid = Accounts.uid(ofUser: name) {
                    identity = .user(name: name, uid: uid)
                } else {
                    reader.problem(identityField.value, identityField.path, "there is no user named \"\(name)\"")
                }
            }
        case "group":
            if let name = reader.nonEmptyString(identityField) {
                if let group = Accounts.group(named: name) {
                    let members = Set(group.members.compactMap(Accounts.uid(ofUser:)))
                    identity = .group(name: name, gid: group.gid, memberUIDs: members)
                } else {
                    reader.problem(identityField.value, identityField.path, "there is no group named \"\(name)\"")
                }
            }
        default:
            if let subject = reader.nonEmptyString(identityField) { identity = .certificateSubject(subject) }
        }
        var role: Role?
        if let roleField = fields["role"] {
            role = reader.choice(roleField, Role.self)
        } else {
            reader.problem(item.value, "\(item.path).role", "is required (admin, operator or client)")
        }
        var keys: [String]?
        if let keysField = fields["keys"] {
            keys = reader.strings(keysField)
            if keys?.isEmpty == true {
                reader.problem(
                    keysField.value, keysField.path,
                    "is empty, so the entry grants nothing; list key globs or leave it out")
                keys = nil
                return nil
            }
            if keys == nil { return nil }
        }
        guard let identity, let role else { return nil }
        return RoleMap.Entry(identity: identity, role: role, keys: keys)
    }
}
