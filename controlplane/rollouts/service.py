"""Rollout rules: who is in a rollout, in which wave, and when it must halt."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.audit.service import record
from controlplane.blueprints.repository import BlueprintRepository
from controlplane.context import Actor
from controlplane.db import pending_jobs
from controlplane.errors import Conflict, NotFound
from controlplane.models import Rollout, RolloutTarget
from controlplane.rollouts.repository import RolloutRepository
from controlplane.rollouts.schemas import DeployRequest

DRIVE_TASK = "berth.drive_rollout"


def canary_size(canary: int | str, eligible: int) -> int:
    """The canary wave: a count, or a percent of the eligible tenants; at least 1."""
    if eligible == 0:
        return 0
    if isinstance(canary, int):
        return min(canary, eligible)
    pct = int(canary.rstrip("%"))
    return max(1, min(eligible, math.ceil(eligible * pct / 100)))


def failure_budget(max_failures: int | float, eligible: int) -> int:
    """Failures tolerated after the canary; one more halts the rollout."""
    if isinstance(max_failures, float) and max_failures < 1:
        return math.floor(eligible * max_failures)
    return int(max_failures)


async def _refuse_if_active(repo: RolloutRepository) -> None:
    active = await repo.active()
    if active is not None:
        raise Conflict(
            f"rollout {active.id} to version {active.blueprint_version} is still {active.state}"
        )


async def start_deploy(
    session: AsyncSession, *, actor: Actor, version: str, data: DeployRequest
) -> Rollout:
    """Create a rollout of `version` and queue its driver."""
    blueprint = await BlueprintRepository(session).get(version)
    if blueprint is None:
        raise NotFound(f"blueprint version '{version}' not found")
    repo = RolloutRepository(session)
    await _refuse_if_active(repo)
    sel = data.selector
    tenants = await repo.selectable_tenants(
        slugs=sel.slugs if not sel.all else None, plan=sel.plan if not sel.all else None
    )
    current = await BlueprintRepository(session).current()
    rollout = Rollout(
        id=uuid.uuid4(),
        blueprint_version=version,
        kind="deploy",
        previous_current=current.version if current else None,
        state="pending",
        active=True,
        max_parallel=data.max_parallel,
        canary_count=0,
        max_failures=0,
        selector=sel.model_dump(exclude_none=True) or {"all": True},
        created_by=actor.key_id,
    )
    eligible: list[RolloutTarget] = []
    targets: list[RolloutTarget] = []
    for position, tenant in enumerate(tenants):
        target = RolloutTarget(
            rollout_id=rollout.id,
            tenant_id=tenant.id,
            slug=tenant.slug,
            position=position,
            wave="main",
            from_version=tenant.blueprint_version,
            to_version=version,
            state="pending",
            attempts=0,
        )
        if tenant.pinned_version is not None and tenant.pinned_version != version:
            target.state, target.reason = "skipped", f"pinned to {tenant.pinned_version}"
        elif tenant.blueprint_version == version:
            target.state, target.reason = "skipped", f"already on {version}"
        else:
            eligible.append(target)
        targets.append(target)
    rollout.canary_count = canary_size(data.canary, len(eligible))
    rollout.max_failures = failure_budget(data.max_failures, len(eligible))
    for target in eligible[: rollout.canary_count]:
        target.wave = "canary"
    await _insert(session, rollout, targets)
    record(
        session,
        actor=actor.key_id,
        request_id=actor.request_id,
        action="rollout.start",
        target=f"rollout:{rollout.id}",
        detail={"version": version, "tenants": len(eligible), "canary": rollout.canary_count},
    )
    pending_jobs(session).add(DRIVE_TASK, str(rollout.id))
    return rollout


async def _insert(
    session: AsyncSession, rollout: Rollout, targets: Sequence[RolloutTarget]
) -> None:
    repo = RolloutRepository(session)
    repo.add(rollout)
    try:
        await session.flush()
    except IntegrityError as exc:
        # Two deploys raced past the check: the partial unique index decides.
        raise Conflict("another rollout is still active") from exc
    session.add_all(list(targets))
    await session.flush()


async def rollback(session: AsyncSession, *, actor: Actor, rollout_id: uuid.UUID) -> Rollout:
    """Return the tenants a rollout upgraded to their previous versions (blue/green)."""
    repo = RolloutRepository(session)
    original = await repo.get(rollout_id)
    if original is None:
        raise NotFound(f"rollout {rollout_id} not found")
    if original.active:
        raise Conflict(f"rollout {rollout_id} is still {original.state}; wait for it to end")
    await _refuse_if_active(repo)
    upgraded = await repo.targets(rollout_id, states=("done",))
    rollout = Rollout(
        id=uuid.uuid4(),
        blueprint_version=original.blueprint_version,
        kind="rollback",
        rollback_of=original.id,
        previous_current=original.previous_current,
        state="pending",
        active=True,
        max_parallel=original.max_parallel,
        canary_count=0,
        max_failures=len(upgraded),  # a rollback goes on through failures
        selector={"rollback_of": str(original.id)},
        created_by=actor.key_id,
    )
    targets = [
        RolloutTarget(
            rollout_id=rollout.id,
            tenant_id=t.tenant_id,
            slug=t.slug,
            position=i,
            wave="main",
            from_version=t.to_version,
            to_version=t.from_version,
            state="pending",
            attempts=0,
        )
        for i, t in enumerate(upgraded)
    ]
    if original.previous_current is not None:
        # New signups go back to the version that was current before the deploy.
        bp_repo = BlueprintRepository(session)
        previous = await bp_repo.get(original.previous_current)
        if previous is not None and not previous.is_current:
            await bp_repo.clear_current()
            await session.flush()
            previous.is_current = True
    await _insert(session, rollout, targets)
    record(
        session,
        actor=actor.key_id,
        request_id=actor.request_id,
        action="rollout.rollback",
        target=f"rollout:{original.id}",
        detail={"rollback": str(rollout.id), "tenants": len(targets)},
    )
    pending_jobs(session).add(DRIVE_TASK, str(rollout.id))
    return rollout


async def get(session: AsyncSession, *, rollout_id: uuid.UUID) -> Rollout:
    rollout = await RolloutRepository(session).get(rollout_id)
    if rollout is None:
        raise NotFound(f"rollout {rollout_id} not found")
    return rollout
