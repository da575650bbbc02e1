"""What each gateway adds to an OpenAI-compatible chat call, side by side in one run on this
machine: the fake provider called directly, a bare WSGI hop (the floor), the vault's
/v1/chat/completions under its production server (one gevent worker) and, when installed, the
LiteLLM proxy and the Portkey gateway (installed under BENCH_PEERS_DIR, /tmp/peers by default; a
missing one prints its install commands, and tests/bench/peers.py holds them).

    python -m tests.bench.bench_gateway [--peers] [--repeats 3] [-n 400] [--streams 40]
        [--seconds 3] [--long-streams 256] [--postgres URL]

Each repeat interleaves the sequential requests and first-token streams of every path, then
loads each path in turn (c=16 with the gateway's CPU from /proc, c=64, 256 one-second streams);
figures are the median over repeats with min-max. The client shares the machine's cores.
"""
import argparse
import http.client
import json
import os
import random
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.bench.peers import PEERS
from tests.bench.procfs import footprint

ROOT = Path(__file__).resolve().parents[2]
BODY = {"messages": [{"role": "user", "content": "hello there"}]}
WIRE_BODIES = {"chat": BODY, "responses": {"input": "hello there"},
               "messages": {**BODY, "max_tokens": 64}}
PROVIDER_KEY = "sk-bench-provider-key-0000"


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
    """A database with a user, a token, an openai provider secret and the models "bench" (the
    fake's echo) and "bench-drip" (its one-second stream)."""
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
        for name, model_id in (("bench", "echo"), ("bench-drip", "drip")):
            LLMModel.create(user=User.get(), name=name, provider="openai", model_id=model_id,
                            base_url=upstream, auth_type="bearer")
    store_secret(app, "bench@example.com", "openai", PROVIDER_KEY)
    token = token_for(app, "bench@example.com")
    database.obj.close_all()
    return env, token


def start(args, env, port, seconds=20):
    process = subprocess.Popen(args, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    wait_for(port, seconds)
    return process


class Target:
    """One path to the provider: where it listens, what it is asked, and what it measured."""

    def __init__(self, name, port, path, model, headers, pid=None, drip_model=None, wire="chat"):
        self.name, self.port, self.path, self.pid, self.wire = name, port, path, pid, wire
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Content-Type": "application/json", **headers}
        body = WIRE_BODIES[wire]
        self.body = json.dumps({**body, "model": model}).encode()
        self.stream_body = json.dumps({**body, "model": model, "stream": True}).encode()
        self.drip_body = drip_model and json.dumps({**body, "model": drip_model, "stream": True}).encode()
        self.samples, self.first_token, self.overheads = [], [], []
        self.note = None  # why a column has no figures ("not installed: ...")

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
        assert response.status == 200, (self.name, response.status)
        first = read_stream(response, lambda: self.first_token.append((time.perf_counter() - start) * 1000),
                            self.wire)
        assert first, (self.name, "no content in the stream")

    def clear(self):
        self.samples.clear(), self.first_token.clear(), self.overheads.clear()
        self.conn.close()  # idle through the load phases, past the servers' keep-alive: a new one


def read_stream(response, on_first=lambda: None, wire="chat"):
    """Reads an SSE body of the wire to its end; calls on_first at the first piece of text. True
    when there was text and the stream's last event ([DONE], response.completed, message_stop)."""
    first = done = False
    for _ in range(10_000):  # bounded: these streams have a dozen events
        line = response.readline()
        if not line:
            break
        if not line.startswith(b"data:"):
            continue
        payload = line[5:].strip()
        if payload == b"[DONE]":
            done = True
            continue
        event = json.loads(payload)
        done = done or event.get("type") in ("response.completed", "message_stop")
        if not first and _text_in(event, wire):
            first = True
            on_first()
    response.read()
    return first and done


def _text_in(event, wire):
    if wire == "responses":
        return event.get("type") == "response.output_text.delta" and bool(event.get("delta"))
    if wire == "messages":
        return event.get("type") == "content_block_delta" and bool((event.get("delta") or {}).get("text"))
    choices = event.get("choices") or [{}]
    return bool((choices[0].get("delta") or {}).get("content"))


def percentiles(samples):
    """p50, p90, p99"""
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.9) - 1], ordered[int(len(ordered) * 0.99) - 1]


