import TPM2

/// What a ``Custodian`` needs of its TPM: its EK certificate, an attestation identity (EK and AK),
/// quotes, PCR reads and credential activation.
///
/// `keyshard-agent` only ever runs on a ``TPM2/TPMDevice`` (tpm2-tss on a real TPM or swtpm). The
/// protocol exists so that the fleet benchmark can host many custodians on software keys in one
/// process (`LoadAgent`, which the agent executable does not link): their EKs are certified by a
/// benchmark-local CA, so a policy whose `ekRoots` name any real TPM vendor or a host's swtpm CA
/// refuses them at admission.
public protocol CustodianTPM: AnyObject {
    /// The DER certificate of the EK of `type`, or nil when the TPM holds none.
    func readEndorsementCertificate(_ type: TPMEndorsementKeyType) throws(TPMDeviceError) -> [UInt8]?
    /// Creates the EK of `type` and a restricted ECDSA P-256 AK under it.
    func createAttestationIdentity(endorsementKey type: TPMEndorsementKeyType) throws(TPMDeviceError)
        -> TPMAttestationIdentity
    /// Quotes `selection` with the AK, binding `qualifyingData` (at most 64 bytes).
    func quote(selection: TPMPCRSelection, qualifyingData: [UInt8]) throws(TPMDeviceError) -> TPMQuote
    /// The current values of the selected PCRs.
    func readPCRs(_ selection: TPMPCRSelection) throws(TPMDeviceError) -> [Int: [UInt8]]
    /// Recovers a credential made for this TPM's EK and the AK's name (TPM2_ActivateCredential).
    func activateCredential(credentialBlob: [UInt8], encryptedSecret: [UInt8]) throws(TPMDeviceError) -> [UInt8]
}

extension TPMDevice: CustodianTPM {}
