"""Organizations: hiring teams as tenants, their members and roles, seats, and the audit log."""
