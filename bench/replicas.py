"""The `replicas` group of bench.py: `strata registry serve` over S3 (Ceph's RADOS Gateway) and
PostgreSQL, one to three replicas behind nginx, all on this machine's loopback.

Rows:
- pulls per second with 1, 2 and 3 replicas under the same concurrent load (wrk replaying a
  pull: manifest, config, layer), against the object store's own rate for the same layer;
- the S3 back end against the filesystem one, for `strata push` and `strata pull` of a workload;
- with `redirect: true`, how much of a blob GET stays on the replica.

The servers are started by the tests' own launchers (Tests/Support/s3, Tests/Support/postgres)
and stopped by PID.
"""
import json
import os
import resource
import shutil
import statistics
import subprocess
import uuid

from common import REPO, Nginx, StrataServer, ab, archive, sh, timed, wrk

RADOSGW = os.path.join(REPO, "Tests/Support/s3/radosgw.py")
POSTGRES = os.path.join(REPO, "Tests/Support/postgres/postgres.py")
ACCEPT = "application/vnd.oci.image.manifest.v1+json"


def watched():
    """The launchers' watchdogs stop their servers if this process dies first."""
    return dict(os.environ, STRATA_S3_WATCH_PID=str(os.getpid()), STRATA_PG_WATCH_PID=str(os.getpid()))


class ObjectStore:
    """A one-node Ceph cluster with radosgw; buckets made with curl's own SigV4 signing."""

    def __init__(self, disk):
        self.dir = disk.path("radosgw", "x")[:-2]
        self.info = json.loads(sh(f"python3 {RADOSGW} start {self.dir}", env=watched()).strip().splitlines()[-1])
        self.endpoint = self.info["endpoint"]

    def curl(self, method, path, *extra):
        # radosgw reads a missing x-amz-content-sha256 as UNSIGNED-PAYLOAD; curl 7.88 signs the body's hash.
        args = ["curl", "-sf", "-X", method, "--aws-sigv4", f"aws:amz:{self.info['region']}:s3",
                "--user", f"{self.info['access_key']}:{self.info['secret_key']}",
                "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", *extra, self.endpoint + path]
        r = subprocess.run(args, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"S3 {method} {path} failed (curl exit {r.returncode}): {r.stdout[-300:]}")

    def bucket(self):
        name = "bench-" + uuid.uuid4().hex[:12]
        self.curl("PUT", "/" + name)
        return name

    def stop(self):
        sh(f"python3 {RADOSGW} stop {self.dir}", check=False)


class Database:
    """Debian's PostgreSQL 15 on loopback; one database per use."""

    def __init__(self, disk):
        self.dir = disk.path("postgres", "x")[:-2]
        self.info = json.loads(sh(f"python3 {POSTGRES} start {self.dir}", env=watched()).strip().splitlines()[-1])

    def database(self):
        name = "bench_" + uuid.uuid4().hex[:12]
        psql = shutil.which("psql") or "/usr/bin/psql"
        sh(f"PGPASSWORD='{self.info['password']}' {psql} -q -h 127.0.0.1 -p {self.info['port']} -U {self.info['user']} "
           f"-d postgres -c 'CREATE DATABASE {name}'")
        return f"postgres://{self.info['user']}:{self.info['password']}@127.0.0.1:{self.info['port']}/{name}"

    def stop(self):
        sh(f"python3 {POSTGRES} stop {self.dir}", check=False)


def config(disk, store, bucket, database=None, redirect=False):
    path = disk.path("replica-configs", uuid.uuid4().hex + ".yaml")
    text = (f"storage:\n  driver: s3\n  endpoint: {store.endpoint}\n  region: {store.info['region']}\n  bucket: {bucket}\n"
            f"  prefix: registry\n  access-key: {store.info['access_key']}\n  secret-key: {store.info['secret_key']}\n"
            f"  redirect: {'true' if redirect else 'false'}\n")
    if database:
        text += f"metadata:\n  driver: postgres\n  url: {database}\n"
    with open(path, "w") as f:
        f.write(text)
    return path


