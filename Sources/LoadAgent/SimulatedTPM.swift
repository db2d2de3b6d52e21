import Crypto
import CustodianAgent
import Foundation
import PeerAttestation
import TPM2
import _CryptoExtras

/// A TPM made of software keys, for load benchmarks only: one ECC P-256 EK (TCG default template
/// L-2, certified by a ``SoftwareEndorsementCA``), one restricted ECDSA P-256 AK, 24 SHA-256 PCRs
/// that stay zero, and a clock that only moves forward. It produces quotes and activates
/// credentials exactly as the coordinator expects of a TPM, so a daemon can heart-beat many of
/// them; nothing about it is protected, which is why its EK certificate comes from a CA that only
/// the benchmark trusts.
public final class SimulatedTPM: CustodianTPM {
    private let endorsementKey = P256.KeyAgreement.PrivateKey()
    private let attestationKey = P256.Signing.PrivateKey()
    private let endorsementCertificate: [UInt8]
    private var identity: (ek: TPMPublic, ak: TPMPublic)?
    private let started = ContinuousClock.now
    private var lastClock: UInt64 = 0

    /// Makes the keys and has `authority` certify the EK.
    /// - Throws: when the certificate cannot be made.
    public init(authority: SoftwareEndorsementCA) throws {
        endorsementCertificate = try authority.certify(endorsementKey.publicKey)
    }

    public func readEndorsementCertificate(_ type: TPMEndorsementKeyType) throws(TPMDeviceError) -> [UInt8]? {
        type == .eccP256 ? endorsementCertificate : nil
    }

    public func createAttestationIdentity(endorsementKey type: TPMEndorsementKeyType) throws(TPMDeviceError)
        -> TPMAttestationIdentity
    {
        guard type == .eccP256 else {
            throw TPMDeviceError(.invalidArgument, "the software TPM has only an ECC P-256 EK")
        }
        do {
            let ekPoint = [UInt8](endorsementKey.publicKey.rawRepresentation)
            let akPoint = [UInt8](attestationKey.publicKey.rawRepresentation)
            let ek = try TPMPublic.defaultECCEndorsementKey(x: Array(ekPoint[0..<32]), y: Array(ekPoint[32..<64]))
            let ak = try TPMPublic.eccAttestationKey(x: Array(akPoint[0..<32]), y: Array(akPoint[32..<64]))
            identity = (ek, ak)
            return TPMAttestationIdentity(
                endorsementKeyPublic: ek.encoded, attestationKeyPublic: ak.encoded, attestationKeyName: try ak.name())
        } catch {
            throw TPMDeviceError(.commandFailed, "the software keys do not fit the TPM templates: \(error)")
        }
    }

    public func quote(selection: TPMPCRSelection, qualifyingData: [UInt8]) throws(TPMDeviceError) -> TPMQuote {
        guard let identity else {
            throw TPMDeviceError(.noAttestationKey, "Quote needs an AK; call createAttestationIdentity() first.")
        }
        guard qualifyingData.count <= 64 else {
            throw TPMDeviceError(.invalidArgument, "qualifyingData is at most 64 bytes, not \(qualifyingData.count).")
        }
        let signer: [UInt8]
        do {
            signer = try identity.ak.qualifiedName(
                parentQualifiedName: try identity.ek.qualifiedName(primaryIn: TPMPublic.endorsementHierarchy))
        } catch {
            throw TPMDeviceError(.commandFailed, "the AK has no qualified name: \(error)")
        }
        let values = try readPCRs(selection)
        let pcrDigest = Array(SHA256.hash(data: selection.indexes.sorted().flatMap { values[$0] ?? [] }))
        var select = [UInt8](repeating: 0, count: 3)
        for index in selection.indexes { select[index / 8] |= UInt8(1 << (index % 8)) }

        var attest = TPMWriter()
        attest.u32(TPMAttestation.generatedValue)
        attest.u16(TPMAttestation.quoteType)
        attest.sized(signer)
        attest.sized(qualifyingData)
        attest.u64(nextClock())  // clockInfo: clock, resetCount, restartCount, safe
        attest.u32(0)
        attest.u32(0)
        attest.bytes([1])
        attest.u64(0x2023_0000_0000_0001)  // firmwareVersion
        attest.u32(1)  // TPML_PCR_SELECTION with one bank
        attest.u16(selection.bank.rawValue)
        attest.bytes([3] + select)
        attest.sized(pcrDigest)

        let signature: P256.Signing.ECDSASignature
        do { signature = try attestationKey.signature(for: attest.output) } catch {
            throw TPMDeviceError(.commandFailed, "signing the quote failed: \(error)")
        }
        let raw = [UInt8](signature.rawRepresentation)
        var signed = TPMWriter()
        signed.u16(0x0018)  // TPM_ALG_ECDSA
        signed.u16(0x000B)  // TPM_ALG_SHA256
        signed.sized(Array(raw[0..<32]))
        signed.sized(Array(raw[32..<64]))
        return TPMQuote(attestation: attest.output, signature: signed.output)
    }

    public func readPCRs(_ selection: TPMPCRSelection) throws(TPMDeviceError) -> [Int: [UInt8]] {
        guard selection.bank == .sha256 else {
            throw TPMDeviceError(.invalidArgument, "the software TPM has only the sha256 bank")
        }
        var values: [Int: [UInt8]] = [:]
        for index in selection.indexes {
            guard (0..<TPMPCRSelection.maximumIndexCount).contains(index) else {
                throw TPMDeviceError(.invalidArgument, "PCR index \(index) is not 0…23.")
            }
            values[index] = [UInt8](repeating: 0, count: 32)
        }
        return values
    }

