import re

import pytest

from provisioner.traefik import tenant_labels

# Traefik v3 docker-provider label grammar for the keys Berth writes.
KEY_RE = re.compile(
    r"^traefik\.(enable|docker\.network|"
    r"http\.routers\.[A-Za-z0-9-]+\.(rule|entrypoints|service|middlewares)|"
    r"http\.services\.[A-Za-z0-9-]+\.loadbalancer\.server\.port)$"
)


def test_labels_route_host_to_port_on_network() -> None:
    labels = tenant_labels(slug="acme", domain="example.com", port=8080, network="tenants")
    assert labels == {
        "traefik.enable": "true",
        "traefik.docker.network": "tenants",
        "traefik.http.routers.berth-acme.rule": "Host(`acme.example.com`)",
        "traefik.http.routers.berth-acme.entrypoints": "web",
        "traefik.http.routers.berth-acme.service": "berth-acme",
        "traefik.http.services.berth-acme.loadbalancer.server.port": "8080",
    }
    assert all(KEY_RE.match(k) for k in labels)


def test_middlewares_are_attached_to_the_router() -> None:
    labels = tenant_labels(
        slug="acme", domain="example.com", port=80, network="n", middlewares="berth-gate@file"
    )
    assert labels["traefik.http.routers.berth-acme.middlewares"] == "berth-gate@file"


@pytest.mark.parametrize("slug", ["ac`) || Host(`evil.com", "a,b", "acme.evil"])
def test_slug_cannot_inject_a_rule(slug: str) -> None:
    with pytest.raises(ValueError):
        tenant_labels(slug=slug, domain="example.com", port=80, network="n")


def test_domain_and_port_are_checked() -> None:
    with pytest.raises(ValueError):
        tenant_labels(slug="acme", domain="ex`ample.com", port=80, network="n")
    with pytest.raises(ValueError):
        tenant_labels(slug="acme", domain="example.com", port=0, network="n")
