internal import CLibvirt

/// A failed libvirt call, copied from libvirt's per-thread error right after the call failed.
///
/// libvirt keeps the last error in thread-local storage; it is copied before the calling
/// function returns (never across an `await`) and then reset, so a later call cannot see it.
public struct LibvirtError: Error, Hashable, Sendable, CustomStringConvertible {
    /// libvirt's error number (`virErrorNumber`), e.g. 42 for "no domain".
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The raw `virErrorNumber`.
        public let rawValue: Int32

        /// A code from its raw `virErrorNumber`.
        public init(rawValue: Int32) { self.rawValue = rawValue }

        /// `VIR_ERR_INTERNAL_ERROR`.
        public static let internalError = Code(rawValue: 1)
        /// `VIR_ERR_NO_SUPPORT`: the driver does not implement the call.
        public static let noSupport = Code(rawValue: 3)
        /// `VIR_ERR_NO_CONNECT`: could not connect to the hypervisor.
        public static let noConnect = Code(rawValue: 5)
        /// `VIR_ERR_INVALID_CONN`: the connection object is not valid (any more).
        public static let invalidConnection = Code(rawValue: 6)
        /// `VIR_ERR_XML_ERROR`: the XML was refused.
        public static let xmlError = Code(rawValue: 27)
        /// `VIR_ERR_XML_DETAIL`: the XML is not well-formed (libvirt's parser gives the detail).
        public static let xmlDetail = Code(rawValue: 35)
        /// `VIR_ERR_OPERATION_FAILED`.
        public static let operationFailed = Code(rawValue: 9)
        /// `VIR_ERR_SYSTEM_ERROR`: a system call failed (often a closed socket).
        public static let systemError = Code(rawValue: 38)
        /// `VIR_ERR_RPC`: the remote protocol failed (libvirtd went away).
        public static let rpc = Code(rawValue: 39)
        /// `VIR_ERR_NO_DOMAIN`: no such domain.
        public static let noDomain = Code(rawValue: 42)
        /// `VIR_ERR_OPERATION_INVALID`: not applicable in the domain's current state.
        public static let operationInvalid = Code(rawValue: 55)
        /// `VIR_ERR_NO_DOMAIN_METADATA`: the domain has no metadata in the asked namespace.
        public static let noDomainMetadata = Code(rawValue: 80)
        /// `VIR_ERR_OPERATION_UNSUPPORTED`.
        public static let operationUnsupported = Code(rawValue: 84)

        public var description: String { "\(rawValue)" }
    }

    /// libvirt's error number.
    public let code: Code
    /// libvirt's error domain (`virErrorDomain`): which subsystem raised it.
    public let domain: Int32
    /// libvirt's message, or a fallback naming the operation when libvirt set none.
    public let message: String
    /// The libvirt function that failed, e.g. `virDomainCreateXML`.
    public let operation: String

    /// An error from its parts; used by the wrapper and by tests.
    public init(code: Code, domain: Int32, message: String, operation: String) {
        self.code = code
        self.domain = domain
        self.message = message
        self.operation = operation
    }

    /// Whether the error means the connection itself is gone (libvirtd restarted, socket
    /// closed), so reopening the connection may help. A closed socket is reported as an
    /// internal error from the RPC layer ("client socket is closed"), so the error domain
    /// counts as well as the code.
    public var isConnectionLost: Bool {
        [.invalidConnection, .systemError, .rpc, .noConnect].contains(code) || domain == Self.rpcErrorDomain
    }

    /// `VIR_FROM_RPC`: errors of libvirt's remote-protocol layer.
    static let rpcErrorDomain: Int32 = Int32(VIR_FROM_RPC.rawValue)

    public var description: String {
        "\(operation) failed (libvirt error \(code), domain \(domain)): \(message)"
    }

    /// Copies and resets the calling thread's libvirt error. Call it synchronously, right
    /// after the failing call, on the same thread.
    static func takeLast(operation: String) -> LibvirtError {
        var copied = virError()
        let copiedCode = virCopyLastError(&copied)
        defer {
            virResetError(&copied)
            virResetLastError()
        }
        guard copiedCode > 0 else {
            return LibvirtError(
                code: .internalError, domain: 0,
                message: "\(operation) failed without setting a libvirt error", operation: operation)
        }
        let message = copied.message.map { String(cString: $0) } ?? "\(operation) failed"
        return LibvirtError(
            code: Code(rawValue: copied.code), domain: copied.domain, message: message, operation: operation)
    }
}
