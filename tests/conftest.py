"""Fixtures: an app on a temp SQLite file (or emptied PostgreSQL tables when TEST_DATABASE_URL is
set), a signed-in client with CSRF on. Plain helpers are in helpers.py."""
import contextlib
import os

import pytest
from argon2 import PasswordHasher
from flask import Flask
from jinja2 import BytecodeCache
from _pytest.nodeid import NodeId

from vault import create_app
from vault.auth import passwords
from vault.db import database
from vault.settings import new_master_key

from .helpers import close_pool, create_database, database_url, make_user, sign_in, sqlite_template

pytest_plugins = ["tests.fake_provider"]  # its fixtures: a real HTTP provider on 127.0.0.1

# Production argon2 costs ~0.2 CPU-s and 64 MiB per hash and per verify, and the suite signs in
# hundreds of times. In this process only; test_auth proves a fresh process hashes at full cost.
passwords.hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def _memoized_url_builders():
    """Werkzeug compiles two URL builders for every route it adds, generating and compiling Python
    source each time: two thirds of a create_app, and the suite makes one for nearly every test.
    A builder depends only on the rule's parsed parts (it is handed the rule it builds for), so the
    same route in the next app gets the same function. Rules with defaults, whose builder folds
    the converted default in, are compiled as before. In this process only."""
    from werkzeug.routing.rules import Rule
    compile_builder, builders = Rule._compile_builder, {}

    def cached(self, append_unknown=True):
        if self.defaults:
            return compile_builder(self, append_unknown)
        key = (self.rule, tuple(self._trace), append_unknown)
        if key not in builders:
            builders[key] = compile_builder(self, append_unknown)
        return builders[key]
    Rule._compile_builder = cached


_memoized_url_builders()


class _CompiledTemplates(BytecodeCache):
    """Jinja's bytecode cache, in memory and shared by every app in the process. Each app has its
    Jinja environment, whose templates it compiles the first time it renders them: about 13 ms a
    template, for every test that renders a page. Keyed, as any bytecode cache is, by template
    and file, and used only while the source's checksum is the same."""

    def __init__(self):
        self.compiled = {}

    def load_bytecode(self, bucket):
        checksum, code = self.compiled.get(bucket.key, (None, None))
        if checksum == bucket.checksum:
            bucket.code = code

    def dump_bytecode(self, bucket):
        self.compiled[bucket.key] = (bucket.checksum, bucket.code)


Flask.jinja_options = {**Flask.jinja_options, "bytecode_cache": _CompiledTemplates()}


def pytest_configure(config):
    """Under pytest-xdist each worker gets a PostgreSQL database of its own, so no worker empties
    another's tables. Set here, before any test module reads TEST_DATABASE_URL."""
    worker, url = os.environ.get("PYTEST_XDIST_WORKER"), os.environ.get("TEST_DATABASE_URL")
    if worker and url and url.startswith(("postgres://", "postgresql://")):
        base, sep, query = url.partition("?")
        os.environ["TEST_DATABASE_URL"] = create_database(f"{base}_{worker}{sep}{query}")


def pytest_collection_modifyitems(items):
    """Give each schemathesis case (one per API operation) a node id of its own. Under pytest 9.2
    a Function's id is built from its `originalname`, which schemathesis sets to the bare test
    name, so every operation's case had the same id; pytest-xdist keys tests by id and silently
    ran one case per test function (6 of 34 tests in test_schemathesis.py). The item's name
    already carries the operation, e.g. `test_api_with_a_bearer_token[POST /api/chat]`."""
    for item in items:
        if getattr(item, "operation_label", None) is not None:  # a schemathesis.pytest item
            item._id = NodeId.parse(f"{item.parent.nodeid}::{item.name}")
    # The longest files first (pyproject's --no-loadscope-reorder keeps this order), so that on two
    # workers no 1-3 minute file starts last while the other worker sits idle. Longest as measured.
    items.sort(key=lambda item: SLOW_FIRST.get(item.nodeid.partition("::")[0], len(SLOW_FIRST)))


SLOW_FIRST = {path: rank for rank, path in enumerate([
    "tests/test_schemathesis.py", "tests/security/test_storage.py", "tests/browser/test_pages.py",
    "tests/browser/test_models.py", "tests/browser/test_account_safety.py", "tests/security/test_hostile_provider.py",
    "tests/security/test_limits_server.py", "tests/security/test_upstream_limits.py", "tests/browser/test_secrets.py",
    "tests/test_sweep_bad_input.py", "tests/test_openai_sdk.py", "tests/security/test_accounts.py",
    "tests/test_faults.py", "tests/security/test_slow_clients.py", "tests/test_llm_streaming.py"])}


@pytest.fixture
def master_key():
    return new_master_key()


@pytest.fixture(scope="session", autouse=True)
def empty_sqlite(tmp_path_factory):
    """An empty SQLite database at today's schema, made once per process before any test's app
    (so no module's app finds the database switched under it): each test starts on a copy of it.
    None on PostgreSQL."""
    if os.environ.get("TEST_DATABASE_URL"):
        return None
    return sqlite_template(tmp_path_factory.mktemp("template"), new_master_key())


@pytest.fixture
def app_config(tmp_path, master_key, empty_sqlite):
    return {"TESTING": True, "DATABASE_URL": database_url(tmp_path, empty_sqlite), "VAULT_MASTER_KEYS": master_key,
            "SECRET_KEY": "test-secret", "RATELIMIT_STORAGE_URI": "memory://",
            "INSTANCE_PATH": str(tmp_path / "instance")}


@pytest.fixture
def app(app_config):
    yield create_app(app_config)
    close_pool()


@pytest.fixture(autouse=True)
def usage_written():
    """Usage counted by one test is written to that test's database, not the next one's."""
    yield
    from vault.gateway import usage
    usage.flush()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def ada(app, client):
    make_user(app, "ada@example.com")
    return sign_in(client, "ada@example.com")


@pytest.fixture
def bob(app):
    make_user(app, "bob@example.com")
    return sign_in(app.test_client(), "bob@example.com")


@pytest.fixture
def db(app):
    """Short database blocks between client calls: `with db(): ...`. No app context is held
    across requests: Flask would share it, and `g`, with every request made inside it."""
    @contextlib.contextmanager
    def block():
        with app.app_context(), database.connection_context():
            yield
    return block

