// ProcessBackend: being written.
