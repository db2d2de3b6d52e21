// KeyshardConfig: being written.
