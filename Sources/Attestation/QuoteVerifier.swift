import TPM2

/// Checks a TPM quote against a measured-boot policy.
///
/// Every check runs and every failure is reported, so a person fixing a policy or a boot
/// sees all that is wrong at once. No failure is only logged: any refusal refuses.
public struct QuoteVerifier: Sendable {
    /// The policy evidence must satisfy.
    public let policy: AttestationPolicy

    /// Attributes an attestation key must have: restricted (it signs only TPM-made structures),
    /// a signing key, created in and bound to this TPM.
    public static let requiredAKAttributes: TPMObjectAttributes = [
        .restricted, .sign, .fixedTPM, .fixedParent, .sensitiveDataOrigin,
    ]

    /// Creates a verifier for a policy.
    /// - Parameter policy: the measured-boot policy.
    public init(policy: AttestationPolicy) { self.policy = policy }

    /// Verifies evidence for a challenge.
    /// - Parameters:
    ///   - evidence: the attester's evidence.
    ///   - nonce: the nonce this verifier issued; the quote's qualifyingData must equal it.
    ///   - freshness: when the nonce was issued, the check time and the previous accepted quote's clock,
    ///     for the policy's `freshness` rules (unused when the policy has none).
    /// - Returns: ``Verdict/accepted``, or every refusal found.
    public func verify(_ evidence: Evidence, nonce: [UInt8], freshness: FreshnessContext = FreshnessContext())
        -> Verdict
    {
        let refusals = evaluate(evidence, nonce: nonce, freshness: freshness).flatMap(\.refusals)
        return refusals.isEmpty ? .accepted : .refused(refusals)
    }

    /// Runs every check and reports each one, passed or failed (for `keyshard policy explain`).
    /// Checks that need a structure that did not parse are reported as failed with no refusals of
    /// their own: the parse failure already explains them.
    /// - Parameters:
    ///   - evidence: the attester's evidence.
    ///   - nonce: the nonce this verifier issued.
    ///   - freshness: what the policy's `freshness` rules need besides the evidence.
    /// - Returns: the checks in the order they run.
    public func evaluate(
        _ evidence: Evidence, nonce: [UInt8], freshness: FreshnessContext = FreshnessContext()
    ) -> [CheckResult] {
        var results: [CheckResult] = []
        func record(_ name: String, _ refusals: [Refusal], ran: Bool = true) {
            results.append(CheckResult(name: name, passed: ran && refusals.isEmpty, refusals: refusals))
        }

        var parseRefusals: [Refusal] = []
        let ak: TPMPublic?
        do {
            ak = try TPMPublic(parsing: evidence.akPublic)
        } catch {
            ak = nil
            parseRefusals.append(
                Refusal(.akMalformed, "The attestation key's public area is unusable: \(error.reason)"))
        }
        let attestation: TPMAttestation?
        do {
            attestation = try TPMAttestation(parsing: evidence.quoteMessage)
        } catch {
            attestation = nil
            parseRefusals.append(Refusal(.quoteMalformed, "The quote message is unusable: \(error.reason)"))
        }
        let signature: TPMSignature?
        do {
            signature = try TPMSignature(parsing: evidence.quoteSignature)
        } catch {
            signature = nil
            parseRefusals.append(Refusal(.signatureMalformed, "The quote signature is unusable: \(error.reason)"))
        }
        record("structures parse (AK, quote, signature)", parseRefusals)

        record("AK attributes", ak.map(checkAttributes) ?? [], ran: ak != nil)
        if let ak, let attestation, let signature {
            record("AK signature over the quote", AKSignature.check(signature, over: attestation.encoded, by: ak))
        } else {
            record("AK signature over the quote", [], ran: false)
        }
        if let ak, let attestation {
            // Only an EK the caller vouches for (the coordinator's, rebuilt from the certificate it
            // checked) is the parent; an attached certificate is judged by EKCertificate, not here.
            let parent = evidence.endorsementKey
            record(
                parent == nil
                    ? "quote signer is the AK (EK unknown: name algorithm and length only)"
                    : "quote signer is the AK under the EK",
                Self.checkSigner(of: attestation, ak: ak, endorsementKey: parent))
        } else {
            record("quote signer is the AK", [], ran: false)
        }
        if let attestation {
            record("magic, type and nonce", checkHeader(of: attestation, nonce: nonce))
            if let quote = attestation.quote {
                record("PCR selection is the policy's", checkSelection(quote.selections))
                record("PCR values match the quoted digest",
                       checkDigest(quote, hash: signature?.hash, reported: evidence.pcrs), ran: signature != nil)
            }
        } else {
            record("magic, type and nonce", [], ran: false)
        }
        if let rules = policy.freshness {
            if let attestation {
                results += rules.evaluate(TPMClockInfo(attestation), context: freshness, policyName: policy.name)
            } else {
                for check in rules.evaluate(TPMClockInfo(clock: 0, resetCount: 0, restartCount: 0, isSafe: true),
                                            context: freshness, policyName: policy.name) {
                    record(check.name, [], ran: false)
                }
            }
        }
        record("PCR values are allowed by the policy", checkValues(reported: evidence.pcrs[policy.pcrBank] ?? [:]))
        if let log = evidence.eventLog {
            record("event log replays to the PCR values",
                   checkEventLog(log, reported: evidence.pcrs[policy.pcrBank] ?? [:]))
        }
        if !policy.eventRules.isEmpty {
            evaluateEventRules(evidence.eventLog, record: record)
        }
        return results
    }

