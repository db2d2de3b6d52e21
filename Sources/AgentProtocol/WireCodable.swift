import ShardCrypto

/// A message body with one canonical binary encoding: decoding refuses anything that
/// would not re-encode to the same bytes (trailing bytes, unsorted lists, bad values).
protocol WireCodable: Sendable {
    /// The frame type this body travels in.
    static var messageType: MessageType { get }
    /// Appends the body's encoding.
    func encode(into writer: inout WireWriter) throws
    /// Reads the body; the caller checks that nothing is left over.
    init(from reader: inout WireReader) throws(AgentProtocolError)
}

/// Bounds shared by several messages; each keeps a hostile count from costing more
/// than the bytes actually sent.
enum WireLimits {
    /// More custodians than any ring keyshard plans (a ring is a handful of VMs).
    static let maximumParticipants = 1024
    /// DER EK certificates are 1–2 KiB; room for long chains of extensions.
    static let maximumCertificateLength = 16 * 1024
    /// TPM2B_PUBLIC, TPMS_ATTEST, TPMT_SIGNATURE and MakeCredential blobs are a few hundred bytes.
    static let maximumTPMStructureLength = 4096
    /// A sealed share: enc, the 34-byte share and a tag, with room for a future format.
    static let maximumSealedShareLength = 1024
    /// DLEQ context, DKG session context.
    static let maximumContextLength = 1024
    /// Error and destroy texts.
    static let maximumTextLength = 1024

    /// Refuses a variable-length field that is empty or longer than `maximum`.
    /// - Throws: ``AgentProtocolError/Code/malformedMessage`` naming `field`.
    static func check(_ field: String, _ bytes: [UInt8], maximum: Int) throws(AgentProtocolError) {
        guard !bytes.isEmpty, bytes.count <= maximum else {
            throw AgentProtocolError.malformed("\(field) is 1…\(maximum) bytes, got \(bytes.count)")
        }
    }
}

/// Maps a ShardCrypto or protocol decoding failure to a protocol error naming the field.
func decodingField<T, E: Error>(_ field: String, _ body: () throws(E) -> T) throws(AgentProtocolError) -> T {
    do { return try body() } catch let error as AgentProtocolError {
        throw AgentProtocolError.malformed("\(field): \(error.reason)")
    } catch let error as ShardCryptoError {
        throw AgentProtocolError.malformed("\(field): \(error.reason)")
    } catch {
        // Every decoder here throws one of the two; keep any other error's text rather than lose it.
        throw AgentProtocolError.malformed("\(field): \(error)")
    }
}

extension WireWriter {
    mutating func write(_ nonce: Nonce) { writeFixed(nonce.bytes) }
    mutating func write(_ session: SessionID) { writeFixed(session.bytes) }
    mutating func write(_ id: ParticipantID) { write(id.rawValue) }
    mutating func write(_ key: TransportPublicKey) { writeFixed(key.uncompressed) }

    mutating func write(_ key: KeyReference) {
        let identifier = Array(key.keyID.utf8)
        write(UInt8(identifier.count))
        writeFixed(identifier)
        write(key.version)
    }

    mutating func writeText(_ text: String) { writeVariable(Array(text.utf8)) }

    mutating func write(_ point: Point) throws(ShardCryptoError) { writeFixed(try point.compressed()) }

    mutating func write(_ commitment: FeldmanCommitment) throws(ShardCryptoError) { writeVariable(try commitment.serialized()) }

    mutating func write(_ ids: [ParticipantID]) throws(AgentProtocolError) {
        try writeCount(ids.count)
        for id in ids { write(id) }
    }

    mutating func write(_ recipients: [RecipientKey]) throws(AgentProtocolError) {
        try writeCount(recipients.count)
        for recipient in recipients {
            write(recipient.participant)
            write(recipient.transportKey)
            recipient.quote.encode(into: &self)
            try writeCount(recipient.endorsementChain.count)
            for certificate in recipient.endorsementChain { writeVariable(certificate) }
        }
    }

    mutating func write(_ sealed: [SealedPayload]) throws(AgentProtocolError) {
        try writeCount(sealed.count)
        for payload in sealed {
            write(payload.from)
            write(payload.to)
            writeVariable(payload.ciphertext)
            writeVariable(payload.credentialBlob)
            writeVariable(payload.encryptedSecret)
        }
    }

    /// Banks ascending, indices ascending: one encoding per value.
    mutating func write(_ pcrs: PCRValues) {
        write(UInt8(pcrs.digests.count))
        for bank in pcrs.digests.keys.sorted() {
            let values = pcrs.digests[bank]!
            write(bank)
            write(UInt8(values.count))
            for index in values.keys.sorted() {
                write(index)
                writeFixed(values[index]!)
            }
        }
    }
}

extension WireReader {
    mutating func readNonce(_ field: String) throws(AgentProtocolError) -> Nonce {
        try Nonce(try readFixed(Nonce.byteCount, field))
    }

    mutating func readSessionID(_ field: String) throws(AgentProtocolError) -> SessionID {
        try SessionID(try readFixed(SessionID.byteCount, field))
    }

    mutating func readParticipant(_ field: String) throws(AgentProtocolError) -> ParticipantID {
        let raw = try readUInt16(field)
        return try decodingField(field) { try ParticipantID(raw) }
    }

    mutating func readTransportKey(_ field: String) throws(AgentProtocolError) -> TransportPublicKey {
        let bytes = try readFixed(TransportPublicKey.byteCount, field)
        return try decodingField(field) { try TransportPublicKey(uncompressed: bytes) }
    }

