import AgentProtocol

/// The property every input must keep: decoding never crashes or allocates without
/// bound, and whatever decodes re-encodes to exactly the bytes it came from (one
/// encoding per message, so a relay cannot smuggle a second meaning).
///
/// The first byte picks the mode. Even: the rest is a message type (2 bytes) and a
/// payload, decoded directly. Odd: the rest is a byte stream fed to a ``FrameReader``
/// in chunks of (first byte / 2 + 1) bytes, under a 4 KiB frame limit.
enum FuzzTarget {
    static let limits = try! FrameLimits(maximumFrameSize: 4096)

    static func run(_ input: [UInt8]) {
        guard let mode = input.first else { return }
        let rest = input.dropFirst()
        if mode & 1 == 0 {
            guard rest.count >= 2 else { return }
            let type = UInt16(rest[rest.startIndex]) << 8 | UInt16(rest[rest.startIndex + 1])
            checkMessage(type: type, payload: Array(rest.dropFirst(2)))
        } else {
            runStream(Array(rest), chunkSize: Int(mode >> 1) + 1)
        }
    }

    static func runStream(_ stream: [UInt8], chunkSize: Int) {
        var reader = FrameReader(limits: limits)
        var offset = 0
        while offset < stream.count {
            reader.append(stream[offset..<min(offset + chunkSize, stream.count)])
            offset += chunkSize
            while true {
                let frame: Frame
                do {
                    guard let next = try reader.nextFrame() else { break }
                    frame = next
                } catch {
                    // A framing error ends the stream, as the server closes the connection.
                    return
                }
                checkFrame(frame)
                checkMessage(type: frame.type, payload: frame.payload)
            }
        }
    }

    static func checkFrame(_ frame: Frame) {
        precondition(frame.payload.count <= limits.maximumPayloadSize, "a frame over the limit was accepted")
        let wire = try! FrameCodec.encode(frame, limits: limits)
        let again = try! FrameCodec.decodeFrame(from: wire, limits: limits)
        precondition(again?.frame == frame && again?.consumed == wire.count, "a frame does not round-trip")
    }

    static func checkMessage(type: UInt16, payload: [UInt8]) {
        guard let message = try? AgentMessage(type: type, payload: payload) else { return }
        precondition(message.type.rawValue == type, "decoded into another type")
        let encoded: [UInt8]
        do { encoded = try message.encode() } catch { preconditionFailure("a decoded \(message.type) does not encode: \(error)") }
        precondition(encoded == payload, "\(message.type) has a second encoding")
        _ = message.description
    }
}