    /// TPM2_ActivateCredential for the ECC EK (TPM 2.0 Part 1 §24, §C.6.4): ECDH of the EK with the
    /// secret's ephemeral point gives the seed (KDFe "IDENTITY"); the blob's HMAC (KDFa "INTEGRITY")
    /// must cover the encrypted credential and the AK's name, and AES-128-CFB under KDFa "STORAGE"
    /// with that name reveals it.
    public func activateCredential(credentialBlob: [UInt8], encryptedSecret: [UInt8]) throws(TPMDeviceError) -> [UInt8] {
        guard let identity else { throw TPMDeviceError(.noAttestationKey, "ActivateCredential needs the EK and AK.") }
        func refused(_ reason: String) -> TPMDeviceError { TPMDeviceError(.commandFailed, "ActivateCredential: \(reason)") }
        var blob = TPMReader(credentialBlob)
        var secret = TPMReader(encryptedSecret)
        guard let blobBody = blob.sized(), blob.isAtEnd, let secretBody = secret.sized(), secret.isAtEnd else {
            throw TPMDeviceError(.invalidArgument, "the credential blob or encrypted secret does not parse")
        }
        var body = TPMReader(blobBody)
        var point = TPMReader(secretBody)
        guard let integrity = body.sized(), let ephemeralX = point.sized(), let ephemeralY = point.sized(),
              point.isAtEnd, ephemeralX.count == 32, ephemeralY.count == 32
        else { throw TPMDeviceError(.invalidArgument, "the credential blob or encrypted secret does not parse") }
        let encryptedIdentity = body.rest
        let akName: [UInt8]
        let ekX: [UInt8]
        do {
            akName = try identity.ak.name()
            guard case .ecc(let ek) = identity.ek.key else { throw refused("the EK is not ECC") }
            ekX = ek.x
        } catch let error as TPMDeviceError { throw error } catch { throw refused("\(error)") }

        let z: [UInt8]
        do {
            let ephemeral = try P256.KeyAgreement.PublicKey(rawRepresentation: ephemeralX + ephemeralY)
            z = try endorsementKey.sharedSecretFromKeyAgreement(with: ephemeral).withUnsafeBytes { Array($0) }
        } catch { throw refused("the ephemeral point is not on P-256") }
        guard let seed = TPMKDF.kdfe(hash: .sha256, z: z, label: "IDENTITY", partyU: ephemeralX, partyV: ekX, bits: 256),
              let hmacKey = TPMKDF.kdfa(hash: .sha256, key: seed, label: "INTEGRITY", contextU: [], contextV: [], bits: 256),
              let storageKey = TPMKDF.kdfa(hash: .sha256, key: seed, label: "STORAGE", contextU: akName, contextV: [], bits: 128)
        else { throw refused("the TPM KDFs failed") }
        guard integrity.count == SHA256.byteCount, HMAC<SHA256>.isValidAuthenticationCode(
            integrity, authenticating: encryptedIdentity + akName, using: SymmetricKey(data: hmacKey))
        else { throw refused("the integrity check failed: the credential was made for another EK or name") }
        let decrypted: [UInt8]
        do {
            decrypted = [UInt8](try AES._CFB.decrypt(
                encryptedIdentity, using: SymmetricKey(data: storageKey),
                iv: AES._CFB.IV(ivBytes: [UInt8](repeating: 0, count: 16))))
        } catch { throw refused("decrypting the credential failed") }
        var credential = TPMReader(decrypted)
        guard let value = credential.sized(), credential.isAtEnd else { throw refused("the credential does not parse") }
        return value
    }

    /// Milliseconds since this TPM started, strictly increasing from one quote to the next.
    private func nextClock() -> UInt64 {
        let elapsed = ContinuousClock.now - started
        let milliseconds = UInt64(elapsed.components.seconds) * 1000 + UInt64(elapsed.components.attoseconds / 1_000_000_000_000_000)
        lastClock = max(lastClock + 1, milliseconds + 1)
        return lastClock
    }
}

/// Big-endian TPM marshalling.
struct TPMWriter {
    private(set) var output: [UInt8] = []
    mutating func u16(_ value: UInt16) { output += [UInt8(value >> 8), UInt8(value & 0xff)] }
    mutating func u32(_ value: UInt32) { u16(UInt16(value >> 16)); u16(UInt16(value & 0xffff)) }
    mutating func u64(_ value: UInt64) { u32(UInt32(value >> 32)); u32(UInt32(value & 0xffff_ffff)) }
    mutating func bytes(_ value: [UInt8]) { output += value }
    /// A `TPM2B`: two size bytes, then the bytes.
    mutating func sized(_ value: [UInt8]) { u16(UInt16(value.count)); output += value }
}

/// Big-endian TPM unmarshalling of `TPM2B`s; nil when the input is short.
struct TPMReader {
    private let input: [UInt8]
    private var position = 0
    init(_ input: [UInt8]) { self.input = input }
    var isAtEnd: Bool { position == input.count }
    var rest: [UInt8] { Array(input[position...]) }
    mutating func sized() -> [UInt8]? {
        guard input.count - position >= 2 else { return nil }
        let count = Int(input[position]) << 8 | Int(input[position + 1])
        guard input.count - position - 2 >= count else { return nil }
        defer { position += 2 + count }
        return Array(input[(position + 2)..<(position + 2 + count)])
    }
}
