// EngineTests: being written.
