"""Audit log: who changed what."""
