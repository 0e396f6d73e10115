"""Berth provisioner: Celery tasks that make the Docker engine match PostgreSQL."""
