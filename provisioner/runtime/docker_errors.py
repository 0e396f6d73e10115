"""Docker SDK and transport failures as the runtime contract's typed errors."""

from __future__ import annotations

import requests
from docker.errors import APIError, DockerException, ImageNotFound

from provisioner.runtime.base import EngineUnavailable, ImageMissing, RuntimeBackendError

# What a call to the engine can raise besides our own errors: the SDK's, and the
# transport's when the socket is gone or times out.
ENGINE_ERRORS = (DockerException, requests.exceptions.RequestException)


def translate(exc: Exception, what: str) -> RuntimeBackendError:
    """The typed error for `exc`, raised during `what` (an engine call)."""
    if isinstance(exc, requests.exceptions.ConnectionError):
        return EngineUnavailable(f"Docker engine unreachable during {what}")
    if isinstance(exc, ImageNotFound):
        return ImageMissing(f"{what}: {exc.explanation}")
    if isinstance(exc, APIError):
        return RuntimeBackendError(f"{what}: {exc.explanation or exc}")
    return RuntimeBackendError(f"{what}: {exc}")
