"""Helpers shared by the tests (fixtures live in conftest.py; official_sdk makes two for an SDK's
test file)."""
import importlib
import os
import re

import peewee as pw
import pytest

from vault.db import database

PASSWORD = "correct horse battery"


# The columns migrations added since version 0: dropping them gives an older database. Not
# llm_model.team_id (version 5): SQLite cannot drop a foreign-key column, and that migration
# adds it only where it is missing.
NEW_COLUMNS = (("provider_secret", "allowed_hosts"), ("api_token", "scopes"), ("api_token", "models"),
               ("audit_event", "detail"), ("llm_model", "version"), ("session", "address"),
               ("user", "is_admin"))


def wipe_postgres(url):
    import psycopg
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")


def empty_postgres(url):
    """Every row gone and every id counting from 1 again, but the schema version: a quarter of
    the time of dropping and creating the tables. Rows are deleted children first (~2 ms):
    TRUNCATE gives each table new files, ~24 ms of the server's time before every test. A
    schema other than today's (a test built an older one) is dropped instead."""
    import psycopg
    from vault.db import MIGRATIONS, MODELS, VaultMeta
    tables = {model._meta.table_name for model in MODELS}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '10s'")  # a connection a test left open fails loudly
        found = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        meta = VaultMeta._meta.table_name
        current = found == tables and conn.execute(
            f"SELECT value FROM {meta} WHERE key = 'schema_version'").fetchone() == (str(len(MIGRATIONS)),)
        if not current:
            conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
            conn.execute("CREATE SCHEMA public")
            return
        ordered = [model._meta.table_name for model in reversed(pw.sort_models(MODELS)) if model is not VaultMeta]
        quoted = ", ".join(f'"{name}"' for name in [*ordered, meta])  # "user" is a keyword
        with conn.transaction():
            # as TRUNCATE did: wait for, then fail on, a connection a test left inside a transaction
            conn.execute(f"LOCK TABLE {quoted} IN ACCESS EXCLUSIVE MODE")
            for name in ordered:
                conn.execute(f'DELETE FROM "{name}"')
            conn.execute(f"DELETE FROM {meta} WHERE key <> 'schema_version'")
            conn.execute("SELECT setval(s.oid, 1, false) FROM pg_class s JOIN pg_namespace n "
                         "ON n.oid = s.relnamespace WHERE s.relkind = 'S' AND n.nspname = 'public'")


def create_database(url):
    """`url`, its database created first when the server has none of that name."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo
    name = conninfo_to_dict(url)["dbname"]
    with psycopg.connect(make_conninfo(url, dbname="postgres"), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
    return url


def database_url(tmp_path, template=None):
    """PostgreSQL's tables emptied, or a SQLite file of this test's own: a copy of `template` (an
    empty database at today's schema, see sqlite_template) when given, else a new file."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        empty_postgres(url)
        return url
    path = tmp_path / "vault.db"
    if template is not None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # as the app creates it
        with os.fdopen(fd, "wb") as file:
            file.write(template)
    return f"sqlite:///{path}"


def sqlite_template(folder, master_key):
    """The bytes of a SQLite database that create_app has just made at today's schema, less its
    master-key check value, so the app of each test that starts on a copy stores its own key's
    (as it does on an emptied PostgreSQL). Copying ~100 KB costs less than creating the tables."""
    from vault import create_app
    from vault.db import MASTER_KEY_CHECK, VaultMeta
    path = folder / "template.db"
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{path}", "VAULT_MASTER_KEYS": master_key,
                      "SECRET_KEY": "template", "RATELIMIT_STORAGE_URI": "memory://",
                      "INSTANCE_PATH": str(folder / "instance")})
    with app.app_context(), database.connection_context():
        VaultMeta.delete().where(VaultMeta.key == MASTER_KEY_CHECK).execute()
        database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the main file
    close_pool()
    wal = folder / "template.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0, "the template's writes are not all in its file"
    return path.read_bytes()

