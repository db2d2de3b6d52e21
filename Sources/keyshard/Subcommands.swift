import ArgumentParser

extension Keyshard {
    /// Every subcommand, in the order `--help` lists them. Add new commands here.
    static let allSubcommands: [any ParsableCommand.Type] = [
        StatusCommand.self,
        KeyCommand.self,
        EncryptCommand.self,
        DecryptCommand.self,
        DataKeyCommand.self,
        RewrapCommand.self,
        SignCommand.self,
        VerifyCommand.self,
        CustodiansCommand.self,
        RotateCommand.self,
        PolicyCommand.self,
        AuditCommand.self,
        AttestCommand.self,
    ]
}
