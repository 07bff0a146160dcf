"""What bench.py and bench/replicas.py share: running and timing commands, the workloads'
archives, `strata registry serve` on loopback, and wrk."""
import os
import socket
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("STRATA_BENCH_CACHE", "/var/cache/strata-bench")


def sh(cmd, check=True, quiet=True, env=None, timeout=None):
    """Runs a shell command; returns its stdout."""
    r = subprocess.run(cmd, shell=True, capture_output=quiet, text=True, env=env, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"`{cmd}` failed ({r.returncode}): {(r.stderr or '').strip()[-600:]}")
    return r.stdout if quiet else ""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def archive(name, kind):
    return os.path.join(CACHE, f"{name}.{kind}.tar")


def timed(cmd, setup=None):
    if setup:
        setup()
    t0 = time.perf_counter()
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"`{cmd}` failed: {r.stderr.strip()[-400:]}")
    return dt


def ab(peer, strata, runs, peer_setup=None, strata_setup=None):
    """Warm-up, then peer and Strata alternate; returns the two lists of seconds."""
    timed(peer, peer_setup)
    timed(strata, strata_setup)
    ps, ss = [], []
    for _ in range(runs):
        ps.append(timed(peer, peer_setup))
        ss.append(timed(strata, strata_setup))
    return ps, ss


class StrataServer:
    """`strata registry serve` on a free loopback port, storage on the bench disk, stopped by PID."""

    def __init__(self, strata, disk, name="strata-registry", args=()):
        self.storage = disk.path(name, "x")[:-2]
        self.log = disk.path(name + ".log")
        with open(self.log, "w") as out:
            self.process = subprocess.Popen([strata, "registry", "serve", "--addr", "127.0.0.1:0", "--root", self.storage, *args],
                                            stdout=out, stderr=subprocess.STDOUT)
        for _ in range(100):
            text = open(self.log).read()
            if "listening on http://127.0.0.1:" in text:
                self.port = int(text.split("listening on http://127.0.0.1:")[1].split()[0])
                break
            time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError("strata registry serve did not start: " + open(self.log).read()[-400:])
        self.host = f"127.0.0.1:{self.port}"
        self.pid = self.process.pid

    def peak_rss_mb(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def wrk(url, script=None, seconds=5, connections=32):
    """Requests per second and p99 latency (ms) of `wrk` against one URL."""
    # distribution answers an OCI manifest only to a client that accepts the type.
    accept = "-H 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json'"
    out = sh(f"wrk -t2 -c{connections} -d{seconds}s --latency {accept} {'-s ' + script if script else ''} {url}")
    rps = float(out.split("Requests/sec:")[1].split()[0])
    p99 = out.split(" 99%")[1].split()[0]
    unit = next(u for u in ["us", "ms", "s"] if p99.endswith(u))
    value = float(p99[:-len(unit)]) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
    errors = "Non-2xx or 3xx responses" in out or "Socket errors" in out
    return rps, value, errors


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nginx:
    """Debian's nginx on a free loopback port, with a directory of its own on the bench disk,
    stopped by PID. `site(port)` gives the rest of its http block: the server, any upstream."""

    def __init__(self, disk, site, workers=2):
        self.port = free_port()
        self.dir = disk.path(f"nginx-{self.port}", "x")[:-2]
        os.makedirs(self.dir, exist_ok=True)
        temp = " ".join(f"{k}_temp_path {self.dir}/{k};" for k in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"])
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"daemon off; worker_processes {workers}; pid {self.dir}/nginx.pid; error_log {self.dir}/error.log warn;\n"
                    f"events {{ worker_connections 4096; }}\nhttp {{ access_log off; {temp}\n{site(self.port)}\n}}\n")
        self.process = subprocess.Popen(["nginx", "-c", conf, "-p", self.dir, "-e", f"{self.dir}/error.log"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError("nginx did not start: " + self.errors())
        self.host = f"127.0.0.1:{self.port}"

    def errors(self):
        with open(f"{self.dir}/error.log") as f:
            return f.read()[-400:]

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)