def close_pool():
    """Every pooled connection closed, never one the usage writer is in the middle of using
    (closing a SQLite connection another thread is executing on crashed a worker)."""
    from vault.gateway import usage
    if isinstance(database.obj, pw.Database) and hasattr(database.obj, "close_all"):
        with usage.quiet():
            database.obj.close_all()

CSRF_META = re.compile(r'name="csrf-token" content="([^"]+)"')


def csrf_from(response):
    match = CSRF_META.search(response.get_data(as_text=True))
    assert match, "page has no CSRF token"
    return match.group(1)

def make_user(app, email, password=PASSWORD):
    from vault.auth.users import create_user
    with app.app_context(), database.connection_context():
        return create_user(email, password)

def sign_in(client, email, password=PASSWORD):
    """Through the real form; afterwards unsafe requests carry X-CSRFToken as hx-headers would.
    A session's CSRF token is the same on every page, so it is read off the cheapest one, a 404
    (2.5 ms, where /login and /tokens take 4 and 7), before and after signing in."""
    response = client.post("/login", data={"email": email, "password": password,
                                           "csrf_token": csrf_from(client.get("/-"))})
    assert response.status_code == 302, response.get_data(as_text=True)
    client.environ_base["HTTP_X_CSRFTOKEN"] = csrf_from(client.get("/-"))
    return client

def token_for(app, email, name="test"):
    """A token made by the service directly, with both scopes (chat and manage)."""
    from vault.db import User
    from vault.tokens import service
    with app.app_context(), database.connection_context():
        return service.issue(User.get(User.email == email), name, scopes=["chat", "manage"])[1]


def api(page, method, path, body=None):
    """A JSON call from the page, with its own session and CSRF token, as the page's scripts make
    them; its status."""
    return page.evaluate("""async ([method, path, body]) => {
        const csrf = document.querySelector('meta[name="csrf-token"]').content;
        const r = await fetch(path, {method, headers: {'Content-Type': 'application/json', 'X-CSRFToken': csrf},
                                     body: body ? JSON.stringify(body) : undefined});
        return r.status; }""", [method, path, body])


def add_secret(page, key="sk-provider-secret-9f2c"):
    assert api(page, "POST", "/api/secrets", {"provider": "openai", "api_key": key}) == 201


def add_model(page, name, model_id, **fields):
    body = {"name": name, "provider": "openai", "model_id": model_id, **fields}
    assert api(page, "POST", "/api/models", body) == 201


def follow(page, link, url):
    """Clicks a link and waits for its page to load. The URL changes before the new document's
    scripts run, so a click or key press made at once may find no htmx or app.js handler bound
    yet, and a page.evaluate may run on the page being left."""
    page.get_by_role("link", name=link).click()
    page.wait_for_url(url)


def send(page, text):
    """Types a message in the Playground and presses Enter. Enter is ignored while the previous
    answer still streams (usage and `done` come after its last word), so first wait for Send to be
    enabled again, as a person would."""
    from playwright.sync_api import expect  # only browser tests pay for importing Playwright
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    message = page.get_by_label("Message")
    message.fill(text)
    message.press("Enter")


def register(page, email="ada@example.com", password=PASSWORD):
    page.goto("/register")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Repeat password").fill(password)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/login")  # registering signs nobody in, new email or taken
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/secrets")


def signed_in(page, email="ada@example.com", password=PASSWORD):
    """What register(page) ends in, without drawing the forms where they are not what is tested
    (three page loads, a third of a short browser test's CPU): the context's own HTTP client, which
    shares the page's cookies and user agent, posts both forms, then the page opens /secrets."""
    request = page.context.request
    for path, form in (("/register", {"email": email, "password": password, "confirm": password}),
                       ("/login", {"email": email, "password": password})):
        found = CSRF_META.search(request.get(path).text())
        assert found, f"{path} has no CSRF token"
        answer = request.post(path, form={**form, "csrf_token": found.group(1)}, max_redirects=0)
        assert answer.status == 302, (path, answer.status, answer.text()[:300])
    page.goto("/secrets")


