"""Soak: hundreds of concurrent one-second streaming chats through the production server
(gunicorn, gevent workers) against the fake provider, with secret rotations alongside, measured
next to the same streams taken directly from the provider by the same client in the same run.

    python -m tests.bench.soak [--seconds 30] [--streams 256] [--workers 2] [--postgres URL]

Phase 1 streams straight from the fake provider (the baseline: same client, same concurrency);
phase 2 streams through the vault's POST /api/chat while a few rotations a second go through
PUT /api/secrets/openai, and samples the server's memory and open files once a second.
Prints a table and exits 1 when a target of the issue is missed. Loopback only; stops by itself.
"""
import argparse
import http.client
import json
import math
import os
import secrets
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.bench.bench_gateway import free_port, wait_for
from tests.bench.procfs import fds_flat, sampler

ROOT = Path(__file__).resolve().parents[2]
EMAIL, PROVIDER_KEY = "soak@example.com", "sk-soak-provider-key-0000"
MESSAGES = [{"role": "user", "content": "stream for one second"}]
TARGETS = {"ratio": 1.5, "first_token_s": 0.5, "rss_mib": 200}
CONFIG = "vault/gunicorn.conf.py"  # the production server (README, Running several instances)


# -- setup ---------------------------------------------------------------------------------------

def prepare(url, tmp, upstream):
    """A database with a user, a token, an openai provider secret and the model "soak" (the
    fake's one-second "drip" scenario). bench_gateway.prepare_vault is SQLite-only, hence this."""
    from tests.helpers import close_pool, store_secret, token_for
    from vault import create_app
    from vault.auth.users import create_user
    from vault.db import LLMModel, User, database
    from vault.settings import new_master_key
    env = {"DATABASE_URL": url, "VAULT_MASTER_KEYS": new_master_key(), "SECRET_KEY": "soak",
           "VAULT_PROVIDER_BASE_URLS": f"openai={upstream}", "VAULT_INSTANCE_PATH": str(tmp)}
    app = create_app({**env, "INSTANCE_PATH": str(tmp)})
    with app.app_context(), database.connection_context():
        create_user(EMAIL, "soak password")
        LLMModel.create(user=User.get(), name="soak", provider="openai", model_id="drip",
                        base_url=upstream, auth_type="bearer")
    store_secret(app, EMAIL, "openai", PROVIDER_KEY)
    token = token_for(app, EMAIL, "soak")
    close_pool()
    return env, token


def start_upstream(interval, count):
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.upstream", "--drip-interval", str(interval),
         "--drip-count", str(count)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return process, process.stdout.readline().strip()


def start_server(env, port, workers, config, stderr):
    env = {**os.environ, **env, "VAULT_BIND": f"127.0.0.1:{port}", "VAULT_WORKERS": str(workers)}
    env.pop("GUNICORN_CMD_ARGS", None)  # the documented configuration, nothing else
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", config, "app:app"], cwd=ROOT,
                               env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    wait_for(port, 30)
    return process


# -- the client: one thread per stream slot, each keeping one stream in flight -------------------

class Endpoint:
    """Where a stream goes and how its events read: the vault's /api/chat or the provider."""

    def __init__(self, name, port, path, headers, body, first, last):
        self.name, self.port, self.path, self.headers = name, port, path, headers
        self.body, self.first, self.last = json.dumps(body).encode(), first, last


