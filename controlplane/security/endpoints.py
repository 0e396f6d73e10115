"""API key routes (admin only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

from controlplane.deps import AdminDep, SessionDep, actor_of
from controlplane.models import ApiKey
from controlplane.security import service
from controlplane.security.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut

router = APIRouter(prefix="/api-keys", tags=["api-keys"])

KeyIdPath = Annotated[str, Path(max_length=16, pattern=r"^[0-9a-f]{16}$")]


def to_out(key: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        id=key.id,
        name=key.name,
        scopes=list(key.scopes),
        created_by=key.created_by,
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )


@router.post("", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED)
async def create_api_key(
    body: ApiKeyCreate,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: AdminDep,
) -> ApiKeyCreated:
    """Create a key with the given scopes. The key is in this response only: store it now."""
    key, token = await service.create(session, actor=actor_of(principal, request), data=body)
    await session.refresh(key)
    response.headers["Location"] = f"/api-keys/{key.id}"
    response.headers["Cache-Control"] = "no-store"
    return ApiKeyCreated(**to_out(key).model_dump(), key=token)


@router.get("", response_model=list[ApiKeyOut])
async def list_api_keys(session: SessionDep, _: AdminDep) -> list[ApiKeyOut]:
    """List keys (revoked ones too), oldest first; never the key or its hash."""
    return [to_out(k) for k in await service.list_all(session)]


@router.get("/{key_id}", response_model=ApiKeyOut)
async def get_api_key(key_id: KeyIdPath, session: SessionDep, _: AdminDep) -> ApiKeyOut:
    """Show one key's name, scopes and last use."""
    return to_out(await service.get(session, key_id=key_id))


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_api_key(
    key_id: KeyIdPath, request: Request, session: SessionDep, principal: AdminDep
) -> Response:
    """Revoke a key: from now on it gets 401. Revoking a revoked key is a no-op."""
    await service.revoke(session, actor=actor_of(principal, request), key_id=key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
