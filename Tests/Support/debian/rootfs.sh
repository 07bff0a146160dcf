#!/usr/bin/env bash
# rootfs.sh OUT.tar
#
# Writes a Debian 12 (bookworm) minbase root filesystem as a tar, for tests that build on a
# real distribution (apt-get inside `strata build`). Made once with debootstrap from
# deb.debian.org and cached in $STRATA_TEST_CACHE (default /var/cache/strata-tests); later
# calls copy the cache. Exits 2 (and says why) when the mirror cannot be reached, so the
# caller can skip rather than fail.
set -euo pipefail
out=${1:?usage: rootfs.sh OUT.tar}
cache=${STRATA_TEST_CACHE:-/var/cache/strata-tests}
tarball="$cache/debian-bookworm-minbase.tar"
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null || { echo "debootstrap is not installed" >&2; exit 2; }
    host=${mirror#*://}; host=${host%%/*}
    timeout 20 bash -c "exec 3<>/dev/tcp/$host/80" 2>/dev/null || { echo "cannot reach $host: no Debian mirror" >&2; exit 2; }
    mkdir -p "$cache"
    work=$(mktemp -d "$cache/debootstrap.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    debootstrap --variant=minbase bookworm "$work/root" "$mirror" >"$work/log" 2>&1 || {
        tail -5 "$work/log" >&2; echo "debootstrap failed" >&2; exit 2; }
    tar -C "$work/root" --numeric-owner -cf "$work/rootfs.tar" .
    mv "$work/rootfs.tar" "$tarball"
fi
cp "$tarball" "$out"
