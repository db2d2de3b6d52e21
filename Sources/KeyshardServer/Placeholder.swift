// KeyshardServer: being written.