def balancer(disk, ports):
    """nginx round robin over the replicas, bodies streamed both ways, as the tests and the docs run it."""
    servers = "\n".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=60s;" for p in ports)
    location = ('proxy_pass http://registry; proxy_http_version 1.1; proxy_set_header Host $http_host; '
                'proxy_set_header Connection ""; proxy_request_buffering off; proxy_buffering off; proxy_read_timeout 600s; '
                'proxy_next_upstream error timeout http_502;')
    return Nginx(disk, lambda port: f"upstream registry {{\n{servers}\n    keepalive 64;\n}}\n"
                                    f"server {{ listen 127.0.0.1:{port}; client_max_body_size 0; location / {{ {location} }} }}",
                 workers=1)


def replicas(strata, disk, count, conf):
    return [StrataServer(strata, disk, f"replica-{uuid.uuid4().hex[:8]}", ["--config", conf]) for _ in range(count)]


def stop_all(servers):
    for server in servers:
        server.stop()


def pull_script(disk, repository, manifest):
    """A wrk script replaying one pull per three requests: the manifest, the config, the layer."""
    paths = [f"/v2/{repository}/manifests/1", f"/v2/{repository}/blobs/{manifest['config']['digest']}"]
    paths += [f"/v2/{repository}/blobs/{layer['digest']}" for layer in manifest["layers"]]
    script = disk.path("pull.lua")
    with open(script, "w") as f:
        f.write("local paths = {" + ", ".join(f'"{p}"' for p in paths) + "}\n"
                "local i = 0\n"
                "request = function()\n  i = i % #paths + 1\n  return wrk.format(\"GET\", paths[i])\nend\n")
    return script, len(paths)


def scenario_replicas(table, disk, strata, workloads, runs):
    for tool in ["nginx", "wrk", "curl", "psql"]:
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            table.missing("replicas", "—", tool, "not installed")
            return
    if not os.path.exists("/usr/bin/radosgw"):
        table.missing("replicas", "—", "radosgw", "not installed (make deps installs it)")
        return
    store, db = ObjectStore(disk), Database(disk)
    try:
        pull_throughput(table, disk, strata, store, db, runs)
        for w in workloads:
            backends(table, disk, strata, store, w, runs)
        redirect_share(table, disk, strata, store, db, workloads[-1], runs)
    finally:
        db.stop()
        store.stop()


def cpu_sample():
    """CPU seconds (user + system) each running process has used, by PID, with its command name;
    and what this script's finished children (wrk) used."""
    tick, processes = os.sysconf("SC_CLK_TCK"), {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                text = f.read()
        except OSError:
            continue
        name, fields = text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2:].split()
        # A kernel worker's name says its current work item: one group for all of them.
        processes[pid] = ("kernel workers" if name.startswith("kworker") else name, (int(fields[11]) + int(fields[12])) / tick)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return processes, children.ru_utime + children.ru_stime


def cpu_shares(before, after, seconds):
    """The busiest commands between two samples, as shares of the machine's cores; a process
    counts only for the time it ran between them."""
    cores, used = os.cpu_count() * seconds, {"wrk (the load)": after[1] - before[1]}
    for pid, (name, total) in after[0].items():
        if pid in before[0]:
            used[name] = used.get(name, 0) + total - before[0][pid][1]
    busy = sorted(((v, k) for k, v in used.items() if v / cores >= 0.02), reverse=True)
    return (", ".join(f"{k} {v / cores:.0%}" for v, k in busy) + f" of {os.cpu_count()} cores"
            + f" (the machine {sum(used.values()) / cores:.0%} busy)")


