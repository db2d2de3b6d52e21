import ArgumentParser

extension Keyshard {
    /// Every subcommand, in the order `--help` lists them. Add new commands here.
    static let allSubcommands: [any ParsableCommand.Type] = [
        EncryptCommand.self,
        VerifyCommand.self,
        AttestCommand.self,
        PolicyCommand.self,
    ]
}
