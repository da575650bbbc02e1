"""Schema migrations on a database written by an older version: what existed keeps working."""
import json
import os

import pytest

from playhouse.migrate import SchemaMigrator, migrate

from tests.helpers import NEW_COLUMNS
from vault import db as vault_db
from vault.db import ApiToken, AuditEvent, ProviderSecret, VaultMeta, database, utcnow



def version_0(app):
    """The schema before key egress, with a user, two secrets, a custom model and a token in it."""
    migrator = SchemaMigrator.from_database(database.obj)
    migrate(*(migrator.drop_column(table, column) for table, column in NEW_COLUMNS))
    VaultMeta.write("schema_version", "0")
    now, p = utcnow(), database.param
    insert = lambda table, row: database.execute_sql(  # noqa: E731 - only the old columns exist
        f'INSERT INTO "{table}" ({", ".join(row)}) VALUES ({", ".join([p] * len(row))})', list(row.values()))
    insert("user", {"email": "old@example.com", "password_hash": "x", "created_at": now})
    uid = database.execute_sql('SELECT id FROM "user"').fetchone()[0]
    for provider in ("openai", "custom"):
        insert("provider_secret", {"user_id": uid, "provider": provider, "api_key_encrypted": "v1.x.y",
                                   "key_preview": "…", "fingerprint": "sha256:0", "version": 1,
                                   "created_at": now, "updated_at": now})
    insert("llm_model", {"id": "00000000-0000-4000-8000-000000000001", "user_id": uid, "name": "local",
                         "provider": "custom", "model_id": "m", "base_url": "http://llm.lan:8080/v1",
                         "auth_type": "bearer", "supports_streaming": True, "supports_tools": False,
                         "created_at": now, "updated_at": now})
    for n, (host, own_key) in enumerate((("https://proxy.corp:8443/v1", None), ("https://other.example/v1", "v1.x.y"))):
        insert("llm_model", {"id": f"00000000-0000-4000-8000-00000000001{n}", "user_id": uid, "name": f"o{n}",
                             "provider": "openai", "model_id": "m", "base_url": host, "auth_type": "bearer",
                             "api_key_encrypted": own_key, "supports_streaming": True, "supports_tools": False,
                             "created_at": now, "updated_at": now})
    insert("api_token", {"user_id": uid, "name": "old", "token_hash": "0" * 64, "prefix": "psv_old",
                         "created_at": now})


def test_older_database_gets_host_bindings_and_its_tokens_keep_every_scope(app):
    with app.app_context(), database.connection_context():
        version_0(app)
        assert vault_db.migrate() == len(vault_db.MIGRATIONS)
        hosts = {s.provider: s.allowed_hosts for s in ProviderSecret.select()}
        token = ApiToken.get()
        # the default, and wherever models relying on the secret sent it (not an own-key model's host)
        # (proxy.corp over https: any port; llm.lan over plain http: that port only)
        assert hosts == {"openai": "api.openai.com proxy.corp", "custom": "llm.lan:8080"}
        assert token.scopes == "chat manage" and token.models is None
        assert {m.version for m in vault_db.LLMModel.select()} == {1}
        assert AuditEvent.select().where(AuditEvent.detail.is_null(False)).count() == 0
        assert vault_db.User.get().is_admin  # the oldest account is the instance's admin
        assert vault_db.migrate() == len(vault_db.MIGRATIONS)  # and once only
        assert json.loads(VaultMeta.read("schema_version")) == len(vault_db.MIGRATIONS)


def test_version_5_gives_models_a_team_and_runs_once(app):
    """SQLite cannot drop a foreign-key column to play the older schema; PostgreSQL can."""
    if not (os.environ.get("TEST_DATABASE_URL") or "").startswith("postgres"):
        pytest.skip("runs in the PostgreSQL pass (set TEST_DATABASE_URL)")
    with app.app_context(), database.connection_context():
        migrate(SchemaMigrator.from_database(database.obj).drop_column("llm_model", "team_id"))
        VaultMeta.write("schema_version", "4")
        assert "team_id" not in {c.name for c in database.get_columns("llm_model")}
        assert vault_db.migrate() == len(vault_db.MIGRATIONS)
        assert "team_id" in {c.name for c in database.get_columns("llm_model")}
        assert vault_db.migrate() == len(vault_db.MIGRATIONS)


def test_version_7_names_the_port_where_a_secret_already_went_over_plain_http(app):
    """A host named without a port now allows https only: where a secret's models reached such a
    host over http, the secret gets host:port, so nothing that worked stops; https stays as it was."""
    from vault.db import LLMModel, Team, TeamSecret, User
    with app.app_context(), database.connection_context():
        user = User.create(email="old@example.com", password_hash="x")
        team = Team.create(name="old-team")
        secret = ProviderSecret.create(user=user, provider="openai", api_key_encrypted="v1.x.y", key_preview="…",
                                       fingerprint="sha256:0", allowed_hosts="api.openai.com gpu.lan tls.lan:443")
        shared = TeamSecret.create(team=team, provider="openai", api_key_encrypted="v1.x.y", key_preview="…",
                                   fingerprint="sha256:0", allowed_hosts="team.lan")
        for n, (owner, url) in enumerate([({"user": user}, "http://gpu.lan:9000/v1"),
                                          ({"user": user}, "https://gpu.lan/v1"),
                                          ({"user": user}, "http://tls.lan/v1"),  # port 80: refused before too
                                          ({"user": None}, "http://api.openai.com:8080/v1"),  # the shared catalog's
                                          ({"team": team}, "http://team.lan/v1")]):
            LLMModel.create(id=f"00000000-0000-4000-8000-00000000002{n}", name=f"m{n}", provider="openai",
                            model_id="m", base_url=url, auth_type="bearer", **owner)
        VaultMeta.write("schema_version", "6")
        assert vault_db.migrate() == len(vault_db.MIGRATIONS)
        assert ProviderSecret.get_by_id(secret.id).allowed_hosts == "api.openai.com gpu.lan tls.lan:443 api.openai.com:8080 gpu.lan:9000"
        assert TeamSecret.get_by_id(shared.id).allowed_hosts == "team.lan team.lan:80"
        # in each secret's history: its owner may not be who pointed a model there
        said = {(e.user_id, e.subject, e.action, e.detail) for e in AuditEvent.select()}
        assert said == {(user.id, "secret:openai", "secret.allow_hosts", "schema 7, plain http: +api.openai.com:8080 gpu.lan:9000"),
                        (None, f"team:{team.id}:secret:openai", "secret.allow_hosts",
                         "schema 7, plain http: +team.lan:80")}
        VaultMeta.write("schema_version", "6")
        vault_db.migrate()  # run again, it adds nothing twice
        assert ProviderSecret.get_by_id(secret.id).allowed_hosts == "api.openai.com gpu.lan tls.lan:443 api.openai.com:8080 gpu.lan:9000"
        assert AuditEvent.select().count() == 2
        assert ProviderSecret.get_by_id(secret.id).version == 2  # a change of where it may go, like any other
