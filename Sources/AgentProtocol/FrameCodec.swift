import NIOCore

/// Encodes and decodes ``Frame``s without a channel: the NIO handlers, the fuzz target
/// and any byte-stream reader all go through these functions.
public enum FrameCodec {
    /// "KS".
    public static let magic: [UInt8] = [0x4B, 0x53]
    /// The one wire version this build speaks.
    public static let version: UInt8 = 1
    /// magic (2) ‖ version (1) ‖ reserved (1) ‖ type (2) ‖ request id (8) ‖ length (4).
    public static let headerSize = 18

    /// Appends the encoded frame to `buffer`.
    /// - Throws: ``AgentProtocolError/Code/frameTooLarge`` when the frame exceeds `limits`,
    ///   so a peer is never sent a frame it will refuse.
    public static func encode(_ frame: Frame, into buffer: inout ByteBuffer, limits: FrameLimits = .default) throws(AgentProtocolError) {
        guard frame.payload.count <= limits.maximumPayloadSize else {
            throw AgentProtocolError(
                .frameTooLarge,
                "a \(frame.payload.count)-byte payload exceeds the \(limits.maximumPayloadSize)-byte limit")
        }
        buffer.reserveCapacity(minimumWritableBytes: headerSize + frame.payload.count)
        buffer.writeBytes(magic)
        buffer.writeInteger(version)
        buffer.writeInteger(UInt8(0))
        buffer.writeInteger(frame.type)
        buffer.writeInteger(frame.requestID)
        buffer.writeInteger(UInt32(frame.payload.count))
        buffer.writeBytes(frame.payload)
    }

    /// The encoded frame as bytes.
    /// - Throws: ``AgentProtocolError/Code/frameTooLarge`` when the frame exceeds `limits`.
    public static func encode(_ frame: Frame, limits: FrameLimits = .default) throws(AgentProtocolError) -> [UInt8] {
        var buffer = ByteBufferAllocator().buffer(capacity: headerSize + frame.payload.count)
        try encode(frame, into: &buffer, limits: limits)
        return Array(buffer.readableBytesView)
    }

    /// Reads one frame from the front of `buffer`.
    ///
    /// Each header field is checked as soon as its bytes are there: garbage fails on its
    /// first two bytes, an oversized length as soon as the header is complete, before
    /// any payload is waited for or buffered.
    /// - Returns: the frame, its bytes consumed; nil when more bytes are needed (nothing consumed).
    /// - Throws: ``AgentProtocolError/Code/badMagic``, ``AgentProtocolError/Code/unsupportedVersion``,
    ///   ``AgentProtocolError/Code/malformedFrame``, ``AgentProtocolError/Code/frameTooLarge``.
    ///   After any of these the stream cannot be resynchronised and must be closed.
    public static func decodeFrame(from buffer: inout ByteBuffer, limits: FrameLimits = .default) throws(AgentProtocolError) -> Frame? {
        let start = buffer.readerIndex
        let available = buffer.readableBytes
        for (index, expected) in magic.enumerated() where index < available {
            guard buffer.getInteger(at: start + index, as: UInt8.self) == expected else {
                throw AgentProtocolError(.badMagic, "the stream does not start a keyshard frame (bad magic bytes)")
            }
        }
        if available > 2, let version = buffer.getInteger(at: start + 2, as: UInt8.self), version != Self.version {
            throw AgentProtocolError(
                .unsupportedVersion, "frame version \(version) is not supported (this build speaks \(Self.version))")
        }
        if available > 3, let reserved = buffer.getInteger(at: start + 3, as: UInt8.self), reserved != 0 {
            throw AgentProtocolError(.malformedFrame, "the frame header's reserved byte is \(reserved), not 0")
        }
        guard available >= headerSize,
            let type = buffer.getInteger(at: start + 4, as: UInt16.self),
            let requestID = buffer.getInteger(at: start + 6, as: UInt64.self),
            let length = buffer.getInteger(at: start + 14, as: UInt32.self)
        else { return nil }
        guard UInt64(length) <= UInt64(limits.maximumPayloadSize) else {
            throw AgentProtocolError(
                .frameTooLarge,
                "a frame announces a \(length)-byte payload, the limit is \(limits.maximumPayloadSize) bytes")
        }
        guard available - headerSize >= Int(length),
            let payload = buffer.getBytes(at: start + headerSize, length: Int(length))
        else { return nil }
        buffer.moveReaderIndex(forwardBy: headerSize + Int(length))
        return Frame(type: type, requestID: requestID, payload: payload)
    }

    /// Reads one frame from the front of `bytes`, for callers without a ByteBuffer.
    /// - Returns: the frame and how many bytes it took; nil when more bytes are needed.
    /// - Throws: as ``decodeFrame(from:limits:)-(ByteBuffer,_)``.
    public static func decodeFrame(
        from bytes: some Collection<UInt8>, limits: FrameLimits = .default
    ) throws(AgentProtocolError) -> (frame: Frame, consumed: Int)? {
        // Only the header and at most one maximum payload are copied, whatever `bytes` holds.
        var buffer = ByteBuffer(bytes: bytes.prefix(limits.maximumFrameSize))
        guard let frame = try decodeFrame(from: &buffer, limits: limits) else { return nil }
        return (frame, headerSize + frame.payload.count)
    }
}

/// Splits a byte stream into frames for code that reads a descriptor itself rather than
/// through a NIO channel. Holds at most one frame's worth of unread bytes plus what was
/// last appended; after a framing error it refuses everything, as the stream is lost.
public struct FrameReader: Sendable {
    private var buffer = ByteBuffer()
    private var failure: AgentProtocolError?
    /// The limits every frame is checked against.
    public let limits: FrameLimits

    /// Creates a reader.
    /// - Parameter limits: the maximum frame size.
    public init(limits: FrameLimits = .default) { self.limits = limits }

    /// Adds bytes read from the stream.
    public mutating func append(_ bytes: some Sequence<UInt8>) {
        buffer.writeBytes(bytes)
    }

    /// The next complete frame, or nil until more bytes arrive.
    /// - Throws: the framing error, now and on every later call.
    public mutating func nextFrame() throws(AgentProtocolError) -> Frame? {
        if let failure { throw failure }
        do {
            let frame = try FrameCodec.decodeFrame(from: &buffer, limits: limits)
            buffer.discardReadBytes()
            return frame
        } catch {
            failure = error
            buffer.clear()
            throw error
        }
    }

    /// Whether bytes of an incomplete frame are waiting; at end of stream this means truncation.
    public var hasPartialFrame: Bool { buffer.readableBytes > 0 }
}
