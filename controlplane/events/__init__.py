"""Tenant lifecycle events: the log behind GET /tenants/{slug}/events and the metrics."""
