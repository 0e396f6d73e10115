"""The container hardening list, checked against an engine inspect document. Pure.

Each check follows the CIS Docker Benchmark v1.6 section 5 (container runtime) and the
Kubernetes Pod Security "restricted" profile, and reports pass, warn or fail with
a one-line reason. A check that weakens isolation between tenants, or between a
tenant and the host, fails; one that only weakens operability warns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Status = Literal["pass", "warn", "fail"]

MAX_RESTARTS = 5
ROOT_USERS = frozenset({"", "0", "root"})
HOST_NAMESPACES = ("PidMode", "IpcMode", "UTSMode", "UsernsMode")
NS_REFERENCE = "CIS 5.9/5.15/5.16/5.20/5.30"
SOCKET_PATHS = ("/var/run/docker.sock", "/run/docker.sock")
# Mounting a parent of the socket exposes it just the same.
SOCKET_PARENTS = ("/", "/var", "/var/run", "/run")


@dataclass(frozen=True)
class Check:
    """One verdict: which check, its status, why, and the benchmark item it follows."""

    id: str
    status: Status
    detail: str
    reference: str = ""


Inspect = Mapping[str, Any]


def _host(data: Inspect) -> Mapping[str, Any]:
    return data.get("HostConfig") or {}


def _config(data: Inspect) -> Mapping[str, Any]:
    return data.get("Config") or {}


def _security_opts(data: Inspect) -> list[str]:
    return [str(o) for o in (_host(data).get("SecurityOpt") or [])]


def check_privileged(data: Inspect) -> Check:
    if _host(data).get("Privileged"):
        return Check("privileged", "fail", "runs privileged", "CIS 5.4")
    return Check("privileged", "pass", "not privileged", "CIS 5.4")


def check_capabilities(data: Inspect) -> Check:
    drop = [str(c).upper() for c in (_host(data).get("CapDrop") or [])]
    add = [str(c).upper() for c in (_host(data).get("CapAdd") or [])]
    if add:
        return Check("capabilities", "fail", f"adds {', '.join(sorted(add))}", "CIS 5.3")
    if "ALL" not in drop:
        return Check("capabilities", "fail", "does not drop ALL capabilities", "CIS 5.3")
    return Check("capabilities", "pass", "drops ALL, adds none", "CIS 5.3")


def check_no_new_privileges(data: Inspect) -> Check:
    opts = [o.replace("=", ":") for o in _security_opts(data)]
    if any(o in ("no-new-privileges", "no-new-privileges:true") for o in opts):
        return Check("no_new_privileges", "pass", "no-new-privileges set", "CIS 5.25")
    return Check("no_new_privileges", "fail", "no-new-privileges not set", "CIS 5.25")


def check_user(data: Inspect) -> Check:
    user = str(_config(data).get("User") or "")
    name = user.partition(":")[0]
    if name in ROOT_USERS:
        return Check("user", "fail", f"runs as root ({user or 'image default'})", "CIS 4.1")
    return Check("user", "pass", f"runs as {user}", "CIS 4.1")


def check_read_only_root(data: Inspect) -> Check:
    if _host(data).get("ReadonlyRootfs"):
        return Check("read_only_root", "pass", "root filesystem is read-only", "CIS 5.12")
    return Check("read_only_root", "fail", "root filesystem is writable", "CIS 5.12")


def check_memory(data: Inspect) -> Check:
    memory = int(_host(data).get("Memory") or 0)
    swap = int(_host(data).get("MemorySwap") or 0)
    if memory <= 0:
        return Check("memory", "fail", "no memory limit", "CIS 5.10")
    if swap != memory:
        return Check("memory", "fail", f"swap {swap} differs from memory {memory}", "CIS 5.10")
    return Check("memory", "pass", f"{memory // 2**20} MiB, no swap", "CIS 5.10")


def check_cpu(data: Inspect) -> Check:
    host = _host(data)
    nano = int(host.get("NanoCpus") or 0)
    quota = int(host.get("CpuQuota") or 0)
    if nano > 0:
        return Check("cpu", "pass", f"{nano / 1e9:g} cores", "CIS 5.11")
    if quota > 0:
        period = int(host.get("CpuPeriod") or 100_000)
        return Check("cpu", "pass", f"{quota / period:g} cores (quota)", "CIS 5.11")
    return Check("cpu", "fail", "no CPU limit", "CIS 5.11")


def check_pids(data: Inspect) -> Check:
    pids = int(_host(data).get("PidsLimit") or 0)
    if pids > 0:
        return Check("pids", "pass", f"at most {pids} processes", "CIS 5.28")
    return Check("pids", "fail", "no PIDs limit", "CIS 5.28")


def check_restart_policy(data: Inspect) -> Check:
    policy = _host(data).get("RestartPolicy") or {}
    name = str(policy.get("Name") or "no")
    retries = int(policy.get("MaximumRetryCount") or 0)
    if name == "on-failure" and 0 < retries <= MAX_RESTARTS:
        return Check("restart_policy", "pass", f"on-failure:{retries}", "CIS 5.14")
    if name in ("no", ""):
        return Check("restart_policy", "warn", "no restart policy", "CIS 5.14")
    shown = f"{name}:{retries}" if name == "on-failure" else name
    return Check(
        "restart_policy", "fail", f"{shown} (want on-failure ≤ {MAX_RESTARTS})", "CIS 5.14"
    )


def check_host_namespaces(data: Inspect) -> Check:
    host = _host(data)
    shared = []
    for key in HOST_NAMESPACES:
        mode = str(host.get(key) or "")
        if mode == "host" or mode.startswith("container:"):
            shared.append(f"{key.removesuffix('Mode').lower()}={mode}")
    if str(host.get("NetworkMode") or "") == "host":
        shared.append("net=host")
    if shared:
        return Check("host_namespaces", "fail", "shares " + ", ".join(shared), NS_REFERENCE)
    return Check("host_namespaces", "pass", "own pid, ipc, net, uts, user namespaces", NS_REFERENCE)


def check_devices(data: Inspect) -> Check:
    host = _host(data)
    devices = [str(d.get("PathOnHost", "?")) for d in (host.get("Devices") or [])]
    rules = list(host.get("DeviceCgroupRules") or [])
    if devices or rules:
        shown = ", ".join(devices + [str(r) for r in rules])
        return Check("devices", "fail", f"host devices: {shown}", "CIS 5.17")
    return Check("devices", "pass", "no host devices", "CIS 5.17")


def _mount_sources(data: Inspect) -> list[str]:
    sources = [str(m.get("Source") or "") for m in (data.get("Mounts") or [])]
    sources += [str(b).split(":", 1)[0] for b in (_host(data).get("Binds") or [])]
    return [s.rstrip("/") or "/" for s in sources if s]


def check_docker_socket(data: Inspect) -> Check:
    exposed = sorted({s for s in _mount_sources(data) if s in SOCKET_PATHS or s in SOCKET_PARENTS})
    if exposed:
        return Check("docker_socket", "fail", f"mounts {', '.join(exposed)}", "CIS 5.31")
    return Check("docker_socket", "pass", "no Docker socket mounted", "CIS 5.31")


def check_seccomp(data: Inspect) -> Check:
    opts = [o.replace("=", ":") for o in _security_opts(data)]
    if "seccomp:unconfined" in opts:
        return Check("seccomp", "fail", "seccomp unconfined", "CIS 5.21")
    if "apparmor:unconfined" in opts:
        return Check("seccomp", "fail", "AppArmor unconfined", "CIS 5.1")
    return Check("seccomp", "pass", "default seccomp profile", "CIS 5.21")


def check_healthcheck(data: Inspect) -> Check:
    test = list((_config(data).get("Healthcheck") or {}).get("Test") or [])
    if not test or test[0] == "NONE":
        return Check("healthcheck", "warn", "no health check", "CIS 5.26")
    return Check("healthcheck", "pass", "has a health check", "CIS 5.26")


def check_network(data: Inspect, *, tenant_network: str) -> Check:
    mode = str(_host(data).get("NetworkMode") or "")
    attached = sorted(((data.get("NetworkSettings") or {}).get("Networks") or {}).keys())
    if mode == "host" or "host" in attached:
        return Check("network", "fail", "host network", "CIS 5.9")
    if mode in ("bridge", "default") or "bridge" in attached:
        return Check("network", "fail", "default bridge (inter-container traffic on)", "CIS 5.29")
    if attached != [tenant_network]:
        shown = ", ".join(attached) or mode or "none"
        return Check("network", "warn", f"on {shown}, not only {tenant_network}", "")
    return Check("network", "pass", f"on {tenant_network} only", "")


def runtime_of(data: Inspect) -> str:
    """The OCI runtime the container runs under (runc, runsc, ...)."""
    return str(_host(data).get("Runtime") or "runc")


def check_runtime(data: Inspect) -> Check:
    runtime = runtime_of(data)
    sandbox = " (gVisor sandbox)" if runtime == "runsc" else ""
    return Check("runtime", "pass", f"{runtime}{sandbox}", "")


CHECKS: tuple[Callable[[Inspect], Check], ...] = (
    check_privileged,
    check_capabilities,
    check_no_new_privileges,
    check_user,
    check_read_only_root,
    check_memory,
    check_cpu,
    check_pids,
    check_restart_policy,
    check_host_namespaces,
    check_devices,
    check_docker_socket,
    check_seccomp,
    check_healthcheck,
)


def check_container(data: Inspect, *, tenant_network: str) -> list[Check]:
    """Every hardening check for one container, in a fixed order."""
    results = [check(data) for check in CHECKS]
    results.append(check_network(data, tenant_network=tenant_network))
    results.append(check_runtime(data))
    return results


def worst(statuses: list[Status]) -> Status:
    """fail beats warn beats pass."""
    if "fail" in statuses:
        return "fail"
    return "warn" if "warn" in statuses else "pass"
