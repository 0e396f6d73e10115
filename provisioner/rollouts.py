"""Drive a rollout: canary wave, then the rest at most `max_parallel` at a time.

The rollout's rows in PostgreSQL are the truth. drive() can be killed at any point
and re-run (by redelivery or by the reconciler): finished targets are not touched
again, and a target caught mid-upgrade is resumed by looking at its containers.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator

import structlog

from controlplane.blueprints.repository import BlueprintRepository
from controlplane.models import Rollout, RolloutTarget
from controlplane.models.base import utcnow
from controlplane.rollouts.repository import RolloutRepository
from controlplane.tenants.repository import TenantRepository
from provisioner.bluegreen import bring_up, matches
from provisioner.context import WorkerContext
from provisioner.locks import tenant_lock, try_lock
from provisioner.runtime.base import RuntimeBackendError
from provisioner.snapshot import containers, snapshot, spec_input

log = structlog.get_logger(__name__)

LOCK_WAIT_SECONDS = 120.0


def rollout_lock_key(rollout_id: uuid.UUID) -> int:
    # The other half of the uuid than tenant locks use, so keys do not collide.
    return int.from_bytes(rollout_id.bytes[8:], "big", signed=True)


@contextlib.asynccontextmanager
async def rollout_lock(ctx: WorkerContext, rollout_id: uuid.UUID) -> AsyncIterator[bool]:
    async with try_lock(ctx.engine, rollout_lock_key(rollout_id)) as got:
        yield got


async def rollout_driver_alive(ctx: WorkerContext, rollout_id: uuid.UUID) -> bool:
    """True while some worker drives this rollout."""
    async with rollout_lock(ctx, rollout_id) as got:
        return not got


async def _set_target(ctx: WorkerContext, target_id: int, **values: object) -> None:
    async with ctx.sessionmaker() as session:
        await RolloutRepository(session).set_target(target_id, **values)
        await session.commit()


async def _set_rollout(ctx: WorkerContext, rollout_id: uuid.UUID, **values: object) -> None:
    async with ctx.sessionmaker() as session:
        rollout = await RolloutRepository(session).get(rollout_id, for_update=True)
        assert rollout is not None
        for key, value in values.items():
            setattr(rollout, key, value)
        await session.commit()


async def _promote(ctx: WorkerContext, rollout: Rollout) -> None:
    """Once the canary passes, new signups get the new version."""
    if rollout.kind != "deploy":
        return
    async with ctx.sessionmaker() as session:
        repo = BlueprintRepository(session)
        blueprint = await repo.get(rollout.blueprint_version)
        if blueprint is not None and not blueprint.is_current:
            await repo.clear_current()
            await session.flush()
            blueprint.is_current = True
        await session.commit()


async def _finish(
    ctx: WorkerContext, rollout_id: uuid.UUID, state: str, reason: str | None
) -> None:
    await _set_rollout(
        ctx, rollout_id, state=state, reason=reason, active=False, finished_at=utcnow()
    )
    log.info("rollout_finished", rollout=str(rollout_id), state=state, reason=reason)


async def drive(ctx: WorkerContext, rollout_id: uuid.UUID) -> str:
    """Run (or resume) a rollout to its end. Returns its final state, or 'busy'."""
    async with rollout_lock(ctx, rollout_id) as owned:
        if not owned:
            return "busy"
        async with ctx.sessionmaker() as session:
            rollout = await RolloutRepository(session).get(rollout_id)
        if rollout is None:
            return "gone"
        if not rollout.active:
            return rollout.state
        if rollout.state == "pending":
            state = "canary" if rollout.canary_count else "rolling"
            await _set_rollout(ctx, rollout_id, state=state, started_at=utcnow())
            rollout.state = state
        if rollout.state == "canary":
            await _run(ctx, rollout, wave="canary", budget=0)
            counts = await _counts(ctx, rollout_id)
            if counts["failed"]:
                failed = await _failed_reasons(ctx, rollout_id)
                await _finish(ctx, rollout_id, "halted", f"canary failed: {failed}")
                return "halted"
            await _promote(ctx, rollout)
            await _set_rollout(ctx, rollout_id, state="rolling")
            rollout.state = "rolling"
        halted = await _run(ctx, rollout, wave="main", budget=rollout.max_failures)
        if halted:
            failed = await _failed_reasons(ctx, rollout_id)
            await _finish(
                ctx,
                rollout_id,
                "halted",
                f"more than {rollout.max_failures} failures: {failed}",
            )
            return "halted"
        if rollout.kind == "deploy" and not rollout.canary_count:
            await _promote(ctx, rollout)
        await _finish(ctx, rollout_id, "completed", None)
        return "completed"


async def _counts(ctx: WorkerContext, rollout_id: uuid.UUID) -> dict[str, int]:
    async with ctx.sessionmaker() as session:
        return await RolloutRepository(session).counts(rollout_id)


async def _failed_reasons(ctx: WorkerContext, rollout_id: uuid.UUID) -> str:
    async with ctx.sessionmaker() as session:
        failed = await RolloutRepository(session).targets(rollout_id, states=("failed",))
    return "; ".join(f"{t.slug}: {t.reason}" for t in failed[:3]) + (
        f" (+{len(failed) - 3} more)" if len(failed) > 3 else ""
    )


async def _run(ctx: WorkerContext, rollout: Rollout, *, wave: str, budget: int) -> bool:
    """Upgrade the wave's unfinished targets, max_parallel at a time.

    Returns True when failures (over the whole rollout, canary included) crossed
    `budget` for the main wave: no new target is started after that.
    """
    async with ctx.sessionmaker() as session:
        repo = RolloutRepository(session)
        todo = [
            t
            for t in await repo.targets(rollout.id, states=("pending", "upgrading"))
            if t.wave == wave
        ]
        failed_before = (await repo.counts(rollout.id))["failed"]
    if wave == "main" and failed_before > budget:
        return True
    sem = asyncio.Semaphore(rollout.max_parallel)
    failures = failed_before
    stop = asyncio.Event()

    async def one(target: RolloutTarget) -> None:
        nonlocal failures
        async with sem:
            if stop.is_set():
                return
            ok = await upgrade_target(ctx, target)
            if not ok:
                failures += 1
                if wave == "main" and failures > budget:
                    stop.set()

    await asyncio.gather(*(one(t) for t in todo))
    return stop.is_set()


async def upgrade_target(ctx: WorkerContext, target: RolloutTarget) -> bool:
    """Move one tenant to target.to_version blue/green. False if it failed."""
    await _set_target(
        ctx,
        target.id,
        state="upgrading",
        attempts=target.attempts + 1,
        started_at=target.started_at or utcnow(),
    )
    deadline = asyncio.get_running_loop().time() + LOCK_WAIT_SECONDS
    while True:
        async with tenant_lock(ctx.engine, target.tenant_id) as owned:
            if owned:
                try:
                    state, reason = await _upgrade_locked(ctx, target)
                except RuntimeBackendError as exc:
                    state, reason = "failed", str(exc)
                await _set_target(ctx, target.id, state=state, reason=reason, finished_at=utcnow())
                return state != "failed"
        if asyncio.get_running_loop().time() > deadline:
            await _set_target(
                ctx,
                target.id,
                state="failed",
                finished_at=utcnow(),
                reason="tenant busy (another task held it too long)",
            )
            return False
        await asyncio.sleep(0.2)


async def _upgrade_locked(ctx: WorkerContext, target: RolloutTarget) -> tuple[str, str | None]:
    snap = await snapshot(ctx, target.tenant_id)
    if snap is None or snap.tenant.deleted_at is not None or snap.tenant.desired_state == "deleted":
        return "skipped", "tenant deleted"
    tenant = snap.tenant
    if tenant.desired_state == "paused" or tenant.state == "paused":
        # Upgrading means running it to prove the new version healthy; a paused
        # tenant keeps its working version until a later rollout finds it awake.
        return "skipped", "tenant is paused"
    to = target.to_version
    if tenant.pinned_version is not None and tenant.pinned_version != to:
        return "skipped", f"pinned to {tenant.pinned_version}"
    if tenant.state not in ("running", "upgrading"):
        return "skipped", f"tenant is {tenant.state}"
    existing = await containers(ctx, tenant.id)
    if (
        tenant.blueprint_version == to
        and tenant.state == "running"
        and any(
            c.running and matches(c, generation=tenant.generation, version=to) for c in existing
        )
        and len(existing) == 1
    ):
        return "done", None  # already there (a resumed rollout)
    previous = tenant.blueprint_version if tenant.blueprint_version != to else target.from_version
    async with ctx.sessionmaker() as session:
        blueprint = await BlueprintRepository(session).get(to)
        ok = await TenantRepository(session).begin_upgrade(
            tenant.id, generation=tenant.generation, to=to
        )
        await session.commit()
    if not ok or blueprint is None:
        return "failed", "tenant changed while the rollout reached it"
    tenant.blueprint_version = to
    result = await bring_up(
        ctx,
        spec_input(ctx, dataclasses.replace(snap, tenant=tenant, blueprint=blueprint)),
        blueprint,
        existing,
    )
    async with ctx.sessionmaker() as session:
        repo = TenantRepository(session)
        if result.healthy and result.info is not None:
            await repo.end_upgrade(
                tenant.id,
                generation=tenant.generation,
                version=to,
                reason=None,
                container_id=result.info.id,
                container_name=result.info.name,
                restarts=result.info.restart_count,
            )
            await session.commit()
            return "done", None
        reason = f"upgrade to {to} failed: {result.reason}"
        survivor = next((c for c in result.survivors if c.running), None)
        await repo.end_upgrade(
            tenant.id,
            generation=tenant.generation,
            version=previous,
            reason=reason,
            container_id=survivor.id if survivor else None,
            container_name=survivor.name if survivor else None,
            restarts=None,
        )
        await session.commit()
    return "failed", result.reason
