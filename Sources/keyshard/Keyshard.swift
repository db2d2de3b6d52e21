import ArgumentParser

/// `keyshard`: the command-line front end. Each subcommand lives in its own file;
/// the logic lives in the libraries.
@main
struct Keyshard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keyshard",
        abstract: "Keep keys alive only as Shamir shares in attested custodians.",
        discussion: """
            Most commands talk to keyshardd over its Unix socket (--socket, else
            $KEYSHARD_SOCKET, else /run/keyshard/keyshard.sock). encrypt --public-key,
            verify --public-key, attest and policy lint/learn/explain work offline.

            Exit codes:
              0   success
              1   the operation failed, or the signature is invalid
              2   status: a ring is below its threshold
                  (attest, policy lint/learn/explain: input that cannot be used)
              64  wrong usage (unknown option, missing argument)
              65  bad input data (not a ciphertext, bad hex, unreadable key file)
              69  keyshardd unreachable, or too few healthy custodians
              75  busy: an epoch change (e.g. a rotation) is under way; try again
              77  the caller lacks the role
            A refused operation prints 'keyshard: <reason>' on standard error and
            nothing on standard output.
            """,
        version: "0.1.0",
        subcommands: Keyshard.allSubcommands
    )
}
