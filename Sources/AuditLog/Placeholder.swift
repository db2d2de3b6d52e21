// AuditLog: being written.
