#!/bin/sh
# Builds the Infrastructor runtime image from binaries compiled on this machine, with deploy/Dockerfile.runtime:
# no base image is pulled, so it works where no registry can be reached. `make image-local` runs it.
#
#   deploy/runtime-image.sh [TAG] [VERSION]
#
# TAG defaults to infrastructor:local, VERSION to `git describe`. The docker client it runs honours DOCKER_HOST;
# DOCKER (default: docker) names the client. The binaries are static (CGO off), as the image has no C library.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TAG=${1:-infrastructor:local}
VERSION=${2:-$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)}
DOCKER=${DOCKER:-docker}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

[ -r "$CA_BUNDLE" ] || { echo "runtime-image: no CA bundle at $CA_BUNDLE (install ca-certificates or set CA_BUNDLE)" >&2; exit 1; }

CTX=$(mktemp -d "${TMPDIR:-/tmp}/infrastructor-image.XXXXXX")
trap 'rm -rf "$CTX"' EXIT INT TERM

mkdir -p "$CTX/rootfs/etc/ssl/certs" "$CTX/rootfs/usr/local/bin" "$CTX/rootfs/tmp" "$CTX/data"
chmod 1777 "$CTX/rootfs/tmp"
chmod 0700 "$CTX/data"
cp "$ROOT/deploy/rootfs/etc/passwd" "$ROOT/deploy/rootfs/etc/group" "$ROOT/deploy/rootfs/etc/nsswitch.conf" "$CTX/rootfs/etc/"
cp "$CA_BUNDLE" "$CTX/rootfs/etc/ssl/certs/ca-certificates.crt"

echo "runtime-image: building static binaries ($VERSION)" >&2
(
	cd "$ROOT"
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$VERSION" \
		-o "$CTX/rootfs/usr/local/bin/infrastructor" ./cmd/infrastructor
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$CTX/rootfs/usr/local/bin/healthcheck" ./deploy/healthcheck
)

echo "runtime-image: docker build -t $TAG" >&2
# The classic builder: Debian's engine 20.10 has it built in, while BuildKit needs the buildx plugin.
DOCKER_BUILDKIT=0 "$DOCKER" build --quiet -f "$ROOT/deploy/Dockerfile.runtime" --build-arg "VERSION=$VERSION" -t "$TAG" "$CTX" >/dev/null
echo "runtime-image: built $TAG" >&2
