#!/bin/sh
# Berth sample blueprint entrypoint (run by busybox sh as PID 1).
#
# The root filesystem is expected to be read-only, so the docroot is generated
# at start inside /tmp (a tmpfs, possibly noexec/nosuid -- nothing here is
# executed from it):
#   GET /        -> 200, greeting naming the tenant
#   GET /health  -> 200 {"status":"ok","version":"<VERSION>","tenant":"<BERTH_TENANT>"}
#                   (404 when the image was built with BROKEN=1)
# Every start appends a timestamp line to /data/starts.log (errors ignored).
# Never print environment values here: they may carry secrets.
set -u

VERSION="${BERTH_SAMPLE_VERSION:-0}"
BROKEN="${BERTH_SAMPLE_BROKEN:-0}"
PORT="${PORT:-8080}"
TENANT="${BERTH_TENANT-}"
DOCROOT=/tmp/www

log() { echo "berth-sample: $*"; }
die() { echo "berth-sample: error: $*" >&2; exit 1; }

case "$PORT" in
    ''|*[!0-9]*) die "PORT must be a number" ;;
esac

json_escape() {
    printf '%s' "$1" | tr -d '\000-\037' | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'
}
html_escape() {
    printf '%s' "$1" | tr -d '\000-\037' |
        sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g'
}

umask 022
rm -rf "$DOCROOT" 2>/dev/null
mkdir -p "$DOCROOT" 2>/dev/null ||
    die "cannot create $DOCROOT: /tmp must be writable (mount a tmpfs at /tmp)"

tenant_html="$(html_escape "${TENANT:-unknown}")"
{
    echo '<!DOCTYPE html>'
    echo '<html><head><meta charset="utf-8"><title>Berth sample</title></head>'
    echo "<body><h1>Hello, ${tenant_html}!</h1>"
    echo "<p>Berth sample blueprint, version $(html_escape "$VERSION").</p></body></html>"
} > "$DOCROOT/index.html" || die "cannot write $DOCROOT/index.html"

if [ "$BROKEN" = 1 ]; then
    # Deliberately broken build: no /health file, so /health answers 404.
    state="BROKEN (health endpoint disabled)"
else
    printf '{"status":"ok","version":"%s","tenant":"%s"}\n' \
        "$(json_escape "$VERSION")" "$(json_escape "$TENANT")" \
        > "$DOCROOT/health" || die "cannot write $DOCROOT/health"
    state="ok"
fi

# Start marker on the persistent volume; a missing or read-only /data is not fatal.
{ echo "$(date -u '+%Y-%m-%dT%H:%M:%SZ') version=$VERSION" >> /data/starts.log; } 2>/dev/null ||
    log "warning: /data/starts.log is not writable"

# httpd is not exec'ed: as PID 1 it would ignore SIGTERM (no handler installed),
# making `docker stop` wait for the kill timeout. The shell forwards it instead.
child=
on_term() {
    [ -n "$child" ] && kill -TERM "$child" 2>/dev/null && wait "$child" 2>/dev/null
    log "stopped"
    exit 0
}
trap on_term TERM INT
# Test hook: SIGUSR1 makes the main process (PID 1) allocate memory until the
# kernel's OOM killer ends it -- a tenant runtime running out of memory.
trap 'log "memory bomb"; bomb="$(head -c 2000000000 /dev/zero | tr "\\000" x)"' USR1

# Test hook: /data/crash-countdown holding N > 0 makes this start exit 3 (and
# count down), so a test can drive a crash loop that ends by itself.
if [ -f /data/crash-countdown ]; then
    n="$(cat /data/crash-countdown 2>/dev/null)"
    case "$n" in
        ''|*[!0-9]*) ;;
        0) ;;
        *) echo $((n - 1)) > /data/crash-countdown; log "crash-countdown $n: exiting 3"; exit 3 ;;
    esac
fi

# Test hook: SAMPLE_START_DELAY=<seconds> delays serving, to widen the window in
# which a provision is in flight (used by crash-safety tests).
case "${SAMPLE_START_DELAY:-}" in
    '') ;;
    *[!0-9]*) log "warning: SAMPLE_START_DELAY must be whole seconds" ;;
    *) sleep "$SAMPLE_START_DELAY" ;;
esac

log "version $VERSION starting, state $state, listening on port $PORT"
httpd -f -p "$PORT" -h "$DOCROOT" &
child=$!
wait "$child"
rc=$?
log "httpd exited with status $rc"
exit "$rc"
