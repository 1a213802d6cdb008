#!/usr/bin/env bash
# Build the ledgerflow image: localhost/ledgerflow:latest and localhost/ledgerflow:VERSION.
#
#   deploy/build-image.sh                         on python:3.12-slim (pulled), or, where no
#                                                 registry answers, on a Debian base made here
#   BASE=registry.example/python:3.12 deploy/build-image.sh
#   EXTRAS=s3,otel deploy/build-image.sh          a leaner image, without the example's deps
#   deploy/build-image.sh postgres                localhost/ledgerflow-postgres:latest, Debian's
#                                                 PostgreSQL on the same base, for compose.yaml
#                                                 where the official postgres image cannot be pulled
#
# Environment (all optional):
#   BASE       the base image: a Python >= 3.11 with venv and useradd. Default: python:3.12-slim.
#              When BASE is not given and the default cannot be pulled, the script uses
#              localhost/debian-min:bookworm, making it first with debootstrap if it is missing
#              (root, `apt-get install debootstrap`): Debian's python3 with venv, nothing more.
#   EXTRAS     the extras installed with ledgerflow (Dask is no extra: it always comes with it).
#              Default s3,otel,examples: `otel` brings OpenTelemetry's API (traces, once an
#              image built FROM this one adds an SDK); `examples` brings scikit-learn for the
#              bundled example flow, which the compose stack's smoke test submits.
#   IMAGE      the image name (default localhost/ledgerflow, or localhost/ledgerflow-postgres).
#   ENGINE     podman (default) or docker.
#   NETWORK    the build containers' network (default host).
#   PYTHON     the Python that builds ledgerflow's wheel (default python3).
#   CA_BUNDLE  a certificate bundle that pip trusts during the build, kept out of the image
#              (default: this machine's /etc/ssl/certs/ca-certificates.crt where it exists), so
#              the build reaches PyPI behind the same TLS-inspecting proxy this machine trusts.
#
# Where podman needs it (sandboxes that refuse crun and cgroups), point CONTAINERS_CONF at
# deploy/podman-sandbox.conf.
set -euo pipefail

EXTRAS="${EXTRAS:-s3,otel,examples}"
DEFAULT_BASE="docker.io/library/python:3.12-slim"
DEBIAN_BASE="localhost/debian-min:bookworm"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
WHAT="${1:-ledgerflow}"
ENGINE="${ENGINE:-podman}"
NETWORK="${NETWORK:-host}"
PYTHON="${PYTHON:-python3}"
CA_BUNDLE="${CA_BUNDLE-/etc/ssl/certs/ca-certificates.crt}"

here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
say() { echo "build-image: $*" >&2; }
if [ -n "${CONTAINERS_CONF:-}" ]; then  # podman's helper processes run in other folders
    CONTAINERS_CONF="$(realpath "$CONTAINERS_CONF")"
    export CONTAINERS_CONF
fi

has_image() { "$ENGINE" image inspect "$1" >/dev/null 2>&1; }

make_debian_base() {  # Debian bookworm's python3 and venv, imported as $DEBIAN_BASE
    if has_image "$DEBIAN_BASE"; then
        say "using $DEBIAN_BASE (made before; \`$ENGINE rmi $DEBIAN_BASE\` makes it anew)"
        return
    fi
    if ! command -v debootstrap >/dev/null; then
        say "FAILED: no registry answered and debootstrap is missing: apt-get install debootstrap," \
            "or give BASE=an image this machine can pull"
        exit 1
    fi
    local rootfs
    rootfs="$(mktemp -d)"
    say "making $DEBIAN_BASE with debootstrap from $DEBIAN_MIRROR"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$rootfs" "$DEBIAN_MIRROR" >&2
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | "$ENGINE" import - "$DEBIAN_BASE" >/dev/null
    rm -rf "$rootfs"
}

if [ "$WHAT" != ledgerflow ] && [ "$WHAT" != postgres ]; then
    say "usage: build-image.sh [ledgerflow|postgres] (not $WHAT)"
    exit 2
fi
if [ -n "${BASE:-}" ]; then
    base="$BASE"
elif has_image "$DEFAULT_BASE" || "$ENGINE" pull -q "$DEFAULT_BASE" >/dev/null 2>&1; then
    base="$DEFAULT_BASE"
else
    say "cannot pull $DEFAULT_BASE (no registry reachable): building on Debian's python3 instead"
    make_debian_base
    base="$DEBIAN_BASE"
fi

context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
case "$WHAT" in
    ledgerflow)
        IMAGE="${IMAGE:-localhost/ledgerflow}"
        "$PYTHON" -m pip wheel --no-deps -q -w "$context" "$root" >&2
        wheel="$(cd "$context" && ls ledgerflow-*.whl)"
        version="${wheel#ledgerflow-}"
        version="${version%%-*}"
        cp "$here/Containerfile" "$context/Containerfile"
        args=(--build-arg "WHEEL=$wheel" --build-arg "EXTRAS=$EXTRAS")
        say "building $IMAGE:latest and $IMAGE:$version on $base with extras [$EXTRAS]"
        ;;
    postgres)
        IMAGE="${IMAGE:-localhost/ledgerflow-postgres}"
        version="latest"
        cp "$here/postgres/Containerfile" "$here/postgres/entrypoint.sh" "$context/"
        args=()
        say "building $IMAGE:latest on $base"
        ;;
esac

secret=()
if [ -n "$CA_BUNDLE" ] && [ -s "$CA_BUNDLE" ]; then
    secret=(--secret "id=ca,src=$CA_BUNDLE")
fi
"$ENGINE" build --network "$NETWORK" "${secret[@]}" --build-arg "BASE=$base" "${args[@]}" \
    -t "$IMAGE:latest" -t "$IMAGE:$version" -f "$context/Containerfile" "$context" >&2
echo "$IMAGE:$version"
