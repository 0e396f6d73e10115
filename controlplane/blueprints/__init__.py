"""Blueprints: versions of the operator's runtime image."""