def pull_throughput(table, disk, strata, store, db, runs, w="tiny", connections=64, seconds=8):
    """The same wrk load against 1, 2 and 3 replicas over one bucket and one database: whole pulls
    (the blobs through the replicas from the object store), and manifest GETs (the database alone)."""
    conf = config(disk, store, store.bucket(), db.database())
    seed = replicas(strata, disk, 1, conf)
    try:
        sh(f"skopeo copy -q --dest-tls-verify=false oci-archive:{archive(w, 'oci')} docker://{seed[0].host}/lab/{w}:1")
        manifest = json.loads(sh(f"curl -sf -H 'Accept: {ACCEPT}' http://{seed[0].host}/v2/lab/{w}/manifests/1"))
        layer = max(manifest["layers"], key=lambda l: l["size"])
        blob = disk.path("layer.blob")
        sh(f"curl -sf -o {blob} http://{seed[0].host}/v2/lab/{w}/blobs/{layer['digest']}")
    finally:
        stop_all(seed)
    script, per_pull = pull_script(disk, f"lab/{w}", manifest)
    loads = [("pull of the image", "pulls", script, "/", per_pull), ("manifest GET", "GETs", None, f"/v2/lab/{w}/manifests/1", 1)]
    measured = {}
    for count in [1, 2, 3]:
        servers = replicas(strata, disk, count, conf)
        front = balancer(disk, [s.port for s in servers])
        try:
            for what, _, lua, path, requests in loads:
                url = f"http://{front.host}{path}"
                wrk(url, lua, seconds=2, connections=connections)  # warm-up
                samples, cpu = [], ""
                for _ in range(max(1, runs // 2)):
                    before = cpu_sample()
                    rps, p99, errors = wrk(url, lua, seconds=seconds, connections=connections)
                    cpu = cpu_shares(before, cpu_sample(), seconds)
                    if errors:
                        raise RuntimeError(f"wrk saw failed requests through {count} replica(s): {front.errors()}")
                    samples.append(rps / requests)
                measured[what, count] = (samples, p99, cpu)
        finally:
            front.stop()
            stop_all(servers)
    for what, unit, _, _, requests in loads:
        one = measured[what, 1][0]
        for count in [1, 2, 3]:
            rates, p99, cpu = measured[what, count]
            note = (f"{count} replica(s) behind nginx over one bucket and one PostgreSQL database: {statistics.median(rates):,.0f} {unit}/s"
                    + (f" ({requests} requests each)" if requests > 1 else "") + f", p99 {p99:.1f} ms; CPU: {cpu}")
            scenario = f"replicas: {what}, {connections} connections"
            if count == 1:
                table.fact(scenario, w, note)
            else:
                table.pair(scenario + f" (s per {unit[:-1]})", w, "1 replica", [1 / r for r in one], [1 / r for r in rates],
                           note + f"; {statistics.median(rates) / statistics.median(one):.2f}× the {unit}/s of one")
    # The object store's own rate for the same bytes: the layer as a public object, straight from radosgw.
    public = store.bucket()
    if os.path.getsize(blob) == layer["size"]:
        store.curl("PUT", f"/{public}/layer", "-H", "x-amz-acl: public-read", "--data-binary", f"@{blob}")
        before = cpu_sample()
        rps, p99, errors = wrk(f"{store.endpoint}/{public}/layer", seconds=seconds, connections=connections)
        table.fact("replicas: the object store alone, GET of the layer", w,
                   f"radosgw {rps:,.0f} GETs/s of the {layer['size'] / 1e6:.1f} MB layer, p99 {p99:.1f} ms"
                   + (" (errors seen)" if errors else "") + f"; CPU: {cpu_shares(before, cpu_sample(), seconds)}; "
                   "every pull above makes one such GET through a replica")
        os.remove(blob)


def backends(table, disk, strata, store, w, runs):
    """`strata push` and `strata pull` of one workload into a fresh registry each run: filesystem against S3."""
    client = disk.path(f"backends-client-{w}", "x")[:-2]
    sh(f"{strata} --root {client} load -q -i {archive(w, 'oci')}")
    image = sh(f"{strata} --root {client} images -q").split()[0]
    current = {}
    target = disk.path(f"backends-{w}-target")

    def fresh(kind):
        def start():
            for server in current.pop(kind, []):
                server.stop()
            if kind == "s3":
                current[kind] = replicas(strata, disk, 1, config(disk, store, store.bucket()))
            else:
                current[kind] = [StrataServer(strata, disk, f"backends-fs-{uuid.uuid4().hex[:8]}")]
            with open(f"{target}-{kind}", "w") as f:
                f.write(current[kind][0].host)
            sh("sync")
        return start

    def push(kind):
        ref = f"$(cat {target}-{kind})/pushed/{w}:1"
        return f"{strata} --root {client} tag {image} {ref} && {strata} --root {client} push -q --tls-verify=false {ref}"

    try:
        ps, ss = ab(push("fs"), push("s3"), runs, fresh("fs"), fresh("s3"))
        table.pair("replicas: push into one replica, S3 against filesystem", w, "filesystem back end", ps, ss,
                   "strata push into an empty registry each run; S3 = radosgw on this disk, metadata in SQLite for both")
        # Pull from what the last push left, into an empty store each run.
        puller = disk.path(f"backends-puller-{w}", "x")[:-2]

        def pull(kind):
            return f"{strata} --root {puller} pull -q --tls-verify=false $(cat {target}-{kind})/pushed/{w}:1"

        empty = lambda: sh(f"rm -rf --one-file-system {puller} && sync")
        ps, ss = ab(pull("fs"), pull("s3"), runs, empty, empty)
        table.pair("replicas: pull from one replica, S3 against filesystem", w, "filesystem back end", ps, ss,
                   "strata pull into an empty store each run; blob GETs proxied through the replica")
    finally:
        for group in current.values():
            stop_all(group)


def redirect_share(table, disk, strata, store, db, w, runs):
    """A blob GET with `redirect: true` (a 307 to a presigned URL) against one proxied by the replica:
    two replicas over one bucket and one database, one of each."""
    bucket, database = store.bucket(), db.database()
    proxied = replicas(strata, disk, 1, config(disk, store, bucket, database))
    redirected = replicas(strata, disk, 1, config(disk, store, bucket, database, redirect=True))
    try:
        sh(f"skopeo copy -q --dest-tls-verify=false oci-archive:{archive(w, 'oci')} docker://{proxied[0].host}/lab/{w}:1")
        manifest = json.loads(sh(f"curl -sf -H 'Accept: {ACCEPT}' http://{proxied[0].host}/v2/lab/{w}/manifests/1"))
        layer = max(manifest["layers"], key=lambda l: l["size"])
        path = f"/v2/lab/{w}/blobs/{layer['digest']}"
        get = lambda server: f"curl -sfL -o /dev/null http://{server.host}{path}"
        ps, ss = ab(get(proxied[0]), get(redirected[0]), runs)
        table.pair("replicas: blob GET with redirect: true", w, "redirect: false (the replica streams it)", ps, ss,
                   f"curl -L of the {layer['size'] / 1e6:.0f} MB layer")
        # What the replica itself sends and spends on a redirected GET.
        answer = sh(f"curl -s -o /dev/null -w '%{{size_header}} %{{size_download}} %{{time_total}} %{{http_code}}' "
                    f"http://{redirected[0].host}{path}").split()
        headers, body, seconds, code = int(answer[0]), int(answer[1]), float(answer[2]), answer[3]
        total = timed(get(redirected[0]))
        table.fact("replicas: share of a redirected blob GET on the replica", w,
                   f"HTTP {code}, {headers + body} bytes of {layer['size']:,} ({(headers + body) / layer['size']:.6%}); "
                   f"{seconds * 1000:.1f} ms of {total * 1000:.0f} ms ({seconds / total:.1%}); the bytes come from the object store")
    finally:
        stop_all(proxied + redirected)
