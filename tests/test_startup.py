"""Start-up with nothing set, migrations, CLI commands, security headers, error pages."""
import logging
import os
import stat

import pytest

from tests.helpers import PASSWORD, sign_in

from vault import create_app, db as vault_db
from vault.db import User, VaultMeta, database


def test_first_start_generates_dev_secrets_0600_with_a_warning(tmp_path, caplog, monkeypatch):
    for name in ("DATABASE_URL", "VAULT_MASTER_KEYS", "SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VAULT_INSTANCE_PATH", str(tmp_path / "instance"))
    with caplog.at_level(logging.WARNING):
        app = create_app({"TESTING": True})
    instance = tmp_path / "instance"
    for name in ("master.key", "secret_key"):
        assert stat.S_IMODE(os.stat(instance / name).st_mode) == 0o600, name
    assert app.config["DATABASE_URL"] == f"sqlite:///{instance / 'vault.db'}"
    assert (instance / "vault.db").exists()
    assert "Production must set VAULT_MASTER_KEYS" in caplog.text
    assert "Production must set SECRET_KEY" in caplog.text
    assert (instance / "master.key").read_text().strip() not in caplog.text
    # a restart reads the same files and opens the same database
    assert create_app({"TESTING": True}).config["VAULT_MASTER_KEYS"] == app.config["VAULT_MASTER_KEYS"]


def test_migrate_is_idempotent_and_records_the_schema_version(app):
    with app.app_context(), database.connection_context():
        first = vault_db.migrate()
        assert vault_db.migrate() == first == len(vault_db.MIGRATIONS)
        assert VaultMeta.read("schema_version") == str(first)


def test_migration_steps_run_once_on_an_older_database(app, monkeypatch):
    ran = []
    monkeypatch.setattr(vault_db, "MIGRATIONS", vault_db.MIGRATIONS + [lambda m: ran.append(m)])
    with app.app_context(), database.connection_context():
        VaultMeta.write("schema_version", str(len(vault_db.MIGRATIONS) - 1))
        assert vault_db.migrate() == len(vault_db.MIGRATIONS)
        assert vault_db.migrate() == len(vault_db.MIGRATIONS)
    assert len(ran) == 1


def test_cli_init_db_create_user_and_token(app, db):
    runner = app.test_cli_runner()
    assert "schema version" in runner.invoke(args=["init-db"]).output
    made = runner.invoke(args=["create-user", "Lin@Example.com"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert made.exit_code == 0 and "lin@example.com" in made.output
    again = runner.invoke(args=["create-user", "lin@example.com"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert again.exit_code != 0 and "already exists" in again.output
    token = runner.invoke(args=["create-token", "lin@example.com", "--name", "ci", "--scope", "chat",
                                   "--scope", "manage"]).output.strip()
    assert token.startswith("psv_")
    assert app.test_client().get("/secrets", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    missing = runner.invoke(args=["create-token", "nobody@example.com"])
    assert missing.exit_code != 0 and "No account" in missing.output
    with db():
        assert User.get().password_hash.startswith("$argon2id$")


def test_cli_generate_master_key_and_help(app):
    from vault.crypto import Keyring
    runner = app.test_cli_runner()
    key = runner.invoke(args=["generate-master-key"]).output.strip()
    assert Keyring(key).primary
    for command in ("init-db", "create-user", "create-token", "generate-master-key", "rotate-master-key"):
        result = runner.invoke(args=[command, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output


def test_security_headers(client, ada):
    for response in (client.get("/login"), ada.get("/secrets"), ada.get("/api/tokens")):
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["Cache-Control"] == "no-store"


def test_pages_have_no_inline_script(client, ada):
    import re
    for path in ("/login", "/register", "/secrets", "/models", "/tokens"):
        html = (ada if path not in ("/login", "/register") else client).get(path).get_data(as_text=True)
        for tag in re.findall(r"<script[^>]*>", html):
            assert "src=" in tag, (path, tag)
        assert not re.search(r"\son[a-z]+=", html), path


def test_vendored_htmx_is_2_0(client):
    body = client.get("/static/htmx.min.js").get_data(as_text=True)
    assert 'version:"2.0.' in body


def test_unknown_routes_and_methods_answer_in_the_error_shape(client, ada):
    assert client.get("/api/nope").json == {"error": {"code": "not_found", "message": client.get("/api/nope").json["error"]["message"]}}
    assert ada.put("/api/tokens").status_code == 405 and ada.put("/api/tokens").json["error"]["code"] == "method_not_allowed"
    assert client.get("/nope").status_code == 404 and "<html" in client.get("/nope").get_data(as_text=True)


def test_oversized_body_is_413_with_a_clear_message(ada):
    response = ada.post("/api/tokens", data=b"x" * (1024 * 1024), content_type="application/json")
    assert response.status_code == 413
    assert response.json["error"]["code"] == "payload_too_large" and "KiB" in response.json["error"]["message"]


def test_sign_in_works_after_restart(app, app_config):
    from tests.helpers import make_user
    make_user(app, "ada@example.com")
    again = create_app(app_config)
    sign_in(again.test_client(), "ada@example.com")


def test_a_provider_base_url_override_with_a_bad_port_stops_start_up_naming_it(app_config):
    from vault import StartupError
    with pytest.raises(StartupError) as refused:
        create_app({**app_config, "VAULT_PROVIDER_BASE_URLS": "openai=http://gw:abc/v1"})
    assert "VAULT_PROVIDER_BASE_URLS" in str(refused.value) and "port" in str(refused.value)


@pytest.mark.parametrize("typo", ["Public", "public ", "strict"])
def test_a_mistyped_base_url_policy_stops_start_up_rather_than_allowing_every_address(app_config, typo):
    """Anything but "public" used to mean "any": a typo switched the SSRF guard off in silence."""
    from vault import StartupError
    with pytest.raises(StartupError) as refused:
        create_app({**app_config, "VAULT_BASE_URL_POLICY": typo})
    assert "VAULT_BASE_URL_POLICY" in str(refused.value) and "any, public" in str(refused.value)


@pytest.mark.parametrize("url", ["sqlite:////no/such/folder/vault.db",
                                 "postgresql://vault:hunter2-db-password@127.0.0.1:1/vault"])
def test_a_database_that_cannot_be_opened_stops_start_up_with_a_sentence(app_config, url):
    """A missing folder or a server that is down used to end start-up in a peewee traceback."""
    from vault import StartupError
    with pytest.raises(StartupError) as refused:
        create_app({**app_config, "DATABASE_URL": url})
    message = str(refused.value)
    assert message.startswith("DATABASE_URL: ") and "hunter2" not in message, message
