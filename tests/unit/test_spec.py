from provisioner.spec import TenantSpecInput, build_spec, volume_name


def _input(**kw: object) -> TenantSpecInput:
    base: dict[str, object] = {
        "tenant_id": "0b6c7a52-1111-2222-3333-444455556666",
        "slug": "acme",
        "generation": 3,
        "blueprint_version": "2",
        "image": "berth-sample:2",
        "port": 8080,
        "user": "10001:10001",
        "cpu": 0.5,
        "memory_mb": 128,
        "pids": 128,
        "blueprint_env": {"A": "bp", "B": "bp"},
        "tenant_env": {"B": "tenant", "C": "tenant"},
        "secrets": {"C": "secret", "D": "secret"},
        "domain": "example.com",
        "network": "tenants",
        "instance": "prod",
    }
    base.update(kw)
    return TenantSpecInput(**base)  # type: ignore[arg-type]


def test_env_layers_blueprint_then_tenant_then_secrets_then_slug() -> None:
    spec = build_spec(_input())
    assert dict(spec.env) == {
        "A": "bp",
        "B": "tenant",
        "C": "secret",
        "D": "secret",
        "BERTH_TENANT": "acme",
    }


def test_labels_identify_tenant_version_and_generation() -> None:
    spec = build_spec(_input())
    assert spec.name == "berth-acme"
    assert spec.labels["berth.tenant"] == "acme"
    assert spec.labels["berth.blueprint"] == "2"
    assert spec.labels["berth.generation"] == "3"
    assert spec.labels["berth.instance"] == "prod"
    assert spec.labels["traefik.enable"] == "true"


def test_volume_name_is_per_tenant_not_per_slug() -> None:
    a = volume_name("acme", "0b6c7a52-1111-2222-3333-444455556666")
    b = volume_name("acme", "9f000000-1111-2222-3333-444455556666")
    assert a != b and a.startswith("berth-acme-")


def test_limits_are_carried() -> None:
    spec = build_spec(_input(cpu=1.5, memory_mb=256, pids=64))
    assert (spec.cpu, spec.memory_mb, spec.pids) == (1.5, 256, 64)
