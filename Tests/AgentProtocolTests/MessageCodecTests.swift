import AgentProtocol
import ShardCrypto
import Testing

@Suite("Agent protocol messages")
struct MessageCodecTests {
    @Test("the samples cover every message type")
    func samplesCoverEveryType() throws {
        let types = try MessageSamples.all().map(\.type)
        #expect(Set(types) == Set(MessageType.allCases))
        #expect(types.count == MessageType.allCases.count)
    }

    @Test("every message type round-trips through a frame to the same bytes", arguments: MessageType.allCases)
    func roundTrip(type: MessageType) throws {
        let message = try #require(try MessageSamples.all().first { $0.type == type })
        let frame = try message.frame(requestID: 41)
        let wire = try FrameCodec.encode(frame)
        let (decodedFrame, consumed) = try #require(try FrameCodec.decodeFrame(from: wire))
        #expect(consumed == wire.count)
        #expect(decodedFrame == frame)
        let decoded = try AgentMessage(frame: decodedFrame)
        #expect(decoded.type == type)
        #expect(try decoded.encode() == frame.payload)
    }

    @Test("decoded fields equal the originals")
    func fieldsSurvive() throws {
        for message in try MessageSamples.all() {
            let decoded = try AgentMessage(type: message.type.rawValue, payload: try message.encode())
            switch (message, decoded) {
            case (.evidence(let a), .evidence(let b)): #expect(a == b)
            case (.heartbeat(let a), .heartbeat(let b)): #expect(a == b)
            case (.deliverShare(let a), .deliverShare(let b)): #expect(a == b)
            case (.signRound2Request(let a), .signRound2Request(let b)): #expect(a == b)
            case (.partialDecryption(let a), .partialDecryption(let b)): #expect(a == b)
            case (.dkgRound1Request(let a), .dkgRound1Request(let b)): #expect(a == b)
            case (.dkgRound2Request(let a), .dkgRound2Request(let b)): #expect(a == b)
            case (.dkgFinished(let a), .dkgFinished(let b)): #expect(a == b)
            case (.dkgConfirmRequest(let a), .dkgConfirmRequest(let b)): #expect(a == b)
            case (.dkgConfirmed(let a), .dkgConfirmed(let b)): #expect(a == b)
            case (.dkgComplaints(let a), .dkgComplaints(let b)):
                #expect(try a.complaints.map { try $0.serialized() } == b.complaints.map { try $0.serialized() })
                #expect(a.complaints.map(\.signature) == b.complaints.map(\.signature))
            case (.dkgFinishRequest(let a), .dkgFinishRequest(let b)):
                #expect(try a.complaints.map { try $0.serialized() } == b.complaints.map { try $0.serialized() })
            case (.redistributeReceiveRequest(let a), .redistributeReceiveRequest(let b)): #expect(a == b)
            case (.redistributeDealing(let a), .redistributeDealing(let b)): #expect(a == b)
            case (.error(let a), .error(let b)): #expect(a == b)
            case (.credentialActivated(let a), .credentialActivated(let b)):
                #expect(a.proof.constantTimeEquals(b.proof))
            default: break
            }
        }
    }