    /// One check that a log is present, then one per rule. The rules judge the log's events; the replay
    /// check above is what makes those events the quoted boot's.
    private func evaluateEventRules(_ bytes: [UInt8]?, record: (String, [Refusal], Bool) -> Void) {
        guard let bytes else {
            record("event log is present (the policy has event rules)", [Refusal(.eventLogMissing,
                "Policy \(policy.name) has \(policy.eventRules.count) event rule(s) but the evidence has no event "
                    + "log: collect /sys/kernel/security/tpm0/binary_bios_measurements with the quote.")], true)
            for rule in policy.eventRules { record("event rule \(rule.summary)", [], false) }
            return
        }
        record("event log is present (the policy has event rules)", [], true)
        // A log that does not parse is already refused by the replay check.
        let log = try? EventLog(parsing: bytes)
        for rule in policy.eventRules {
            record("event rule \(rule.summary)", log.map { checkRule(rule, in: $0) } ?? [], log != nil)
        }
    }

    private func checkRule(_ rule: EventRule, in log: EventLog) -> [Refusal] {
        // The YAML reader refuses such rules; a policy built in code could still have one, and the
        // log's events for an unquoted PCR are whatever the attester wrote.
        guard policy.allowedPCRValues[rule.pcr] != nil else {
            return [Refusal(.eventLogRuleMissing,
                "Policy \(policy.name) has a \(rule.summary) rule but does not pin PCR \(rule.pcr), so no event in "
                    + "that PCR is bound to the quote and the rule cannot be satisfied.")]
        }
        let matching = log.events.enumerated().filter { rule.matches($0.element) }
        guard !matching.isEmpty else {
            return [Refusal(.eventLogRuleMissing,
                "Policy \(policy.name) requires a \(rule.summary) event but the log has none"
                    + (rule.note.map { " (rule: \($0))" } ?? "")
                    + ": the boot did not measure it, or measured it under another PCR, type or label.")]
        }
        var refusals: [Refusal] = []
        for (position, event) in matching {
            let name = rule.label.map { "'\($0)'" } ?? EventType.display(rule.eventType)
            let what = "PCR \(rule.pcr) event \(name) (log event \(position + 1))"
            guard let digest = event.digests[policy.pcrBank] else {
                refusals.append(Refusal(.eventLogRuleDigest,
                    "\(what) has no \(policy.pcrBank) digest, so policy \(policy.name) cannot check it."))
                continue
            }
            if !rule.allowedDigests.contains(digest) {
                let allowed = rule.allowedDigests.map(Hex.short).joined(separator: ", ")
                refusals.append(Refusal(.eventLogRuleDigest,
                    "\(what) has digest \(Hex.encode(digest)), policy \(policy.name) allows \(allowed)"
                        + rule.changeHint + (rule.note.map { "; rule: \($0)" } ?? "") + "."))
            }
        }
        return refusals
    }

