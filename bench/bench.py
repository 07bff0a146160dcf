#!/usr/bin/env python3
"""Strata benchmarks, side by side with the peer tools, on one fair disk.

Run through `make bench` (or `make bench QUICK=1`): see bench/README.md. Every write target of
Strata and of the peers lives on a loop-mounted ext4 made for this run and removed after it.
Peer and Strata alternate (A B A B ...) after a warm-up; the table reports medians, min-max,
and the Strata/peer ratio computed pair by pair.
"""
import argparse
import datetime
import hashlib
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time

from common import CACHE, REPO, Nginx, StrataServer, ab, archive, log, sh, timed, wrk
MOUNT = "/mnt/strata-bench"
IMAGE_FILE = "/var/tmp/strata-bench.ext4"
DOCKER = "/usr/bin/docker"  # Debian's docker.io client, matching its dockerd (not a newer client elsewhere on PATH)
DOCKER_SOCK = "/run/strata-bench-docker.sock"


# ---------------------------------------------------------------------------------------- disk

class FairDisk:
    """A fresh ext4 on a loop device: the host root slows down file creation after big deletes."""

    def __init__(self, size_gb):
        self.size_gb = size_gb

    def __enter__(self):
        self.cleanup()
        sh(f"truncate -s {self.size_gb}G {IMAGE_FILE}")
        sh(f"mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 {IMAGE_FILE}")
        os.makedirs(MOUNT, exist_ok=True)
        sh(f"mount -o loop,noatime {IMAGE_FILE} {MOUNT}")
        return self

    def path(self, *parts):
        p = os.path.join(MOUNT, *parts)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        return p

    def cleanup(self):
        if os.path.ismount(MOUNT):
            sh(f"umount -l {MOUNT}", check=False)
        if os.path.exists(IMAGE_FILE):
            os.remove(IMAGE_FILE)

    def __exit__(self, *exc):
        self.cleanup()


def fresh_dir(path):
    if os.path.exists(path):
        sh(f"rm -rf --one-file-system {path}")
    os.makedirs(path)
    return path


def drop_caches():
    sh("sync; echo 3 > /proc/sys/vm/drop_caches", check=False)


# ----------------------------------------------------------------------------------- workloads

def oci_image(name, layers):
    """Builds a workload image without Strata: each layer a GNU tar (sorted, numeric root owner,
    fixed times) gzip-compressed into an OCI layout, then a docker-archive of it made by skopeo.
    (umoci 0.4.7's `insert` wrote a truncated layer for the 50k-file tree, so it is not used.)"""
    if os.path.exists(archive(name, "docker")):
        return
    layout = os.path.join(CACHE, "layouts", name)
    shutil.rmtree(layout, ignore_errors=True)
    blobs = os.path.join(layout, "blobs", "sha256")
    os.makedirs(blobs)

    def put(path_or_bytes):
        data_path = os.path.join(layout, "tmp")
        if isinstance(path_or_bytes, bytes):
            with open(data_path, "wb") as f:
                f.write(path_or_bytes)
        else:
            os.replace(path_or_bytes, data_path)
        h = hashlib.sha256()
        with open(data_path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        os.replace(data_path, os.path.join(blobs, h.hexdigest()))
        return "sha256:" + h.hexdigest(), os.path.getsize(os.path.join(blobs, h.hexdigest()))

    descriptors, diff_ids = [], []
    for src, dest in layers:
        tar = os.path.join(layout, "layer.tar")
        prefix = dest.strip("/")
        transform = f"--transform 's,^\\./,{prefix}/,;s,^\\.$,{prefix},'" if prefix else ""
        sh(f"tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@1700000000 {transform} -C {src} -cf {tar} .")
        diff_ids.append(put_digest(tar))
        sh(f"gzip -6 -n {tar}")
        digest, size = put(tar + ".gz")
        descriptors.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": size})
    config = {"architecture": "amd64", "os": "linux", "created": "2023-11-14T22:13:20Z",
              "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
              "rootfs": {"type": "layers", "diff_ids": diff_ids},
              "history": [{"created": "2023-11-14T22:13:20Z", "created_by": f"bench layer {i}"} for i in range(len(layers))]}
    config_digest, config_size = put(json.dumps(config).encode())
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
                "layers": descriptors}
    manifest_digest, manifest_size = put(json.dumps(manifest).encode())
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                   "digest": manifest_digest, "size": manifest_size, "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}, f)
    sh(f"skopeo copy oci:{layout}:latest oci-archive:{archive(name, 'oci')}.tmp:latest && mv {archive(name, 'oci')}.tmp {archive(name, 'oci')}")
    sh(f"skopeo copy oci:{layout}:latest docker-archive:{archive(name, 'docker')}.tmp:lab/{name}:latest && "
       f"mv {archive(name, 'docker')}.tmp {archive(name, 'docker')}")


