"""Blueprint rules."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from controlplane.audit.service import record
from controlplane.blueprints.repository import BlueprintRepository
from controlplane.blueprints.schemas import BlueprintCreate
from controlplane.context import Actor
from controlplane.errors import Conflict
from controlplane.models import Blueprint
from controlplane.sandbox import EngineRuntimes, require_runtime


async def register(
    session: AsyncSession,
    *,
    actor: Actor,
    data: BlueprintCreate,
    runtimes: EngineRuntimes | None = None,
) -> Blueprint:
    """Register a blueprint version; versions are immutable, so a re-use is a 409.
    A runtime it asks for must be offered by the engine."""
    await require_runtime(data.runtime, engine=runtimes, field="runtime")
    repo = BlueprintRepository(session)
    if await repo.get(data.version) is not None:
        raise Conflict(f"blueprint version '{data.version}' exists", field="version")
    current = await repo.current()
    make_current = data.make_current or current is None
    if make_current and current is not None:
        await repo.clear_current()
    blueprint = Blueprint(
        version=data.version,
        image=data.image,
        port=data.port,
        health_path=data.health_path,
        user=data.user,
        default_env=dict(data.default_env),
        default_limits=data.default_limits.model_dump(exclude_none=True)
        if data.default_limits
        else {},
        is_current=make_current,
        runtime=data.runtime,
    )
    repo.add(blueprint)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"blueprint version '{data.version}' exists", field="version") from exc
    record(
        session,
        actor=actor.key_id,
        request_id=actor.request_id,
        action="blueprint.register",
        target=f"blueprint:{data.version}",
        detail={"image": data.image},
    )
    return blueprint


async def list_all(session: AsyncSession) -> Sequence[Blueprint]:
    return await BlueprintRepository(session).all()
