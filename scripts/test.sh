#!/usr/bin/env bash
# Set up (without running the demo), lint (ruff, mypy), then run the test suite
# (which includes tests/layout: layering, import cycles, the facade, numpydoc) -- on the
# host and, on a Debian 12 host, at the same time inside a Debian 13 root
# (scripts/debian13.sh), so that both metafor 3.8.1 (Debian 12) and 4.8.0 (Debian 13) are
# checked live.
# Usage: bash scripts/test.sh [pytest args...]    (METAPARITY_DEBIAN13=0: the host only)
set -euo pipefail

cd "$(dirname "$0")/.."

bash scripts/setup.sh --no-run

# ---------------------------------------------------------------------------
# The same suite inside a Debian 13 (trixie) root: R 4.5 + metafor 4.8 from Debian 13
# (scripts/debian13.sh builds the root once per machine and caches it).
#   METAPARITY_DEBIAN13=1 always, =0 never; unset: on a Debian 12 host when root
#   (inside the root it is 0). Under CI=true a host that cannot run it fails.
# The stage runs in the background, beside the host's lint and pytest: each suite is one
# R process on one core, so the two stages side by side take about as long as one (on a
# 2-core machine: 82 min one after the other, about 42 min side by side). Its output goes
# to a log that is printed, whole, when it ends.
# ---------------------------------------------------------------------------
want13="${METAPARITY_DEBIAN13:-auto}"
rc=0
if [ "$want13" = "auto" ]; then
    want13=0
    if [ "$(. /etc/os-release 2>/dev/null && echo "${VERSION_ID:-}")" = "12" ]; then
        if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
            want13=1
        else
            echo "[test] Debian 13 stage skipped: it needs root and apt-get (debootstrap, chroot)"
            case "${CI:-}" in 1 | true | yes) echo "[test] ERROR: CI=true needs the Debian 13 stage" >&2; rc=1 ;; esac
        fi
    fi
fi
pid13=""
log13=""
if [ "$want13" = "1" ]; then
    log13="$(mktemp -t metaparity-debian13.XXXXXX.log)"
    echo "[test] Debian 13 stage started in the background (log: $log13)"
    t13=$SECONDS
    # Its own process group (setsid), so that Ctrl-C or a failing host step stops all of it.
    setsid bash scripts/debian13.sh "$@" >"$log13" 2>&1 &
    pid13=$!
    trap '[ -z "$pid13" ] || kill -- "-$pid13" 2>/dev/null || true' EXIT
fi

echo "[test] ruff check src tests benchmarks"
rc_host=0
{
    .venv/bin/ruff check src tests benchmarks scripts &&
        echo "[test] ruff format --check src tests benchmarks" &&
        .venv/bin/ruff format --check src tests benchmarks scripts &&
        echo "[test] mypy (config in pyproject.toml: the whole package)" &&
        .venv/bin/python -m mypy
} || rc_host=$?

if [ "$rc_host" -eq 0 ]; then
    echo "[test] pytest $*"
    t0=$SECONDS
    .venv/bin/python -m pytest "$@" || rc_host=$?
    if [ "$rc_host" -eq 5 ]; then
        echo "[test] ERROR: pytest collected no tests (exit code 5)" >&2
    fi
    echo "[test] $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME"): pytest exit code $rc_host in $((SECONDS - t0)) s"
fi
[ "$rc" -ne 0 ] || rc=$rc_host

if [ -n "$pid13" ]; then
    rc13=0
    wait "$pid13" || rc13=$?
    pid13=""
    echo "[test] ---- Debian 13 stage (log: $log13) ----"
    cat "$log13"
    echo "[test] Debian 13 stage: exit code $rc13 in $((SECONDS - t13)) s"
    [ "$rc" -ne 0 ] || rc=$rc13
fi
exit "$rc"
