import ArgumentParser

/// `keyshard`: the command-line front end. Each subcommand lives in its own file;
/// the logic lives in the libraries.
@main
struct Keyshard: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keyshard",
        abstract: "Keep a master key alive only as Shamir shares in attested custodian VMs.",
        discussion: """
            Commands that need no daemon work offline on files and standard input:
              encrypt   seal data to a key's public key (RFC 9180 HPKE)
              verify    check a FROST threshold signature (RFC 9591)

            Exit codes: 0 success; 1 a negative answer (an invalid signature);
            2 input that cannot be used (unreadable file, malformed key or signature);
            3 a cryptographic refusal; 64 wrong usage (unknown option, missing argument).
            """,
        version: "0.1.0",
        subcommands: Keyshard.allSubcommands
    )
}
