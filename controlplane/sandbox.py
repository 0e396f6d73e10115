"""OCI runtimes (e.g. gVisor's `runsc`): which one a tenant gets, and refusing what
the engine lacks.

A plan or a blueprint may ask for a runtime; the stronger sandbox wins (`runsc`
over anything else), else the one named, else the engine's default. A runtime the
engine does not have is refused at the API (422 naming the field), never silently
replaced by the default.
"""

from __future__ import annotations

import asyncio
import time

from controlplane.errors import InvalidInput
from provisioner.runtime.base import RuntimeBackend

SANDBOXED = ("runsc",)
RUNTIME_PATTERN = r"^[a-z][a-z0-9._-]{0,31}$"
CACHE_SECONDS = 30.0


def effective_runtime(*, plan_runtime: str | None, blueprint_runtime: str | None) -> str | None:
    """The runtime a tenant's container runs with; None is the engine's default."""
    asked = [r for r in (plan_runtime, blueprint_runtime) if r]
    for strong in SANDBOXED:
        if strong in asked:
            return strong
    return asked[0] if asked else None


def check_runtime(runtime: str | None, *, available: frozenset[str], field: str) -> None:
    """Refuse a runtime the engine does not offer (422 naming `field`)."""
    if runtime is not None and runtime not in available:
        raise InvalidInput(
            f"runtime '{runtime}' is not available on the Docker engine "
            f"(it has: {', '.join(sorted(available)) or 'none'}); "
            "Berth never falls back to another runtime",
            field=field,
        )


async def require_runtime(
    runtime: str | None, *, engine: EngineRuntimes | None, field: str
) -> None:
    """check_runtime against the engine, asked only when a runtime is named."""
    if runtime is None:
        return
    available = await engine.names() if engine is not None else frozenset()
    check_runtime(runtime, available=available, field=field)


class EngineRuntimes:
    """The engine's runtimes (`docker info` Runtimes), cached for a few seconds."""

    def __init__(self, backend: RuntimeBackend) -> None:
        self.backend = backend
        self._cached: frozenset[str] | None = None
        self._at = 0.0

    @property
    def freeze_supported(self) -> bool:
        """Whether the runtime can pause by freezing (Swarm has no freezer)."""
        return self.backend.supports_freeze

    @property
    def sealed_egress_supported(self) -> bool:
        """Whether tenants can run with egress `none` (Swarm's gateway probe cannot
        reach a task on an internal overlay)."""
        return self.backend.supports_sealed_egress

    async def names(self) -> frozenset[str]:
        if self._cached is None or time.monotonic() - self._at > CACHE_SECONDS:
            self._cached = frozenset(await asyncio.to_thread(self.backend.runtimes))
            self._at = time.monotonic()
        return self._cached
