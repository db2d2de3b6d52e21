// KeyStoreTests: being written.
