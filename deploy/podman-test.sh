#!/usr/bin/env bash
# Run the Foundation integration tests against Podman's Docker-compatible API.
#
#   bash deploy/podman-test.sh [pytest args...]      (or: make test-podman)
#
# Needs podman (Debian: apt-get install -y podman) and the sample images in Docker
# (make images): they are copied into Podman's store with `docker save | podman load`,
# since no registry is reachable. Serves a private Podman socket for the run only
# and stops it on exit. test_signup_runs_a_hardened_container is deselected: Podman
# 4.3 reports capabilities, security options and namespaces differently in `inspect`,
# and its netavark bridge ignores com.docker.network.bridge.enable_icc (see README).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v podman >/dev/null || { echo "podman-test: podman is not installed (apt-get install -y podman)" >&2; exit 1; }
dir="$(mktemp -d /tmp/berth-podman.XXXXXX)"
sock="$dir/podman.sock"
pid=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill "$pid"; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$dir"
}
trap cleanup EXIT

# Podman (rootful) raises the nofile/nproc rlimits of every container to its own
# maxima; without CAP_SYS_RESOURCE (nested sandboxes) runc then fails with
# "error setting rlimits ... operation not permitted". Stay within what we have.
limit=$(( $(ulimit -Hn) < 20000 ? $(ulimit -Hn) : 20000 ))
cat >"$dir/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$limit:$limit", "nproc=$limit:$limit"]
CONF
export CONTAINERS_CONF="$dir/containers.conf"

for tag in 1 2 3-broken; do
    if ! podman image exists "berth-sample:$tag"; then
        docker image inspect "berth-sample:$tag" >/dev/null 2>&1 \
            || { echo "podman-test: berth-sample:$tag missing; run make images" >&2; exit 1; }
        docker save "berth-sample:$tag" | podman load -q
    fi
done

podman system service --time=0 "unix://$sock" >"$dir/service.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
    [ -S "$sock" ] && curl -sf --unix-socket "$sock" http://podman/_ping >/dev/null && break
    sleep 0.1
done
curl -sf --unix-socket "$sock" http://podman/_ping >/dev/null \
    || { echo "podman-test: the Podman service did not answer:" >&2; cat "$dir/service.log" >&2; exit 1; }

DOCKER_HOST="unix://$sock" .venv/bin/pytest -p no:cacheprovider \
    tests/integration/test_provision.py tests/integration/test_engine.py \
    -k "not hardened and not without_an_engine" "$@"
