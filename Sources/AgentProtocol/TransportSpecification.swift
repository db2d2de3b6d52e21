/// Where an agent listens or a coordinator connects, parsed from a string:
///
/// - `unix:PATH` — a Unix domain socket: the agent listens (process backend, tests),
///   the coordinator connects; also the host side of virtio-serial (libvirt's socket).
/// - `vsock:CID:PORT` — the coordinator connects to a guest's vsock CID and port.
/// - `vsock-listen:PORT` — the agent listens on a vsock port (any CID).
/// - `virtio-serial:NAME` — the agent opens the virtio-serial port named NAME
///   (found under /sys/class/virtio-ports).
public enum TransportSpecification: Sendable, Hashable, CustomStringConvertible {
    /// A Unix domain socket path.
    case unix(path: String)
    /// A vsock address to connect to.
    case vsock(cid: UInt32, port: UInt32)
    /// A vsock port to listen on.
    case vsockListen(port: UInt32)
    /// A virtio-serial port name, guest side.
    case virtioSerial(name: String)

    /// The longest Unix socket path (sockaddr_un holds 108 bytes with the terminating NUL).
    public static let maximumUnixPathLength = 107
    /// The accepted forms, for error messages and `--help`.
    public static let forms = "unix:PATH, vsock:CID:PORT, vsock-listen:PORT or virtio-serial:NAME"

    /// Parses a specification string.
    /// - Throws: ``AgentProtocolError/Code/invalidTransportSpecification`` naming what is wrong:
    ///   an unknown scheme, an empty or overlong path, a CID or port that is not a decimal
    ///   32-bit number (or is the wildcard 4294967295), or a port name with characters other
    ///   than letters, digits, '.', '_' and '-'.
    public init(parsing text: String) throws(AgentProtocolError) {
        guard let colon = text.firstIndex(of: ":") else {
            throw Self.invalid(text, "it has no scheme; use \(Self.forms)")
        }
        let scheme = text[..<colon]
        let rest = String(text[text.index(after: colon)...])
        switch scheme {
        case "unix":
            guard !rest.isEmpty else { throw Self.invalid(text, "the socket path is empty") }
            guard rest.utf8.count <= Self.maximumUnixPathLength else {
                throw Self.invalid(text, "the socket path is longer than \(Self.maximumUnixPathLength) bytes")
            }
            guard !rest.utf8.contains(0) else { throw Self.invalid(text, "the socket path contains a NUL byte") }
            self = .unix(path: rest)
        case "vsock":
            let parts = rest.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw Self.invalid(text, "vsock needs CID:PORT") }
            self = .vsock(
                cid: try Self.number(parts[0], "CID", text), port: try Self.number(parts[1], "port", text))
        case "vsock-listen":
            self = .vsockListen(port: try Self.number(Substring(rest), "port", text))
        case "virtio-serial":
            guard !rest.isEmpty, rest.utf8.count <= 255,
                rest.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0)) })
            else {
                throw Self.invalid(text, "a virtio-serial port name is 1…255 letters, digits, '.', '_' or '-'")
            }
            self = .virtioSerial(name: rest)
        default:
            throw Self.invalid(text, "unknown scheme '\(scheme)'; use \(Self.forms)")
        }
    }

    /// The string form, which parses back to the same value.
    public var description: String {
        switch self {
        case .unix(let path): "unix:\(path)"
        case .vsock(let cid, let port): "vsock:\(cid):\(port)"
        case .vsockListen(let port): "vsock-listen:\(port)"
        case .virtioSerial(let name): "virtio-serial:\(name)"
        }
    }

    /// The transport this specification names.
    public var transport: any AgentTransport {
        switch self {
        case .unix(let path): UnixSocketTransport(path: path)
        case .vsock(let cid, let port): VsockTransport(mode: .connect(cid: cid, port: port))
        case .vsockListen(let port): VsockTransport(mode: .listen(port: port))
        case .virtioSerial(let name): VirtioSerialTransport(portName: name)
        }
    }

    private static func number(_ text: Substring, _ what: String, _ whole: String) throws(AgentProtocolError) -> UInt32 {
        guard !text.isEmpty, text.allSatisfy(\.isASCII), text.allSatisfy(\.isNumber), let value = UInt32(text) else {
            throw invalid(whole, "the \(what) '\(text)' is not a decimal number below 2^32")
        }
        guard value != UInt32.max else {
            throw invalid(whole, "the \(what) 4294967295 is the wildcard VMADDR_*_ANY, not an address")
        }
        return value
    }

    private static func invalid(_ text: String, _ reason: String) -> AgentProtocolError {
        AgentProtocolError(.invalidTransportSpecification, "transport '\(text)': \(reason)")
    }
}
