/// One unit on the wire: a header naming the message type and the request it belongs
/// to, and an opaque payload. Framing knows nothing of message contents, so a frame
/// of an unknown type still parses and can be answered with an error frame.
///
/// Layout, big-endian, ``FrameCodec/headerSize`` bytes of header:
/// `magic "KS" (2) ‖ version (1) ‖ reserved 0 (1) ‖ type (2) ‖ request id (8) ‖ payload length (4) ‖ payload`.
public struct Frame: Sendable, Equatable, CustomStringConvertible {
    /// The message type's raw value (see ``MessageType``); unknown values are kept.
    public var type: UInt16
    /// Chosen by the requester; the response carries the same id, so requests can be pipelined.
    /// Id 0 is reserved for connection-level error frames that answer no particular request.
    public var requestID: UInt64
    /// The message's encoding; may be secret-bearing, so never printed.
    public var payload: [UInt8]

    /// Creates a frame.
    /// - Parameters:
    ///   - type: the message type's raw value.
    ///   - requestID: the request this frame starts or answers.
    ///   - payload: the encoded message.
    public init(type: UInt16, requestID: UInt64, payload: [UInt8]) {
        self.type = type
        self.requestID = requestID
        self.payload = payload
    }

    /// Type, request id and length only: payloads can carry secrets.
    public var description: String {
        let name = MessageType(rawValue: type).map { "\($0)" } ?? "unknown"
        return "Frame(type: \(type) \(name), request: \(requestID), \(payload.count) payload bytes)"
    }
}

/// How large a frame may be. Checked on the header alone, before any payload is
/// buffered, so a peer that announces gigabytes is refused at once.
public struct FrameLimits: Sendable, Hashable {
    /// The largest whole frame, header included, that is accepted or sent.
    public let maximumFrameSize: Int

    /// 1 MiB: a UEFI event log is tens of kilobytes, the largest message keyshard sends.
    public static let `default` = FrameLimits(uncheckedMaximum: 1 << 20)

    /// The smallest maximum that still allows an error frame with a short reason.
    public static let smallestMaximum = FrameCodec.headerSize + 256

    /// The largest maximum: payload lengths are 32-bit.
    public static let largestMaximum = FrameCodec.headerSize + Int(UInt32.max)

    private init(uncheckedMaximum: Int) { self.maximumFrameSize = uncheckedMaximum }

    /// Sets the maximum frame size.
    /// - Parameter maximumFrameSize: bytes, header included, between ``smallestMaximum`` and ``largestMaximum``.
    /// - Throws: ``AgentProtocolError/Code/frameTooLarge`` outside those bounds.
    public init(maximumFrameSize: Int) throws(AgentProtocolError) {
        guard maximumFrameSize >= Self.smallestMaximum, maximumFrameSize <= Self.largestMaximum else {
            throw AgentProtocolError(
                .frameTooLarge,
                "a maximum frame size must be \(Self.smallestMaximum)…\(Self.largestMaximum) bytes, got \(maximumFrameSize)")
        }
        self.maximumFrameSize = maximumFrameSize
    }

    /// The largest payload a frame may carry.
    public var maximumPayloadSize: Int { maximumFrameSize - FrameCodec.headerSize }
}