    mutating func readKeyReference(_ field: String) throws(AgentProtocolError) -> KeyReference {
        let length = Int(try readUInt8("\(field) identifier length"))
        let raw = try readFixed(length, "\(field) identifier")
        guard let identifier = String(validating: raw, as: UTF8.self) else {
            throw AgentProtocolError.malformed("\(field) identifier is not UTF-8")
        }
        let version = try readUInt32("\(field) version")
        return try decodingField(field) { try KeyReference(keyID: identifier, version: version) }
    }

    mutating func readText(_ field: String, maximum: Int = WireLimits.maximumTextLength) throws(AgentProtocolError) -> String {
        let raw = try readVariable(field, maximum: maximum)
        guard let text = String(validating: raw, as: UTF8.self) else {
            throw AgentProtocolError.malformed("\(field) is not UTF-8")
        }
        return text
    }

    mutating func readPoint(_ field: String) throws(AgentProtocolError) -> Point {
        let bytes = try readFixed(Point.compressedByteCount, field)
        return try decodingField(field) { try Point(sec1: bytes) }
    }

    mutating func readCommitment(_ field: String) throws(AgentProtocolError) -> FeldmanCommitment {
        let bytes = try readVariable(
            field, maximum: WireLimits.maximumParticipants * Point.compressedByteCount, minimum: 1)
        return try decodingField(field) { try FeldmanCommitment(serialized: bytes) }
    }

    /// Identifiers strictly ascending, so the list is a set with one encoding.
    mutating func readParticipants(_ field: String, minimum: Int = 1) throws(AgentProtocolError) -> [ParticipantID] {
        let count = try readCount(field, minimumElementSize: 2, maximum: WireLimits.maximumParticipants)
        guard count >= minimum else { throw AgentProtocolError.malformed("\(field) needs at least \(minimum)") }
        var ids: [ParticipantID] = []
        ids.reserveCapacity(count)
        for _ in 0..<count {
            let id = try readParticipant(field)
            guard ids.last.map({ $0 < id }) ?? true else {
                throw AgentProtocolError.malformed("\(field) must be strictly ascending")
            }
            ids.append(id)
        }
        return ids
    }

    /// Recipients strictly ascending by participant.
    mutating func readRecipients(_ field: String) throws(AgentProtocolError) -> [RecipientKey] {
        let count = try readCount(
            field, minimumElementSize: 2 + TransportPublicKey.byteCount + 4 * 5 + 2,
            maximum: WireLimits.maximumParticipants)
        guard count >= 1 else { throw AgentProtocolError.malformed("\(field) is empty") }
        var recipients: [RecipientKey] = []
        recipients.reserveCapacity(count)
        for _ in 0..<count {
            let participant = try readParticipant(field)
            let transportKey = try readTransportKey(field)
            let quote = try RecipientQuote(from: &self)
            let chainLength = try readCount(
                "\(field) EK chain", minimumElementSize: 5, maximum: RecipientKey.maximumChainLength)
            var chain: [[UInt8]] = []
            for _ in 0..<chainLength {
                chain.append(try readVariable("\(field) EK chain", maximum: WireLimits.maximumCertificateLength))
            }
            let recipient = try RecipientKey(
                participant: participant, transportKey: transportKey, quote: quote, endorsementChain: chain)
            guard recipients.last.map({ $0.participant < recipient.participant }) ?? true else {
                throw AgentProtocolError.malformed("\(field) must be strictly ascending by participant")
            }
            recipients.append(recipient)
        }
        return recipients
    }

    mutating func readSealedPayloads(_ field: String) throws(AgentProtocolError) -> [SealedPayload] {
        let count = try readCount(
            field, minimumElementSize: 2 + 2 + 4 + 1 + 4 + 4, maximum: WireLimits.maximumParticipants)
        var payloads: [SealedPayload] = []
        payloads.reserveCapacity(count)
        for _ in 0..<count {
            let from = try readParticipant("\(field) sender")
            let to = try readParticipant("\(field) recipient")
            let ciphertext = try readVariable(field, maximum: SealedPayload.maximumCiphertextLength, minimum: 1)
            let blob = try readVariable("\(field) credential", maximum: WireLimits.maximumTPMStructureLength)
            let secret = try readVariable("\(field) secret", maximum: WireLimits.maximumTPMStructureLength)
            payloads.append(
                try SealedPayload(from: from, to: to, ciphertext: ciphertext, credentialBlob: blob, encryptedSecret: secret))
        }
        return payloads
    }

    mutating func readPCRValues(_ field: String) throws(AgentProtocolError) -> PCRValues {
        let bankCount = Int(try readUInt8("\(field) bank count"))
        var digests: [UInt16: [UInt8: [UInt8]]] = [:]
        var previousBank: UInt16?
        for _ in 0..<bankCount {
            let bank = try readUInt16("\(field) bank")
            guard previousBank.map({ $0 < bank }) ?? true else {
                throw AgentProtocolError.malformed("\(field) banks must be strictly ascending")
            }
            previousBank = bank
            guard let length = PCRValues.digestLength(bank: bank) else {
                throw AgentProtocolError.malformed("\(field) bank 0x\(String(bank, radix: 16)) is not a known hash")
            }
            let count = Int(try readUInt8("\(field) PCR count"))
            var values: [UInt8: [UInt8]] = [:]
            var previousIndex: UInt8?
            for _ in 0..<count {
                let index = try readUInt8("\(field) PCR index")
                guard previousIndex.map({ $0 < index }) ?? true else {
                    throw AgentProtocolError.malformed("\(field) PCR indices must be strictly ascending")
                }
                previousIndex = index
                values[index] = try readFixed(length, "\(field) PCR \(index) digest")
            }
            digests[bank] = values
        }
        return try decodingField(field) { try PCRValues(digests) }
    }
}
