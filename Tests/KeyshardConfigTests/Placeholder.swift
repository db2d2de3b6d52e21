// KeyshardConfigTests: being written.
