#!/usr/bin/env bash
# Build the Berth sample blueprint images (FROM scratch + static busybox).
#
#   bash deploy/build-images.sh [--force]
#
# Images: berth-sample:1, berth-sample:2, berth-sample:3-broken (VERSION=3 BROKEN=1),
# all labelled berth.managed=sample. Existing tags are skipped unless --force.
# The static busybox comes from Debian's busybox-static package, downloaded with
# `apt-get download` and unpacked with `dpkg-deb -x` (never installed on the host),
# and is cached at deploy/blueprints/sample/.cache/busybox.
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
SAMPLE_DIR="$SCRIPT_DIR/blueprints/sample"
CACHE_DIR="$SAMPLE_DIR/.cache"
BUSYBOX="$CACHE_DIR/busybox"
REPO=berth-sample
MANAGED_LABEL=berth.managed=sample

# tag|VERSION|BROKEN
IMAGES=(
    "1|1|0"
    "2|2|0"
    "3-broken|3|1"
)

die() { echo "build-images: error: $*" >&2; exit 1; }
usage() { echo "usage: bash deploy/build-images.sh [--force]"; }

force=0
for arg in "$@"; do
    case "$arg" in
        --force|-f) force=1 ;;
        --help|-h) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $arg" ;;
    esac
done

command -v docker >/dev/null 2>&1 || die "docker CLI not found"
docker info >/dev/null 2>&1 || die "cannot talk to the Docker engine (is it running, do you have access?)"
[ -f "$SAMPLE_DIR/Dockerfile" ] || die "missing $SAMPLE_DIR/Dockerfile"

TMP_DIR=""
cleanup() { [ -n "$TMP_DIR" ] && rm -rf -- "$TMP_DIR"; }
trap cleanup EXIT

busybox_ok() {
    # No `grep -q`: with pipefail, its early exit can SIGPIPE busybox and fail the check.
    [ -f "$1" ] && [ -x "$1" ] && "$1" --list 2>/dev/null | grep -x httpd >/dev/null
}

fetch_busybox() {
    command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1 ||
        die "apt-get/dpkg-deb not available; put a static busybox (with httpd) at $BUSYBOX"
    TMP_DIR="$(mktemp -d)"
    local log="$TMP_DIR/apt.log"
    mkdir "$TMP_DIR/dl" "$TMP_DIR/x"
    if ! (cd "$TMP_DIR/dl" && apt-get download busybox-static) >"$log" 2>&1; then
        # The package lists may be missing or stale: refresh once and retry.
        if ! { apt-get update && (cd "$TMP_DIR/dl" && apt-get download busybox-static); } >>"$log" 2>&1; then
            cat "$log" >&2
            die "could not download busybox-static with apt-get (root needed for apt-get update?)"
        fi
    fi
    local deb
    deb="$(find "$TMP_DIR/dl" -maxdepth 1 -name 'busybox-static_*.deb' | head -n 1)"
    [ -n "$deb" ] || { cat "$log" >&2; die "apt-get download produced no busybox-static .deb"; }
    dpkg-deb -x "$deb" "$TMP_DIR/x" || die "dpkg-deb could not unpack $deb"
    busybox_ok "$TMP_DIR/x/bin/busybox" || die "unpacked busybox is unusable or lacks httpd"
    mkdir -p "$CACHE_DIR"
    install -m 0755 "$TMP_DIR/x/bin/busybox" "$BUSYBOX.tmp"
    mv -f "$BUSYBOX.tmp" "$BUSYBOX"
    echo "busybox: fetched $(basename "$deb") into deploy/blueprints/sample/.cache/"
}

busybox_ok "$BUSYBOX" || fetch_busybox

# Without the buildx plugin a modern CLI falls back to the legacy builder
# (and refuses outright if DOCKER_BUILDKIT=1); the Dockerfile works with both.
if ! docker buildx version >/dev/null 2>&1; then
    export DOCKER_BUILDKIT=0
fi

[ -n "$TMP_DIR" ] || TMP_DIR="$(mktemp -d)"
# A content hash of the build inputs, so an edited entrypoint or Dockerfile
# rebuilds stale images without --force.
src_hash="$(cat "$SAMPLE_DIR/Dockerfile" "$SAMPLE_DIR/entrypoint.sh" | sha256sum | cut -c1-16)"
for spec in "${IMAGES[@]}"; do
    IFS='|' read -r tag version broken <<<"$spec"
    ref="$REPO:$tag"
    old_id="$(docker image inspect -f '{{.Id}}' "$ref" 2>/dev/null || true)"
    old_hash="$(docker image inspect -f '{{index .Config.Labels "berth.sample.hash"}}' "$ref" 2>/dev/null || true)"
    if [ -n "$old_id" ] && [ "$force" -eq 0 ] && [ "$old_hash" = "$src_hash" ]; then
        echo "$ref: up to date, skipped (use --force to rebuild)"
        continue
    fi
    log="$TMP_DIR/build-$tag.log"
    if ! docker build \
            --build-arg "VERSION=$version" \
            --build-arg "BROKEN=$broken" \
            --label "$MANAGED_LABEL" \
            --label "berth.sample.hash=$src_hash" \
            -t "$ref" \
            "$SAMPLE_DIR" >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        die "docker build failed for $ref"
    fi
    new_id="$(docker image inspect -f '{{.Id}}' "$ref")" || die "built $ref but cannot inspect it"
    if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
        # Drop the image the tag used to point at, if nothing else uses it.
        docker image rm "$old_id" >/dev/null 2>&1 || true
    fi
    size="$(docker image inspect -f '{{.Size}}' "$ref")"
    short_id="${new_id#sha256:}"
    echo "$ref: built ${short_id:0:12} ($((size / 1024)) KiB, VERSION=$version BROKEN=$broken)"
done
