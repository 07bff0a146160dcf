#!/usr/bin/env python3
"""Crash campaign: kill strata with SIGKILL at random instants, then prove nothing was lost.

Each round picks an operation (pull, push, build, commit, load, rmi, prune; and, with the
registry server, a push while the server itself is killed, or its GC), starts it, kills it
at a random instant within the time it takes, then requires:
  - `strata system check` exits 0 (leftovers of the killed process are fine, damage is not);
  - the same command, run again, succeeds; a pull or load gives the same image ID as before.
Usage: crash-test.py --strata PATH [--rounds N] [--seed S]. Servers run on 127.0.0.1 and are
stopped by PID. Prints the count of rounds and every broken state found; exits 1 if any.
"""
import argparse, json, os, random, re, shutil, signal, subprocess, sys, tempfile, time
from strata_registry import Registry

parser = argparse.ArgumentParser()
parser.add_argument("--strata", required=True)
parser.add_argument("--rounds", type=int, default=100)
parser.add_argument("--seed", type=int, default=int(time.time()))
args = parser.parse_args()
rng = random.Random(args.seed)
STRATA = os.path.abspath(args.strata)
work = tempfile.mkdtemp(prefix="strata-crash-", dir="/var/tmp")
store = f"{work}/store"
problems = []


def strata(*argv, check=True, timeout=300, root=store):
    r = subprocess.run([STRATA, "--root", root, *argv], capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"strata {' '.join(argv)} exited {r.returncode}: {r.stderr.strip()}")
    return r


def image_id(name):
    r = strata("image", "inspect", "--format", "{{.Id}}", name, check=False)
    return r.stdout.strip() if r.returncode == 0 else None


def make_fixtures():
    """A busybox root with a 24 MB file of random bytes (so there is time to be killed in),
    an archive of it, a build context, and the image in the registry."""
    rootfs = f"{work}/rootfs"
    os.makedirs(f"{rootfs}/bin")
    shutil.copy("/bin/busybox", f"{rootfs}/bin/busybox")
    for tool in ["sh", "cat", "echo", "true", "dd"]:
        os.symlink("busybox", f"{rootfs}/bin/{tool}")
    with open(f"{rootfs}/payload", "wb") as f:
        f.write(random.Random(1).randbytes(24 << 20))
    strata("import", "-c", 'CMD ["/bin/sh"]', rootfs, "crash/base:1")
    strata("save", "-o", f"{work}/base.tar", "crash/base:1")
    os.makedirs(f"{work}/context")
    with open(f"{work}/context/Dockerfile", "w") as f:
        f.write("FROM crash/base:1\nCOPY data /data\nRUN dd if=/data of=/copy bs=1M 2>/dev/null\n")
    with open(f"{work}/context/data", "wb") as f:
        f.write(random.Random(2).randbytes(8 << 20))


def timed(argv, root=store):
    started = time.monotonic()
    strata(*argv, root=root)
    return time.monotonic() - started


