"""Rollouts: moving tenants to a blueprint version in health-gated waves."""
