#!/usr/bin/env python3
"""Concurrency stress: eight processes pull, build, run, rmi and prune against one store for a
bounded time; then `strata system check` must be clean and every image still listed must run.

Usage: stress-test.py --strata PATH [--seconds N] [--workers 8] [--seed S]. A registry server on
127.0.0.1 (stopped by PID) serves the images pulled. Commands may fail for reasons of the race
itself (an image another worker removed a moment before: "No such image", "image is being
used"); any other failure, a hang, or a store that does not check clean is reported.
"""
import argparse, os, random, re, shutil, signal, subprocess, sys, tempfile, threading, time
from strata_registry import Registry

parser = argparse.ArgumentParser()
parser.add_argument("--strata", required=True)
parser.add_argument("--seconds", type=float, default=60)
parser.add_argument("--workers", type=int, default=8)
parser.add_argument("--seed", type=int, default=int(time.time()))
args = parser.parse_args()
STRATA = os.path.abspath(args.strata)
work = tempfile.mkdtemp(prefix="strata-stress-", dir="/var/tmp")
store = f"{work}/store"
# What a race between workers may rightly answer: the other worker got there first.
EXPECTED = re.compile(r"No such image|No such container|image is being used|conflict|unable to remove|must be forced|"
                      r"is using its referenced image|has dependent child images|already in use|unable to delete|"
                      r"no such image|not found|MANIFEST_UNKNOWN|does not exist", re.I)


def strata(*argv, root=store, timeout=180, stdin=None):
    return subprocess.run([STRATA, "--root", root, *argv], capture_output=True, text=True, timeout=timeout, input=stdin)


def main():
    rootfs = f"{work}/rootfs"
    os.makedirs(f"{rootfs}/bin")
    shutil.copy("/bin/busybox", f"{rootfs}/bin/busybox")
    for tool in ["sh", "echo", "true", "cat", "head"]:
        os.symlink("busybox", f"{rootfs}/bin/{tool}")
    seed_store = f"{work}/seed"
    registry = Registry(STRATA, f"{work}/registry", f"{work}/registry.log")
    try:
        port = registry.port
        remotes = [f"127.0.0.1:{port}/stress/img{i}:1" for i in range(3)]
        for i, remote in enumerate(remotes):
            with open(f"{rootfs}/marker", "w") as f:
                f.write(f"image {i}\n" * 1000)
            r = strata("import", "-c", 'CMD ["/bin/sh"]', rootfs, remote, root=seed_store)
            assert r.returncode == 0, r.stderr
            r = strata("push", remote, root=seed_store)
            assert r.returncode == 0, r.stderr
        contexts = []
        for i in range(2):
            context = f"{work}/context{i}"
            os.makedirs(context)
            with open(f"{context}/Dockerfile", "w") as f:
                f.write(f"FROM {remotes[i]}\nRUN echo built {i} > /built\n")
            contexts.append(context)

        failures, counts, lock = [], {}, threading.Lock()
        deadline = time.monotonic() + args.seconds

        def worker(n):
            rng = random.Random(args.seed + n)
            while time.monotonic() < deadline:
                op = rng.choice(["pull", "pull", "build", "run", "run", "rmi", "prune"])
                if op == "pull":
                    argv = ["pull", rng.choice(remotes)]
                elif op == "build":
                    i = rng.randrange(len(contexts))
                    argv = ["build", "-t", f"stress/built{i}:{n}", contexts[i]]
                elif op == "run":
                    argv = ["run", "--rm", "--network", "none", rng.choice(remotes), "cat", "/marker"]
                elif op == "rmi":
                    argv = ["rmi", rng.choice(remotes + [f"stress/built{rng.randrange(2)}:{n}"])]
                else:
                    argv = ["image", "prune", "-a", "-f"]
                try:
                    r = strata(*argv)
                except subprocess.TimeoutExpired:
                    with lock:
                        failures.append(f"worker {n}: {' '.join(argv)} hung")
                    continue
                with lock:
                    counts[op] = counts.get(op, 0) + 1
                    if r.returncode != 0 and not EXPECTED.search(r.stderr):
                        # An image pulled by another worker can vanish under a run: that is the race, not a fault.
                        failures.append(f"worker {n}: {' '.join(argv)} exited {r.returncode}: {r.stderr.strip()[:400]}")

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(args.workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        check = strata("system", "check")
        if check.returncode != 0:
            failures.append(f"system check exited {check.returncode}:\n{check.stdout}{check.stderr}")
        listed = strata("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
        for name in listed:
            if name.endswith(":<none>"):
                continue
            r = strata("run", "--rm", "--network", "none", name, "true")
            if r.returncode != 0:
                failures.append(f"listed image {name} does not run: {r.stderr.strip()}")
        print(f"stress (seed {args.seed}): {args.workers} workers for {args.seconds:.0f}s, "
              + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + f"; {len(listed)} images left, each run")
        if failures:
            print(f"{len(failures)} failures:")
            for f in failures:
                print(" - " + f)
            return 1
        print("system check clean")
        shutil.rmtree(work, ignore_errors=True)
        return 0
    finally:
        registry.stop()


if __name__ == "__main__":
    sys.exit(main())
