"""What the vault adds to a chat call, measured side by side in one run under gunicorn:
the provider called directly, through a bare WSGI hop (the floor), and through the vault's
/v1/chat/completions. Requests are interleaved so all three see the same machine.

    python -m tests.bench.bench_gateway [-n 2000] [--streams 300] [--postgres URL]
"""
import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
BODY = {"messages": [{"role": "user", "content": "hello there"}]}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listened on port {port}")


def prepare_vault(tmp, upstream, database_url=None):
    """A database with a user, a token, an openai provider secret and one model."""
    from tests.helpers import store_secret, token_for
    from vault import create_app
    from vault.auth.users import create_user
    from vault.db import LLMModel, User, database
    from vault.settings import new_master_key
    if database_url:
        from tests.helpers import wipe_postgres
        wipe_postgres(database_url)  # a new master key each run: start from an empty schema
    env = {"DATABASE_URL": database_url or f"sqlite:///{tmp}/bench.db", "VAULT_MASTER_KEYS": new_master_key(),
           "SECRET_KEY": "bench", "VAULT_PROVIDER_BASE_URLS": f"openai={upstream}",
           "VAULT_INSTANCE_PATH": str(tmp)}
    app = create_app({**env, "INSTANCE_PATH": str(tmp)})
    with app.app_context(), database.connection_context():
        create_user("bench@example.com", "bench password")
        LLMModel.create(user=User.get(), name="bench", provider="openai", model_id="echo",
                        base_url=upstream, auth_type="bearer")
    store_secret(app, "bench@example.com", "openai", "sk-bench-provider-key-0000")
    token = token_for(app, "bench@example.com")
    database.obj.close_all()
    return env, token


def start(args, env, port):
    process = subprocess.Popen(args, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    wait_for(port)
    return process


class Target:
    def __init__(self, name, port, path, model, token):
        self.name, self.path = name, path
        self.conn = http.client.HTTPConnection("127.0.0.1", port)
        self.headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        self.body = json.dumps({**BODY, "model": model}).encode()
        self.stream_body = json.dumps({**BODY, "model": model, "stream": True}).encode()
        self.samples, self.first_token, self.overheads = [], [], []

    def call(self):
        start = time.perf_counter()
        self.conn.request("POST", self.path, self.body, self.headers)
        response = self.conn.getresponse()
        response.read()
        self.samples.append((time.perf_counter() - start) * 1000)
        assert response.status == 200, (self.name, response.status)
        if response.getheader("X-Vault-Overhead-Ms"):
            self.overheads.append(float(response.getheader("X-Vault-Overhead-Ms")))

    def stream(self):
        start = time.perf_counter()
        self.conn.request("POST", self.path, self.stream_body, self.headers)
        response = self.conn.getresponse()
        while not response.readline().startswith(b"data: "):
            pass
        self.first_token.append((time.perf_counter() - start) * 1000)
        response.read()


def percentiles(samples):
    """p50, p90, p99"""
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.9) - 1], ordered[int(len(ordered) * 0.99) - 1]


def measure(targets, rounds, method):
    for n in range(rounds):
        for target in targets[n % len(targets):] + targets[:n % len(targets)]:  # rotate the order
            getattr(target, method)()


def report(direct, others, attribute, title):
    base50, base90, base99 = percentiles(getattr(direct, attribute))
    print(f"\n{title}")
    print(f"  {'path':<22}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'added p50':>11}{'added p99':>11}")
    print(f"  {direct.name:<22}{base50:9.3f}{base90:9.3f}{base99:9.3f}")
    for target in others:
        p50, p90, p99 = percentiles(getattr(target, attribute))
        print(f"  {target.name:<22}{p50:9.3f}{p90:9.3f}{p99:9.3f}{p50 - base50:+11.3f}{p99 - base99:+11.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="non-streamed requests per path")
    parser.add_argument("--streams", type=int, default=300, help="streamed requests per path")
    parser.add_argument("--postgres", metavar="URL", help="run the vault on this PostgreSQL database "
                        "(its public schema is dropped) instead of SQLite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        upstream_proc = subprocess.Popen([sys.executable, "-m", "tests.bench.upstream"], cwd=ROOT,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        upstream = upstream_proc.stdout.readline().strip()
        env, token = prepare_vault(Path(tmp), upstream, args.postgres)
        vault_port, hop_port = free_port(), free_port()
        servers = [
            start([sys.executable, "-m", "gunicorn", "-c", "vault/gunicorn.conf.py", "app:app"],
                  {**env, "VAULT_BIND": f"127.0.0.1:{vault_port}", "VAULT_WORKERS": "1"}, vault_port),
            start([sys.executable, "-m", "gunicorn", "-k", "gevent", "-w", "1", "-b", f"127.0.0.1:{hop_port}",
                   "tests.bench.bare_hop:app"], {"BENCH_UPSTREAM": upstream}, hop_port)]
        try:
            run(args, upstream, upstream_proc, vault_port, hop_port, token)
        finally:
            for server in servers:
                server.terminate()
            upstream_proc.stdin.close()
            upstream_proc.wait(5)


def run(args, upstream, upstream_proc, vault_port, hop_port, token):
    up = urlsplit(upstream)
    direct = Target("direct", up.port, up.path + "/chat/completions", "echo", "sk-bench-provider-key-0000")
    hop = Target("bare WSGI hop", hop_port, "/chat/completions", "echo", token)
    vault = Target("vault /v1", vault_port, "/v1/chat/completions", "bench", token)
    targets = [direct, hop, vault]
    measure(targets, 200, "call")  # warm up pools, caches and the JIT-less interpreter alike
    for target in targets:
        target.samples.clear()
        target.overheads.clear()
    measure(targets, args.n, "call")
    measure([direct, vault], 30, "stream")
    direct.first_token.clear(), vault.first_token.clear()
    measure([direct, vault], args.streams, "stream")

    def upstream_connections():
        upstream_proc.stdin.write("connections\n")
        upstream_proc.stdin.flush()
        return int(upstream_proc.stdout.readline())

    before = upstream_connections()
    reuse_calls = 1000
    for _ in range(reuse_calls):
        vault.call()
    opened = upstream_connections() - before

    print(f"gunicorn gevent, 1 worker each; {args.n} interleaved non-streamed requests per path, "
          f"{args.streams} streamed; {os.cpu_count()} CPUs; vault on "
          f"{'PostgreSQL' if args.postgres else 'SQLite'}; load average {os.getloadavg()[0]:.2f}")
    report(direct, [hop, vault], "samples", "Non-streamed request (latency)")
    print(f"  the vault over the bare hop: p50 {statistics.median(vault.samples) - statistics.median(hop.samples):+.3f} ms")
    report(direct, [vault], "first_token", "Streamed request (time to first event)")
    print(f"\nX-Vault-Overhead-Ms reported by the vault: p50 {statistics.median(vault.overheads):.3f} ms")
    per_connection = reuse_calls / opened if opened else float("inf")
    print(f"Upstream connections opened for {reuse_calls} more vault requests: {opened} "
          f"({'all on connections already open' if not opened else f'{per_connection:.0f} requests per connection'})")


if __name__ == "__main__":
    main()
