"""ASGI entry point for uvicorn: `uvicorn controlplane.asgi:app`."""

from controlplane.app import create_app

app = create_app()
