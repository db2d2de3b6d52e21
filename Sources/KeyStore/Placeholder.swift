// KeyStore: being written.
