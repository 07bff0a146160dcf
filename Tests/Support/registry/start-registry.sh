#!/usr/bin/env bash
# start-registry.sh MODE DIR
#
# Starts Debian's /usr/bin/docker-registry (distribution 2.8.2) in the background on
# 127.0.0.1 with a free port and storage under DIR, waits until GET /v2/ answers, prints
# one line on stdout and exits, leaving the registry running:
#
#   plain | basic   ->  "PORT PID"
#   token           ->  "PORT PID ISSUER_PID"
#
# The caller stops it with `kill PID` (and `kill ISSUER_PID` in token mode).
#
# MODE
#   plain   no auth
#   basic   htpasswd Basic auth, user strata / password s3cret (bcrypt)
#   token   Bearer token auth; token-issuer.py (beside this script) runs on another free
#           loopback port as realm http://127.0.0.1:ISSUER_PORT/token, service
#           "strata-registry", issuer "strata-token-issuer". Basic strata/s3cret gets
#           every action asked for; no Authorization header gets pull only; anything
#           else 401. One line per request served goes to DIR/token-requests.log.
#
# Environment (all optional)
#   PYTHON                      python3 interpreter (default: python3)
#   REGISTRY_BIN                registry binary (default: /usr/bin/docker-registry)
#   STRATA_REGISTRY_WATCH_PID   when set, a watchdog kills the registry (and issuer)
#                               once that process is gone, so a crashed test run leaks
#                               nothing; the watchdog ends by itself when PID dies.
#   TOKEN_EXPIRES_IN            token lifetime in seconds (default 300)
#   TOKEN_HEADER                x5c (default) or kid: how the JWT names its signing key
#
# Files in DIR: config.yml, storage/, registry.log (registry's stdout+stderr),
#   htpasswd (basic), token/{key.pem,cert.pem}, issuer.port, issuer.log,
#   token-requests.log (token).
set -euo pipefail

# Close every inherited descriptor above stderr: the background servers must not keep a
# caller's pipes open (Foundation's Process, for one, waits for such a pipe to close).
for fd in /proc/$$/fd/*; do
    n=${fd##*/}
    if [ "$n" -gt 2 ] 2>/dev/null; then eval "exec $n>&-" 2>/dev/null || true; fi
done

usage() { echo "usage: $0 plain|basic|token DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
MODE=$1
case "$MODE" in plain|basic|token) ;; *) usage ;; esac

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
PY=${PYTHON:-python3}
REGISTRY_BIN=${REGISTRY_BIN:-/usr/bin/docker-registry}
USER_NAME=strata
USER_PASSWORD=s3cret
SERVICE=strata-registry
ISSUER=strata-token-issuer

mkdir -p "$2"
DIR=$(cd "$2" && pwd -P)
mkdir -p "$DIR/storage"

ISSUER_PID=
REG_PID=
stop_started() {
    [ -n "$REG_PID" ] && kill "$REG_PID" 2>/dev/null || true
    [ -n "$ISSUER_PID" ] && kill "$ISSUER_PID" 2>/dev/null || true
}
die() { echo "start-registry.sh: $*" >&2; stop_started; exit 1; }
cleanup_on_error() {
    echo "start-registry.sh: failed (line ${1:-?}); see $DIR" >&2
    stop_started
}
trap 'cleanup_on_error $LINENO' ERR
command -v "$PY" >/dev/null 2>&1 || die "python3 not found (apt package python3)"
[ -x "$REGISTRY_BIN" ] || die "$REGISTRY_BIN not found (apt package docker-registry)"

free_port() {
    "$PY" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Exit 0 as soon as GET http://127.0.0.1:$1$2 gets any HTTP answer.
answers() {
    "$PY" - "$1" "$2" <<'EOF' >/dev/null 2>&1
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=2)
c.request("GET", sys.argv[2]); c.getresponse().read()
EOF
}

yaml_quote() { printf "'%s'" "${1//\'/\'\'}"; }

# ---- auth material -------------------------------------------------------------------
AUTH_YAML=
case "$MODE" in
basic)
    # bcrypt cost 5 (htpasswd's default): the registry checks the hash on every request.
    if command -v htpasswd >/dev/null 2>&1; then
        htpasswd -Bbn -C 5 "$USER_NAME" "$USER_PASSWORD" >"$DIR/htpasswd" 2>/dev/null
    elif ! "$PY" -W ignore -c 'import crypt, sys
