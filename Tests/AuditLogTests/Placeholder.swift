// AuditLogTests: being written.