def measure(targets, rounds, method):
    shuffle = random.Random(rounds).shuffle
    order = list(targets)
    for _ in range(rounds):
        shuffle(order)  # a new order each round: no path always follows the same other process
        for target in order:
            getattr(target, method)()


def in_threads(count, work, spread=0.0):
    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
        time.sleep(spread / count)  # starts spread out: a steady load, not one synchronized burst
    for thread in threads:
        thread.join(120)


def load(target, concurrency, seconds):
    """(requests/s, gateway CPU ms per request, errors) with `concurrency` clients on keep-alive
    connections asking non-streamed completions for `seconds`."""
    done, errors, deadline = [0] * concurrency, [0] * concurrency, time.monotonic() + seconds

    def client(i):
        conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=30)
        while time.monotonic() < deadline:
            try:
                conn.request("POST", target.path, target.body, target.headers)
                response = conn.getresponse()
                response.read()
                done[i] += response.status == 200
                errors[i] += response.status != 200
            except (OSError, http.client.HTTPException):
                errors[i] += 1
                conn.close()
        conn.close()

    cpu, started = footprint(target.pid)[3], time.monotonic()
    in_threads(concurrency, client)
    elapsed, cpu = time.monotonic() - started, footprint(target.pid)[3] - cpu
    return sum(done) / elapsed, cpu * 1000 / max(1, sum(done)), sum(errors)


def long_streams(target, count):
    """(p99 duration in s, errors) of `count` concurrent one-second streams, started over 0.25 s."""
    durations, errors = [], []

    def client(i):
        conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=60)
        started = time.perf_counter()
        try:
            conn.request("POST", target.path, target.drip_body, target.headers)
            response = conn.getresponse()
            if response.status == 200 and read_stream(response):
                durations.append(time.perf_counter() - started)
            else:
                errors.append(response.status)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            errors.append(type(exc).__name__)
        finally:
            conn.close()

    in_threads(count, client, spread=0.25)
    ordered = sorted(durations)
    return (ordered[max(0, int(len(ordered) * 0.99) - 1)] if ordered else float("nan")), len(errors)


# -- the run ---------------------------------------------------------------------------------------

ROWS = (  # (key, label, format, how repeats combine)
    ("seq50", "added latency p50, sequential, ms", "{:.2f}", "median"),
    ("seq99", "added latency p99, sequential, ms", "{:.2f}", "median"),
    ("first", "added first-token p50, streamed, ms", "{:.2f}", "median"),
    ("cpu", "gateway CPU per request at c=16, ms", "{:.2f}", "median"),
    ("rps16", "requests/s at c=16", "{:.0f}", "median"),
    ("rps64", "requests/s at c=64", "{:.0f}", "median"),
    ("load_errors", "errors at c=16 and c=64, all repeats", "{:.0f}", "sum"),
    ("stream_ratio", "{n} one-second streams: p99 / direct", "{:.3f}", "median"),
    ("stream_errors", "{n} one-second streams: errors, all", "{:.0f}", "sum"),
)


