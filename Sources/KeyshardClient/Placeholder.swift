// KeyshardClient: being written.
