"""A world with two users for the sweeps: ada owns a provider secret, a model with its own key,
a token, a session and a team (with its secret and model); bob has his own. Plus a snapshot of everything that matters in the
database, so a test can prove a rejected request changed nothing."""
import os
from dataclasses import dataclass

from tests.helpers import PASSWORD, make_user, sign_in, token_for
from vault import create_app
from vault.db import MODELS, AuditEvent, database

SECRET = "sk-test-SENTINEL-0000"
MODEL_KEY = "sk-test-SENTINEL-MODEL-1111"
ANTHROPIC_KEY = "sk-ant-test-SENTINEL-2222"
TEAM_KEY = "sk-test-SENTINEL-TEAM-5555"
HX = {"HX-Request": "true"}
# Columns that a harmless read may touch (last seen / last used), and the audit trail, which
# records refusals on purpose.
VOLATILE = {"last_used_at", "last_seen_at"}


@dataclass
class World:
    app: object
    ada: object          # ada's signed-in browser session (CSRF header set)
    bob: object
    ada_token: str
    bob_token: str
    model: str           # ada's model with its own key
    relying: str         # ada's model that uses her openai provider secret
    token_id: int        # ada's API token id
    team: int            # ada's team, of which bob is not a member
    team_model: str      # its model, on the team's openai secret
    ada_id: int

    def bearer(self, token):
        client = self.app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        return client


def build_world(app_config, fake_provider):
    app = create_app({**app_config, "VAULT_UPSTREAM_TIMEOUT": 1.0, "VAULT_PROVIDER_BASE_URLS":
                      f"openai={fake_provider.openai_base},anthropic={fake_provider.anthropic_base}"})
    make_user(app, "ada@example.com")
    make_user(app, "bob@example.com")
    ada, bob = sign_in(app.test_client(), "ada@example.com"), sign_in(app.test_client(), "bob@example.com")
    assert ada.post("/api/secrets", json={"provider": "openai", "api_key": SECRET}).status_code == 201
    assert ada.post("/api/secrets", json={"provider": "anthropic", "api_key": ANTHROPIC_KEY}).status_code == 201
    model = ada.post("/api/models", json={"name": "ada-private", "provider": "openai", "model_id": "echo",
                                          "api_key": MODEL_KEY}).json["model"]["id"]
    relying = ada.post("/api/models", json={"name": "ada-relying", "provider": "openai",
                                            "model_id": "echo"}).json["model"]["id"]
    created = ada.post("/api/tokens", json={"name": "ada-cli", "scopes": ["chat", "manage"],
                                            "password": PASSWORD}).json
    team = ada.post("/api/teams", json={"name": "ada-team"}).json["team"]["id"]
    assert ada.post(f"/api/teams/{team}/secrets", json={"provider": "openai", "api_key": TEAM_KEY}).status_code == 201
    team_model = ada.post("/api/models", json={"name": "ada-team-gpt", "provider": "openai", "model_id": "echo",
                                               "team_id": team}).json["model"]["id"]
    fake_provider.reset()
    return World(app, ada, bob, created["token"], token_for(app, "bob@example.com"), model, relying,
                 created["id"], team, team_model, ada.get(f"/api/teams/{team}").json["team"]["members"][0]["user_id"])


_SNAPSHOT_QUERIES = {}  # by database class: [(model name, SQL, params, each column's converter)]


def _snapshot_queries():
    """The snapshot's SELECTs as Peewee writes them, written once: the sweeps take thousands of
    snapshots, and building the SQL cost more than running it."""
    kind = type(database.obj)
    if kind not in _SNAPSHOT_QUERIES:
        queries = []
        for model in MODELS:
            if model is AuditEvent:
                continue
            fields = [getattr(model, c) for c in model._meta.sorted_field_names if c not in VOLATILE]
            sql, params = model.select(*fields).sql()
            queries.append((model.__name__, sql, params, [f.python_value for f in fields]))
        _SNAPSHOT_QUERIES[kind] = queries
    return _SNAPSHOT_QUERIES[kind]


def snapshot(app):
    """Every row of every table but the audit trail, without the last-seen/last-used stamps."""
    from vault.gateway import usage
    usage.flush()  # counted usage is written in the background; settle it first
    with app.app_context(), database.connection_context():
        state = {}
        for name, sql, params, converters in _snapshot_queries():
            rows = database.execute_sql(sql, params).fetchall()
            state[name] = sorted(repr(tuple(convert(v) for convert, v in zip(converters, row))) for row in rows)
        return state


def database_text(app):
    """What a thief of the database would read: the SQLite files' bytes, or every PostgreSQL row."""
    url = app.config["DATABASE_URL"]
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        return b"".join(open(p, "rb").read() for p in (path, path + "-wal") if os.path.exists(p)).decode("latin-1")
    import psycopg
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        return "\n".join(str(conn.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables)