h = crypt.crypt(sys.argv[2], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 5))
assert h and h.startswith("$2"), "no bcrypt in libcrypt"
print(sys.argv[1] + ":" + h)' "$USER_NAME" "$USER_PASSWORD" >"$DIR/htpasswd" 2>/dev/null; then
        # No htpasswd and no stdlib crypt (Python >= 3.13): a fixed bcrypt of "s3cret".
        echo 'strata:$2b$05$WSa3HM5ZzSV1enmU9nzCVeddhDeAAdq65U7/NvqvQ4hyMS7XfU.wy' >"$DIR/htpasswd"
    fi
    AUTH_YAML="auth:
  htpasswd:
    realm: strata-registry
    path: $(yaml_quote "$DIR/htpasswd")"
    ;;
token)
    command -v openssl >/dev/null 2>&1 || die "openssl not found (apt package openssl)"
    mkdir -p "$DIR/token"
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
        -subj "/CN=$ISSUER" -keyout "$DIR/token/key.pem" -out "$DIR/token/cert.pem" \
        >/dev/null 2>&1 || die "openssl could not make the token signing key"
    rm -f "$DIR/issuer.port"
    "$PY" "$HERE/token-issuer.py" \
        --port-file "$DIR/issuer.port" --log "$DIR/token-requests.log" \
        --key "$DIR/token/key.pem" --cert "$DIR/token/cert.pem" \
        --issuer "$ISSUER" --user "$USER_NAME" --password "$USER_PASSWORD" \
        --expires-in "${TOKEN_EXPIRES_IN:-300}" --header "${TOKEN_HEADER:-x5c}" \
        </dev/null >>"$DIR/issuer.log" 2>&1 &
    ISSUER_PID=$!
    for _ in $(seq 1 200); do
        [ -s "$DIR/issuer.port" ] && break
        kill -0 "$ISSUER_PID" 2>/dev/null || die "token issuer exited: $(tail -n 20 "$DIR/issuer.log")"
        sleep 0.05
    done
    [ -s "$DIR/issuer.port" ] || die "token issuer did not start"
    ISSUER_PORT=$(cat "$DIR/issuer.port")
    AUTH_YAML="auth:
  token:
    realm: http://127.0.0.1:$ISSUER_PORT/token
    service: $SERVICE
    issuer: $ISSUER
    rootcertbundle: $(yaml_quote "$DIR/token/cert.pem")"
    ;;
esac

# ---- registry: pick a port, start, wait; retry if the port was taken meanwhile --------
PORT=
for attempt in 1 2 3 4 5; do
    PORT=$(free_port)
    cat >"$DIR/config.yml" <<EOF
version: 0.1
log:
  level: warn
  formatter: text
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $(yaml_quote "$DIR/storage")
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$PORT
  secret: strata-test-http-secret
$AUTH_YAML
EOF
    touch "$DIR/registry.log"
    log_start=$(( $(wc -l <"$DIR/registry.log") + 1 ))
    "$REGISTRY_BIN" serve "$DIR/config.yml" </dev/null >>"$DIR/registry.log" 2>&1 &
    REG_PID=$!
    up=
    for _ in $(seq 1 300); do
        if ! kill -0 "$REG_PID" 2>/dev/null; then break; fi
        if answers "$PORT" /v2/; then up=1; break; fi
        sleep 0.05
    done
    [ -n "$up" ] && break
    if kill -0 "$REG_PID" 2>/dev/null; then
        kill "$REG_PID" 2>/dev/null || true
        REG_PID=
        die "registry did not answer on 127.0.0.1:$PORT; see $DIR/registry.log"
    fi
    wait "$REG_PID" 2>/dev/null || true
    REG_PID=
    tail -n +"$log_start" "$DIR/registry.log" | grep -q 'address already in use' || \
        die "registry exited: $(tail -n +"$log_start" "$DIR/registry.log" | tail -n 20)"
    echo "start-registry.sh: port $PORT taken, retrying ($attempt)" >&2
done
[ -n "$REG_PID" ] || die "could not find a free port for the registry"

if [ "$MODE" = token ]; then
    answers "$ISSUER_PORT" /healthz || die "token issuer does not answer"
fi

if [ -n "${STRATA_REGISTRY_WATCH_PID:-}" ]; then
    (
        while kill -0 "$STRATA_REGISTRY_WATCH_PID" 2>/dev/null && kill -0 "$REG_PID" 2>/dev/null; do
            sleep 1
        done
        kill "$REG_PID" $ISSUER_PID 2>/dev/null || true
    ) </dev/null >/dev/null 2>&1 &
fi

trap - ERR
if [ "$MODE" = token ]; then
    echo "$PORT $REG_PID $ISSUER_PID"
else
    echo "$PORT $REG_PID"
fi
