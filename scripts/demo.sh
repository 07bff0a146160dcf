#!/usr/bin/env bash
# The main job: make a busybox image from Debian's busybox-static, then show what Strata knows about it.
set -euo pipefail
: "${STRATA:?path to the strata binary}"
: "${DEMO_ROOT:=/tmp/strata-demo}"
export STRATA_ROOT="$DEMO_ROOT/store"
rm -rf "$DEMO_ROOT"
mkdir -p "$DEMO_ROOT/rootfs/bin" "$DEMO_ROOT/rootfs/etc" "$DEMO_ROOT/rootfs/tmp"

# A root filesystem: the static busybox and its applet links.
cp /bin/busybox "$DEMO_ROOT/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$DEMO_ROOT/rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$DEMO_ROOT/rootfs/etc/passwd"
echo 'root:x:0:' > "$DEMO_ROOT/rootfs/etc/group"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step "$STRATA" import -m "busybox from Debian's busybox-static" \
    -c 'CMD ["/bin/sh"]' -c 'ENV PATH=/bin' -c 'WORKDIR /' -c 'LABEL org.opencontainers.image.title=busybox' \
    "$DEMO_ROOT/rootfs" demo/busybox:latest
step "$STRATA" tag demo/busybox:latest demo/busybox:1.35
step "$STRATA" images
step "$STRATA" history demo/busybox
step "$STRATA" inspect demo/busybox
step "$STRATA" inspect --format '{{.Id}} {{json .RootFS.Layers}}' demo/busybox
step "$STRATA" save -o "$DEMO_ROOT/busybox-docker.tar" demo/busybox:latest
step "$STRATA" save --format oci -o "$DEMO_ROOT/busybox-oci.tar" demo/busybox:latest
step "$STRATA" --root "$DEMO_ROOT/second" load -i "$DEMO_ROOT/busybox-oci.tar"
step "$STRATA" --root "$DEMO_ROOT/second" images --digests
step "$STRATA" system df -v

# Containers: a thin read/write layer over the image, run by runc.
step "$STRATA" run --name demo-1 demo/busybox sh -c 'echo "written by demo-1" > /etc/motd; rm /bin/ls; mkdir /data; echo hello > /data/greeting'
step "$STRATA" diff demo-1
step "$STRATA" commit -m "motd and greeting" demo-1 demo/busybox:committed
step "$STRATA" run --rm demo/busybox:committed sh -c 'cat /etc/motd /data/greeting; ls /bin/ls 2>&1 || true'
step "$STRATA" run --rm demo/busybox cat /etc/motd 2>&1 || true
step "$STRATA" ps -a
# A container of its own on the bridge network, a command run in it, and a volume that outlives it.
step "$STRATA" run -d --name demo-up -v demo-data:/data demo/busybox sh -c 'echo kept > /data/note; sleep 30'
step "$STRATA" exec demo-up sh -c 'ip -4 -o addr show eth0; until [ -s /data/note ]; do sleep 0.1; done; cat /data/note'
step "$STRATA" rm -f demo-up
step "$STRATA" run --rm -v demo-data:/data demo/busybox cat /data/note
step "$STRATA" volume ls
step "$STRATA" system df
step "$STRATA" history demo/busybox:committed
step "$STRATA" inspect --format '{{.GraphDriver.Name}} {{json .RootFS.Layers}}' demo/busybox:committed

# Strata's own registry on loopback (`strata registry serve`, a free port, its own storage): push
# the committed image, then pull it into a fresh store and run it. Stopped by PID (SIGTERM, a
# graceful shutdown) when the demo ends; its access log is printed last.
"$STRATA" registry serve --addr 127.0.0.1:0 --root "$DEMO_ROOT/registry" > "$DEMO_ROOT/registry.log" 2>&1 &
REGISTRY_PID=$!
trap 'kill "$REGISTRY_PID" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    REGISTRY_PORT=$(sed -n 's|^listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$DEMO_ROOT/registry.log")
    [ -n "$REGISTRY_PORT" ] && break
    sleep 0.1
done
[ -n "$REGISTRY_PORT" ] || { cat "$DEMO_ROOT/registry.log"; echo "strata registry serve did not start" >&2; exit 1; }
REGISTRY="127.0.0.1:$REGISTRY_PORT"
step "$STRATA" tag demo/busybox:committed "$REGISTRY/demo/busybox:committed"
step "$STRATA" push "$REGISTRY/demo/busybox:committed"
step "$STRATA" push "$REGISTRY/demo/busybox:committed"
step "$STRATA" --root "$DEMO_ROOT/pulled" pull "$REGISTRY/demo/busybox:committed"
step "$STRATA" --root "$DEMO_ROOT/pulled" images --digests
step "$STRATA" --root "$DEMO_ROOT/pulled" run --rm "$REGISTRY/demo/busybox:committed" cat /data/greeting
step "$STRATA" copy "docker://$REGISTRY/demo/busybox:committed" "oci:$DEMO_ROOT/layout:committed"

# A build: examples/hello/Dockerfile over demo/busybox (RUN, COPY, metadata steps), run, then
# rebuilt — every step says "Using cache".
EXAMPLE="$(cd "$(dirname "$0")/../examples/hello" && pwd)"
step "$STRATA" build -t demo/hello:1 "$EXAMPLE"
step "$STRATA" run --rm demo/hello:1
step "$STRATA" build -t demo/hello:1 "$EXAMPLE"
step "$STRATA" history demo/hello:1

printf '\n\033[1mthe registry'"'"'s access log\033[0m\n'
kill "$REGISTRY_PID"; wait "$REGISTRY_PID" || true
cat "$DEMO_ROOT/registry.log"
