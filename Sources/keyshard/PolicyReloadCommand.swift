import ArgumentParser
import KeyshardAPI

extension PolicyCommand {
    /// `keyshard policy reload`: keyshardd re-reads its attestation policy.
    struct Reload: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make keyshardd re-read its attestation policy and re-attest every custodian.",
            discussion: """
                The same as sending keyshardd SIGHUP. Every custodian is re-attested against
                the new policy at once; those it now refuses are destroyed and replaced, and
                their shares repaired from the others. Prints how many passed and why each
                refused one was refused. Lint the file first ('keyshard policy lint').
                Needs the operator role.

                Example:
                  keyshard policy lint /etc/keyshard/policy.yaml && keyshard policy reload
                """)

        @OptionGroup var daemon: DaemonOptions

        func run() async throws {
            let result = try await daemon.withClient { client in try await client.reloadPolicy() }
            print("\(result.accepted) custodian(s) re-attested and accepted; \(result.replaced.count) replaced")
            for (custodian, reason) in result.replaced.sorted(by: { $0.key < $1.key }) {
                print("  \(custodian): \(reason)")
            }
        }
    }
}
