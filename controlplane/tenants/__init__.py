"""Tenants: signup, changes, deletion and secrets."""
