import CustodianAgent

#if canImport(Glibc)
    import Glibc
#endif

// Thin: all behaviour lives in CustodianAgent.
exit(await AgentMain.run(arguments: Array(CommandLine.arguments.dropFirst())))
