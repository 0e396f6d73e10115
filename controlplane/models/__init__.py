"""ORM models, one file per table."""

from controlplane.models.api_key import ApiKey
from controlplane.models.audit import AuditEvent
from controlplane.models.base import Base
from controlplane.models.blueprint import Blueprint
from controlplane.models.event import TenantEvent, TenantEventRollup, TenantUsage
from controlplane.models.incident import Incident
from controlplane.models.plan import Plan
from controlplane.models.rollout import Rollout, RolloutTarget
from controlplane.models.runtime_token import RuntimeToken
from controlplane.models.secret import TenantSecret
from controlplane.models.tenant import Tenant
from controlplane.models.usage import BillingStatement, UsageEntry

__all__ = [
    "ApiKey",
    "AuditEvent",
    "Base",
    "BillingStatement",
    "Blueprint",
    "Incident",
    "Plan",
    "Rollout",
    "RolloutTarget",
    "RuntimeToken",
    "Tenant",
    "TenantEvent",
    "TenantEventRollup",
    "TenantSecret",
    "TenantUsage",
    "UsageEntry",
]