    /// Whether the quote's `qualifiedSigner` names `ak`. A TPM writes the signing key's *qualified*
    /// name there, `nameAlg ‖ H(parent's qualified name ‖ name)`, so with the EK known the expected value
    /// is exact: the AK's qualified name under the EK (a primary of the endorsement hierarchy). Without
    /// the EK only its name algorithm and length can be compared. The signature check does not cover
    /// this: a signature verifies under any public area with the same key, whatever its attributes, so
    /// a quote by an unrestricted key would otherwise pass for one by a restricted AK with that key.
    /// - Parameters:
    ///   - attestation: the quote.
    ///   - ak: the AK public area presented with it.
    ///   - endorsementKey: the AK's parent EK, when known.
    /// - Returns: a `quote.signer-mismatch` refusal, or nothing.
    public static func checkSigner(
        of attestation: TPMAttestation, ak: TPMPublic, endorsementKey: TPMPublic?
    ) -> [Refusal] {
        let signer = attestation.qualifiedSigner
        guard let endorsementKey else {
            let expectedLength = ak.nameAlgorithm.digestSize.map { $0 + 2 }
            let algorithm = signer.count >= 2 ? UInt16(signer[0]) << 8 | UInt16(signer[1]) : nil
            guard algorithm != ak.nameAlgorithm.rawValue || signer.count != expectedLength else { return [] }
            return [Refusal(.quoteSignerMismatch,
                "The quote's signer \(Hex.short(signer)) is not named with the AK's name algorithm "
                    + "\(ak.nameAlgorithm): another key signed this quote.")]
        }
        let expected: [UInt8]
        do {
            expected = try ak.qualifiedName(
                parentQualifiedName: try endorsementKey.qualifiedName(primaryIn: TPMPublic.endorsementHierarchy))
        } catch {
            return [Refusal(.quoteSignerMismatch, "The AK's qualified name cannot be computed: \(error.reason)")]
        }
        guard signer != expected else { return [] }
        return [Refusal(.quoteSignerMismatch,
            "The quote's signer is \(Hex.short(signer)) but the AK presented with it, as a child of the EK, has "
                + "qualified name \(Hex.short(expected)): the quote was made by another key (or an AK under "
                + "another EK), so its attributes, and the EK binding, are not the presented AK's.")]
    }

    private func checkAttributes(of ak: TPMPublic) -> [Refusal] {
        var refusals: [Refusal] = []
        if ak.nameAlgorithm == .sha1 {
            refusals.append(Refusal(.akSHA1Name,
                "The attestation key's name algorithm is SHA-1: its name, which the credential and the quote's "
                    + "signer bind, rests on a broken hash. Create the AK with a SHA-256 name "
                    + "(tpm2_createak -g sha256)."))
        }
        let missing = Self.requiredAKAttributes.subtracting(ak.attributes)
        if !missing.isEmpty {
            refusals.append(Refusal(.akAttributes,
                "The attestation key lacks \(missing); it has \(ak.attributes). An AK must be a restricted, "
                    + "TPM-generated signing key fixed to its TPM, or the 'quote' may be a forgery: "
                    + "create it with tpm2_createak."))
        }
        if ak.attributes.contains(.decrypt) {
            refusals.append(Refusal(.akAttributes,
                "The attestation key can also decrypt; an AK must be a signing-only key "
                    + "(create it with tpm2_createak)."))
        }
        return refusals
    }

    private func checkHeader(of attestation: TPMAttestation, nonce: [UInt8]) -> [Refusal] {
        var refusals: [Refusal] = []
        if attestation.magic != TPMAttestation.generatedValue {
            refusals.append(Refusal(.quoteMagic,
                "The quote's magic is 0x\(String(attestation.magic, radix: 16)), not TPM_GENERATED (0xff544347): "
                    + "the TPM did not produce this structure."))
        }
        if attestation.type != TPMAttestation.quoteType {
            refusals.append(Refusal(.quoteType,
                "The attestation structure has type 0x\(String(attestation.type, radix: 16)), not a quote (0x8018)."))
        }
        if attestation.extraData != nonce {
            refusals.append(Refusal(.quoteNonce,
                "The quote answers nonce \(Hex.short(attestation.extraData)), not this challenge's "
                    + "\(Hex.short(nonce)): it is stale or replayed; ask the attester for a fresh quote."))
        }
        return refusals
    }