def put_digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def make_tree(root, files, size_range, incompressible=False, seed=1):
    rng = random.Random(seed)
    os.makedirs(root, exist_ok=True)
    for i in range(files):
        d = os.path.join(root, f"d{i % 97:02d}", f"e{(i // 97) % 23:02d}")
        os.makedirs(d, exist_ok=True)
        n = rng.randint(*size_range)
        data = os.urandom(n) if incompressible else (f"{i} ".encode() * (n // 4 + 1))[:n]
        with open(os.path.join(d, f"f{i}"), "wb") as f:
            f.write(data)


def prepare_workloads(names):
    os.makedirs(CACHE, exist_ok=True)
    trees = os.path.join(CACHE, "trees")
    if "tiny" in names:
        t = os.path.join(trees, "tiny")
        if not os.path.exists(t):
            os.makedirs(t + "/bin")
            shutil.copy("/bin/busybox", t + "/bin/busybox")
            for a in ["sh", "ls", "cat", "true"]:
                os.symlink("busybox", f"{t}/bin/{a}")
        oci_image("tiny", [(t, "/")])
    if "debian" in names or "debian-plus" in names:
        t = os.path.join(trees, "debian")
        if not os.path.exists(os.path.join(t, "etc/debian_version")):
            log("debootstrap minbase bookworm (once; cached in %s)" % CACHE)
            shutil.rmtree(t, ignore_errors=True)
            sh(f"debootstrap --variant=minbase bookworm {t} http://deb.debian.org/debian", timeout=1800)
        oci_image("debian", [(t, "/")])
        plus = os.path.join(trees, "plus")
        if not os.path.exists(plus):
            make_tree(plus, 200, (100, 2000), seed=7)
        oci_image("debian-plus", [(t, "/"), (plus, "/opt/lab")])
    if "manyfiles" in names:
        t = os.path.join(trees, "manyfiles")
        if not os.path.exists(t):
            make_tree(t, 50_000, (100, 8192))
        oci_image("manyfiles", [(t, "/data")])
    if "large" in names:
        t = os.path.join(trees, "large")
        if not os.path.exists(t):
            os.makedirs(t)
            for i in range(5):
                with open(f"{t}/blob{i}", "wb") as f:
                    for _ in range(100):
                        f.write(os.urandom(1 << 20))
        oci_image("large", [(t, "/data")])


def layer_tar(name):
    """The uncompressed tar of a workload's first layer (for the tar -x limit)."""
    out = os.path.join(CACHE, f"{name}.layer0.tar")
    if not os.path.exists(out):
        manifest = json.loads(sh(f"tar -xOf {archive(name, 'docker')} manifest.json"))
        layer = manifest[0]["Layers"][0]
        sh(f"tar -xOf {archive(name, 'docker')} {layer} > {out}")
    return out


# -------------------------------------------------------------------------------------- peers

class Peers:
    """Peer tools, each started with private state on the bench disk and stopped by PID."""

    def __init__(self, disk):
        self.disk = disk
        self.status = {}
        self.dockerd = None

    def start(self):
        self.status["skopeo"] = "ok" if shutil.which("skopeo") else "not installed"
        self.status["umoci"] = "ok" if shutil.which("umoci") else "not installed"
        self.status["podman"] = self._podman_check()
        self.status["buildah"] = ("ok" if self.status["podman"] == "ok" else "needs podman's configuration: " + self.status["podman"]) \
            if shutil.which("buildah") else "not installed"
        self.status["docker"] = self._start_docker()

    def _podman_check(self):
        if not shutil.which("podman"):
            return "not installed"
        conf = self.disk.path("podman", "containers.conf")
        with open(conf, "w") as f:
            # crun 1.8 rejects this host's hybrid cgroups; podman's default rlimits exceed what the host allows.
            f.write('[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n'
                    '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n')
        os.environ["CONTAINERS_CONF"] = conf
        try:
            sh(self.podman("info") + " >/dev/null")
            return "ok"
        except Exception as e:
            return f"cannot run: {e}"

    def podman(self, args):
        root = self.disk.path("podman", "root", "x")[:-2]
        return f"podman --root {root} --runroot /run/strata-bench-podman --storage-driver overlay {args}"

    def buildah(self, args):
        """buildah over podman's storage on the bench disk (so it sees the images podman loaded)."""
        root = self.disk.path("podman", "root", "x")[:-2]
        return f"buildah --root {root} --runroot /run/strata-bench-podman --storage-driver overlay {args}"

    def _start_docker(self):
        if not os.path.exists("/usr/sbin/dockerd") and not shutil.which("dockerd"):
            return "not installed"
        data = self.disk.path("docker", "data", "x")[:-2]
        logf = open(self.disk.path("docker", "dockerd.log"), "w")
        self.dockerd = subprocess.Popen(
            ["dockerd", "--data-root", data, "--exec-root", "/run/strata-bench-docker",
             "--pidfile", "/run/strata-bench-docker.pid", "-H", f"unix://{DOCKER_SOCK}",
             "--iptables=false", "--ip-masq=false", "--bridge=none", "--storage-driver=overlay2"],
            stdout=logf, stderr=logf)
        for _ in range(120):
            if self.dockerd.poll() is not None:
                return "dockerd exited: see " + logf.name
            if subprocess.run(self.docker("version") + " >/dev/null 2>&1", shell=True).returncode == 0:
                return "ok"
            time.sleep(0.5)
        return "dockerd did not answer within 60 s"

    def docker(self, args):
        return f"DOCKER_BUILDKIT=0 {DOCKER} -H unix://{DOCKER_SOCK} {args}"

    def stop(self):
        if self.dockerd and self.dockerd.poll() is None:
            self.dockerd.send_signal(signal.SIGTERM)
            try:
                self.dockerd.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.dockerd.kill()
        sh("umount -R /run/strata-bench-docker 2>/dev/null; rm -rf /run/strata-bench-docker /run/strata-bench-podman", check=False)


# ----------------------------------------------------------------------------------- measuring

def fmt(xs):
    if not xs:
        return "—"
    med = statistics.median(xs)
    return f"{med:.3f} s ({min(xs):.3f}–{max(xs):.3f})"


class Table:
    def __init__(self):
        self.rows = []

    def pair(self, scenario, workload, peer_name, ps, ss, note=""):
        ratios = [s / p for s, p in zip(ss, ps) if p > 0]
        ratio = f"{statistics.median(ratios):.2f}×" if ratios else "—"
        self.rows.append([scenario, workload, peer_name, fmt(ps), fmt(ss), ratio, note])

    def missing(self, scenario, workload, peer_name, why):
        self.rows.append([scenario, workload, peer_name, "—", "—", "—", why])

    def fact(self, scenario, workload, text):
        self.rows.append([scenario, workload, "—", "—", "—", "—", text])

    def limit(self, scenario, workload, xs, note=""):
        self.rows.append([scenario, workload, "machine limit", fmt(xs), "—", "—", note])

    def markdown(self):
        head = ["scenario", "workload", "peer", "peer median (min–max)", "Strata median (min–max)", "Strata/peer", "notes"]
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(r) + " |" for r in self.rows]
        return "\n".join(out)


# ---------------------------------------------------------------------------------- scenarios

def run(args):
    strata_bin = args.strata
    workloads = ["tiny", "debian"] if args.quick else ["tiny", "debian", "debian-plus", "manyfiles", "large"]
    runs = 3 if args.quick else args.runs
    prepare_workloads(workloads)
    table = Table()
    with FairDisk(args.disk_gb) as disk:
        peers = Peers(disk)
        try:
            peers.start()
            log("peers: " + ", ".join(f"{k}={v}" for k, v in peers.status.items()))
            want = lambda group: not args.only or group in args.only
            if want("limits"):
                limits(table, disk, workloads, runs)
            for w in workloads:
                if want("load"):
                    scenario_load(table, disk, peers, strata_bin, w, runs)
                if want("save"):
                    scenario_save(table, disk, peers, strata_bin, w, runs)
                if want("import"):
                    scenario_import(table, disk, peers, strata_bin, w, runs)
                if w != "tiny" and want("unpack"):
                    scenario_unpack(table, disk, peers, strata_bin, w, runs)
            if want("run"):
                scenario_run(table, disk, peers, strata_bin, runs)
                scenario_create_and_start(table, disk, peers, strata_bin, runs)
                scenario_bridge_and_exec(table, disk, peers, strata_bin, runs)
            if not args.quick and want("create"):
                scenario_create_cost(table, disk, peers, strata_bin, runs)
            if want("listing"):
                scenario_listing(table, disk, peers, strata_bin, 100 if args.quick else 500, runs)
            if want("registry"):
                registry = BenchRegistry(disk)
                try:
                    for w in (["tiny", "debian"] if args.quick else ["tiny", "debian", "debian-plus", "large"]):
                        scenario_registry(table, disk, peers, strata_bin, w, runs, registry)
                finally:
                    registry.stop()
            if want("build"):
                scenario_build(table, disk, peers, strata_bin, runs)
                scenario_parallel_build(table, disk, peers, strata_bin, runs)
            if want("server"):
                scenario_server(table, disk, strata_bin, "debian" if args.quick else "large", runs)
                scenario_concurrent(table, disk, strata_bin, 2 if args.quick else 3)
            if want("replicas"):
                import replicas  # the S3 and PostgreSQL group: bench/replicas.py (radosgw, PostgreSQL, nginx)
                replicas.scenario_replicas(table, disk, strata_bin, ["debian"] if args.quick else ["debian", "large"], runs)
        finally:
            peers.stop()
    return table, peers.status


def limits(table, disk, workloads, runs):
    big = archive("large" if "large" in workloads else "debian", "docker")
    size = os.path.getsize(big)
    # OpenSSL uses the CPU's SHA extensions, as Strata's BoringSSL does; coreutils' sha256sum does not.
    xs = [timed(f"openssl dgst -sha256 {big} >/dev/null") for _ in range(runs)]
    table.limit("SHA-256 throughput", os.path.basename(big), xs, f"{size / statistics.median(xs) / 1e9:.2f} GB/s (openssl, page cache)")
    sample = disk.path("limits", "layer.gz")
    with open(sample, "wb") as f:
        f.write(first_gzip_layer(archive("debian", "oci")))
    raw = os.path.getsize(sample)
    for tool, cmd in [("zlib (gzip -dc)", f"gzip -dc < {sample} > /dev/null"), ("ISA-L (igzip -dc)", f"igzip -dc < {sample} > /dev/null")]:
        if tool.startswith("ISA") and not shutil.which("igzip"):
            table.missing("inflate throughput", "debian layer", tool, "igzip not installed")
            continue
        xs = [timed(cmd) for _ in range(runs)]
        table.limit(f"inflate throughput, {tool}", "debian layer", xs, f"{raw / statistics.median(xs) / 1e6:.0f} MB/s of compressed input")
    for w in workloads:
        tar = layer_tar(w)
        dest = disk.path("limits", "x")
        xs = [timed(f"tar -xf {tar} -C {dest}", setup=lambda: (fresh_dir(dest), drop_caches())) for _ in range(runs)]
        table.limit("tar -x of the layer", w, xs, "fresh directory on the bench disk")
        src = disk.path("limits", "src")
        fresh_dir(src)
        sh(f"tar -xf {tar} -C {src}")
        xs = [timed(f"cp -a {src} {disk.path('limits', 'cp')}", setup=lambda: sh(f"rm -rf {disk.path('limits', 'cp')}")) for _ in range(runs)]
        table.limit("cp -a of the tree", w, xs)
        sh(f"rm -rf {src} {dest} {disk.path('limits', 'cp')}")


def first_gzip_layer(oci_archive):
    """The bytes of the first gzip layer of an OCI archive (for the inflate limit)."""
    import tarfile
    with tarfile.open(oci_archive) as t:
        read = lambda name: t.extractfile(name).read()
        index = json.loads(read("index.json"))
        manifest = json.loads(read("blobs/sha256/" + index["manifests"][0]["digest"].split(":")[1]))
        for layer in manifest["layers"]:
            if layer["mediaType"].endswith("gzip"):
                return read("blobs/sha256/" + layer["digest"].split(":")[1])
    raise RuntimeError(f"{oci_archive} has no gzip layer")


class BenchRegistry:
    """Debian's docker-registry on loopback, storage on the bench disk, stopped by PID."""

    def __init__(self, disk, name="registry"):
        script = os.path.join(REPO, "Tests/Support/registry/start-registry.sh")
        self.storage = disk.path(name, "x")[:-2]
        out = sh(f"bash {script} plain {self.storage}").split()
        self.port, self.pid = int(out[0]), int(out[1])
        self.host = f"127.0.0.1:{self.port}"
        self.counter = 0

    def stop(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def seed(self, w):
        ref = f"{self.host}/lab/{w}:1"
        sh(f"skopeo copy -q --dest-tls-verify=false oci-archive:{archive(w, 'oci')} docker://{ref}")
        return ref



class PushTarget:
    """A registry started afresh for every push, so neither tool can skip or mount a blob."""

    def __init__(self, disk, w, name_file):
        self.disk, self.w, self.name_file, self.registry, self.n = disk, w, name_file, None, 0

    def next(self):
        self.stop()
        self.n += 1
        self.registry = BenchRegistry(self.disk, f"push-registry-{self.n}")
        ref = f"{self.registry.host}/pushed/{self.w}:1"
        with open(self.name_file, "w") as f:
            f.write(ref)
        return ref

    def stop(self):
        if self.registry:
            self.registry.stop()
            sh(f"rm -rf {self.registry.storage}", check=False)
            self.registry = None


def scenario_registry(table, disk, peers, strata, w, runs, registry):
    ref = registry.seed(w)
    root = strata_root(disk)
    # Every image goes, not just this tag: an image loaded earlier with the same layers would make the pull a no-op.
    # Containers first (earlier scenarios leave some): an image a container uses keeps its layers.
    docker_reset = lambda: sh(peers.docker("rm -f $(" + peers.docker("ps -aq") + ") >/dev/null 2>&1; ")
                              + peers.docker("image rm -f $(" + peers.docker("images -aq") + ") >/dev/null 2>&1; ")
                              + peers.docker("image prune -af") + " >/dev/null", check=False)
    podman_reset = lambda: sh(peers.podman("rmi -af") + " >/dev/null 2>&1", check=False)
    compare(table, peers, "pull, layers unpacked (loopback registry)", w, f"{strata} --root {root} pull -q {ref}",
            lambda: (fresh_dir(root), drop_caches()), [
        ("docker", "docker pull", peers.docker(f"pull -q {ref}"), lambda: (docker_reset(), drop_caches()), "all unpack into their graph driver"),
        ("podman", "podman pull", peers.podman(f"pull -q --tls-verify=false {ref}"), lambda: (podman_reset(), drop_caches()), ""),
    ], runs, None)
    # Pulling an image that is already there: one manifest round trip.
    compare(table, peers, "pull of an image already present", w, f"{strata} --root {root} pull -q {ref}", None, [
        ("docker", "docker pull", peers.docker(f"pull -q {ref}"), None, ""),
        ("podman", "podman pull", peers.podman(f"pull -q --tls-verify=false {ref}"), None, ""),
    ], runs, None)
    ours, theirs = disk.path("copy", "strata"), disk.path("copy", "skopeo")
    compare(table, peers, "blob transfer, registry → OCI layout (no unpack)", w, f"{strata} copy -q docker://{ref} oci:{ours}:x",
            lambda: fresh_dir(ours), [
        ("skopeo", "skopeo copy", f"skopeo copy -q --src-tls-verify=false docker://{ref} oci:{theirs}:x", lambda: fresh_dir(theirs), "both verify digests"),
    ], runs, None)
    # Push into a registry started afresh for each run: nothing to skip or mount, every blob is uploaded.
    name_file = disk.path("copy", "push-name")
    fresh = PushTarget(disk, w, name_file)
    try:
        upload_floor(table, disk, w, runs)
        # Compressed layers on both sides (Strata's store loaded from the OCI archive skopeo reads):
        # the same bytes go out, so this compares the upload pipelines alone.
        compressed = loaded_strata_root(disk, strata, w, "oci")
        image = sh(f"{strata} --root {compressed} images -q").split()[0]
        compare(table, peers, "push (every blob uploaded)", w, f"{strata} --root {compressed} push -q $(cat {name_file})",
                lambda: sh(f"{strata} --root {compressed} tag {image} {fresh.next()}"), [
            ("skopeo", "skopeo copy → docker://", f"skopeo copy -q --dest-tls-verify=false oci-archive:{archive(w, 'oci')} docker://$(cat {name_file})",
             fresh.next, "a new registry each run; gzip layers on both sides, pushed as they are"),
        ], runs, None)
        # Plain tar layers (as `load` of a docker-archive and `commit` keep them): every tool
        # gzip-compresses on the way, as Docker's push does.
        loaded = loaded_strata_root(disk, strata, w)
        image = sh(f"{strata} --root {loaded} images -q").split()[0]
        if peers.status.get("docker") == "ok":
            sh(peers.docker(f"load -q -i {archive(w, 'docker')}") + " >/dev/null")
        docker_push = lambda: sh(peers.docker(f"tag lab/{w}:latest {fresh.next()}"))
        compare(table, peers, "push, gzip-compressing plain layers", w, f"{strata} --root {loaded} push -q $(cat {name_file})",
                lambda: sh(f"{strata} --root {loaded} tag {image} {fresh.next()}"), [
            ("skopeo", "skopeo copy docker-archive: → docker://", f"skopeo copy -q --dest-tls-verify=false docker-archive:{archive(w, 'docker')} docker://$(cat {name_file})",
             fresh.next, "a new registry each run; all compress while uploading"),
            ("docker", "docker push", peers.docker(f"push -q $(cat {name_file})") + " >/dev/null", docker_push, ""),
        ], runs, None)
    finally:
        fresh.stop()
    again = f"{registry.host}/lab/{w}-again:1"
    sh(f"{strata} --root {loaded} tag {image} {again} && {strata} --root {loaded} push -q {again}")
    compare(table, peers, "push of an image already present", w, f"{strata} --root {loaded} push -q {again}", None, [
        ("skopeo", "skopeo copy → docker://", f"skopeo copy -q --dest-tls-verify=false oci-archive:{archive(w, 'oci')} docker://{again}", None, ""),
    ], runs, None)


def ab_head(url, seconds=5, connections=32):
    """Requests per second, p99 latency (ms) and whether any failed, of ApacheBench sending HEAD.
    Without keep-alive: ab's keep-alive, like wrk 4.1, waits for a body after a HEAD reply."""
    out = sh(f"ab -q -i -c {connections} -t {seconds} -n 10000000 {url}", check=False)
    if "Requests per second:" not in out:
        raise RuntimeError(f"ab measured nothing on {url}: {out[-300:]}")
    rps = float(out.split("Requests per second:")[1].split()[0])
    p99 = float(out.split(" 99%")[1].split()[0])
    failed = int(out.split("Failed requests:")[1].split()[0]) > 0 or "Non-2xx responses" in out
    return rps, p99, failed


def small_layouts(count):
    """`count` distinct one-layer OCI layouts (64 KiB of random bytes each), made once and cached."""
    import gzip, io, tarfile
    root = os.path.join(CACHE, "small-images")
    layouts = [os.path.join(root, f"i{n}") for n in range(count)]
    if all(os.path.exists(os.path.join(p, "index.json")) for p in layouts):
        return layouts
    shutil.rmtree(root, ignore_errors=True)
    rng = random.Random(12)
    for n, path in enumerate(layouts):
        blobs = os.path.join(path, "blobs", "sha256")
        os.makedirs(blobs)
        def put(data):
            digest = hashlib.sha256(data).hexdigest()
            with open(os.path.join(blobs, digest), "wb") as f:
                f.write(data)
            return {"digest": "sha256:" + digest, "size": len(data)}
        tar = io.BytesIO()
        with tarfile.open(fileobj=tar, mode="w") as t:
            data = rng.randbytes(64 << 10)
            info = tarfile.TarInfo(f"data/image-{n}")
            info.size, info.mtime = len(data), 0
            t.addfile(info, io.BytesIO(data))
        layer = put(gzip.compress(tar.getvalue(), mtime=0))
        layer["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
        config = put(json.dumps({"architecture": "amd64", "os": "linux",
                                 "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar.getvalue()).hexdigest()]}}).encode())
        config["mediaType"] = "application/vnd.oci.image.config.v1+json"
        manifest = put(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                                   "config": config, "layers": [layer]}).encode())
        manifest["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
        with open(os.path.join(path, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "manifests": [manifest]}, f)
        with open(os.path.join(path, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
    return layouts


def all_at_once(commands):
    """Runs the commands concurrently; wall seconds and how many failed."""
    t0 = time.perf_counter()
    procs = [subprocess.Popen(c, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for c in commands]
    failed = sum(1 for p in procs if p.wait() != 0)
    return time.perf_counter() - t0, failed


def scenario_concurrent(table, disk, strata, runs, count=50):
    """`count` skopeo pushes of distinct small images at once into an empty registry, then
    `count` pulls at once; Strata and distribution alternate, a fresh pair of servers each run."""
    layouts = small_layouts(count)
    pushes, pulls, rss, failures = ([], []), ([], []), 0.0, 0
    for run in range(runs):
        for side, make in enumerate([lambda: BenchRegistry(disk, f"many-distribution-{run}"),
                                     lambda: StrataServer(strata, disk, f"many-strata-{run}")]):
            server = make()
            try:
                out = disk.path(f"many-pulled-{run}-{side}", "x")[:-2]
                shutil.rmtree(out, ignore_errors=True)
                os.makedirs(out)
                seconds, failed = all_at_once([f"skopeo copy -q --dest-tls-verify=false oci:{path} docker://{server.host}/small/i{n}:1"
                                               for n, path in enumerate(layouts)])
                pushes[side].append(seconds)
                failures += failed
                seconds, failed = all_at_once([f"skopeo copy -q --src-tls-verify=false docker://{server.host}/small/i{n}:1 oci:{out}/i{n}"
                                               for n in range(len(layouts))])
                pulls[side].append(seconds)
                failures += failed
                if side == 1:
                    rss = max(rss, server.peak_rss_mb())
                shutil.rmtree(out, ignore_errors=True)
            finally:
                server.stop()
    note = f"{'no errors' if failures == 0 else f'{failures} FAILED'}; Strata peak RSS {rss:.0f} MB"
    table.pair(f"registry: {count} concurrent pushes (skopeo)", f"{count} small images", "distribution 2.8", *pushes, note)
    table.pair(f"registry: {count} concurrent pulls (skopeo)", f"{count} small images", "distribution 2.8", *pulls, note)
    if failures:
        raise RuntimeError(f"{failures} of the concurrent pushes and pulls failed")


def scenario_server(table, disk, strata, w, runs):
    """`strata registry serve` against distribution (Debian's docker-registry) on the same disk,
    with nginx serving the same blob file as the static-file limit."""
    for tool in ["nginx", "wrk", "ab", "curl"]:
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            table.missing("registry server", w, tool, "not installed")
            return
    ours, theirs = StrataServer(strata, disk), BenchRegistry(disk, "distribution")
    nginx = None
    try:
        for host in [ours.host, theirs.host]:
            sh(f"skopeo copy -q --dest-tls-verify=false oci-archive:{archive(w, 'oci')} docker://{host}/lab/{w}:1")
        manifest = json.loads(sh(f"curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' http://{ours.host}/v2/lab/{w}/manifests/1"))
        layer = max(manifest["layers"], key=lambda l: l["size"])
        digest, size = layer["digest"], layer["size"]
        # The static-file limit: nginx sending the same blob file.
        blobs = os.path.join(ours.storage, "blobs")
        nginx = Nginx(disk, lambda port: "sendfile on; tcp_nopush on; keepalive_requests 100000;\n"
                                         f"server {{ listen 127.0.0.1:{port}; root {blobs}; }}")
        blob_path = "/sha256/" + digest.split(":")[1]
        get = lambda host, path: f"curl -sf -o /dev/null http://{host}{path}"
        blob_url = f"/v2/lab/{w}/blobs/{digest}"
        mb = size / 1e6
        ps, ss = ab(get(theirs.host, blob_url), get(ours.host, blob_url), runs)
        table.pair("registry: blob GET, one large blob", w, "distribution 2.8", ps, ss, f"{mb:.0f} MB through curl")
        ps, ss = ab(f"curl -sf -o /dev/null http://127.0.0.1:{nginx.port}{blob_path}", get(ours.host, blob_url), runs)
        table.pair("registry: blob GET, one large blob", w, "nginx (static file, sendfile)", ps, ss, "the static-file limit")
        # Requests per second at 32 connections, as time per request (lower is better), p99 in the notes.
        peer, mine, notes = [], [], ""
        for _ in range(max(1, runs // 2)):
            rps, p99, err = ab_head(f"http://{theirs.host}{blob_url}")
            rps2, p99b, err2 = ab_head(f"http://{ours.host}{blob_url}")
            peer.append(1 / rps)
            mine.append(1 / rps2)
            notes = (f"Strata {rps2:,.0f} req/s p99 {p99b:.0f} ms; distribution {rps:,.0f} req/s p99 {p99:.0f} ms; "
                     "ab, a new connection per request" + ("; errors seen" if err or err2 else ""))
        table.pair("registry: blob HEAD, 32 connections (s/request)", w, "distribution 2.8", peer, mine, notes)
        for what, path in [("manifest GET", f"/v2/lab/{w}/manifests/1")]:
            script = None
            peer, mine = [], []
            notes = []
            for _ in range(max(1, runs // 2)):
                rps, p99, err = wrk(f"http://{theirs.host}{path}", script)
                rps2, p99b, err2 = wrk(f"http://{ours.host}{path}", script)
                if rps <= 0 or rps2 <= 0:
                    raise RuntimeError(f"wrk measured no requests ({rps} and {rps2} req/s) on {path}")
                peer.append(1 / rps)
                mine.append(1 / rps2)
                notes = [f"Strata {rps2:,.0f} req/s p99 {p99b:.2f} ms; distribution {rps:,.0f} req/s p99 {p99:.2f} ms"
                         + ("; errors seen" if err or err2 else "")]
            table.pair(f"registry: {what}, 32 connections (s/request)", w, "distribution 2.8", peer, mine, notes[0])
        # Push of the workload with the same client into each, started empty each run.
        def fresh(kind):
            def start():
                nonlocal servers
                for srv in servers.get(kind, []):
                    srv.stop()
                servers[kind] = [StrataServer(strata, disk, f"push-strata-{time.time_ns()}") if kind == "strata"
                                 else BenchRegistry(disk, f"push-distribution-{time.time_ns()}")]
                with open(disk.path("push-" + kind), "w") as f:
                    f.write(servers[kind][0].host)
                sh("sync")  # the last run's dirty pages are not this run's to write
            return start
        servers = {}
        push = lambda kind: (f"skopeo copy -q --dest-tls-verify=false oci-archive:{archive(w, 'oci')} "
                             f"docker://$(cat {disk.path('push-' + kind)})/pushed/{w}:1")
        # Strata's own client too: skopeo's floor (unpacking the archive, ~0.55 s for debian) is
        # most of a push, and hides what the server does; `strata push` reads the store in place.
        client = disk.path("push-client", "x")[:-2]
        sh(f"{strata} --root {client} load -q -i {archive(w, 'oci')}")
        image = sh(f"{strata} --root {client} images -q").split()[0]
        strata_push = lambda kind: (f"{strata} --root {client} tag {image} $(cat {disk.path('push-' + kind)})/pushed/{w}:1 && "
                                    f"{strata} --root {client} push -q --tls-verify=false $(cat {disk.path('push-' + kind)})/pushed/{w}:1")
        # The floor under any push: writing the layer's bytes once into this disk's page cache.
        floor = disk.path("push-floor")
        for how, flags, note in [("no sync", "", "what distribution's push writes (it never fsyncs)"),
                                 ("durably", " conv=fsync", "what a push that survives a power cut must wait for, as Strata's does")]:
            xs = [timed(f"dd if={ours.storage}/blobs/sha256/{digest.split(':')[1]} of={floor} bs=1M status=none{flags}",
                        setup=lambda: sh(f"rm -f {floor}; sync")) for _ in range(runs)]
            table.limit(f"registry: write the largest layer once (dd, {how})", w, xs, f"{mb:.0f} MB: {note}")
        sh(f"rm -f {floor}")
        try:
            ps, ss = ab(push("distribution"), push("strata"), runs, fresh("distribution"), fresh("strata"))
            table.pair("registry: push of the workload (skopeo)", w, "distribution 2.8", ps, ss, "an empty registry each run")
            ps, ss = ab(strata_push("distribution"), strata_push("strata"), runs, fresh("distribution"), fresh("strata"))
            table.pair("registry: push of the workload (strata push)", w, "distribution 2.8", ps, ss,
                       "an empty registry each run; the same client into each")
        finally:
            for group in servers.values():
                for srv in group:
                    srv.stop()
        table.fact("registry: Strata server peak RSS", w, f"{ours.peak_rss_mb():.0f} MB after the rows above")
    finally:
        if nginx:
            nginx.stop()
        ours.stop()
        theirs.stop()


def strata_root(disk):
    return disk.path("strata", "root", "x")[:-2]


def durable_copy_floor(table, disk, path, w, what, runs):
    """Writing every byte durably is the floor for load, save and import: a copy that is fsynced too."""
    dest = disk.path("limits", "copy.tar")
    xs = [timed(f"dd if={path} of={dest} bs=1M conv=fsync status=none", setup=lambda: sh(f"rm -f {dest}")) for _ in range(runs)]
    table.limit(f"durable copy of the {what} (dd conv=fsync)", w, xs, "the disk-bound floor")
    sh(f"rm -f {dest}")
    return statistics.median(xs)


def compare(table, peers, scenario, w, strata_cmd, strata_setup, candidates, runs, floor):
    """Each available peer against Strata, A B A B; a peer that cannot run keeps its row with the reason.
    `candidates`: (peer, label, command, setup, note)."""
    for peer, label, command, setup, note in candidates:
        if peers.status.get(peer) != "ok":
            table.missing(scenario, w, label, peers.status.get(peer, "?"))
            continue
        try:
            ps, ss = ab(command, strata_cmd, runs, setup, strata_setup)
        except RuntimeError as e:
            # A failure of one pair stays in the table, with its reason; the run goes on.
            table.missing(scenario, w, label, f"failed: {str(e)[:200]}")
            continue
        floor_note = f"Strata at {statistics.median(ss) / floor:.1f}× the durable-copy floor" if floor else ""
        note = "; ".join(x for x in [note, floor_note] if x)
        table.pair(scenario, w, label, ps, ss, note)


def scenario_load(table, disk, peers, strata, w, runs):
    tar = archive(w, "docker")
    root = strata_root(disk)
    floor = durable_copy_floor(table, disk, tar, w, "archive", runs)
    unpacks = "docker and podman also unpack into their graph driver; Strata stores verified blobs"
    dest = disk.path("skopeo", "oci")
    compare(table, peers, "load (docker-archive)", w, f"{strata} --root {root} load -q -i {tar}", lambda: fresh_dir(root), [
        ("docker", "docker load", peers.docker(f"load -q -i {tar}"),
         lambda: sh(peers.docker(f"image rm -f lab/{w}:latest") + " >/dev/null 2>&1; " + peers.docker("image prune -af") + " >/dev/null", check=False),
         unpacks),
        ("podman", "podman load", peers.podman(f"load -q -i {tar}"), lambda: sh(peers.podman("rmi -af") + " >/dev/null 2>&1", check=False), unpacks),
        ("skopeo", "skopeo copy → oci:", f"skopeo copy -q docker-archive:{tar} oci:{dest}:x", lambda: fresh_dir(dest), "both: blobs only, no unpack"),
    ], runs, floor)


BUILD_DOCKERFILE = """ARG BASE
FROM ${BASE}
RUN echo hi > /x && ls / > /dev/null
ENV LAB_BUILD=1 GREETING=hi
COPY app/ /opt/app/
CMD ["/bin/sh", "-c", "cat /x; echo $GREETING"]
"""


def scenario_build(table, disk, peers, strata, runs):
    """The issue's small Dockerfile (FROM a local Debian image, RUN, ENV, COPY, CMD): a cold build
    (no cache) and a fully cached rebuild, each tool from its own store holding the base."""
    w = "debian"
    context = disk.path("build", "context")
    fresh_dir(context)
    os.makedirs(os.path.join(context, "app"), exist_ok=True)
    with open(os.path.join(context, "Dockerfile"), "w") as f:
        f.write(BUILD_DOCKERFILE)
    for i in range(20):
        with open(os.path.join(context, "app", f"file{i}.txt"), "w") as f:
            f.write(f"file {i}\n" * 50)
    root = loaded_strata_root(disk, strata, w)
    base = f"lab/{w}:latest"
    if peers.status.get("docker") == "ok":
        sh(peers.docker(f"load -q -i {archive(w, 'docker')}") + " >/dev/null")
    if peers.status.get("podman") == "ok":
        sh(peers.podman(f"load -q -i {archive(w, 'docker')}") + " >/dev/null")
    ours = f"{strata} --root {root} build -q --build-arg BASE={base} -t bench/app"
    docker = peers.docker(f"build -q --network host --build-arg BASE={base} -t bench/app")
    buildah = peers.buildah(f"build -q --layers --pull=never --network host --build-arg BASE=docker.io/{base} -t bench/app")
    compare(table, peers, "build, cold (no cache)", w, f"{ours} --no-cache {context}", None, [
        ("docker", "docker build (classic)", f"{docker} --no-cache {context}", None, "FROM a local Debian image, RUN, ENV, COPY, CMD"),
        ("buildah", "buildah build", f"{buildah} --no-cache {context}", None, ""),
    ], runs, None)
    # Warm every cache once, then rebuild with nothing changed.
    for cmd in [f"{ours} {context}"] + ([f"{docker} {context}"] if peers.status.get("docker") == "ok" else []) \
            + ([f"{buildah} {context}"] if peers.status.get("buildah") == "ok" else []):
        sh(cmd + " >/dev/null")
    compare(table, peers, "build, fully cached rebuild", w, f"{ours} {context}", None, [
        ("docker", "docker build (classic)", f"{docker} {context}", None, "every step reused"),
        ("buildah", "buildah build --layers", f"{buildah} {context}", None, ""),
    ], runs, None)


PARALLEL_DOCKERFILE = """ARG BASE
FROM ${BASE} AS a
RUN sleep 1 && echo a > /a
FROM ${BASE} AS b
RUN sleep 1 && echo b > /b
FROM ${BASE} AS c
RUN sleep 1 && echo c > /c
FROM ${BASE}
COPY --from=a /a /a
COPY --from=b /b /b
COPY --from=c /c /c
"""


def scenario_parallel_build(table, disk, peers, strata, runs):
    """Three stages that need nothing of each other, each sleeping a second in a RUN, and a final
    stage copying from all three (no cache). The target: at most 0.6× the sum of the stage times,
    each stage built alone by Strata (`--target`)."""
    w = "tiny"
    context = disk.path("build", "parallel")
    fresh_dir(context)
    with open(os.path.join(context, "Dockerfile"), "w") as f:
        f.write(PARALLEL_DOCKERFILE)
    root = loaded_strata_root(disk, strata, w)
    base = f"lab/{w}:latest"
    for peer, load in [("docker", peers.docker), ("podman", peers.podman)]:
        if peers.status.get(peer) == "ok":
            sh(load(f"load -q -i {archive(w, 'docker')}") + " >/dev/null")
    ours = f"{strata} --root {root} build -q --no-cache --build-arg BASE={base}"
    stage_sum = 0.0
    for stage in ["a", "b", "c"]:
        times = [timed(f"{ours} --target {stage} -t bench/stage-{stage} {context}") for _ in range(runs)]
        stage_sum += statistics.median(times)
    table.fact("build, three independent stages", w, f"Strata's stages built one at a time (`--target a`, b, c): {stage_sum:.3f} s in all")
    docker = peers.docker(f"build -q --no-cache --network host --build-arg BASE={base} -t bench/parallel {context}")
    buildah = peers.buildah(f"build -q --no-cache --pull=never --network host --build-arg BASE=docker.io/{base} -t bench/parallel {context}")
    candidates = [
        ("docker", "docker build (classic)", docker, None, "the classic builder builds the stages one after another"),
        ("buildah", "buildah build", buildah, None, "buildah builds the stages one after another unless given --jobs"),
    ]
    for peer, label, command, setup, note in candidates:
        if peers.status.get(peer) != "ok":
            table.missing("build, three independent stages", w, label, peers.status.get(peer, "?"))
            continue
        try:
            ps, ss = ab(command, f"{ours} -t bench/parallel {context}", runs)
        except RuntimeError as e:
            table.missing("build, three independent stages", w, label, f"failed: {str(e)[:200]}")
            continue
        table.pair("build, three independent stages", w, label, ps, ss,
                   f"{note}; Strata at {statistics.median(ss) / stage_sum:.2f}× the sum of its stage times")


def scenario_create_and_start(table, disk, peers, strata, runs):
    """`create` then `start -a` of a container running `true`, each timed alone: the two halves of
    `run --rm`, against docker's and podman's."""
    root, image = loaded_image_id(disk, strata, "tiny")
    sh(f"{strata} --root {root} create {image} true >/dev/null")  # unpack once
    for peer, load in [("docker", peers.docker), ("podman", peers.podman)]:
        if peers.status.get(peer) == "ok":
            sh(load(f"load -q -i {archive('tiny', 'docker')}"))
    tools = {"strata": lambda args: f"{strata} --root {root} {args}"}
    for peer, cli in [("docker", peers.docker), ("podman", peers.podman)]:
        if peers.status.get(peer) == "ok":
            tools[peer] = cli
    image_of = {"strata": image, "docker": "lab/tiny:latest", "podman": "lab/tiny:latest"}

    def created(tool):
        return sh(tools[tool](f"create --network host {image_of[tool]} true")).strip()

    for peer in ["docker", "podman"]:
        if peer not in tools:
            table.missing("create (tiny, unpacked)", "tiny", f"{peer} create", peers.status.get(peer, "?"))
            table.missing("start -a (created container)", "tiny", f"{peer} start -a", peers.status.get(peer, "?"))
            continue
        ps, ss = ab(tools[peer](f"create --network host {image_of[peer]} true") + " >/dev/null",
                    tools["strata"](f"create --network host {image} true") + " >/dev/null", runs)
        table.pair("create (tiny, unpacked)", "tiny", f"{peer} create", ps, ss, "")
        # Each start gets a container created outside the timed region; its ID is read from a file.
        ids = {tool: disk.path(f"start-{tool}") for tool in [peer, "strata"]}

        def setup(tool):
            return lambda: open(ids[tool], "w").write(created(tool))
        ps, ss = ab(tools[peer](f"start -a $(cat {ids[peer]})"), tools["strata"](f"start -a $(cat {ids['strata']})"), runs,
                    setup(peer), setup("strata"))
        table.pair("start -a (created container)", "tiny", f"{peer} start -a", ps, ss, "host network for all")
    for tool in tools:
        sh(tools[tool]("rm -f $(" + tools[tool]("ps -aq") + ")") + " >/dev/null 2>&1", check=False)


def loaded_strata_root(disk, strata, w, kind="docker"):
    """A fresh store holding one workload, loaded from its docker-archive (plain tar layers) or
    its OCI archive (gzip layers)."""
    root = strata_root(disk)
    fresh_dir(root)
    sh(f"{strata} --root {root} load -q -i {archive(w, kind)}")
    return root


def upload_floor(table, disk, w, runs):
    """The registry's own floor: curl uploading the image's blobs, one POST and one monolithic PUT
    each, into a registry started afresh (what no client can beat: the registry writes and hashes)."""
    import tarfile
    blobs = disk.path("copy", "floor-blobs")
    fresh_dir(blobs)
    with tarfile.open(archive(w, "oci")) as t:
        read = lambda name: t.extractfile(name).read()
        index = json.loads(read("index.json"))
        manifest = json.loads(read("blobs/sha256/" + index["manifests"][0]["digest"].split(":")[1]))
        digests = [d["digest"] for d in manifest["layers"] + [manifest["config"]]]
        for d in digests:
            with open(os.path.join(blobs, d.split(":")[1]), "wb") as f:
                f.write(read("blobs/sha256/" + d.split(":")[1]))
    xs = []
    for _ in range(runs):
        registry = BenchRegistry(disk, "floor-registry")
        try:
            script = " && ".join(
                f"L=$(curl -sf -X POST -D - -o /dev/null http://{registry.host}/v2/floor/x/blobs/uploads/ | tr -d '\\r' | sed -n 's/^[Ll]ocation: //p')"
                f" && curl -sf -X PUT -H 'Content-Type: application/octet-stream' -T {blobs}/{d.split(':')[1]}"
                f" \"$(case $L in http*) echo $L;; *) echo http://{registry.host}$L;; esac)&digest={d}\" -o /dev/null"
                for d in digests)
            xs.append(timed(script))
        finally:
            registry.stop()
            sh(f"rm -rf {registry.storage}", check=False)
    sh(f"rm -rf {blobs}")
    table.limit("blob upload with curl (the registry's floor)", w, xs, "POST + monolithic PUT per blob, a new registry each run")


def scenario_save(table, disk, peers, strata, w, runs):
    root = loaded_strata_root(disk, strata, w)
    out = disk.path("save", "out.tar")
    rm_out = lambda: sh(f"rm -f {out}")
    for peer, load in [("docker", peers.docker), ("podman", peers.podman)]:
        if peers.status.get(peer) == "ok":
            sh(load(f"load -q -i {archive(w, 'docker')}"))
    floor = durable_copy_floor(table, disk, archive(w, "docker"), w, "archive", runs)
    compare(table, peers, "save (docker-archive)", w, f"{strata} --root {root} save -o {out} lab/{w}:latest", rm_out, [
        ("docker", "docker save", peers.docker(f"save -o {out} lab/{w}:latest"), rm_out, ""),
        ("podman", "podman save", peers.podman(f"save -o {out} lab/{w}:latest"), rm_out, ""),
    ], runs, floor)


def scenario_import(table, disk, peers, strata, w, runs):
    tar = layer_tar(w)
    root = strata_root(disk)
    floor = durable_copy_floor(table, disk, tar, w, "layer tar", runs)
    unpacks = "docker and podman also unpack"
    compare(table, peers, "import (rootfs tar)", w, f"{strata} --root {root} import {tar} imp/{w}:1", lambda: fresh_dir(root), [
        ("docker", "docker import", peers.docker(f"import {tar} imp/{w}:1"),
         lambda: sh(peers.docker(f"image rm -f imp/{w}:1") + " >/dev/null 2>&1", check=False), unpacks),
        ("podman", "podman import", peers.podman(f"import -q {tar} imp/{w}:1"),
         lambda: sh(peers.podman(f"rmi -f imp/{w}:1") + " >/dev/null 2>&1", check=False), unpacks),
    ], runs, floor)


def loaded_image_id(disk, strata, w, kind="docker"):
    root = strata_root(disk)
    fresh_dir(root)
    sh(f"{strata} --root {root} load -q -i {archive(w, kind)}")
    return root, sh(f"{strata} --root {root} images -q --no-trunc").split()[0]


def scenario_unpack(table, disk, peers, strata, w, runs):
    """Layers to a root filesystem: umoci unpack of the OCI layout vs Strata unpacking the same
    (gzip) layers into snapshots when a container is created."""
    root, image = loaded_image_id(disk, strata, w, "oci")
    bundle = disk.path("umoci", "bundle")
    layout = os.path.join(CACHE, "layouts", w)

    def reset_strata():
        # The image stays loaded; only its unpacked layers and containers go.
        sh(f"{strata} --root {root} rm -f $({strata} --root {root} ps -aq) >/dev/null 2>&1", check=False)
        sh(f"rm -rf {root}/snapshots {root}/containers {root}/storage-driver")
    compare(table, peers, "unpack only", w, f"{strata} --root {root} --storage-driver overlay create {image} true >/dev/null", reset_strata, [
        ("umoci", "umoci unpack", f"umoci unpack --image {layout}:latest {bundle}", lambda: sh(f"rm -rf {bundle}"),
         "both decompress gzip layers; Strata unpacks per layer into overlay snapshots"),
    ], runs, None)


def scenario_run(table, disk, peers, strata, runs):
    """`run --rm IMAGE true` end to end, with bare `runc run` of a prepared bundle as the floor."""
    root, image = loaded_image_id(disk, strata, "tiny")
    for peer, load in [("docker", peers.docker), ("podman", peers.podman)]:
        if peers.status.get(peer) == "ok":
            sh(load(f"load -q -i {archive('tiny', 'docker')}"))
    strata_cmd = f"{strata} --root {root} run --rm --network host {image} true"
    bundle = disk.path("runc", "bundle")
    fresh_dir(bundle)
    sh(f"cp -a {CACHE}/trees/tiny {bundle}/rootfs && cd {bundle} && runc spec")
    with open(f"{bundle}/config.json") as f:
        spec = json.load(f)
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["/bin/true"]
    spec["process"]["rlimits"] = []
    with open(f"{bundle}/config.json", "w") as f:
        json.dump(spec, f)
    # The same bundle Strata runs: its config.json from a started container (seccomp profile,
    # namespaces, mounts of the container's hosts files), over a copy of the image's tree.
    same = disk.path("runc", "strata-bundle")
    fresh_dir(same)
    cid = sh(f"{strata} --root {root} create --network host {image} true").strip()
    sh(f"{strata} --root {root} start -a {cid}")
    with open(f"{root}/containers/{cid}/config.json") as f:
        spec = json.load(f)
    sh(f"cp -a {CACHE}/trees/tiny {same}/rootfs")
    spec["root"] = {"path": f"{same}/rootfs", "readonly": False}
    with open(f"{same}/config.json", "w") as f:
        json.dump(spec, f)
    status = dict(peers.status, runc="ok" if shutil.which("runc") else "not installed")
    peers_view = type("P", (), {"status": status})
    compare(table, peers_view, "run --rm IMAGE true", "tiny", strata_cmd, None, [
        ("runc", "runc run of Strata's bundle (the floor)", f"runc --root /run/strata-bench-runc run --bundle {same} bench-same", None,
         "the same config: Docker's seccomp profile for x86_64, x86 and x32, which libseccomp compiles at every start"),
        ("runc", "runc run (bare `runc spec` bundle)", f"runc --root /run/strata-bench-runc run --bundle {bundle} bench-floor", None,
         "no seccomp profile"),
        ("docker", "docker run --rm", peers.docker("run --rm --network host lab/tiny:latest true"), None, ""),
        ("podman", "podman run --rm", peers.podman("run --rm --network host lab/tiny:latest true"), None, ""),
    ], runs, None)


def scenario_bridge_and_exec(table, disk, peers, strata, runs):
    """`run --rm` on each engine's default bridge network (a namespace, a veth, an address, NAT
    rules made and removed), and `exec` latency into a running container."""
    root, image = loaded_image_id(disk, strata, "tiny")
    for peer, load in [("docker", peers.docker), ("podman", peers.podman)]:
        if peers.status.get(peer) == "ok":
            sh(load(f"load -q -i {archive('tiny', 'docker')}"))
    compare(table, peers, "run --rm IMAGE true (bridge network)", "tiny", f"{strata} --root {root} run --rm {image} true", None, [
        ("docker", "docker run --rm (bridge)", peers.docker("run --rm lab/tiny:latest true"), None, ""),
        ("podman", "podman run --rm (bridge)", peers.podman("run --rm lab/tiny:latest true"), None, ""),
    ], runs, None)
    name = "bench-exec"
    sh(f"{strata} --root {root} rm -f {name} >/dev/null 2>&1", check=False)
    sh(f"{strata} --root {root} run -d --name {name} {image} sh -c 'sleep 3600' >/dev/null")
    started = []
    for peer, cli in [("docker", peers.docker), ("podman", peers.podman)]:
        if peers.status.get(peer) == "ok":
            sh(cli(f"rm -f {name}") + " >/dev/null 2>&1", check=False)
            sh(cli(f"run -d --name {name} lab/tiny:latest sh -c 'sleep 3600'") + " >/dev/null")
            started.append(cli)
    try:
        compare(table, peers, "exec CONTAINER true", "tiny", f"{strata} --root {root} exec {name} true", None, [
            ("docker", "docker exec", peers.docker(f"exec {name} true"), None, ""),
            ("podman", "podman exec", peers.podman(f"exec {name} true"), None, ""),
        ], runs, None)
    finally:
        sh(f"{strata} --root {root} rm -f {name} >/dev/null", check=False)
        for cli in started:
            sh(cli(f"rm -f {name}") + " >/dev/null", check=False)


def scenario_create_cost(table, disk, peers, strata, runs):
    """Creating a container on overlay costs the same for a small and a large image (nothing is copied)."""
    for w in ["tiny", "large"]:
        root, image = loaded_image_id(disk, strata, w)
        sh(f"{strata} --root {root} create {image} true >/dev/null")  # unpack once
        for peer, load in [("docker", peers.docker), ("podman", peers.podman)]:
            if peers.status.get(peer) == "ok":
                sh(load(f"load -q -i {archive(w, 'docker')}"))
        compare(table, peers, "create (image unpacked)", w, f"{strata} --root {root} create {image} true >/dev/null", None, [
            ("docker", "docker create", peers.docker(f"create --network host lab/{w}:latest true") + " >/dev/null", None, ""),
            ("podman", "podman create", peers.podman(f"create --network host lab/{w}:latest true") + " >/dev/null", None, ""),
        ], runs, None)


def scenario_listing(table, disk, peers, strata, count, runs):
    """`images` and `inspect` with `count` distinct images in each store (one tiny layer each)."""
    import io
    import tarfile
    root = fresh_dir(strata_root(disk))
    tars = disk.path("listing", "tars")
    os.makedirs(tars, exist_ok=True)
    ready = {name: peers.status.get(name) == "ok" for name in ["docker", "podman"]}
    for i in range(count):
        path = f"{tars}/{i}.tar"
        with tarfile.open(path, "w") as t:
            data = f"image {i}\n".encode()
            info = tarfile.TarInfo("id")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        name = f"many/img{i}:v{i % 7}"
        sh(f"{strata} --root {root} import {path} {name} >/dev/null")
        if ready["docker"]:
            sh(peers.docker(f"import {path} {name}") + " >/dev/null")
        if ready["podman"]:
            sh(peers.podman(f"import -q {path} {name}") + " >/dev/null")
    for label, args in [("images", "images"), ("inspect", "inspect many/img1:v1")]:
        strata_cmd = f"{strata} --root {root} {args} >/dev/null"
        for peer in ["docker", "podman"]:
            if ready[peer]:
                command = peers.docker(args) if peer == "docker" else peers.podman(args)
                ps, ss = ab(command + " >/dev/null", strata_cmd, runs)
                note = "docker: a client call to a running daemon" if peer == "docker" else "both: a fresh process reading its store"
                table.pair(f"{label} latency", f"{count} images", f"{peer} {label}", ps, ss, note)
            else:
                table.missing(f"{label} latency", f"{count} images", f"{peer} {label}", peers.status.get(peer, "?"))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--strata", default=os.path.join(REPO, ".build/release/strata"))
    ap.add_argument("--quick", action="store_true", help="reduced set, under 3 minutes once workloads are cached")
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--only", nargs="+", metavar="GROUP",
                    choices=["limits", "load", "save", "import", "unpack", "run", "create", "listing", "registry", "build", "server", "replicas"],
                    help="run only these scenario groups (results are then partial: not for bench/results)")
    ap.add_argument("--disk-gb", type=int, default=24)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: run as root (loop mounts, peers' daemons)")
    started = time.time()
    table, status = run(args)
    commit = sh(f"git -C {REPO} rev-parse --short HEAD", check=False).strip() or "unknown"
    dirty = " (with uncommitted changes)" if sh(f"git -C {REPO} status --porcelain --untracked-files=no", check=False).strip() else ""
    header = (f"# Strata benchmarks — {datetime.date.today().isoformat()}\n\n"
              f"Commit `{commit}`{dirty}; {platform.node()}, {os.cpu_count()} cores, kernel {platform.release()}; "
              f"{'QUICK' if args.quick else 'full'} set, {3 if args.quick else args.runs} A/B pairs after a warm-up; "
              f"took {time.time() - started:.0f} s.\n\nPeers: " + ", ".join(f"{k}: {v}" for k, v in status.items()) + "\n\n"
              "Times are wall-clock medians (min–max); Strata/peer is the median of per-pair ratios (below 1 means Strata is faster).\n\n")
    text = header + table.markdown() + "\n"
    print(text)
    if args.only:
        return  # a partial run is for the developer's eyes, not the record
    os.makedirs(os.path.join(REPO, "bench", "results"), exist_ok=True)
    suffix = "-quick" if args.quick else ""
    with open(os.path.join(REPO, "bench", "results", f"{datetime.date.today().isoformat()}{suffix}.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
