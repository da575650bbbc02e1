"""The production server (`gunicorn -c vault/gunicorn.conf.py app:app`) in a process of its own, on
its own port and instance folder, for tests that need real workers: `with Server(tmp, env) as s:`."""
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
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = Path(tmp) / f"{name}.log"
        self.env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp}/{name}.db", "VAULT_WORKERS": "1",
                    "VAULT_INSTANCE_PATH": str(Path(tmp) / name), **(env or {}),
                    "VAULT_BIND": f"127.0.0.1:{self.port}"}
        self.env.pop("GUNICORN_CMD_ARGS", None)
        self.process = None

    def url(self, path):
        return self.base + path

    def __enter__(self):
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(COMMAND, cwd=ROOT, env=self.env, stdout=log, stderr=log,
                                            start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if requests.get(self.url("/login"), timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                time.sleep(0.1)
        self.__exit__()
        raise AssertionError(f"the server did not answer: {self.log.read_text()[-2000:]}")

    def __exit__(self, *exc):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)  # gunicorn's quick shutdown, master and workers
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