def repeat(args, number, live, direct, figures):
    for target in live:
        target.clear()
    streaming = [t for t in live if t.drip_body or t.wire != "chat"]
    measure(live, args.n, "call")
    measure(streaming, args.streams, "stream")
    base = percentiles(direct.samples)
    base_first = statistics.median(direct.first_token)
    for target in live:
        p50, _, p99 = percentiles(target.samples)
        row = figures[target.name]
        absolute = target is direct  # the direct column shows the baseline itself
        row["seq50"].append(p50 - (0 if absolute else base[0]))
        row["seq99"].append(p99 - (0 if absolute else base[2]))
        if target.first_token:
            row["first"].append(statistics.median(target.first_token) - (0 if absolute else base_first))
    order = live[number % len(live):] + live[:number % len(live)]
    for target in order:
        rps16, cpu, errors16 = load(target, 16, args.seconds)
        rps64, _, errors64 = load(target, 64, args.seconds)
        row = figures[target.name]
        row["rps16"].append(rps16), row["rps64"].append(rps64), row["cpu"].append(cpu)
        row["load_errors"].append(errors16 + errors64)
    p99s = {}
    for target in [t for t in order if t.drip_body]:
        p99s[target.name], errors = long_streams(target, args.long_streams)
        figures[target.name]["stream_errors"].append(errors)
    for name, p99 in p99s.items():
        figures[name]["stream_ratio"].append(p99 / p99s[direct.name])


def cell(values, fmt, combine):
    if not values:
        return "-"
    if combine == "sum":
        return fmt.format(sum(values))
    middle = fmt.format(statistics.median(values))
    return middle if len(values) == 1 else f"{middle} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def table(targets, figures, vault, streams):
    width = max(22, *(len(t.name) + 2 for t in targets))
    print(f"\n  {'median over repeats (min-max)':<40}" + "".join(f"{t.name:>{width}}" for t in targets))
    for key, label, fmt, combine in ROWS:
        cells = [t.note.split(":")[0] if t.note else cell(figures[t.name][key], fmt, combine) for t in targets]
        print(f"  {label.format(n=streams):<40}" + "".join(f"{c:>{width}}" for c in cells))
    print("  (direct column: its own p50/p99/first token, and the fake provider's CPU per request)")
    others = [t for t in targets[1:] if t is not vault and not t.note]
    if not others:
        return
    print(f"\n  {'ratio of medians to the vault':<40}" + "".join(f"{t.name:>{width}}" for t in others))
    for key, label, _, combine in ROWS:
        if combine == "sum" or key == "stream_ratio" or not figures[vault.name][key]:
            continue
        mine = statistics.median(figures[vault.name][key])
        cells = [f"{statistics.median(figures[t.name][key]) / mine:.2f}x" if figures[t.name][key] and mine
                 else "-" for t in others]
        print(f"  {label:<40}" + "".join(f"{c:>{width}}" for c in cells))


def start_peer(peer, tmp, upstream, token):
    """A Target for the peer, running, or one whose note says why not."""
    if not peer.installed():
        target = Target(peer.name, 0, peer.path, "echo", {})
        target.note = f"not installed: {peer.install}"
        return target, None
    port = free_port()
    process = peer.start(tmp, upstream, port)
    target = Target(peer.name, port, peer.path, "echo", peer.headers(upstream, PROVIDER_KEY), process.pid, "drip")
    try:
        wait_for(port, 120)
        smoke(target)
    except (SystemExit, Exception) as exc:  # noqa: BLE001 - a peer that fails is a column, not a crash
        log = (Path(tmp) / f"{peer.name.split()[0].lower()}.log").read_text(errors="replace").strip()
        target.note = f"failed: {exc!r:.120} (log: {log.splitlines()[-1][:160] if log else 'empty'})"
    return target, process


