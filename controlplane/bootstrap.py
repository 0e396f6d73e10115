"""First-run set-up: register the sample blueprint when none exists."""

from __future__ import annotations

from controlplane.blueprints.repository import BlueprintRepository
from controlplane.blueprints.schemas import BlueprintCreate
from controlplane.blueprints.service import register
from controlplane.context import SYSTEM
from controlplane.db import make_engine, make_sessionmaker

SAMPLE_IMAGE = "berth-sample:1"


async def ensure_default_blueprint(database_url: str, *, image: str = SAMPLE_IMAGE) -> bool:
    """Register blueprint version 1 (the sample image) if no blueprint exists."""
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with make_sessionmaker(engine)() as session:
            if await BlueprintRepository(session).all():
                return False
            await register(
                session,
                actor=SYSTEM,
                data=BlueprintCreate(version="1", image=image, port=8080, health_path="/health"),
            )
            await session.commit()
            return True
    finally:
        await engine.dispose()