    private func checkSelection(_ quoted: [TPMPCRSelection]) -> [Refusal] {
        // A policy built in code with no PCRs would otherwise accept a quote over nothing.
        guard !policy.allowedPCRValues.isEmpty else {
            return [Refusal(.quotePCRSelection, "Policy \(policy.name) pins no PCRs, so no quote can satisfy it.")]
        }
        let nonEmpty = quoted.filter { !$0.indexes.isEmpty }
        guard nonEmpty != [policy.selection] else { return [] }
        let quotedText = nonEmpty.isEmpty ? "no PCRs" : nonEmpty.map(\.description).joined(separator: " ")
        return [Refusal(.quotePCRSelection,
            "The quote covers \(quotedText) but policy \(policy.name) requires exactly \(policy.selection); "
                + "quote with tpm2_quote -l \(policy.selection).")]
    }

    private func checkDigest(
        _ quote: TPMAttestation.Quote, hash: TPMAlgorithmID?, reported: [TPMAlgorithmID: [Int: [UInt8]]]
    ) -> [Refusal] {
        var concatenated: [UInt8] = []
        for selection in quote.selections {
            for index in selection.indexes {
                guard let value = reported[selection.bank]?[index] else {
                    return [Refusal(.pcrMissing,
                        "The quote covers PCR \(index) in \(selection.bank) but the evidence reports no value for it.")]
                }
                concatenated += value
            }
        }
        guard let hash, let digest = Digests.hash(concatenated, with: hash) else {
            // The signature check already refuses a missing or unsupported hash.
            return []
        }
        guard digest == quote.pcrDigest else {
            return [Refusal(.quotePCRDigest,
                "The reported PCR values hash to \(Hex.short(digest)) but the TPM quoted "
                    + "\(Hex.short(quote.pcrDigest)): the PCR values in the evidence are not the ones the TPM signed.")]
        }
        return []
    }

    /// The log must replay to the reported values of every PCR the policy pins; since the reported
    /// values must match the quoted digest, the log is then bound to the quote.
    private func checkEventLog(_ bytes: [UInt8], reported: [Int: [UInt8]]) -> [Refusal] {
        let replayed: [Int: [UInt8]]
        do {
            replayed = try EventLog(parsing: bytes).replay(bank: policy.pcrBank)
        } catch {
            return [Refusal(.eventLogMalformed, "The event log is unusable: \(error.reason)")]
        }
        var refusals: [Refusal] = []
        for index in policy.selection.indexes {
            guard let value = reported[index] else { continue }  // already refused as pcr.missing
            let fromLog = replayed[index] ?? [UInt8](repeating: 0, count: value.count)
            if fromLog != value {
                refusals.append(Refusal(.eventLogMismatch,
                    "Replaying the event log gives PCR \(index) = \(Hex.short(fromLog)) but the quote has "
                        + "\(Hex.short(value)): the log is incomplete or not this boot's."))
            }
        }
        return refusals
    }

    private func checkValues(reported: [Int: [UInt8]]) -> [Refusal] {
        var refusals: [Refusal] = []
        for index in policy.selection.indexes {
            let allowed = policy.allowedPCRValues[index] ?? []
            guard let value = reported[index] else {
                refusals.append(Refusal(.pcrMissing,
                    "Policy \(policy.name) pins PCR \(index) in \(policy.pcrBank) "
                        + "but the evidence reports no value for it."))
                continue
            }
            if !allowed.contains(value) {
                let allowedText = allowed.map(Hex.short).joined(separator: ", ")
                refusals.append(Refusal(.pcrValue,
                    "PCR \(index) is \(Hex.encode(value)), policy \(policy.name) allows \(allowedText)"
                        + PCRMeaning.hint(for: index) + "."))
            }
        }
        return refusals
    }
}

/// What the PC Client firmware profile and the Linux EFI stub measure into each PCR, so a
/// refusal can say what probably changed and a learned policy can say what each PCR holds.
enum PCRMeaning {
    static func name(for index: Int) -> String? {
        switch index {
        case 0: "firmware code"
        case 1: "firmware configuration"
        case 2: "option ROM code"
        case 3: "option ROM configuration"
        case 4: "boot loader or kernel image"
        case 5: "boot configuration or partition table"
        case 7: "Secure Boot state and keys"
        case 8: "kernel command line"
        case 9: "initrd or kernel command line digest"
        case 11: "unified kernel image"
        case 14: "shim MOK list"
        default: nil
        }
    }

    static func hint(for index: Int) -> String {
        name(for: index).map { " (\($0) changed)" } ?? ""
    }
}
