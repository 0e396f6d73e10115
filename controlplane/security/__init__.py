"""Authentication, scopes and encryption of secrets at rest."""
