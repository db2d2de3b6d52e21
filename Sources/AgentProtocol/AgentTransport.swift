import Logging
import NIOCore
import NIOPosix

/// One way of carrying frames between the coordinator and an agent. Every transport
/// uses the same framing and the same request matching; only how the byte stream is
/// opened differs.
public protocol AgentTransport: Sendable, CustomStringConvertible {
    /// Opens the coordinator's side and returns a client that pipelines requests.
    /// - Throws: ``AgentProtocolError/Code/transportUnavailable`` when this transport has
    ///   no client side, or the connection error.
    func connect(options: AgentConnectionOptions) async throws -> AgentClient

    /// Serves the agent's side: accepts connections (or opens the port) and answers
    /// every request with `handler`, until the calling task is cancelled.
    /// - Parameters:
    ///   - options: limits, event loops and logger.
    ///   - handler: answers requests.
    ///   - onReady: called once the transport accepts connections.
    /// - Throws: ``AgentProtocolError/Code/transportUnavailable`` when this transport has
    ///   no agent side, or the bind/open error.
    func serve(
        options: AgentConnectionOptions, handler: any AgentRequestHandler, onReady: @escaping @Sendable () -> Void
    ) async throws
}

/// What both sides of a connection are configured with.
public struct AgentConnectionOptions: Sendable {
    /// The event loops channels run on.
    public var group: any EventLoopGroup
    /// The maximum frame size, enforced on what is read and what is written.
    public var limits: FrameLimits
    /// How many requests one connection handles at once before the agent stops reading
    /// from it (back-pressure, not refusal).
    public var maximumConcurrentRequests: Int
    /// How long a client waits for each response, counted from when the request has been written;
    /// nil waits until the connection closes. ``AgentClient/request(_:timeout:)`` can override it
    /// per request.
    public var requestTimeout: TimeAmount?
    /// How long a client waits for the connection itself.
    public var connectTimeout: TimeAmount
    /// Where protocol events are logged (never payloads).
    public var logger: Logger

    /// Creates options.
    /// - Parameters:
    ///   - group: the event loops; NIO's shared singleton by default.
    ///   - limits: the frame limits.
    ///   - maximumConcurrentRequests: at least 1.
    ///   - requestTimeout: the client's wait per request.
    ///   - connectTimeout: the client's wait for the connection.
    ///   - logger: the logger.
    public init(
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, limits: FrameLimits = .default,
        maximumConcurrentRequests: Int = 16, requestTimeout: TimeAmount? = .seconds(60),
        connectTimeout: TimeAmount = .seconds(10), logger: Logger = Logger(label: "keyshard.agent-protocol")
    ) {
        self.connectTimeout = connectTimeout
        self.group = group
        self.limits = limits
        self.maximumConcurrentRequests = max(1, maximumConcurrentRequests)
        self.requestTimeout = requestTimeout
        self.logger = logger
    }
}

/// Installs the frame decoder, encoder and violation handler on a new channel.
func addFrameHandlers(to channel: any Channel, limits: FrameLimits, replyWithErrorFrame: Bool) throws {
    let operations = channel.pipeline.syncOperations
    try operations.addHandler(ByteToMessageHandler(FrameDecoder(limits: limits)))
    try operations.addHandler(MessageToByteHandler(FrameEncoder(limits: limits)))
    try operations.addHandler(FrameViolationHandler(replyWithErrorFrame: replyWithErrorFrame))
}

/// A channel initializer for the client side.
func clientChannelInitializer(
    options: AgentConnectionOptions
) -> @Sendable (any Channel) -> EventLoopFuture<AgentClient> {
    { channel in
        channel.eventLoop.makeCompletedFuture {
            try addFrameHandlers(to: channel, limits: options.limits, replyWithErrorFrame: false)
            try channel.pipeline.syncOperations.addHandler(ClientRequestHandler(logger: options.logger))
            return AgentClient(channel: channel, options: options)
        }
    }
}

/// A channel initializer for the agent side.
func serverChannelInitializer(
    options: AgentConnectionOptions
) -> @Sendable (any Channel) -> EventLoopFuture<NIOAsyncChannel<Frame, Frame>> {
    { channel in
        channel.eventLoop.makeCompletedFuture {
            try addFrameHandlers(to: channel, limits: options.limits, replyWithErrorFrame: true)
            return try NIOAsyncChannel<Frame, Frame>(wrappingChannelSynchronously: channel)
        }
    }
}
