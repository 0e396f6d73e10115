"""The tenant runtime API: per-container tokens and the routes a tenant calls back on."""
