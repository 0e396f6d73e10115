"""Incidents: what went wrong with a tenant's runtime, and when it recovered."""