def killed(argv, within, root=store):
    """Starts the command and SIGKILLs it at a random instant of its expected run."""
    proc = subprocess.Popen([STRATA, "--root", root, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(rng.uniform(0, within))
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()


def check_clean(label):
    r = strata("system", "check", check=False)
    if r.returncode != 0:
        problems.append(f"{label}: system check exited {r.returncode}:\n{r.stdout}{r.stderr}")
        strata("system", "check", "--repair", check=False)


def check_registry_clean(label):
    r = registry.check()
    if r.returncode != 0:
        problems.append(f"{label}: registry check exited {r.returncode}:\n{r.stdout}{r.stderr}")
        registry.check(repair=True)


def main():
    global registry
    make_fixtures()
    registry = Registry(STRATA, f"{work}/registry", f"{work}/registry.log")
    remote = lambda: f"127.0.0.1:{registry.port}/crash/base:1"
    strata("tag", "crash/base:1", remote())
    strata("push", remote())
    base_id = image_id("crash/base:1")

    # How long each operation takes when nothing goes wrong: the window kills are drawn from.
    def prepare_pull():
        strata("rmi", "-f", remote(), check=False)
        strata("rmi", "-f", "crash/base:1", check=False)
        strata("image", "prune", "-a", "-f", check=False)
    def prepare_load():
        prepare_pull()
    def prepare_push():
        strata("load", "-i", f"{work}/base.tar")
        strata("tag", "crash/base:1", remote())
    def prepare_build():
        prepare_push()
        strata("rmi", "-f", "crash/built:1", check=False)
    def prepare_commit():
        prepare_push()
        strata("rm", "-f", "crash-c", check=False)
        strata("run", "--name", "crash-c", "--network", "none", "crash/base:1", "sh", "-c", "dd if=/payload of=/copy bs=1M 2>/dev/null")
        strata("rmi", "-f", "crash/committed:1", check=False)
    def prepare_rmi():
        prepare_push()
    def after_commit():
        strata("rm", "-f", "crash-c", check=False)

    operations = {
        "pull": (prepare_pull, lambda: ["pull", remote()], lambda: image_id(remote()) == base_id),
        "load": (prepare_load, lambda: ["load", "-i", f"{work}/base.tar"], lambda: image_id("crash/base:1") == base_id),
        "push": (prepare_push, lambda: ["push", remote()], lambda: True),
        "build": (prepare_build, lambda: ["build", "-t", "crash/built:1", f"{work}/context"], lambda: image_id("crash/built:1") is not None),
        "commit": (prepare_commit, lambda: ["commit", "crash-c", "crash/committed:1"], lambda: image_id("crash/committed:1") is not None),
        "rmi": (prepare_rmi, lambda: ["rmi", "-f", "crash/base:1", remote()], lambda: image_id("crash/base:1") is None),
        "prune": (prepare_rmi, lambda: ["image", "prune", "-a", "-f"], lambda: True),
    }
    durations = {}
    for name, (prepare, command, _) in operations.items():
        prepare()
        durations[name] = max(timed(command()), 0.05)
        if name == "commit":
            after_commit()
    counts = {}
    for round_number in range(1, args.rounds + 1):
        name = rng.choice(list(operations) + ["server-upload", "server-gc"])
        counts[name] = counts.get(name, 0) + 1
        label = f"round {round_number} ({name})"
        try:
            if name in operations:
                prepare, command, verify = operations[name]
                prepare()
                killed(command(), durations[name])
                check_clean(label)
                if name == "commit":
                    # The container may have been half-committed; the retry commits it whole.
                    pass
                r = strata(*command(), check=False)
                if r.returncode != 0 and name == "rmi" and verify():
                    pass  # the killed rmi had finished: the names are gone, as asked
                elif r.returncode != 0:
                    problems.append(f"{label}: the retried command failed: {r.stderr.strip()}")
                elif not verify():
                    problems.append(f"{label}: the retried command did not give the expected image")
                if name == "commit":
                    after_commit()
                check_clean(label + " after the retry")
            elif name == "server-upload":
                # The registry server is killed while a push uploads to it; restarted, the push succeeds.
                prepare_push()
                strata("tag", "crash/base:1", f"127.0.0.1:{registry.port}/crash/up{round_number}:1")
                proc = subprocess.Popen([STRATA, "--root", store, "push", f"127.0.0.1:{registry.port}/crash/up{round_number}:1"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(rng.uniform(0, durations["push"]))
                registry.kill()
                proc.wait()
                registry.start()
                strata("tag", "crash/base:1", f"127.0.0.1:{registry.port}/crash/up{round_number}:1")
                r = strata("push", f"127.0.0.1:{registry.port}/crash/up{round_number}:1", check=False)
                if r.returncode != 0:
                    problems.append(f"{label}: push after the server's restart failed: {r.stderr.strip()}")
                strata("tag", "crash/base:1", remote())
                check_clean(label)
                check_registry_clean(label)
            else:
                # The registry's collection is killed midway; what it keeps still pulls whole.
                gc = subprocess.Popen([STRATA, "registry", "gc", "--root", registry.root, "--grace", "0s"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(rng.uniform(0, 0.3))
                gc.send_signal(signal.SIGKILL)
                gc.wait()
                other = f"{work}/other-{round_number}"
                r = strata("pull", remote(), check=False, root=other)
                if r.returncode != 0:
                    problems.append(f"{label}: a pull after a killed GC failed: {r.stderr.strip()}")
                elif image_id_in(other, remote()) != base_id:
                    problems.append(f"{label}: a pull after a killed GC gave another image")
                shutil.rmtree(other, ignore_errors=True)
                check_registry_clean(label)
        except Exception as e:  # a set-up step that failed is a broken state too
            problems.append(f"{label}: {e}")
            strata("system", "check", "--repair", check=False)
    registry.stop()
    print(f"crash campaign (seed {args.seed}): {args.rounds} rounds, " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print("windows: " + ", ".join(f"{k} {v:.2f}s" for k, v in durations.items()))
    if problems:
        print(f"{len(problems)} broken states found:")
        for p in problems:
            print(" - " + p)
        return 1
    print("no broken state found")
    shutil.rmtree(work, ignore_errors=True)
    return 0


def image_id_in(root, name):
    r = subprocess.run([STRATA, "--root", root, "image", "inspect", "--format", "{{.Id}}", name], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        try:
            registry.stop()
        except Exception:
            pass