def official_sdk(name):
    """Two module-scoped fixtures for the test file of an official SDK, bound there as
    `<name>, transport = official_sdk(name)`. The module, imported by the worker that runs that
    file only: under pytest-xdist every worker collects every file, and a module-level import,
    even a lazy one, runs then (pytest inspects each name a test module binds); openai takes ~0.8
    CPU-s, anthropic ~1.5. And the SDK's own default HTTP client, made once: making one loads the
    CA bundle (~30 ms), and each test's vault is on a port of its own, so no connection is shared."""
    @pytest.fixture(scope="module", name=name)
    def sdk_module():
        return importlib.import_module(name)

    @pytest.fixture(scope="module", name="transport")
    def transport(request):
        with request.getfixturevalue(name).DefaultHttpxClient() as client:
            yield client
    return sdk_module, transport


def store_secret(app, email, provider, key, **fields):
    """A provider secret written straight to the database (the secrets API has its own tests),
    allowed to the hosts the service would give it unless `allowed_hosts` says otherwise."""
    from vault import crypto
    from vault.db import ProviderSecret, User, default_hosts
    with app.app_context(), database.connection_context():
        user = User.get(User.email == email)
        row = ProviderSecret(user=user, provider=provider, key_preview=crypto.preview(key),
                             fingerprint=crypto.fingerprint(key), api_key_encrypted="", **fields)
        row.allowed_hosts = fields.get("allowed_hosts") or " ".join(default_hosts(row))
        row.api_key_encrypted = crypto.encrypt(key, row.aad)
        row.save()
        return row


def live(app):
    """The app on a real loopback port in a thread: (base_url, stop)."""
    import threading
    from werkzeug.serving import make_server
    server = make_server("127.0.0.1", 0, app, threaded=True)
    # shutdown() waits for the loop's next poll: half a second by default, at every test's end
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server.shutdown


def released_together(count, prepare):
    """`count` threads, each running `prepare(i)` first (a client, its CSRF token) and then, once
    every thread is ready, the function it returned: their results, in order."""
    import threading
    barrier, results = threading.Barrier(count), [None] * count

    def worker(i):
        act = prepare(i)
        barrier.wait()
        results[i] = act()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def rotation_in_progress(url):
    """True while another process holds the write transaction a rotation runs in."""
    if url.startswith("sqlite:///"):
        import sqlite3
        probe = sqlite3.connect(url[len("sqlite:///"):], timeout=0)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.rollback()
            return False
        except sqlite3.OperationalError:  # locked: the rotation is writing
            return True
        finally:
            probe.close()
    import psycopg
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                            "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL "
                            "AND query ILIKE 'UPDATE%'").fetchone()[0] > 0


def chat_request(body):
    "A ChatRequest from a dict body of messages and options, as tests write them."
    from vault.llm.types import ChatRequest
    return ChatRequest(model=body.get("model", ""), messages=body["messages"],
                       options={k: v for k, v in body.items() if k not in ("messages", "model", "stream")})


def every_rule(app):
    """The routes of the Flask app and of the /v1 app mounted beside it (Werkzeug rules both)."""
    from vault.v1.app import url_map
    return [*app.url_map.iter_rules(), *url_map.iter_rules()]


def live_gateway(app_config, fake_provider, models):
    """For the SDK tests: ada with an OpenAI and an Anthropic secret, the app live on loopback,
    and `models` ((name, provider, fake scenario)…) made through the API: (base, token, stop)."""
    import requests
    from vault import create_app
    app = create_app({**app_config, "VAULT_UPSTREAM_TIMEOUT": 1.0, "VAULT_PROVIDER_BASE_URLS":
                      f"openai={fake_provider.openai_base},anthropic={fake_provider.anthropic_base}"})
    make_user(app, "ada@example.com")
    store_secret(app, "ada@example.com", "openai", "sk-test-openai-secret-0000")
    store_secret(app, "ada@example.com", "anthropic", "sk-ant-test-secret-1111")
    base, stop = live(app)
    token = token_for(app, "ada@example.com")
    for name, provider, model_id in models:
        requests.post(f"{base}/api/models", headers={"Authorization": f"Bearer {token}"},
                      json={"name": name, "provider": provider, "model_id": model_id}).raise_for_status()
    return base, token, stop
