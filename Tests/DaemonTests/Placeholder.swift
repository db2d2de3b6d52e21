// DaemonTests: being written.
