"""Faults a vault must survive: the database dropping every connection for a moment, and a
master-key rotation killed half-way."""
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.helpers import make_user, rotation_in_progress, sign_in
from vault import create_app, crypto
from vault.db import LLMModel, User, database
from vault.settings import new_master_key

ROOT = Path(__file__).resolve().parent.parent
POSTGRES = (os.environ.get("TEST_DATABASE_URL") or "").startswith("postgres")


def drop_connections(url):
    import psycopg
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = current_database() AND pid <> pg_backend_pid()")


@pytest.mark.skipif(not POSTGRES, reason="needs a database server that can drop its connections: "
                                         "runs in the PostgreSQL pass (set TEST_DATABASE_URL)")
def test_database_going_away_is_a_clear_503_then_recovers(app, app_config):
    make_user(app, "ada@example.com")
    ada = sign_in(app.test_client(), "ada@example.com")
    assert ada.get("/api/models").status_code == 200
    drop_connections(app_config["DATABASE_URL"])
    answers = [ada.get("/api/models") for _ in range(3)]
    failed = [a for a in answers if a.status_code != 200]
    for answer in failed:
        assert answer.status_code == 503 and answer.json["error"]["code"] == "database_unavailable"
    assert answers[-1].status_code == 200, "did not recover without a restart"
    page = ada.get("/models")
    assert page.status_code == 200


@pytest.mark.skipif(not POSTGRES, reason="needs PostgreSQL's pool: runs in the PostgreSQL pass "
                                         "(set TEST_DATABASE_URL)")
def test_the_pool_pings_only_connections_idle_for_a_while(app, app_config):
    """A connection checked in a moment ago is handed out without a round trip; an older one is
    pinged. Seen from the server's side: its backend is killed while it sits in the pool."""
    import psycopg
    pool = database.obj
    with app.app_context():
        database.connect()
        conn = database.connection()
        pid = conn.info.backend_pid
        database.close()
    with psycopg.connect(app_config["DATABASE_URL"], autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    assert pool._is_closed(conn) is False  # not pinged: the kill goes unseen
    time.sleep(pool.PING_AFTER + 0.1)
    assert pool._is_closed(conn) is True   # pinged: found dead, and discarded


def seed_model_keys(app, count):
    """Many own-key models (cheaply, in bulk) so that a rotation takes seconds."""
    with app.app_context(), database.connection_context():
        user = User.get()
        rows = []
        for n in range(count):
            mid = str(uuid.uuid4())
            key = crypto.encrypt(f"sk-key-number-{n:06d}", LLMModel.aad_for(user.id, mid))
            rows.append({"id": mid, "user": user.id, "name": f"m{n}", "provider": "openai", "model_id": "x",
                         "base_url": "http://127.0.0.1:9/v1", "auth_type": "bearer",
                         "api_key_encrypted": key, "key_preview": "…"})
        with database.atomic():
            for start in range(0, count, 500):
                LLMModel.insert_many(rows[start:start + 500]).execute()


def all_readable(app):
    with app.app_context(), database.connection_context():
        ring = crypto.keyring()
        kids = set()
        for model in LLMModel.select():
            assert ring.decrypt(model.api_key_encrypted, model.aad).reveal().startswith("sk-key-number-")
            kids.add(ring.key_id_of(model.api_key_encrypted))
        return kids


def test_rotation_killed_half_way_then_run_again(app, app_config, master_key, tmp_path):
    make_user(app, "ada@example.com")
    seed_model_keys(app, 5_000)
    new = new_master_key()
    env = {**os.environ, "DATABASE_URL": app_config["DATABASE_URL"], "VAULT_MASTER_KEYS": f"{new},{master_key}",
           "SECRET_KEY": "x", "VAULT_INSTANCE_PATH": str(tmp_path / "instance")}
    command = [sys.executable, "-m", "flask", "--app", "app", "rotate-master-key"]
    rotation = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not rotation_in_progress(app_config["DATABASE_URL"]) and rotation.poll() is None:
        assert time.monotonic() < deadline, "the rotation never started writing"
        time.sleep(0.005)
    time.sleep(0.05)  # well inside the transaction: 5,000 values take ~0.4 s on a quiet machine
    rotation.send_signal(signal.SIGKILL)
    out, _ = rotation.communicate()
    assert rotation.returncode == -signal.SIGKILL and b"Re-encrypted" not in out, \
        "the rotation finished before it was killed: seed more values"

    both = create_app({**app_config, "VAULT_MASTER_KEYS": f"{new},{master_key}"})
    assert all_readable(both) == {crypto.Keyring(master_key).primary}  # all or nothing: nothing moved

    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "Re-encrypted 5001 of 5001" in again.stdout
    only_new = create_app({**app_config, "VAULT_MASTER_KEYS": new})
    assert all_readable(only_new) == {crypto.Keyring(new).primary}
