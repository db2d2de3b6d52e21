import ArgumentParser

extension Keyshard {
    /// Every subcommand, in the order `--help` lists them. Add new commands here.
    static let allSubcommands: [any ParsableCommand.Type] = [
        AttestCommand.self,
        PolicyCommand.self,
    ]
}
