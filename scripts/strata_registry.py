"""`strata registry serve` on 127.0.0.1 for the crash and stress scripts: started on a free port,
stopped by PID (SIGTERM, then SIGKILL), restartable over the same root."""
import os, re, signal, subprocess, time

LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")


class Registry:
    def __init__(self, strata, root, log_path):
        self.strata, self.root, self.log_path = strata, root, log_path
        self.proc = None
        self.start()

    def start(self):
        # Each start logs its own port (port 0 is a new one each time): wait for this one's line.
        before = len(LISTENING.findall(open(self.log_path).read())) if os.path.exists(self.log_path) else 0
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen([self.strata, "registry", "serve", "--addr", "127.0.0.1:0", "--root", self.root],
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        for _ in range(200):
            time.sleep(0.05)
            found = LISTENING.findall(open(self.log_path).read())
            if len(found) > before and self.proc.poll() is None:
                self.port = int(found[-1])
                return
        raise RuntimeError(f"strata registry serve did not start; see {self.log_path}")

    def check(self, repair=False):
        """`strata registry check` of this root, while the server runs."""
        return subprocess.run([self.strata, "registry", "check", "--root", self.root] + (["--repair"] if repair else []),
                              capture_output=True, text=True, timeout=300)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