def vault_endpoint(port, token):
    return Endpoint("vault /api/chat", port, "/api/chat",
                    {"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
                    {"model_id": "soak", "stream": True, "messages": MESSAGES},
                    first=lambda e: e.get("type") == "delta",
                    last=lambda e: e.get("type") in ("done", "error") and e["type"])


def direct_endpoint(upstream):
    url = urlsplit(upstream)
    return Endpoint("direct", url.port, url.path + "/chat/completions",
                    {"Content-Type": "application/json", "Authorization": f"Bearer {PROVIDER_KEY}"},
                    # as the vault asks it: the usage frame makes the stream one frame longer
                    {"model": "drip", "stream": True, "messages": MESSAGES,
                     "stream_options": {"include_usage": True}},
                    first=lambda e: bool(e.get("choices") and e["choices"][0]["delta"].get("content")),
                    last=lambda e: e == "[DONE]" and "done")


class Results:
    def __init__(self):
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.durations, self.first_tokens, self.failures, self.at = [], [], [], []

    def ok(self, duration, first):
        with self.lock:
            self.at.append(time.monotonic() - duration - self.started)  # when it started, in the phase
            self.durations.append(duration)
            self.first_tokens.append(first)

    def window(self, start, end):
        """(durations, first tokens) of the streams started in [start, end) seconds."""
        picked = [(d, f) for a, d, f in zip(self.at, self.durations, self.first_tokens) if start <= a < end]
        return [d for d, _ in picked], [f for _, f in picked]

    def failed(self, why):
        with self.lock:
            self.failures.append(why)


def stream_once(conn, endpoint):
    """(duration, first_token) of one stream, or raises with why it failed."""
    started = time.perf_counter()
    conn.request("POST", endpoint.path, endpoint.body, endpoint.headers)
    response = conn.getresponse()
    if response.status != 200:
        raise RuntimeError(f"status {response.status}: {response.read(200)!r}")
    first, outcome = None, None
    for _ in range(10_000):  # bounded: a one-second stream has a dozen events
        line = response.readline()
        if not line:
            break
        if not line.startswith(b"data: "):
            continue
        payload = line[6:].strip()
        event = payload.decode() if payload == b"[DONE]" else json.loads(payload)
        if first is None and isinstance(event, dict) and endpoint.first(event):
            first = time.perf_counter() - started
        outcome = endpoint.last(event) or outcome
    if response.read():  # the body must have ended with the stream's last event
        raise RuntimeError("bytes after the last event")
    if outcome != "done" or first is None:
        raise RuntimeError(f"stream ended with {outcome or 'no final event'}")
    return time.perf_counter() - started, first


def stream_slot(endpoint, results, deadline, delay):
    time.sleep(delay)  # starts spread over a second: a steady load, not one synchronized burst
    conn = None
    while time.monotonic() < deadline:
        conn = conn or http.client.HTTPConnection("127.0.0.1", endpoint.port, timeout=30)
        try:
            results.ok(*stream_once(conn, endpoint))
        except Exception as exc:  # noqa: BLE001 - every failure is counted, with its reason
            results.failed(f"{endpoint.name}: {type(exc).__name__}: {str(exc)[:160]}")
            conn.close()
            conn = None
    if conn:
        conn.close()


def rotator(port, token, interval, results, deadline):
    """PUT /api/secrets/openai with a fresh key every `interval` seconds."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    next_at = time.monotonic()
    while next_at < deadline:
        time.sleep(max(0.0, next_at - time.monotonic()))
        next_at += interval
        started = time.perf_counter()
        try:
            body = json.dumps({"api_key": f"sk-soak-{secrets.token_hex(16)}"}).encode()
            conn.request("PUT", "/api/secrets/openai", body, headers)
            response = conn.getresponse()
            text = response.read()
            if response.status != 200:
                raise RuntimeError(f"status {response.status}: {text[:200]!r}")
            results.ok(time.perf_counter() - started, 0.0)
        except Exception as exc:  # noqa: BLE001
            results.failed(f"rotation: {type(exc).__name__}: {str(exc)[:160]}")
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.close()


def run_phase(endpoints, seconds, extra=()):
    """Keeps len(endpoints) streams in flight for `seconds`; returns (results per endpoint
    name, client CPU share). `extra` are (target, args) threads run alongside (rotations)."""
    deadline = time.monotonic() + seconds
    results = {e.name: Results() for e in endpoints}
    threads = [threading.Thread(target=stream_slot, args=(e, results[e.name], deadline, i / len(endpoints)),
                                daemon=True) for i, e in enumerate(endpoints)]
    threads += [threading.Thread(target=target, args=(*args, deadline), daemon=True) for target, args in extra]
    cpu, wall = time.process_time(), time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(1.0, deadline + 40 - time.monotonic()))
    share = (time.process_time() - cpu) / (time.monotonic() - wall)
    return results, share


# -- figures ---------------------------------------------------------------------------------------

def pct(values, q):
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)] if ordered else float("nan")


def server_log_findings(path):
    text = Path(path).read_text(errors="replace")
    lines = text.splitlines()
    locked = sum("database is locked" in line for line in lines)
    errors = [line for line in lines if any(w in line for w in ("Traceback", " ERROR ", "CRITICAL",
                                                                   "WORKER TIMEOUT", "Exception"))]
    return locked, errors


def row(name, results, seconds, picked=None):
    d, f = picked or (results.durations, results.first_tokens)
    failed = "" if picked else len(results.failures)
    return (f"  {name:<26}{len(d):>8}{len(d) / seconds:>8.1f}{failed:>8}"
            f"{pct(d, 50):>9.3f}{pct(d, 99):>9.3f}{pct(f, 50):>9.3f}{pct(f, 99):>9.3f}")


def stream_table(args, direct, vault, control, rotations, samples, shares):
    print(f"\n  {'streams':<26}{'done':>8}{'per s':>8}{'failed':>8}{'dur p50':>9}{'dur p99':>9}"
          f"{'1st p50':>9}{'1st p99':>9}   (seconds)")
    print(row(f"direct ({args.streams}, phase 1)", direct, args.direct_seconds))
    print(row(f"vault ({args.streams}, phase 2)", vault, args.seconds))
    if args.seconds > 15:  # the same streams without the first ten seconds' ramp and warm-up
        print(row("  of which from 10 s on", vault, args.seconds - 10, vault.window(10, args.seconds)))
    if control:
        print(row(f"direct ({args.control}, during 2)", control, args.seconds))
    print(f"  {'rotations (PUT)':<26}{len(rotations.durations):>8}"
          f"{len(rotations.durations) / args.seconds:>8.1f}{len(rotations.failures):>8}"
          f"{pct(rotations.durations, 50):>9.3f}{pct(rotations.durations, 99):>9.3f}")
    print(f"  client CPU: {shares[0]:.0%} of one core in phase 1, {shares[1]:.0%} in phase 2")
    if len(samples) > 1:
        server_cpu = (samples[-1][4] - samples[0][4]) / (samples[-1][0] - samples[0][0])
        print(f"  server CPU: {server_cpu:.0%} of one core in phase 2; RSS by process at the end "
              f"(master first): {', '.join(f'{m:.0f}' for m in samples[-1][5])} MiB")


def targets(direct, vault, failed, samples, log_path):
    """(name, seen, wanted, met) for each target of the issue."""
    ratio = pct(vault.durations, 99) / pct(direct.durations, 99)
    locked, _ = server_log_findings(log_path)
    rss = max((s[1] for s in samples), default=float("nan"))
    pss = max((s[2] for s in samples), default=float("nan"))
    flat, low, high, drift = fds_flat(samples)
    first99 = pct(vault.first_tokens, 99)
    return [
        ("failed requests", f"{failed}", "0", failed == 0),
        ('"database is locked" in server log', f"{locked}", "0", locked == 0),
        ("stream duration p99, vault / direct", f"{ratio:.2f}x", f"<= {TARGETS['ratio']}x",
         ratio <= TARGETS["ratio"]),
        ("first token p99 through the vault", f"{first99:.3f} s", f"<= {TARGETS['first_token_s']} s",
         first99 <= TARGETS["first_token_s"]),
        ("server RSS, master + workers, max", f"{rss:.0f} MiB (PSS {pss:.0f})",
         f"<= {TARGETS['rss_mib']} MiB", rss <= TARGETS["rss_mib"]),
        ("open fds from 10 s on", f"{low}..{high}, drift {drift:+.0f}", "flat", flat),
    ]


def timeline(vault, samples):
    every = samples[::5]
    windows = [vault.window(s[0], s[0] + 5) for s in every]
    print("\n  second     " + " ".join(f"{s[0]:>6}" for s in every))
    print("  RSS MiB    " + " ".join(f"{s[1]:>6.0f}" for s in every))
    print("  fds        " + " ".join(f"{s[3]:>6}" for s in every))
    print("  dur p99    " + " ".join(f"{pct(d, 99):>6.3f}" for d, _ in windows) + "   (vault streams started")
    print("  1st p99    " + " ".join(f"{pct(f, 99):>6.3f}" for _, f in windows) + "    in the next 5 s)")


def report(args, command, direct, vault, control, rotations, samples, log_path, shares):
    """Prints the figures; True when every target is met."""
    print(f"\n{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; database: "
          f"{'PostgreSQL' if args.postgres else 'SQLite'}; {args.streams} concurrent streams of "
          f"{args.drip_count} pieces {args.drip_interval} s apart; {args.workers} gevent workers")
    print(f"server: {command}")
    stream_table(args, direct, vault, control, rotations, samples, shares)
    failures = direct.failures + vault.failures + rotations.failures + (control.failures if control else [])
    checks = targets(direct, vault, len(failures), samples, log_path)
    print(f"\n  {'target':<38}{'seen':<26}{'wanted':<12}")
    for name, seen, wanted, ok in checks:
        print(f"  {name:<38}{seen:<26}{wanted:<12}{'ok' if ok else 'MISSED'}")
    timeline(vault, samples)
    for why in sorted(set(failures))[:10]:
        print(f"  failure x{failures.count(why)}: {why}")
    for line in server_log_findings(log_path)[1][:10]:
        print(f"  server log: {line[:200]}")
    return all(ok for *_, ok in checks)


# -- main ------------------------------------------------------------------------------------------

def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30, help="length of the vault phase")
    parser.add_argument("--direct-seconds", type=float, default=15, help="length of the direct phase")
    parser.add_argument("--streams", type=int, default=256, help="streams kept in flight")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (VAULT_WORKERS)")
    parser.add_argument("--rotations", type=float, default=4, help="secret rotations per second")
    parser.add_argument("--control", type=int, default=16,
                        help="direct streams kept in flight during the vault phase, to see the machine")
    parser.add_argument("--drip-interval", type=float, default=0.1)
    parser.add_argument("--drip-count", type=int, default=7,
                        help="pieces; with the role, stop, usage and [DONE] frames, 7 make ten intervals")
    parser.add_argument("--postgres", metavar="URL", help="postgresql://… (its schema is wiped first)")
    parser.add_argument("--config", default=CONFIG, help="gunicorn -c value, to compare another configuration")
    return parser.parse_args()


def main():
    args = parse_args()
    print("command: " + shlex.join([Path(sys.executable).name, "-m", "tests.bench.soak", *sys.argv[1:]]))
    with tempfile.TemporaryDirectory() as tmp:
        upstream_proc, upstream = start_upstream(args.drip_interval, args.drip_count)
        server = None
        log_path = Path(tmp) / "server.log"
        try:
            if args.postgres:
                from tests.helpers import wipe_postgres
                wipe_postgres(args.postgres)
            url = args.postgres or f"sqlite:///{tmp}/soak.db"
            env, token = prepare(url, Path(tmp), upstream)
            port = free_port()
            with open(log_path, "wb") as log:
                server = start_server(env, port, args.workers, args.config, log)
            ok = measure(args, upstream, port, token, server, log_path, env)
        finally:
            if server:
                server.terminate()
                server.wait(40)
            upstream_proc.stdin.close()
            upstream_proc.wait(10)
    sys.exit(0 if ok else 1)


def measure(args, upstream, port, token, server, log_path, env):
    direct_ep, vault_ep = direct_endpoint(upstream), vault_endpoint(port, token)
    print(f"phase 1: {args.streams} streams straight from the fake provider for {args.direct_seconds:.0f} s",
          flush=True)
    direct, share1 = run_phase([direct_ep] * args.streams, args.direct_seconds)
    print(f"phase 2: {args.streams} streams through the vault for {args.seconds:.0f} s, "
          f"{args.rotations:g} rotations/s from two clients", flush=True)
    samples = []
    watcher = threading.Thread(target=sampler, args=(server.pid, samples, args.seconds), daemon=True)
    rotations = Results()
    rotators = 2  # two clients rotating the same secret at once: writers that race each other
    extra = [(rotator, (port, token, rotators / args.rotations, rotations))
             for _ in range(rotators)] if args.rotations > 0 else []
    watcher.start()
    phase2, share2 = run_phase([vault_ep] * args.streams + [direct_ep] * args.control, args.seconds, extra)
    watcher.join(5)
    url = env["DATABASE_URL"]
    password = urlsplit(url).password
    shown = url.replace(f":{password}@", ":***@", 1) if password else url
    command = " ".join(f"{k}={shlex.quote(v)}" for k, v in (
        ("DATABASE_URL", shown), ("VAULT_BIND", f"127.0.0.1:{port}"),
        ("VAULT_WORKERS", str(args.workers)))) + f" gunicorn -c {args.config} app:app"
    return report(args, command, direct[direct_ep.name], phase2[vault_ep.name],
                  phase2[direct_ep.name] if args.control else None, rotations, samples, log_path,
                  (share1, share2))


if __name__ == "__main__":
    main()
