"""The production server (`gunicorn -c vault/gunicorn.conf.py app:app`) in a process of its own, on
its own port and instance folder, for tests that need real workers: `with Server(tmp, env) as s:`,
or `Server(tmp, env).start()` … `.stop()` for a module-scoped fixture."""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
COMMAND = [sys.executable, "-m", "gunicorn", "-c", "vault/gunicorn.conf.py", "app:app"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, tmp, env=None, name="server"):
        """`env` is added to this process's environment (less any GUNICORN_CMD_ARGS of its own);
        one worker on a SQLite file in `tmp` unless it says otherwise."""
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = Path(tmp) / f"{name}.log"
        inherited = {k: v for k, v in os.environ.items() if k != "GUNICORN_CMD_ARGS"}
        self.env = {**inherited, "DATABASE_URL": f"sqlite:///{tmp}/{name}.db", "VAULT_WORKERS": "1",
                    "VAULT_INSTANCE_PATH": str(Path(tmp) / name), **(env or {}),
                    "VAULT_BIND": f"127.0.0.1:{self.port}"}
        self.process = None

    def url(self, path):
        return self.base + path

    def start(self, seconds=30):
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(COMMAND, cwd=ROOT, env=self.env, stdout=log, stderr=log,
                                            start_new_session=True)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if requests.get(self.url("/login"), timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                time.sleep(0.1)
        self.stop()
        raise AssertionError(f"the server did not answer: {self.log.read_text()[-2000:]}")

    def worker(self):
        """The worker's pid, when there is one worker: the master's only child."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        assert len(children) == 1, children
        return int(children[0])

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)  # gunicorn's quick shutdown, master and workers
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)

    __enter__ = start

    def __exit__(self, *exc):
        self.stop()
