"""The `berth` client commands: the API from a terminal.

They talk HTTP to a running Berth (BERTH_URL) with a bearer key (BERTH_TOKEN, or the
admin token `berth run` wrote into BERTH_DATA_DIR). One module per command group;
`http.py` is the shared request and error helper, `output.py` the table/JSON printer,
`progress.py` the live rollout view.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import typer

from controlplane.client.billing import billing
from controlplane.client.blueprints import blueprints
from controlplane.client.doctor import doctor
from controlplane.client.http import default_client
from controlplane.client.incidents import incidents
from controlplane.client.keys import keys
from controlplane.client.rollouts import deploy, rollouts
from controlplane.client.secrets import secrets
from controlplane.client.tenants import tenants

# Tests swap this for a client bound to an in-process app.
make_client: Callable[[str, str], httpx.Client] = default_client


def register(app: typer.Typer) -> None:
    """Add every client command to the root `berth` app."""
    app.add_typer(tenants, name="tenants")
    app.add_typer(secrets, name="secrets")
    app.add_typer(blueprints, name="blueprints")
    app.command("deploy")(deploy)
    app.add_typer(rollouts, name="rollouts")
    app.command("incidents")(incidents)
    app.add_typer(billing, name="billing")
    app.add_typer(keys, name="keys")
    app.command("doctor")(doctor)


__all__ = ["make_client", "register"]
