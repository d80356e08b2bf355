#!/usr/bin/env bash
# Run the test suite (or any command) inside a Debian 13 (trixie) root: R 4.5, metafor 4.8
# and lme4 from Debian 13, Python 3.13, and the rpy2 that setup.sh picks there (3.6.x).
#
# Usage: bash scripts/debian13.sh [pytest args...]    # bash scripts/test.sh inside the root
#        bash scripts/debian13.sh --build-only         # make (or check) the cached root only
#
# The root is built once per machine with debootstrap and cached in
# $METAPARITY_DEBIAN13_ROOT (default /var/cache/metaparity/trixie); a stamp records the
# package list it was built with, so a second run reuses it (a fresh machine builds it in a
# few minutes: debootstrap + apt-get from deb.debian.org). The working tree (tracked and
# untracked, not ignored, files) is copied to /work/metaparity inside the root; the venv
# there is kept between runs, and setup.sh's own stamp decides whether pip has work to do.
# Needs root (debootstrap, chroot, mounts); the host's resolv.conf and the CA bundle pip
# uses are copied in so that apt and pip reach the same registries as on the host.
set -euo pipefail

cd "$(dirname "$0")/.."
REPO="$(pwd)"

log() { printf '[debian13] %s\n' "$*"; }
die() { printf '[debian13] ERROR: %s\n' "$*" >&2; exit 2; }

ROOT="${METAPARITY_DEBIAN13_ROOT:-/var/cache/metaparity/trixie}"
MIRROR="${METAPARITY_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PACKAGES="ca-certificates python3 python3-venv python3-dev gcc g++ make \
r-base-core r-cran-metafor r-cran-metadat r-cran-jsonlite r-cran-lme4 r-cran-biasedurn r-cran-numderiv r-cran-clubsandwich"
BUILD_STAMP="$ROOT/.metaparity-root"
WANT_BUILD="trixie $MIRROR $PACKAGES"

BUILD_ONLY=0
if [ "${1:-}" = "--build-only" ]; then
    BUILD_ONLY=1
    shift
fi

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot and mounts); run as root"
command -v apt-get >/dev/null 2>&1 || die "needs apt-get (a Debian host)"

# The CA bundle pip uses on the host (a proxy's CA may be in it): copied into the root.
CA_BUNDLE="${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}"
[ -f "$CA_BUNDLE" ] || die "CA bundle $CA_BUNDLE not found (set PIP_CERT to the bundle pip uses)"

MOUNTS=()
cleanup() {
    local i
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
        umount -l "${MOUNTS[$i]}" 2>/dev/null || true
    done
}
trap cleanup EXIT

mount_root() {
    local m
    for m in proc sys dev dev/pts; do
        mkdir -p "$ROOT/$m"
        if ! mountpoint -q "$ROOT/$m"; then
            case "$m" in
                proc) mount -t proc proc "$ROOT/proc" ;;
                sys) mount -t sysfs sysfs "$ROOT/sys" ;;
                *) mount --bind "/$m" "$ROOT/$m" ;;
            esac
            MOUNTS+=("$ROOT/$m")
        fi
    done
}

copy_host_config() {
    cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
    cp -L "$CA_BUNDLE" "$ROOT/etc/metaparity-host-ca.crt"
}

in_root() {
    # A clean environment: only what the tests and pip need crosses into the root.
    chroot "$ROOT" /usr/bin/env -i \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
        CI="${CI:-}" METAPARITY_DEBIAN13=0 \
        PIP_CERT=/etc/metaparity-host-ca.crt SSL_CERT_FILE=/etc/metaparity-host-ca.crt \
        REQUESTS_CA_BUNDLE=/etc/metaparity-host-ca.crt \
        PIP_DEFAULT_TIMEOUT="${PIP_DEFAULT_TIMEOUT:-180}" PIP_DISABLE_PIP_VERSION_CHECK=1 \
        "$@"
}

build_root() {
    if [ -f "$BUILD_STAMP" ] && [ "$(cat "$BUILD_STAMP")" = "$WANT_BUILD" ] &&
        [ -x "$ROOT/usr/bin/Rscript" ]; then
        log "cached Debian 13 root at $ROOT (stamp matches)"
        return
    fi
    if [ -f "$BUILD_STAMP" ] && [ -x "$ROOT/usr/bin/Rscript" ]; then
        # The package list grew: install what is missing into the cached root.
        log "updating the cached Debian 13 root at $ROOT (package list changed)"
        copy_host_config
        mount_root
        # shellcheck disable=SC2086
        if in_root sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends $PACKAGES" \
            >"$ROOT.apt.log" 2>&1; then
            in_root apt-get clean
            printf '%s\n' "$WANT_BUILD" >"$BUILD_STAMP"
            return
        fi
        log "updating the root failed (log: $ROOT.apt.log); building it afresh"
    fi
    log "building a Debian 13 (trixie) root at $ROOT from $MIRROR"
    if ! command -v debootstrap >/dev/null 2>&1; then
        log "installing debootstrap on the host"
        apt-get update -qq || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap ||
            die "could not install debootstrap"
    fi
    cleanup
    MOUNTS=()
    rm -rf "$ROOT"
    mkdir -p "$(dirname "$ROOT")"
    local t0=$SECONDS
    debootstrap --variant=minbase trixie "$ROOT" "$MIRROR" >"$ROOT.debootstrap.log" 2>&1 ||
        die "debootstrap failed (log: $ROOT.debootstrap.log)"
    copy_host_config
    mount_root
    # shellcheck disable=SC2086
    in_root sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends $PACKAGES" \
        >"$ROOT.apt.log" 2>&1 || die "apt-get in the root failed (log: $ROOT.apt.log)"
    in_root apt-get clean
    printf '%s\n' "$WANT_BUILD" >"$BUILD_STAMP"
    log "root ready in $((SECONDS - t0)) s: $(in_root Rscript -e \
        'cat(R.version.string, "metafor", as.character(packageVersion("metafor")))')"
}

build_root
copy_host_config
mount_root
if [ "$BUILD_ONLY" -eq 1 ]; then
    exit 0
fi

# The working tree, as the host sees it, at /work/metaparity (its venv kept between runs).
DEST="$ROOT/work/metaparity"
mkdir -p "$DEST"
find "$DEST" -mindepth 1 -maxdepth 1 ! -name .venv -exec rm -rf {} +
(cd "$REPO" && git ls-files -z -co --exclude-standard | xargs -0 tar -cf - --) | tar -xf - -C "$DEST"

log "running bash scripts/test.sh $* inside Debian 13"
rc=0
in_root bash -c 'cd /work/metaparity && exec bash scripts/test.sh "$@"' test.sh "$@" || rc=$?
log "Debian 13 test run exited with $rc"
exit "$rc"
