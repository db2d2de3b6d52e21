import ArgumentParser
import Attestation
import Foundation

/// `--nonce-issued-at` and `--previous-evidence`: what a policy's `freshness` rules need besides the
/// evidence, shared by `attest verify` and `policy explain`.
struct FreshnessOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "When you issued the nonce (RFC 3339, such as 2026-11-29T12:00:00Z).",
            discussion: """
                Needed when the policy has freshness.maxAge: the quote is refused when it is checked longer \
                than maxAge after this time. Record the time when you send the challenge; the evidence \
                file's own time is not trusted, since whoever holds a quote can touch the file.
                """,
            valueName: "time"))
    var nonceIssuedAt: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "The last evidence of this attester that was accepted (for freshness.monotonic).",
            discussion: """
                Its quote must be signed by the same AK. The new quote is refused when the TPM was reset \
                (reboot) or restarted (resume) since then, or its clock went back. Omit it for the first \
                attestation of a boot.
                """,
            valueName: "file"))
    var previousEvidence: String?

    /// The freshness context for checking `current` now.
    /// - Throws: ``CLIInput/Failure`` or ``AttestationError`` when a value is malformed or the previous
    ///   evidence is unusable.
    func context(for current: Evidence) throws -> FreshnessContext {
        var context = FreshnessContext()
        if let nonceIssuedAt {
            guard let date = Self.parseTime(nonceIssuedAt) else {
                throw CLIInput.Failure(description: "--nonce-issued-at must be an RFC 3339 time with a zone, "
                    + "such as 2026-11-29T12:00:00Z or 2026-11-29T13:00:00.250+01:00")
            }
            context.nonceIssuedAt = date
        }
        if let previousEvidence {
            let previous = try Evidence(json: CLIInput.read(previousEvidence, limit: Evidence.maximumDocumentSize))
            context.previous = try PreviousQuote.clockInfo(of: previous, before: current)
        }
        return context
    }

    /// An RFC 3339 date-time, with or without fractional seconds.
    static func parseTime(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }
}
