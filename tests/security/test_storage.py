"""Attacks on what the vault stores and how it starts: a master-key rotation racing a key change,
a key row moved to another user, a deleted user's id handed to the next account, files other
local users can read, a provider's absurd token counts, JSON nested past Python's recursion
limit, and workers that all migrate the same fresh database at once."""
import json
import logging
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.fake_provider import OpenAIWire
from tests.helpers import (PASSWORD, close_pool, make_user, rotation_in_progress, sign_in, token_for,
                           wipe_postgres)
from vault import create_app, crypto, db as vault_db
from vault.gateway import usage
from vault.db import LLMModel, ProviderSecret, User, VaultMeta, database, utcnow
from vault.providers import PROVIDERS
from vault.settings import new_master_key

ROOT = Path(__file__).resolve().parents[2]
POSTGRES = (os.environ.get("TEST_DATABASE_URL") or "").startswith("postgres")
OLD_KEY, NEW_KEY = "sk-storage-old-key-0001", "sk-storage-new-key-0002"
ADA_MODEL_KEY = "sk-storage-adas-own-key-0003"
CHAT = {"messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture
def vault_app(app_config, fake_provider):
    """The app with openai's default base URL on the fake provider, so a chat shows which key went."""
    config = {**app_config, "VAULT_PROVIDER_BASE_URLS": f"openai={fake_provider.openai_base}"}
    yield create_app(config)
    close_pool()


def signed_in(app, email):
    make_user(app, email)
    return sign_in(app.test_client(), email)


def user_id(app, email):
    with app.app_context(), database.connection_context():
        return User.get(User.email == email).id


def new_model(client, name, **fields):
    answer = client.post("/api/models", json={"name": name, "provider": "openai", "model_id": "echo", **fields})
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return answer.json["model"]["id"]


def refused_as_unreadable(answer):
    assert answer.status_code == 500, answer.get_data(as_text=True)[:300]
    assert answer.json["error"]["code"] == "stored_key_unreadable"


# --- 1. a master-key rotation racing a key change --------------------------------------------

def seed_secrets(app, count):
    """`count` provider secrets of other users, in bulk, so that a rotation takes a while."""
    names = list(PROVIDERS)
    with app.app_context(), database.connection_context(), database.atomic():
        User.insert_many([{"email": f"seed{n}@example.com", "password_hash": "x"}
                          for n in range(-(-count // len(names)))]).execute()
        rows = [{"user": uid, "provider": name, "key_preview": "…", "fingerprint": "sha256:0",
                 "api_key_encrypted": crypto.encrypt("sk-seeded-key-000000", ProviderSecret.aad_for(uid, name))}
                for (uid,) in User.select(User.id).where(User.email.startswith("seed")).tuples()
                for name in names][:count]
        for start in range(0, count, 500):
            ProviderSecret.insert_many(rows[start:start + 500]).execute()


def test_a_key_changed_during_a_master_key_rotation_is_not_undone_by_it(app_config, master_key, fake_provider,
                                                                        tmp_path):
    """The rotation reads every row, ada rotates her key meanwhile, the rotation reaches her row:
    it must not write back her old key re-encrypted (a preview of the new key, the old one sent)."""
    old_app = create_app({**app_config, "VAULT_PROVIDER_BASE_URLS": f"openai={fake_provider.openai_base}"})
    ada = signed_in(old_app, "ada@example.com")
    seed_secrets(old_app, 3000)
    assert ada.post("/api/secrets", json={"provider": "openai", "api_key": OLD_KEY}).status_code == 201
    close_pool()
    new = new_master_key()
    both = {**app_config, "VAULT_MASTER_KEYS": f"{new},{master_key}",  # the documented order: new key first
            "VAULT_PROVIDER_BASE_URLS": f"openai={fake_provider.openai_base}"}
    app = create_app(both)
    ada = sign_in(app.test_client(), "ada@example.com")
    url = app_config["DATABASE_URL"]
    env = {**os.environ, "DATABASE_URL": url, "VAULT_MASTER_KEYS": both["VAULT_MASTER_KEYS"], "SECRET_KEY": "x",
           "VAULT_INSTANCE_PATH": str(tmp_path / "cli")}
    rotation = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "rotate-master-key"], cwd=ROOT,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not rotation_in_progress(url):
            assert rotation.poll() is None and time.monotonic() < deadline, rotation.communicate()
            time.sleep(0.005)
        changed = ada.put("/api/secrets/openai", json={"api_key": NEW_KEY})
        assert changed.status_code == 200, changed.get_data(as_text=True)
        if POSTGRES:  # SQLite's rotation holds the write lock throughout: the PUT waited for it
            assert rotation.poll() is None, "the rotation ended before the key changed: seed more rows"
        out, err = rotation.communicate(timeout=300)
    finally:
        if rotation.poll() is None:
            rotation.kill()
    assert rotation.returncode == 0 and "Re-encrypted" in out, err[-2000:]

    assert ada.get("/api/secrets/openai").json["secret"]["key_preview"].endswith(NEW_KEY[-4:])
    new_model(ada, "after-rotation")
    assert ada.post("/api/chat", json={"model_id": "after-rotation", **CHAT}).status_code == 200
    assert fake_provider.keys_seen()[-1] == NEW_KEY
    with app.app_context(), database.connection_context():  # and it is under the new key alone
        secret = ProviderSecret.get(ProviderSecret.provider == "openai",
                                    ProviderSecret.user == User.get(User.email == "ada@example.com"))
        assert crypto.Keyring(new).decrypt(secret.api_key_encrypted, secret.aad).reveal() == NEW_KEY


# --- 2. a model's own key moved to another user ------------------------------------------------

def move_model(app, model_id, email):
    """What an attacker who can write rows does: the model (with its sealed key) becomes theirs."""
    with app.app_context(), database.connection_context():
        LLMModel.update(user=User.get(User.email == email)).where(LLMModel.id == model_id).execute()


def test_a_model_key_moved_to_another_user_does_not_open_for_them(vault_app, fake_provider):
    ada, bob = signed_in(vault_app, "ada@example.com"), signed_in(vault_app, "bob@example.com")
    model = new_model(ada, "adas-own", api_key=ADA_MODEL_KEY)
    move_model(vault_app, model, "bob@example.com")

    refused_as_unreadable(bob.post("/api/chat", json={"model_id": model, **CHAT}))
    refused_as_unreadable(bob.post(f"/api/models/{model}/test"))
    assert ADA_MODEL_KEY not in fake_provider.keys_seen()


def test_an_older_databases_model_keys_are_sealed_again_to_their_owner(vault_app, fake_provider):
    """Migration 2: a key sealed to the model id alone (as before) opens for its owner after it,
    and no longer for a user the row is moved to."""
    ada, bob = signed_in(vault_app, "ada@example.com"), signed_in(vault_app, "bob@example.com")
    model = new_model(ada, "adas-own", api_key=ADA_MODEL_KEY)
    with vault_app.app_context(), database.connection_context():
        LLMModel.update(api_key_encrypted=crypto.encrypt(ADA_MODEL_KEY, model)).where(
            LLMModel.id == model).execute()
        VaultMeta.write("schema_version", "1")
        assert vault_db.migrate() == len(vault_db.MIGRATIONS)

    assert ada.post("/api/chat", json={"model_id": model, **CHAT}).status_code == 200
    assert fake_provider.keys_seen()[-1] == ADA_MODEL_KEY
    move_model(vault_app, model, "bob@example.com")
    refused_as_unreadable(bob.post("/api/chat", json={"model_id": model, **CHAT}))
    assert fake_provider.keys_seen().count(ADA_MODEL_KEY) == 1


# --- 3. a deleted user's id given to the next account -------------------------------------------

def delete_account(client, email):
    answer = client.post("/account/delete", data={"confirm_email": email, "confirm_password": PASSWORD})
    assert answer.status_code == 302, answer.get_data(as_text=True)[:300]


def test_a_deleted_users_secret_from_a_backup_does_not_open_for_the_next_account(vault_app, fake_provider):
    ada = signed_in(vault_app, "ada@example.com")
    assert ada.post("/api/secrets", json={"provider": "openai", "api_key": OLD_KEY}).status_code == 201
    with vault_app.app_context(), database.connection_context():
        backup, hosts, ada_id = ProviderSecret.select(
            ProviderSecret.api_key_encrypted, ProviderSecret.allowed_hosts, ProviderSecret.user).tuples().get()
    delete_account(ada, "ada@example.com")

    eve = signed_in(vault_app, "eve@example.com")
    assert user_id(vault_app, "eve@example.com") != ada_id
    with vault_app.app_context(), database.connection_context():
        ProviderSecret.create(user=User.get(User.email == "eve@example.com"), provider="openai",
                              api_key_encrypted=backup, allowed_hosts=hosts, key_preview="…", fingerprint="sha256:0")
    new_model(eve, "eves")
    refused_as_unreadable(eve.post("/api/chat", json={"model_id": "eves", **CHAT}))
    assert OLD_KEY not in fake_provider.keys_seen()


def user_table_before_version_3():
    """The user table as an older version made it on SQLite: no AUTOINCREMENT. Still empty."""
    (sql,) = database.execute_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'user'").fetchone()
    indexes = [row[0] for row in database.execute_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'user' AND sql IS NOT NULL")]
    database.execute_sql('DROP TABLE "user"')
    database.execute_sql(sql.replace(" AUTOINCREMENT", ""))
    for index in indexes:
        database.execute_sql(index)


@pytest.mark.skipif(POSTGRES, reason="SQLite's ids: PostgreSQL's sequences never go back")
def test_an_older_sqlite_database_never_issues_a_deleted_users_id_again(vault_app, fake_provider):
    with vault_app.app_context(), database.connection_context():
        user_table_before_version_3()
    ada, bob = signed_in(vault_app, "ada@example.com"), signed_in(vault_app, "bob@example.com")
    for client in (ada, bob):
        assert client.post("/api/secrets", json={"provider": "openai", "api_key": OLD_KEY}).status_code == 201
        new_model(client, "own", api_key=ADA_MODEL_KEY)
    token_for(vault_app, "ada@example.com")
    bob_id = user_id(vault_app, "bob@example.com")
    delete_account(bob, "bob@example.com")  # the newest account: its id is the next one, as it was
    counts = lambda: [m.select().count() for m in vault_db.MODELS]  # noqa: E731

    with vault_app.app_context(), database.connection_context():
        VaultMeta.write("schema_version", "2")
        before = counts()
        assert vault_db.migrate() == len(vault_db.MIGRATIONS)
        assert counts() == before  # the rebuild cascaded nowhere: sessions, secrets, models, tokens
        assert database.execute_sql("PRAGMA foreign_keys").fetchone() == (1,)
        assert database.execute_sql("PRAGMA foreign_key_check").fetchall() == []
    assert user_id(vault_app, "ada@example.com") < bob_id
    eve = signed_in(vault_app, "eve@example.com")
    assert user_id(vault_app, "eve@example.com") > bob_id
    assert eve.get("/api/secrets").json["secrets"] == []
    assert ada.post("/api/chat", json={"model_id": "own", **CHAT}).status_code == 200


# --- 4. files other local users can read ---------------------------------------------------------

def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)  # the usual default: new files 0644, folders 0755
    yield
    os.umask(previous)


@pytest.fixture
def dev_start(tmp_path, monkeypatch, master_key, umask_022):
    """create_app as a developer starts it: the SQLite database in instance/."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    instance = tmp_path / "instance"

    def start():
        app = create_app({"TESTING": True, "INSTANCE_PATH": str(instance), "VAULT_MASTER_KEYS": master_key,
                          "SECRET_KEY": "x"})
        make_user(app, f"u{time.monotonic_ns()}@example.com")  # a write: the -wal and -shm exist
        return instance
    yield start
    close_pool()


def test_a_new_instance_folder_and_sqlite_files_are_the_owners_alone(dev_start):
    instance = dev_start()
    assert mode(instance) == 0o700
    for name in ("vault.db", "vault.db-wal", "vault.db-shm"):
        assert mode(instance / name) == 0o600, name


def test_an_existing_readable_instance_folder_and_database_are_tightened_with_a_log_line(dev_start, caplog):
    instance = dev_start()
    first = database.obj  # its open connection keeps the -wal and -shm there
    os.chmod(instance, 0o755)
    for name in ("vault.db", "vault.db-wal", "vault.db-shm"):
        os.chmod(instance / name, 0o644)
    with caplog.at_level(logging.WARNING):
        dev_start()
    first.close_all()
    assert mode(instance) == 0o700
    for name in ("vault.db", "vault.db-wal", "vault.db-shm"):
        assert mode(instance / name) == 0o600, name
        assert f"{instance / name} was open to other users (mode 644): now 600" in caplog.text
    assert f"{instance} was open to other users (mode 755): now 700" in caplog.text


# --- 5. a provider's absurd token counts ---------------------------------------------------------

def test_a_provider_reporting_absurd_token_counts_loses_no_one_elses_usage(vault_app, fake_provider,
                                                                          monkeypatch):
    honest = OpenAIWire.prompt_tokens
    monkeypatch.setattr(OpenAIWire, "prompt_tokens",
                        lambda wire, body: 10**20 if "absurd" in json.dumps(body) else honest(wire, body))
    ada, bob = signed_in(vault_app, "ada@example.com"), signed_in(vault_app, "bob@example.com")
    for client in (ada, bob):
        new_model(client, "own", base_url=fake_provider.openai_base, api_key=ADA_MODEL_KEY)
    ask = lambda client, text: client.post(  # noqa: E731
        "/api/chat", json={"model_id": "own", "messages": [{"role": "user", "content": text}]})
    assert ask(ada, "absurd").status_code == 200
    assert ask(bob, "hello").status_code == 200
    time.sleep(usage.FLUSH_EVERY * 2.5)  # the writer's flushes, as in production
    assert ask(ada, "absurd").status_code == 200

    ada_rows, bob_rows = (client.get("/api/usage?days=1").json["usage"] for client in (ada, bob))
    assert [(r["requests"], r["completion_tokens"]) for r in bob_rows] == [(1, 7)]
    assert bob_rows[0]["prompt_tokens"] > 0
    assert [(r["requests"], r["prompt_tokens"]) for r in ada_rows] == [(2, 2 * usage.MAX_TOKENS)]


@pytest.mark.parametrize("reported, counted", [
    (10**20, 10**12), (10**12 + 1, 10**12), (42, 42), (-5, 0), (True, 0), (False, 0), (12.9, 12),
    (1e300, 10**12), (float("inf"), 0), (float("nan"), 0), ("17", 17), ("1e30", 0), ("9" * 5000, 0),
    ("many", 0), (None, 0), ([3], 0), ({"n": 3}, 0)])
def test_a_providers_token_count_is_clamped_to_a_whole_number_the_ledger_can_hold(reported, counted):
    assert usage.tokens(reported) == counted


def test_one_usage_row_that_cannot_be_written_takes_no_other_row_with_it(vault_app, caplog):
    make_user(vault_app, "ada@example.com")
    ada = user_id(vault_app, "ada@example.com")
    day = utcnow().date()
    with usage._lock:
        usage._pending.update({
            (ada + 1000, "m-gone", "model", "openai", day): [1, 5, 5, 0],      # no such user
            (ada, "m-huge", "model", "openai", day): [1, 10**20, 0, 0],        # past BIGINT
            (ada, "m-ok", "model", "openai", day): [1, 3, 4, 0]})
    with caplog.at_level(logging.WARNING):
        usage.flush()
    with vault_app.app_context(), database.connection_context():
        rows = [(r.model, r.requests, r.prompt_tokens, r.completion_tokens) for r in usage.UsageRecord.select()]
    assert rows == [("m-ok", 1, 3, 4)]
    assert caplog.text.count("could not be written and was dropped") == 2
    assert "100000000000000000000" not in caplog.text and "m-gone" not in caplog.text
    assert usage._pending == {}  # dropped, not retried every second for ever


# --- 6. JSON nested past the recursion limit -----------------------------------------------------

DEEP = "[" * 100_000 + "]" * 100_000
JSON_ROUTES = [("POST", "/api/secrets"), ("PUT", "/api/secrets/openai"), ("POST", "/api/models"),
               ("PATCH", "/api/models/{model}"), ("POST", "/api/models/test"), ("POST", "/api/tokens"),
               ("POST", "/api/chat")]


@pytest.mark.parametrize("credential", ["session", "token"])
def test_json_nested_too_deeply_is_a_400_in_each_json_routes_error_shape(vault_app, credential, caplog):
    client = signed_in(vault_app, "ada@example.com")
    model = new_model(client, "own", api_key=ADA_MODEL_KEY)
    routes = JSON_ROUTES
    if credential == "token":
        client = vault_app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token_for(vault_app, 'ada@example.com')}"
        # /api/tokens takes a session only; /v1 a token only
        routes = [r for r in JSON_ROUTES if r[1] != "/api/tokens"] + [("POST", "/v1/chat/completions")]
    for method, path in routes:
        for body in (DEEP, '{"model": "own", "model_id": "own", "messages": ' + DEEP + "}"):
            answer = client.open(path.format(model=model), method=method, data=body,
                                 content_type="application/json")
            assert answer.status_code == 400, (path, answer.status_code, answer.get_data(as_text=True)[:300])
            error = answer.json["error"]
            assert error["code"] == "invalid_json" and "nested too deeply" in error["message"], (path, error)
            if path.startswith("/v1/"):
                assert error["type"] == "invalid_request_error"
    assert "unhandled" not in caplog.text and "Traceback" not in caplog.text


# --- 7. workers starting together ------------------------------------------------------------------

def start_at_the_barrier(url, instance, barrier, results):
    """One worker's start (in a process of its own), released with the others at the same instant."""
    for name in ("DATABASE_URL", "VAULT_MASTER_KEYS", "SECRET_KEY"):
        os.environ.pop(name, None)
    from vault import create_app as start
    barrier.wait()
    try:
        app = start({"DATABASE_URL": url, "INSTANCE_PATH": instance})
        results.put(("ok", crypto.Keyring(app.config["VAULT_MASTER_KEYS"]).primary))
    except Exception as exc:  # noqa: BLE001 - reported to the test, which names it
        results.put((type(exc).__name__, str(exc)[:200]))


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_six_workers_released_at_once_on_a_fresh_database_take_turns_to_migrate(store, tmp_path):
    """The race the server test below may or may not hit, every time: six starts let go together,
    each migrating the same fresh database and making the same development master key."""
    import multiprocessing
    url = f"sqlite:///{tmp_path}/fresh.db"
    if store == "postgresql":
        if not POSTGRES:
            pytest.skip("runs in the PostgreSQL pass (set TEST_DATABASE_URL)")
        close_pool()
        url = os.environ["TEST_DATABASE_URL"]
        wipe_postgres(url)
    # A fresh interpreter imports the app once, and each worker is forked from it: no inherited
    # connections or threads, as with "spawn", without importing the app six times (~4 CPU-s).
    fresh = multiprocessing.get_context("forkserver")
    fresh.set_forkserver_preload(["vault", __name__])
    barrier, results = fresh.Barrier(6), fresh.Queue()
    workers = [fresh.Process(target=start_at_the_barrier, args=(url, str(tmp_path / "instance"), barrier, results))
               for _ in range(6)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(30)
    assert [outcome for outcome, _ in outcomes] == ["ok"] * 6, outcomes
    assert len({key_id for _, key_id in outcomes}) == 1  # one master key, read by all


def open_fresh_files_at_the_barrier(folder, rounds, barrier, results):
    """One process opening the same fresh SQLite file as the others, at the same instant, `rounds` times."""
    for n in range(rounds):
        try:
            barrier.wait(timeout=60)  # a sibling that died breaks it, and this one reports that
            connection = vault_db.connect_database(f"sqlite:///{folder}/fresh-{n}.db")
            connection.connect()
            results.put(connection.execute_sql("PRAGMA journal_mode").fetchone()[0])
            connection.close()
        except Exception as exc:  # noqa: BLE001 - reported to the test, which names it
            results.put(f"{type(exc).__name__}: {exc}")


def test_processes_opening_one_fresh_sqlite_file_together_all_get_wal(tmp_path):
    """The narrow race under the one above: switching a fresh file to WAL, SQLite answers 'database
    is locked' at once, without its busy timeout, to a process racing another doing the same.
    Six processes open fifty fresh files together; every open must succeed, in WAL."""
    import multiprocessing
    fork, rounds = multiprocessing.get_context("fork"), 50  # they only open files: nothing to import again
    barrier, results = fork.Barrier(6), fork.Queue()
    workers = [fork.Process(target=open_fresh_files_at_the_barrier, args=(str(tmp_path), rounds, barrier, results),
                            daemon=True) for _ in range(6)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=120) for _ in range(6 * rounds)]
    for worker in workers:
        worker.join(30)
    assert set(outcomes) == {"wal"}, [outcome for outcome in outcomes if outcome != "wal"][:3]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_four_workers_started_together_on_a_fresh_database_all_answer(store, tmp_path, umask_022):
    """Each worker migrates at start; on one fresh database they must take turns, not fail."""
    port = free_port()
    env = {**os.environ, "VAULT_BIND": f"127.0.0.1:{port}", "VAULT_WORKERS": "4",
           "VAULT_INSTANCE_PATH": str(tmp_path / "instance")}
    for name in ("DATABASE_URL", "VAULT_MASTER_KEYS", "SECRET_KEY", "GUNICORN_CMD_ARGS"):
        env.pop(name, None)  # nothing set: the first start of a developer's instance/
    if store == "postgresql":
        if not POSTGRES:
            pytest.skip("runs in the PostgreSQL pass (set TEST_DATABASE_URL)")
        close_pool()
        wipe_postgres(os.environ["TEST_DATABASE_URL"])
        env["DATABASE_URL"] = os.environ["TEST_DATABASE_URL"]
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "vault/gunicorn.conf.py", "app:app"],
                                  cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True)
    try:
        answers = []
        deadline = time.monotonic() + 90
        while len(answers) < 40 and server.poll() is None and time.monotonic() < deadline:
            try:
                answers.append(requests.get(f"http://127.0.0.1:{port}/login", timeout=10).status_code)
            except requests.ConnectionError:
                time.sleep(0.1)
        time.sleep(1)  # a worker that fails late still shows in the log
        text = log.read_text()  # before the shutdown, whose gevent noise is not ours
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(5)
    assert answers == [200] * 40, text[-3000:]
    assert text.count("Booting worker") == 4, text[-3000:]  # none died and was replaced
    for failure in ("database is locked", "Worker failed", "Exception in worker", "Traceback", "exited with code"):
        assert failure not in text, text[-3000:]
    if store == "sqlite":
        assert mode(tmp_path / "instance") == 0o700 and mode(tmp_path / "instance" / "vault.db") == 0o600
