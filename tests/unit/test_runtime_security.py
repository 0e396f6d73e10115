"""Pure rules of runtime security: egress policies, runtime choice, token format, env."""

from __future__ import annotations

import pytest

from controlplane.errors import InvalidInput
from controlplane.sandbox import check_runtime, effective_runtime
from controlplane.tenant_runtime import tokens
from provisioner.egress import EGRESS_MODES, policy
from provisioner.spec import LABEL_RUNTIME_TOKEN, TenantSpecInput, build_spec


def _inp(**kw: object) -> TenantSpecInput:
    base: dict[str, object] = {
        "tenant_id": "00000000-0000-0000-0000-000000000001",
        "slug": "acme",
        "generation": 1,
        "blueprint_version": "1",
        "image": "berth-sample:1",
        "port": 8080,
        "user": "10001:10001",
        "cpu": 0.5,
        "memory_mb": 64,
        "pids": 64,
        "blueprint_env": {},
        "tenant_env": {},
        "secrets": {},
        "domain": "test.localhost",
        "network": "berth-tenants",
        "instance": "t",
    }
    base.update(kw)
    return TenantSpecInput(**base)  # type: ignore[arg-type]


def test_egress_policies() -> None:
    assert EGRESS_MODES == ("open", "none")
    assert policy("open", base_network="n") == policy("open", base_network="n")
    assert policy("open", base_network="n").network == "n"
    assert not policy("open", base_network="n").internal
    sealed = policy("none", base_network="n")
    assert sealed.network == "n-internal" and sealed.internal
    with pytest.raises(ValueError):
        policy("proxy", base_network="n")


def test_the_stronger_sandbox_wins() -> None:
    assert effective_runtime(plan_runtime=None, blueprint_runtime=None) is None
    assert effective_runtime(plan_runtime="runc", blueprint_runtime=None) == "runc"
    assert effective_runtime(plan_runtime="runc", blueprint_runtime="runsc") == "runsc"
    assert effective_runtime(plan_runtime="runsc", blueprint_runtime="runc") == "runsc"


def test_missing_runtime_is_refused_naming_the_field() -> None:
    check_runtime(None, available=frozenset(), field="runtime")
    check_runtime("runc", available=frozenset({"runc"}), field="runtime")
    with pytest.raises(InvalidInput) as err:
        check_runtime("runsc", available=frozenset({"runc"}), field="plan")
    assert err.value.field == "plan" and "runsc" in err.value.message


def test_token_format_and_hash() -> None:
    new = tokens.generate()
    assert tokens.token_id_of(new.token) == new.token_id
    assert tokens.matches(new.token, new.digest) and new.token not in new.digest
    assert not tokens.matches(new.token + "x", new.digest)
    for bad in ("", "berthrt_", "berth_0123456789abcdef_" + "a" * 43, new.token[:-1]):
        assert tokens.token_id_of(bad) is None


def test_spec_carries_token_network_and_runtime() -> None:
    plain = build_spec(_inp())
    assert "BERTH_RUNTIME_TOKEN" not in plain.env and LABEL_RUNTIME_TOKEN not in plain.labels
    assert plain.runtime is None and not plain.network_internal
    new = tokens.generate()
    spec = build_spec(
        _inp(
            runtime_token=new.token,
            runtime_token_id=new.token_id,
            runtime_url="http://berth.example/runtime",
            network="berth-tenants-internal",
            network_internal=True,
            runtime="runsc",
            secrets={"BERTH_RUNTIME_TOKEN": "tenant-cannot-override"},
        )
    )
    assert spec.env["BERTH_RUNTIME_TOKEN"] == new.token
    assert spec.env["BERTH_RUNTIME_URL"] == "http://berth.example/runtime"
    assert spec.labels[LABEL_RUNTIME_TOKEN] == new.token_id
    assert new.token not in str(spec.labels)
    assert spec.labels["traefik.docker.network"] == "berth-tenants-internal"
    assert spec.network_internal and spec.runtime == "runsc"
