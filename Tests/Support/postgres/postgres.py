#!/usr/bin/env python3
"""Start, restart and stop a throwaway PostgreSQL server on 127.0.0.1.

    postgres.py start DIR [--port PORT]
    postgres.py restart DIR     (the same port and data: what a replica sees when the server restarts)
    postgres.py stop DIR

`start` makes a cluster in DIR/data with initdb (as the `postgres` user, through runuser:
initdb refuses to run as root), with one superuser "strata" whose password is in DIR/password,
SCRAM authentication on loopback only, and the C locale. It starts the server with pg_ctl on
a free port (or PORT), waits until it accepts connections and prints one line of JSON:

    {"url": "postgres://strata:PASSWORD@127.0.0.1:PORT/postgres", "port": PORT, "pid": PID,
     "user": "strata", "password": "...", "data": "DIR/data"}

then exits 0, leaving the server running. On failure it prints the server's log on stderr and
exits 1. `stop` sends SIGINT (a fast shutdown) to the postmaster recorded in DIR/data, by PID,
waits for it, and SIGKILLs it after 10 s.

Debian 12 package: postgresql (15). Python 3 standard library only.

Environment (optional):
    STRATA_PG_WATCH_PID   when set, a watchdog stops the server once that process is gone,
                          so a crashed test run leaks no server.
"""

import argparse
import glob
import json
import os
import pwd
import secrets
import signal
import socket
import subprocess
import sys
import time

USER = "strata"


def bindir():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise SystemExit("postgres.py: PostgreSQL is not installed (make deps installs it: apt-get install postgresql)")
    return os.path.dirname(found[-1])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_postgres(args, **kw):
    return subprocess.run(["runuser", "-u", "postgres", "--"] + args, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, **kw)


def postmaster_pid(data):
    try:
        with open(os.path.join(data, "postmaster.pid")) as f:
            return int(f.readline().strip())
    except (OSError, ValueError):
        return None


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def server_start(d, port):
    data = os.path.join(d, "data")
    log = os.path.join(d, "server.log")
    r = as_postgres([os.path.join(bindir(), "pg_ctl"), "-D", data, "-l", log, "-w", "-t", "60",
                     "-o", f"-p {port} -k {d} -c listen_addresses=127.0.0.1", "start"])
    if r.returncode != 0:
        sys.stderr.write(f"postgres.py: pg_ctl start failed (exit {r.returncode}): {r.stderr}{r.stdout}\n")
        try:
            sys.stderr.write(open(log).read()[-4000:])
        except OSError:
            pass
        raise SystemExit(1)
    with open(os.path.join(d, "port"), "w") as f:
        f.write(str(port))
    return postmaster_pid(data)


def describe(d, pid):
    port = int(open(os.path.join(d, "port")).read())
    password = open(os.path.join(d, "password")).read().strip()
    return {"url": f"postgres://{USER}:{password}@127.0.0.1:{port}/postgres", "port": port, "pid": pid,
            "user": USER, "password": password, "data": os.path.join(d, "data")}


def cmd_start(d, port):
    os.makedirs(d, exist_ok=True)
    pg = pwd.getpwnam("postgres")
    os.chown(d, pg.pw_uid, pg.pw_gid)
    os.chmod(d, 0o700)
    password = secrets.token_hex(16)
    pwfile = os.path.join(d, "password")
    with open(pwfile, "w") as f:
        f.write(password + "\n")
    os.chown(pwfile, pg.pw_uid, pg.pw_gid)
    os.chmod(pwfile, 0o600)
    r = as_postgres([os.path.join(bindir(), "initdb"), "-D", os.path.join(d, "data"), "-U", USER, f"--pwfile={pwfile}",
                     "--auth=scram-sha-256", "--no-locale", "-E", "UTF8", "--no-sync"])
    if r.returncode != 0:
        sys.stderr.write(f"postgres.py: initdb failed (exit {r.returncode}): {r.stderr}{r.stdout}\n")
        return 1
    pid = server_start(d, port or free_port())
    watch = os.environ.get("STRATA_PG_WATCH_PID")
    if watch:
        subprocess.Popen([sys.executable, os.path.abspath(__file__), "_watch", d, watch], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True, start_new_session=True)
    print(json.dumps(describe(d, pid)))
    return 0


def stop(d):
    data = os.path.join(d, "data")
    pid = postmaster_pid(data)
    if pid is None or not alive(pid):
        return
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)
        while alive(pid):
            time.sleep(0.05)


def cmd_restart(d):
    stop(d)
    port = int(open(os.path.join(d, "port")).read())
    pid = server_start(d, port)
    print(json.dumps(describe(d, pid)))
    return 0


def cmd_watch(d, watch_pid):
    while True:
        time.sleep(1)
        if not os.path.exists(os.path.join(d, "data")):
            return 0
        if not alive(watch_pid):
            stop(d)
            return 0


def main(argv):
    ap = argparse.ArgumentParser(prog="postgres.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("start")
    s.add_argument("dir")
    s.add_argument("--port", type=int, default=0)
    for name in ("restart", "stop"):
        sub.add_parser(name).add_argument("dir")
    w = sub.add_parser("_watch")
    w.add_argument("dir")
    w.add_argument("pid", type=int)
    args = ap.parse_args(argv)
    d = os.path.abspath(args.dir)
    if args.cmd == "start":
        # Background servers must not keep a caller's pipes open (Foundation's Process waits for them).
        return cmd_start(d, args.port)
    if args.cmd == "restart":
        return cmd_restart(d)
    if args.cmd == "stop":
        stop(d)
        return 0
    return cmd_watch(d, args.pid)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