    @Test("every truncation of every payload is refused as malformed, never a crash")
    func truncationsRefused() throws {
        for message in try MessageSamples.all() {
            let payload = try message.encode()
            // Every prefix of short payloads; a sample of prefixes of long ones (the event log).
            let lengths = payload.count <= 4096 ? Array(0..<payload.count) : Array(0..<2048) + [payload.count - 1]
            for length in lengths {
                let error = #expect(throws: AgentProtocolError.self) {
                    try AgentMessage(type: message.type.rawValue, payload: Array(payload.prefix(length)))
                }
                #expect(error?.code == .malformedMessage, "\(message.type) cut to \(length) bytes")
            }
        }
    }

    @Test("a trailing byte is refused, so every message has one encoding")
    func trailingByteRefused() throws {
        for message in try MessageSamples.all() {
            let error = #expect(throws: AgentProtocolError.self) {
                try AgentMessage(type: message.type.rawValue, payload: try message.encode() + [0])
            }
            #expect(error?.code == .malformedMessage)
            #expect(error?.reason.contains("trailing") == true)
        }
    }

    @Test("an unknown message type is refused with its own code")
    func unknownType() {
        for raw: UInt16 in [0x0103 + 0x1000, 0x0900, 0xFFFF, 0x0001] {
            let error = #expect(throws: AgentProtocolError.self) { try AgentMessage(type: raw, payload: []) }
            #expect(error?.code == .unknownMessageType)
        }
    }

    @Test("the retired DKG answer messages (0x0607, 0x0608), which revealed shares, decode as unknown")
    func retiredAnswerMessagesAreUnknown() throws {
        for raw: UInt16 in [0x0607, 0x0608] {
            #expect(MessageType(rawValue: raw) == nil)
            let error = #expect(throws: AgentProtocolError.self) { try AgentMessage(type: raw, payload: [0, 0]) }
            #expect(error?.code == .unknownMessageType)
        }
        #expect(MessageType.dkgConfirmRequest.rawValue == 0x060B && MessageType.dkgConfirmed.rawValue == 0x060C)
        #expect(MessageType.dkgConfirmRequest.responseType == .dkgConfirmed)
        #expect(MessageType.dkgFinishRequest.rawValue == 0x0609 && MessageType.dkgFinished.rawValue == 0x060A)
    }

    @Test("DKG complaints travel signed: the earlier unsigned encoding and a cut signature are refused")
    func unsignedComplaintsRefused() throws {
        let key = MessageSamples.key(1)
        func finish(complaint: [UInt8]) -> [UInt8] {
            var bytes = try! AgentMessage.dkgFinishRequest(DKGFinishRequest(key: key, complaints: [])).encode()
            bytes.removeLast(2)  // the empty count
            let length = UInt32(complaint.count)
            return bytes + [0, 1]
                + [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]
                + complaint
        }
        guard case .dkgFinishRequest(let sample) = try #require(
            try MessageSamples.all().first { $0.type == .dkgFinishRequest })
        else {
            Issue.record("no finish sample")
            return
        }
        let signed = try sample.complaints[0].serialized()
        _ = try AgentMessage(type: MessageType.dkgFinishRequest.rawValue, payload: finish(complaint: signed))
        for refused in [[0, 2, 0, 1, 0], Array(signed.dropLast(2)) + [0], [UInt8](repeating: 0, count: signed.count)] {
            let error = #expect(throws: AgentProtocolError.self) {
                try AgentMessage(type: MessageType.dkgFinishRequest.rawValue, payload: finish(complaint: refused))
            }
            #expect(error?.code == .malformedMessage)
        }
    }

    @Test("DKG confirmations must be strictly ascending, and a finish reports its own confirmation")
    func confirmationOrder() throws {
        guard case .dkgConfirmRequest(let sample) = try #require(
            try MessageSamples.all().first { $0.type == .dkgConfirmRequest }),
            case .dkgFinished(let finished) = try #require(try MessageSamples.all().first { $0.type == .dkgFinished })
        else {
            Issue.record("no confirm or finished sample")
            return
        }
        let confirmations = sample.confirmations
        #expect(confirmations.count == 3)
        for unordered in [confirmations.reversed(), confirmations + [confirmations[2]]] {
            let error = #expect(throws: AgentProtocolError.self) {
                try DKGConfirmRequest(key: sample.key, confirmations: Array(unordered))
            }
            #expect(error?.code == .malformedMessage)
        }
        // On the wire too: swap the first two fixed-size entries.
        var payload = try AgentMessage.dkgConfirmRequest(sample).encode()
        let size = DKG.Confirmation.byteCount
        let first = payload.count - 3 * size
        let swapped = Array(payload[(first + size)..<(first + 2 * size)]) + Array(payload[first..<(first + size)])
        payload.replaceSubrange(first..<(first + 2 * size), with: swapped)
        let error = #expect(throws: AgentProtocolError.self) {
            try AgentMessage(type: MessageType.dkgConfirmRequest.rawValue, payload: payload)
        }
        #expect(error?.code == .malformedMessage)
        #expect(throws: AgentProtocolError.self) {
            try DKGFinished(
                key: finished.key, participant: MessageSamples.id(2), publicShare: finished.publicShare,
                qualified: finished.qualified, commitment: finished.commitment, round1Digest: finished.round1Digest,
                transcriptDigest: finished.transcriptDigest, confirmation: finished.confirmation)
        }
    }

    @Test("a DKG confirmed by a disqualified agent carries no public share; the flag is 0 or 1")
    func dkgConfirmedWithoutShare() throws {
        let key = try KeyReference(keyID: "dkg-disqualified", version: 1)
        let none = DKGConfirmed(key: key, participant: MessageSamples.id(2), publicShare: nil)
        let payload = try AgentMessage.dkgConfirmed(none).encode()
        guard
            case .dkgConfirmed(let decoded) = try AgentMessage(
                type: MessageType.dkgConfirmed.rawValue, payload: payload)
        else {
            Issue.record("not a dkg-confirmed message")
            return
        }
        #expect(decoded == none && decoded.publicShare == nil)
        #expect(none.description.contains("no share"))
        for flag in [UInt8(1), 2, 0xFF] {
            let error = #expect(throws: AgentProtocolError.self) {
                try AgentMessage(
                    type: MessageType.dkgConfirmed.rawValue, payload: Array(payload.dropLast()) + [flag])
            }
            #expect(error?.code == .malformedMessage, "flag \(flag)")
        }
        let held = DKGConfirmed(key: key, participant: MessageSamples.id(2), publicShare: .generator)
        let heldPayload = try AgentMessage.dkgConfirmed(held).encode()
        #expect(heldPayload == Array(payload.dropLast()) + [1] + (try Point.generator.compressed()))
    }

    @Test("requests and responses pair up")
    func requestResponsePairs() {
        for type in MessageType.allCases where type.isRequest {
            let response = type.responseType
            #expect(response != nil && response?.isRequest == false, "\(type)")
        }
        #expect(MessageType.error.responseType == nil)
    }

    @Test("a count larger than the bytes that follow, or than the list limit, is refused before allocating")
    func hostileCount() throws {
        // sign-round2-request with a commitment count and no commitments.
        func request(count: UInt16) -> [UInt8] {
            [UInt8(3)] + Array("key".utf8) + [0, 0, 0, 1]  // key reference
                + [UInt8](repeating: 1, count: 16)  // session
                + [0, 0, 0, 0]  // empty message
                + [UInt8(count >> 8), UInt8(count & 0xFF)]
        }
        for (count, expected) in [(UInt16(1000), "announces 1000"), (0xFFFF, "at most 1024")] {
            let error = #expect(throws: AgentProtocolError.self) {
                try AgentMessage(type: MessageType.signRound2Request.rawValue, payload: request(count: count))
            }
            #expect(error?.code == .malformedMessage)
            #expect(error?.reason.contains(expected) == true, "\(String(describing: error))")
        }
    }

    @Test("a variable field announcing more bytes than remain is refused")
    func hostileLength() {
        // evidence whose EK certificate length is 0xFFFFFFFF.
        let error = #expect(throws: AgentProtocolError.self) {
            try AgentMessage(type: MessageType.evidence.rawValue, payload: [0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3])
        }
        #expect(error?.code == .malformedMessage)
    }

    @Test("non-canonical PCR maps are refused: unsorted banks, repeated index, wrong digest length")
    func pcrCanonicalForm() throws {
        func heartbeat(pcrs: [UInt8]) -> [UInt8] {
            [0, 0, 0, 1, 0xAA] + [0, 0, 0, 1, 0xBB] + pcrs + [0, 0]
        }
        let sha256 = [UInt8](repeating: 1, count: 32)
        let sha1 = [UInt8](repeating: 1, count: 20)
        let valid = heartbeat(pcrs: [2, 0x00, 0x04, 1, 0] + sha1 + [0x00, 0x0B, 1, 0] + sha256)
        _ = try AgentMessage(type: MessageType.heartbeat.rawValue, payload: valid)
        let refused: [(String, [UInt8])] = [
            ("banks out of order", heartbeat(pcrs: [2, 0x00, 0x0B, 1, 0] + sha256 + [0x00, 0x04, 1, 0] + sha1)),
            ("repeated index", heartbeat(pcrs: [1, 0x00, 0x0B, 2, 4] + sha256 + [4] + sha256)),
            ("unknown bank", heartbeat(pcrs: [1, 0x00, 0x99, 1, 0] + sha256)),
            ("index above 31", heartbeat(pcrs: [1, 0x00, 0x0B, 1, 32] + sha256)),
        ]
        for (name, payload) in refused {
            let error = #expect(throws: AgentProtocolError.self, "\(name)") {
                try AgentMessage(type: MessageType.heartbeat.rawValue, payload: payload)
            }
            #expect(error?.code == .malformedMessage)
        }
    }

    @Test("a challenge carries the verifier's PCR selection; bad selections are refused")
    func challengeSelection() throws {
        let nonce = [UInt8](repeating: 0x11, count: 32)
        let selection = try QuoteSelection(bank: 0x000B, indexes: [0, 4, 9, 23])
        let challenge = Challenge(nonce: try Nonce(nonce), selection: selection)
        let encoded = try AgentMessage.challenge(challenge).encode()
        // nonce ‖ bank ‖ bitmap with bits 0, 4, 9 and 23.
        #expect(Array(encoded.suffix(6)) == [0x00, 0x0B, 0x00, 0x80, 0x02, 0x11])
        guard case .challenge(let decoded) = try AgentMessage(type: MessageType.challenge.rawValue, payload: encoded)
        else {
            Issue.record("not a challenge")
            return
        }
        #expect(decoded.selection == selection)
        // No selection: the agent's default, encoded as bank 0 and an empty bitmap.
        let plain = try AgentMessage.challenge(Challenge(nonce: try Nonce(nonce))).encode()
        #expect(Array(plain.suffix(6)) == [0, 0, 0, 0, 0, 0])
        let prefix = Array(plain.dropLast(6))
        let refused: [(String, [UInt8])] = [
            ("bitmap without a bank", prefix + [0, 0, 0, 0, 0, 1]),
            ("unknown bank", prefix + [0x00, 0x99, 0, 0, 0, 1]),
            ("no PCR selected", prefix + [0x00, 0x0B, 0, 0, 0, 0]),
            ("PCR 24", prefix + [0x00, 0x0B, 0x01, 0, 0, 0]),
        ]
        for (name, payload) in refused {
            let error = #expect(throws: AgentProtocolError.self, "\(name)") {
                try AgentMessage(type: MessageType.challenge.rawValue, payload: payload)
            }
            #expect(error?.code == .malformedMessage, "\(name)")
        }
    }

    @Test("field constructors refuse bad values with the malformed-message code")
    func fieldRefusals() {
        let attempts: [(String, () throws -> Void)] = [
            ("short nonce", { _ = try Nonce([1, 2, 3]) }),
            ("empty key id", { _ = try KeyReference(keyID: "", version: 1) }),
            ("long key id", { _ = try KeyReference(keyID: String(repeating: "k", count: 129), version: 1) }),
            ("control char", { _ = try KeyReference(keyID: "a\nb", version: 1) }),
            ("compressed transport key", {
                _ = try TransportPublicKey(uncompressed: try Point.generator.compressed())
            }),
            ("off-curve transport key", { _ = try TransportPublicKey(uncompressed: [4] + [UInt8](repeating: 1, count: 64)) }),
            ("short session", { _ = try SessionID([1]) }),
            ("empty sealed payload", { _ = try SealedPayload(from: MessageSamples.id(1), to: MessageSamples.id(2), ciphertext: []) }),
            ("short ciphertext", {
                _ = try PartialDecryptRequest(key: MessageSamples.key(), ciphertext: [4, 1], context: [])
            }),
            ("PCR digest length", { _ = try PCRValues([0x000B: [0: [1, 2, 3]]]) }),
            ("zero threshold", {
                _ = try RedistributeDealRequest(
                    key: MessageSamples.key(), newKey: MessageSamples.newKey(), newThreshold: 0, recipients: [])
            }),
            ("redistribution into another key", {
                _ = try RedistributeDealRequest(
                    key: MessageSamples.key(), newKey: try KeyReference(keyID: "other", version: 4), newThreshold: 1,
                    recipients: [])
            }),
            ("redistribution into the same version", {
                _ = try RedistributeDealRequest(
                    key: MessageSamples.key(), newKey: MessageSamples.key(), newThreshold: 1, recipients: [])
            }),
            ("empty credential", { _ = try CredentialActivated(proof: SecretBytes([])) }),
            ("long destroy reason", { _ = try DestroyRequest(reason: String(repeating: "x", count: 1025)) }),
        ]
        for (name, attempt) in attempts {
            let error = #expect(throws: AgentProtocolError.self, "\(name)") { try attempt() }
            #expect(error?.code == .malformedMessage, "\(name)")
        }
    }

    @Test("descriptions never show secret or payload bytes")
    func redaction() throws {
        let secret = [UInt8](repeating: 0x5A, count: 32)
        let activated = AgentMessage.credentialActivated(try CredentialActivated(proof: SecretBytes(secret)))
        #expect(!"\(activated)".contains("5a5a"))
        #expect("\(activated)".contains("redacted"))
        #expect(String(reflecting: activated).contains("5a5a") == false)
        let frame = try activated.frame(requestID: 1)
        #expect(!"\(frame)".contains("5a5a"))
        #expect("\(frame)".contains("32 payload bytes"))
        for message in try MessageSamples.all() {
            // No sample prints a run of its filler bytes.
            #expect(!"\(message)".contains("7777777777"), "\(message.type)")
        }
    }

    @Test("error text is cut to 1024 UTF-8 bytes at a character boundary")
    func errorTextCut() throws {
        let long = String(repeating: "é", count: 600)  // 1200 bytes
        let message = ErrorMessage(code: .refused, text: long)
        #expect(message.text.utf8.count == 1024)
        let decoded = try AgentMessage(type: 0, payload: try AgentMessage.error(message).encode())
        guard case .error(let body) = decoded else { Issue.record("not an error"); return }
        #expect(body == message)
        #expect(body.code == .refused)
    }

    @Test("every single-byte corruption either is refused or decodes to a message with that exact encoding")
    func corruptionsAreCanonical() throws {
        var accepted = 0
        for message in try MessageSamples.all() {
            let payload = try message.encode()
            for position in 0..<min(payload.count, 200) {
                for flip: UInt8 in [0x01, 0xFF] {
                    var corrupted = payload
                    corrupted[position] ^= flip
                    do {
                        let decoded = try AgentMessage(type: message.type.rawValue, payload: corrupted)
                        #expect(try decoded.encode() == corrupted, "\(message.type) byte \(position) ^ \(flip)")
                        accepted += 1
                    } catch {
                        #expect(error.code == .malformedMessage)
                    }
                }
            }
        }
        // Flipping filler bytes (nonces, blobs) must still decode: the test sees both paths.
        #expect(accepted > 0)
    }
}
