"""Berth control plane: REST API, desired state in PostgreSQL."""
