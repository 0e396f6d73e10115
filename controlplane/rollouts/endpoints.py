"""Rollout routes, including the deploy that starts one."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from controlplane.blueprints.endpoints import router as blueprints_router
from controlplane.deps import DeployDep, ReadDep, SessionDep, actor_of
from controlplane.models import Rollout, RolloutTarget
from controlplane.rollouts import service
from controlplane.rollouts.repository import RolloutRepository
from controlplane.rollouts.schemas import DeployRequest, RolloutOut, TargetOut
from controlplane.validation import Version

# How far back each poll of a rollout's stream re-reads (longer than any transaction
# that updates a target).
LATE_COMMIT = timedelta(seconds=10)

router = APIRouter(prefix="/rollouts", tags=["rollouts"])


def target_out(t: RolloutTarget) -> TargetOut:
    return TargetOut(
        slug=t.slug,
        wave=t.wave,
        from_version=t.from_version,
        to_version=t.to_version,
        state=t.state,
        reason=t.reason,
        attempts=t.attempts,
        started_at=t.started_at,
        finished_at=t.finished_at,
    )


def rollout_out(
    r: Rollout, counts: dict[str, int], targets: list[RolloutTarget] | None = None
) -> RolloutOut:
    duration = None
    if r.started_at is not None:
        end = r.finished_at or datetime.now(r.started_at.tzinfo)
        duration = (end - r.started_at).total_seconds()
    return RolloutOut(
        id=str(r.id),
        kind=r.kind,
        blueprint_version=r.blueprint_version,
        state=r.state,
        reason=r.reason,
        max_parallel=r.max_parallel,
        canary_count=r.canary_count,
        max_failures=r.max_failures,
        selector=r.selector,
        counts=counts,
        created_at=r.created_at,
        started_at=r.started_at,
        finished_at=r.finished_at,
        duration_seconds=duration,
        rollback_of=str(r.rollback_of) if r.rollback_of else None,
        targets=[target_out(t) for t in targets] if targets is not None else None,
    )


@blueprints_router.post(
    "/{version}/deploy", response_model=RolloutOut, status_code=status.HTTP_202_ACCEPTED
)
async def deploy(
    version: Version,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: DeployDep,
    body: DeployRequest | None = None,
) -> RolloutOut:
    """Roll a blueprint version out to tenants in health-gated waves."""
    rollout = await service.start_deploy(
        session,
        actor=actor_of(principal, request),
        version=version,
        data=body or DeployRequest(),
    )
    response.headers["Location"] = f"/rollouts/{rollout.id}"
    repo = RolloutRepository(session)
    return rollout_out(rollout, await repo.counts(rollout.id))


@router.get("", response_model=list[RolloutOut])
async def list_rollouts(
    session: SessionDep, _: ReadDep, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[RolloutOut]:
    """List rollouts, newest first."""
    repo = RolloutRepository(session)
    rollouts = await repo.recent(limit=limit)
    counts = await repo.counts_for([r.id for r in rollouts])
    return [rollout_out(r, counts[r.id]) for r in rollouts]


@router.get("/{rollout_id}", response_model=RolloutOut)
async def get_rollout(rollout_id: uuid.UUID, session: SessionDep, _: ReadDep) -> RolloutOut:
    """Show a rollout: counts per state, timings, and every tenant's result."""
    rollout = await service.get(session, rollout_id=rollout_id)
    repo = RolloutRepository(session)
    targets = list(await repo.targets(rollout.id))
    return rollout_out(rollout, await repo.counts(rollout.id), targets)


@router.post(
    "/{rollout_id}/rollback", response_model=RolloutOut, status_code=status.HTTP_202_ACCEPTED
)
async def rollback_rollout(
    rollout_id: uuid.UUID,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: DeployDep,
) -> RolloutOut:
    """Return the tenants a finished or halted rollout upgraded to their previous version."""
    rollout = await service.rollback(
        session, actor=actor_of(principal, request), rollout_id=rollout_id
    )
    response.headers["Location"] = f"/rollouts/{rollout.id}"
    return rollout_out(rollout, await RolloutRepository(session).counts(rollout.id))


@router.get("/{rollout_id}/events")
async def rollout_events(
    rollout_id: uuid.UUID, request: Request, session: SessionDep, _: ReadDep
) -> StreamingResponse:
    """Server-sent events: a snapshot, then per-tenant transitions until the rollout ends."""
    await service.get(session, rollout_id=rollout_id)  # 404 before the stream starts
    stream = rollout_stream(
        request.app.state.sessionmaker, rollout_id, disconnected=request.is_disconnected
    )
    return StreamingResponse(
        stream, media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


async def rollout_stream(
    maker: async_sessionmaker[AsyncSession],
    rollout_id: uuid.UUID,
    *,
    disconnected: Callable[[], Awaitable[bool]],
) -> AsyncIterator[bytes]:
    """The rollout's SSE: a snapshot, then per-target transitions until it ends (also
    served to the dashboard under its cookie session)."""
    last_state = None
    # Target versions already sent, and the newest update seen. Each poll re-reads a
    # window before that mark: targets upgrade in parallel, so one stamped earlier can
    # commit after a later one was read, and a plain "> mark" would lose it.
    sent: dict[int, datetime] = {}
    mark: datetime | None = None
    while True:
        async with maker() as s:
            repo = RolloutRepository(s)
            rollout = await repo.get(rollout_id)
            assert rollout is not None
            counts = await repo.counts(rollout_id)
            if mark is None:
                targets = list(await repo.targets(rollout_id))
                snap = rollout_out(rollout, counts, targets).model_dump(mode="json")
                yield _sse("snapshot", snap)
                changed = targets
            else:
                changed = []
                for t in await repo.targets_changed_since(rollout_id, mark - LATE_COMMIT):
                    if sent.get(t.id) != t.updated_at:
                        changed.append(t)
                        body = target_out(t).model_dump(mode="json") | {"counts": counts}
                        yield _sse("target", body)
            for t in changed:
                sent[t.id] = t.updated_at
            mark = max([t.updated_at for t in changed], default=mark or rollout.created_at)
            if rollout.state != last_state:
                last_state = rollout.state
                yield _sse(
                    "rollout",
                    {"state": rollout.state, "reason": rollout.reason, "counts": counts},
                )
            if not rollout.active:
                return
        if await disconnected():
            return
        await asyncio.sleep(0.5)


def _sse(event: str, data: object) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()
