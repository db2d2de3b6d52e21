/// Where and how ``KeyshardServer`` listens, and the limits it puts on requests.
public struct ServerConfiguration: Sendable, Hashable {
    /// The Unix socket's path (keyshard's default is `/run/keyshard/keyshard.sock`).
    public var socketPath: String
    /// The socket file's permission bits, applied right after binding (e.g. `0o660`).
    public var socketMode: UInt16
    /// The group that owns the socket file, by name or number; nil leaves the daemon's group.
    public var socketGroup: String?
    /// An optional TCP listener with mandatory mutual TLS.
    public var tls: TLSListener?
    /// The largest request body accepted; larger ones are answered 413.
    public var maximumBodySize: Int
    /// The largest request head (request line and headers) accepted; larger ones are answered 431.
    public var maximumHeaderSize: Int
    /// The most items a `batch_input` may hold.
    public var maximumBatchItems: Int
    /// How long a client may take to send a whole request, and how long an idle connection
    /// stays open; a connection that exceeds it is closed (slow clients cannot hold sockets).
    public var requestReadTimeout: Duration

    /// A TCP listener whose clients must present a certificate issued by `clientCAPath`.
    public struct TLSListener: Sendable, Hashable {
        /// The address to bind (`127.0.0.1`, `::`, a host name).
        public var host: String
        /// The port.
        public var port: Int
        /// The server's certificate chain, PEM, leaf first.
        public var certificatePath: String
        /// The server's private key, PEM.
        public var privateKeyPath: String
        /// The CA certificates (PEM) that client certificates must chain to.
        public var clientCAPath: String

        /// Creates a listener description.
        public init(host: String, port: Int, certificatePath: String, privateKeyPath: String, clientCAPath: String) {
            self.host = host
            self.port = port
            self.certificatePath = certificatePath
            self.privateKeyPath = privateKeyPath
            self.clientCAPath = clientCAPath
        }
    }

    /// Creates a configuration.
    /// - Parameters:
    ///   - socketPath: the Unix socket.
    ///   - socketMode: its permission bits (default `0o660`: owner and group).
    ///   - socketGroup: its group (name or gid), or nil.
    ///   - tls: the optional mutual-TLS TCP listener.
    ///   - maximumBodySize: default 4 MiB (a 1 MiB plaintext in base64 with room for a batch).
    ///   - maximumHeaderSize: default 16 KiB.
    ///   - maximumBatchItems: default 1000.
    ///   - requestReadTimeout: default 30 s.
    public init(
        socketPath: String, socketMode: UInt16 = 0o660, socketGroup: String? = nil, tls: TLSListener? = nil,
        maximumBodySize: Int = 4 << 20, maximumHeaderSize: Int = 16 << 10, maximumBatchItems: Int = 1000,
        requestReadTimeout: Duration = .seconds(30)
    ) {
        self.socketPath = socketPath
        self.socketMode = socketMode
        self.socketGroup = socketGroup
        self.tls = tls
        self.maximumBodySize = maximumBodySize
        self.maximumHeaderSize = maximumHeaderSize
        self.maximumBatchItems = maximumBatchItems
        self.requestReadTimeout = requestReadTimeout
    }
}
