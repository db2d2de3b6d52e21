import AgentProtocol
import NIOCore
import Testing

@Suite("Agent protocol framing")
struct FrameCodecTests {
    static func header(type: UInt16 = 0x0101, requestID: UInt64 = 5, length: UInt32, version: UInt8 = 1) -> [UInt8] {
        var bytes: [UInt8] = [0x4B, 0x53, version, 0]
        bytes += [UInt8(type >> 8), UInt8(type & 0xFF)]
        bytes += (0..<8).reversed().map { UInt8(truncatingIfNeeded: requestID >> ($0 * 8)) }
        bytes += (0..<4).reversed().map { UInt8(truncatingIfNeeded: length >> ($0 * 8)) }
        return bytes
    }

    @Test("the header layout is magic, version, reserved, type, request id, length")
    func layout() throws {
        let wire = try FrameCodec.encode(Frame(type: 0x0101, requestID: 0x0102030405060708, payload: [0xAB, 0xCD]))
        #expect(wire == [0x4B, 0x53, 1, 0, 0x01, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 2, 0xAB, 0xCD])
        #expect(FrameCodec.headerSize == 18)
    }

    @Test("a header announcing 4 GiB with 10 bytes of payload is refused at once")
    func fourGiBRefused() {
        let wire = Self.header(length: UInt32.max) + [UInt8](repeating: 0, count: 10)
        var buffer = ByteBuffer(bytes: wire)
        let error = #expect(throws: AgentProtocolError.self) { try FrameCodec.decodeFrame(from: &buffer) }
        #expect(error?.code == .frameTooLarge)
        // Nothing was consumed or buffered beyond what was given.
        #expect(buffer.readableBytes == wire.count)
        #expect(buffer.capacity < 1024)
        var reader = FrameReader()
        reader.append(wire)
        #expect(throws: AgentProtocolError(.frameTooLarge, "")) { try reader.nextFrame() }
    }

    @Test("the limit is exact: a payload of the maximum passes, one byte more is refused")
    func limitBoundary() throws {
        let limits = try FrameLimits(maximumFrameSize: 1000)
        let fits = Frame(type: 1, requestID: 1, payload: [UInt8](repeating: 1, count: 1000 - FrameCodec.headerSize))
        let wire = try FrameCodec.encode(fits, limits: limits)
        #expect(try FrameCodec.decodeFrame(from: wire, limits: limits)?.frame == fits)
        let over = Frame(type: 1, requestID: 1, payload: fits.payload + [1])
        #expect(throws: AgentProtocolError(.frameTooLarge, "")) { try FrameCodec.encode(over, limits: limits) }
        let overHeader = Self.header(length: UInt32(over.payload.count))
        #expect(throws: AgentProtocolError(.frameTooLarge, "")) {
            try FrameCodec.decodeFrame(from: overHeader, limits: limits)
        }
    }

    @Test("frame limits outside their bounds are refused")
    func limitBounds() throws {
        #expect(throws: AgentProtocolError(.frameTooLarge, "")) { try FrameLimits(maximumFrameSize: 10) }
        #expect(throws: AgentProtocolError(.frameTooLarge, "")) {
            try FrameLimits(maximumFrameSize: FrameLimits.largestMaximum + 1)
        }
        #expect(FrameLimits.default.maximumFrameSize == 1 << 20)
    }

    @Test("garbage fails on its first wrong byte; a bad version or reserved byte on the header")
    func garbage() {
        let cases: [([UInt8], AgentProtocolError.Code)] = [
            ([0x47], .badMagic),  // "G" of "GET / HTTP/1.1"
            (Array("GET / HTTP/1.1\r\n".utf8), .badMagic),
            ([0x4B, 0x00], .badMagic),
            ([0x4B, 0x53, 2], .unsupportedVersion),
            ([0x4B, 0x53, 1, 1], .malformedFrame),
        ]
        for (bytes, code) in cases {
            let error = #expect(throws: AgentProtocolError.self) { try FrameCodec.decodeFrame(from: bytes) }
            #expect(error?.code == code, "\(bytes)")
        }
    }

    @Test("a partial frame needs more bytes and consumes nothing")
    func partial() throws {
        let wire = try FrameCodec.encode(Frame(type: 0x0101, requestID: 9, payload: [UInt8](repeating: 3, count: 40)))
        for length in 0..<wire.count {
            var buffer = ByteBuffer(bytes: wire.prefix(length))
            #expect(try FrameCodec.decodeFrame(from: &buffer) == nil)
            #expect(buffer.readableBytes == length)
        }
    }

    @Test("a reader splits a stream fed byte by byte into its frames")
    func readerSplits() throws {
        let frames = (1...5).map { Frame(type: 0x0301, requestID: UInt64($0), payload: [UInt8](repeating: UInt8($0), count: $0 * 7)) }
        let stream = try frames.flatMap { try FrameCodec.encode($0) }
        var reader = FrameReader()
        var decoded: [Frame] = []
        for byte in stream {
            reader.append([byte])
            while let frame = try reader.nextFrame() { decoded.append(frame) }
        }
        #expect(decoded == frames)
        #expect(!reader.hasPartialFrame)
    }

    @Test("after a framing error the reader refuses everything, even valid frames")
    func readerStaysFailed() throws {
        var reader = FrameReader()
        reader.append([0x00, 0x01])
        #expect(throws: AgentProtocolError(.badMagic, "")) { try reader.nextFrame() }
        reader.append(try FrameCodec.encode(Frame(type: 0x0101, requestID: 1, payload: [])))
        #expect(throws: AgentProtocolError(.badMagic, "")) { try reader.nextFrame() }
    }

    @Test("the array decoder copies at most one maximum frame, whatever it is given")
    func arrayDecoderBounded() throws {
        let frame = Frame(type: 0x0101, requestID: 1, payload: [1, 2, 3])
        let wire = try FrameCodec.encode(frame) + [UInt8](repeating: 0x4B, count: 3 << 20)
        let (decoded, consumed) = try #require(try FrameCodec.decodeFrame(from: wire))
        #expect(decoded == frame)
        #expect(consumed == FrameCodec.headerSize + 3)
    }
}