def smoke(target):
    """One call and one stream answered properly, before any figure is taken."""
    target.call()
    target.stream()
    target.clear()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peers", action="store_true", help="also LiteLLM and Portkey (tests/bench/peers.py)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of every measurement")
    parser.add_argument("-n", type=int, default=400, help="sequential non-streamed requests per path and repeat")
    parser.add_argument("--streams", type=int, default=40, help="sequential streamed requests per path and repeat")
    parser.add_argument("--seconds", type=float, default=3, help="length of each c=16 and c=64 load")
    parser.add_argument("--long-streams", type=int, default=256, help="concurrent one-second streams")
    parser.add_argument("--postgres", metavar="URL", help="run the vault on this PostgreSQL database "
                        "(its public schema is dropped) instead of SQLite")
    args = parser.parse_args()
    print("command: " + shlex.join([Path(sys.executable).name, "-m", "tests.bench.bench_gateway", *sys.argv[1:]]))
    print("load average at start: " + " ".join(f"{x:.2f}" for x in os.getloadavg()), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        # model "drip": role, 7 pieces, stop, usage and [DONE] 0.1 s apart make a one-second stream
        upstream_proc = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.upstream", "--drip-interval", "0.1", "--drip-count", "7"],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        upstream = upstream_proc.stdout.readline().strip()
        env, token = prepare_vault(Path(tmp), upstream, args.postgres)
        vault_port, hop_port = free_port(), free_port()
        servers = [
            start([sys.executable, "-m", "gunicorn", "-c", "vault/gunicorn.conf.py", "app:app"],
                  {**env, "VAULT_BIND": f"127.0.0.1:{vault_port}", "VAULT_WORKERS": "1"}, vault_port),
            # the same server, configuration and worker as the vault: the difference is our code
            start([sys.executable, "-m", "gunicorn", "-c", "vault/gunicorn.conf.py", "tests.bench.bare_hop:app"],
                  {"BENCH_UPSTREAM": upstream, "VAULT_BIND": f"127.0.0.1:{hop_port}", "VAULT_WORKERS": "1"}, hop_port)]
        up = urlsplit(upstream)
        auth = {"Authorization": f"Bearer {token}"}
        targets = [Target("direct", up.port, up.path + "/chat/completions", "echo",
                          {"Authorization": f"Bearer {PROVIDER_KEY}"}, upstream_proc.pid, "drip"),
                   Target("bare WSGI hop", hop_port, "/chat/completions", "echo", auth, servers[1].pid),
                   Target("vault /v1", vault_port, "/v1/chat/completions", "bench", auth, servers[0].pid,
                          "bench-drip"),
                   Target("vault responses", vault_port, "/v1/responses", "bench", auth, servers[0].pid,
                          wire="responses"),
                   Target("vault messages", vault_port, "/v1/messages", "bench", auth, servers[0].pid,
                          wire="messages")]
        try:
            for peer in PEERS if args.peers else ():
                target, process = start_peer(peer, tmp, upstream, token)
                targets.append(target)
                servers += [process] if process else []
            run(args, targets)
        finally:
            for server in servers:
                server.terminate()
            for server in servers:
                server.wait(30)
            upstream_proc.stdin.close()
            upstream_proc.wait(5)


def run(args, targets):
    direct, vault = targets[0], targets[2]
    live = [t for t in targets if not t.note]
    measure(live, 100, "call")  # warm up pools, caches and the JIT-less interpreter alike
    measure([t for t in live if t.drip_body], 10, "stream")
    figures = {t.name: {key: [] for key, *_ in ROWS} for t in targets}
    overheads = []
    started = time.monotonic()
    for number in range(args.repeats):
        print(f"repeat {number + 1}/{args.repeats} ({time.monotonic() - started:.0f} s)", flush=True)
        repeat(args, number, live, direct, figures)
        overheads += vault.overheads
    print(f"\n{os.cpu_count()} CPUs; vault/gunicorn.conf.py (gevent_pywsgi), 1 worker for the vault and the hop; {args.repeats} repeats "
          f"of {args.n} sequential and {args.streams} streamed requests per path (interleaved), "
          f"{args.seconds:g} s at c=16 and at c=64, {args.long_streams} concurrent one-second streams; "
          f"{time.monotonic() - started:.0f} s")
    table(targets, figures, vault, args.long_streams)
    if overheads:
        print(f"\n  X-Vault-Overhead-Ms reported by the vault: p50 {statistics.median(overheads):.3f} ms")
    for target in targets:
        if target.note:
            print(f"  {target.name}: {target.note}")
    print("load average at end: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
