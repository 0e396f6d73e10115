"""Blue/green replacement of one tenant's container. The tenant lock must be held.

The new container starts beside the old ones (same volume, same Traefik router and
service), and the old ones are removed only once the new one answers its health path:
at every moment the tenant has at least one healthy container. If the new one never
becomes healthy it is removed and the old ones keep serving.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from dataclasses import dataclass
from typing import Any

from controlplane.events.repository import EventRepository
from controlplane.models import Blueprint
from controlplane.tenant_runtime import service as runtime_tokens
from provisioner.context import WorkerContext
from provisioner.health import wait_healthy
from provisioner.runtime.base import ContainerInfo, NameConflict
from provisioner.spec import (
    LABEL_BLUEPRINT,
    LABEL_GENERATION,
    LABEL_RUNTIME_TOKEN,
    TenantSpecInput,
    build_spec,
    container_names,
)


@dataclass(frozen=True)
class BringUp:
    healthy: bool
    info: ContainerInfo | None
    reason: str | None
    survivors: list[ContainerInfo]  # old containers still there after a failure


def matches(info: ContainerInfo, *, generation: int, version: str) -> bool:
    return (
        info.labels.get(LABEL_GENERATION) == str(generation)
        and info.labels.get(LABEL_BLUEPRINT) == version
    )


async def remove(ctx: WorkerContext, infos: list[ContainerInfo]) -> None:
    """Remove containers on Berth's orders (the watcher is told not to count them)."""
    if not infos:
        return
    await asyncio.to_thread(ctx.expect_stop, [i.id for i in infos])
    await asyncio.gather(*(asyncio.to_thread(ctx.backend.remove, i.id) for i in infos))


async def record_step(ctx: WorkerContext, inp: TenantSpecInput, kind: str, **detail: Any) -> None:
    """Append a provisioning step to the tenant's events (fenced by its generation)."""
    async with ctx.sessionmaker() as session:
        await EventRepository(session).record_step(
            uuid.UUID(inp.tenant_id), generation=inp.generation, kind=kind, detail=detail
        )
        await session.commit()


def _free_name(slug: str, existing: list[ContainerInfo]) -> str:
    taken = {c.name for c in existing}
    for name in container_names(slug):
        if name not in taken:
            return name
    # Both colours taken by containers that do not match: the caller removes extras
    # first, so this only happens in a race; the create will then conflict and retry.
    return container_names(slug)[0]


async def _with_new_token(ctx: WorkerContext, inp: TenantSpecInput) -> TenantSpecInput:
    """A fresh runtime token for the container about to be created (committed first,
    so the container never holds a token the database does not know)."""
    async with ctx.sessionmaker() as session:
        new = await runtime_tokens.issue(session, tenant_id=uuid.UUID(inp.tenant_id))
        await session.commit()
    return dataclasses.replace(inp, runtime_token_id=new.token_id, runtime_token=new.token)


async def _settle_tokens(
    ctx: WorkerContext, inp: TenantSpecInput, serving: ContainerInfo | None
) -> None:
    """Keep only the serving container's token; a recreate thereby rotates it."""
    async with ctx.sessionmaker() as session:
        if serving is not None:
            await runtime_tokens.keep_only(
                session,
                tenant_id=uuid.UUID(inp.tenant_id),
                keep=serving.labels.get(LABEL_RUNTIME_TOKEN),
            )
        elif inp.runtime_token_id:
            await runtime_tokens.discard(session, token_id=inp.runtime_token_id)
        await session.commit()


async def bring_up(
    ctx: WorkerContext,
    inp: TenantSpecInput,
    blueprint: Blueprint,
    existing: list[ContainerInfo],
) -> BringUp:
    """Make a healthy container for `inp` exist, then remove every other container."""
    current = [
        c for c in existing if matches(c, generation=inp.generation, version=inp.blueprint_version)
    ]
    others = [c for c in existing if c not in current]
    if len(current) > 1:
        await remove(ctx, current[1:])
        current = current[:1]
    if len(others) > 1:
        # Keep the newest-looking running one as the fallback, drop the rest.
        running = [c for c in others if c.running]
        keep = running[:1] or others[:1]
        await remove(ctx, [c for c in others if c not in keep])
        others = keep
    await record_step(ctx, inp, "starting", version=inp.blueprint_version)
    if current:
        info = current[0]
        if info.state == "paused":
            await asyncio.to_thread(ctx.backend.resume, info.id)
        elif not info.running or not info.ip:
            # If the container still exists the engine keeps its env (and token); the
            # token issued here is then revoked below as not the serving one.
            inp = await _with_new_token(ctx, inp)
            info = await asyncio.to_thread(ctx.backend.ensure, build_spec(inp, name=info.name))
    else:
        inp = await _with_new_token(ctx, inp)
        spec = build_spec(inp, name=_free_name(inp.slug, others))
        try:
            info = await asyncio.to_thread(ctx.backend.ensure, spec)
        except NameConflict:
            # A stale container holds the name (left by a killed worker): the old
            # colour is not serving under that name any more, so it can go.
            holder = [c for c in others if c.name == spec.name]
            await remove(ctx, holder)
            others = [c for c in others if c not in holder]
            info = await asyncio.to_thread(ctx.backend.ensure, spec)
    await record_step(ctx, inp, "health_checking", container=info.name)
    result = await wait_healthy(
        ctx.backend,
        ctx.http(),
        info,
        port=blueprint.port,
        path=blueprint.health_path,
        timeout=ctx.settings.provision_timeout,
        poll=ctx.settings.health_poll_interval,
    )
    if not result.healthy:
        await remove(ctx, [info])
        await _settle_tokens(ctx, inp, None)
        return BringUp(False, None, result.reason, others)
    await remove(ctx, others)
    await _settle_tokens(ctx, inp, result.info or info)
    return BringUp(True, result.info or info, None, [])
