"""Prints what one key resolution costs (issue targets: ≤ 25 µs on SQLite, ≤ 150 µs on pooled
PostgreSQL), next to the same lookup built by the ORM each time.

    python -m tests.bench.bench_resolver [--postgres postgresql://postgres@127.0.0.1/vault_bench] [-n 20000]
"""
import argparse
import statistics
import tempfile
import time
import uuid

from vault import create_app, crypto, resolver
from vault.db import LLMModel, ProviderSecret, User, database
from vault.settings import new_master_key

from tests.helpers import wipe_postgres


def setup(url, instance):
    if url.startswith("postgres"):
        wipe_postgres(url)  # a new master key each run: start from an empty schema
    app = create_app({"DATABASE_URL": url, "VAULT_MASTER_KEYS": new_master_key(), "SECRET_KEY": "bench",
                      "INSTANCE_PATH": instance})
    with app.app_context(), database.connection_context():
        user = User.create(email=f"bench-{uuid.uuid4().hex[:8]}@example.com", password_hash="x")
        secret = ProviderSecret(user=user, provider="openai", key_preview="sk-…", fingerprint="x", api_key_encrypted="",
                                allowed_hosts="127.0.0.1:9")  # where the model points
        secret.api_key_encrypted = crypto.encrypt("sk-bench-key-000000", secret.aad)
        secret.save()
        model = LLMModel.create(id=str(uuid.uuid4()), user=user, name="bench", provider="openai", model_id="m",
                                base_url="http://127.0.0.1:9/v1", auth_type="bearer")
    return app, user, model.id


def orm_lookup(user, model_id):
    """The straightforward version: two ORM queries built on every call."""
    model = LLMModel.visible_to(user).where(LLMModel.id == model_id).get()
    secret = ProviderSecret.owned_by(user).where(ProviderSecret.provider == model.provider).first()
    return crypto.decrypt(secret.api_key_encrypted, secret.aad)


def timed(fn, n):
    samples = []
    for _ in range(n):
        start = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - start) / 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99)]


def run(label, url, n):
    with tempfile.TemporaryDirectory() as instance:
        app, user, model_id = setup(url, instance)
        with app.app_context(), database.connection_context():
            for fn in (lambda: resolver.resolve(user, model_id), lambda: orm_lookup(user, model_id)):
                timed(fn, 500)  # warm up
            p50, p99 = timed(lambda: resolver.resolve(user, model_id), n)
            orm50, orm99 = timed(lambda: orm_lookup(user, model_id), n)
        database.obj.close_all()
    print(f"{label:<11} resolver p50 {p50:7.1f} µs  p99 {p99:7.1f} µs   |  ORM built per call p50 {orm50:7.1f} µs  p99 {orm99:7.1f} µs")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="also measure on this PostgreSQL database (its public schema is dropped)")
    parser.add_argument("-n", type=int, default=20000, help="resolutions per measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run("SQLite", f"sqlite:///{tmp}/bench.db", args.n)
    if args.postgres:
        run("PostgreSQL", args.postgres, args.n)


if __name__ == "__main__":
    main()
