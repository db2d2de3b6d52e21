// ProcessBackendTests: being written.
