"""The keyring: round trip, tampering, row binding, previews, wrong key at start, rotation."""
import base64

import pytest

from vault import StartupError, create_app, crypto
from vault.db import LLMModel, ProviderSecret, User, VaultMeta, database
from vault.settings import new_master_key

SENTINEL = "sk-test-SENTINEL-0000"


def test_round_trip_and_plaintext_never_prints():
    ring = crypto.Keyring(new_master_key())
    blob = ring.encrypt(SENTINEL, "1|openai")
    assert SENTINEL not in blob and blob.startswith(f"v1.{ring.primary}.")
    opened = ring.decrypt(blob, "1|openai")
    assert opened.reveal() == SENTINEL
    assert SENTINEL not in f"{opened} {opened!r} {[opened]} {dict(k=opened)}"
    assert ring.encrypt(SENTINEL, "1|openai") != blob  # fresh nonce every time


def test_tampered_value_fails_with_typed_error_naming_the_row():
    ring = crypto.Keyring(new_master_key())
    blob = ring.encrypt(SENTINEL, "1|openai")
    head, body = blob.rsplit(".", 1)
    raw = bytearray(base64.urlsafe_b64decode(body))
    raw[-1] ^= 1
    with pytest.raises(crypto.DecryptError) as err:
        ring.decrypt(f"{head}.{base64.urlsafe_b64encode(bytes(raw)).decode()}", "1|openai", "secret 7")
    assert err.value.row == "secret 7" and SENTINEL not in str(err.value)
    for junk in ("", "v1", "v2.x.y", "v1.deadbeef.!!!", None):
        with pytest.raises(crypto.DecryptError):
            ring.decrypt(junk, "1|openai")


def test_value_copied_into_another_row_does_not_open():
    ring = crypto.Keyring(new_master_key())
    blob = ring.encrypt(SENTINEL, "1|openai")
    with pytest.raises(crypto.DecryptError):
        ring.decrypt(blob, "2|openai")
    with pytest.raises(crypto.DecryptError):
        ring.decrypt(blob, "1|anthropic")


def test_first_key_encrypts_every_key_decrypts():
    old, new = new_master_key(), new_master_key()
    under_old = crypto.Keyring(old).encrypt(SENTINEL, "a")
    both = crypto.Keyring(f"{new}, {old}")
    assert both.decrypt(under_old, "a").reveal() == SENTINEL
    assert both.key_id_of(both.encrypt(SENTINEL, "a")) == crypto.Keyring(new).primary


@pytest.mark.parametrize("spec", ["", "short", "a" * 44, "not base64 at all!!", new_master_key() + ",x"],
                         ids=["empty", "short", "not-32-bytes", "not-base64", "good-then-bad"])
def test_malformed_master_keys_are_refused_without_echoing_them(spec):
    with pytest.raises(crypto.MasterKeyError) as err:
        crypto.Keyring(spec)
    assert "VAULT_MASTER_KEYS" in str(err.value)
    if len(spec) > 8:
        assert spec not in str(err.value)


def test_master_key_accepts_standard_and_urlsafe_base64_with_or_without_padding():
    raw = bytes(range(250, 256)) * 5 + b"\xfb\xff"
    for text in (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("=")):
        assert crypto.Keyring(text).primary == crypto.key_id(raw)


def test_preview_and_fingerprint():
    assert crypto.preview("sk-proj-abcdefghijkl9f2c") == "sk-proj-…9f2c"
    assert crypto.preview("hf_abcdefghijklmnop1a2b") == "hf_…1a2b"
    assert crypto.preview("plainkeywithoutprefix42") == "…ix42"
    assert crypto.preview("sk-short") == "…"  # under 12 characters: nothing shown
    import hashlib
    assert crypto.fingerprint(SENTINEL) == "sha256:" + hashlib.sha256(SENTINEL.encode()).hexdigest()[:8]


def store_secret(app, provider="openai", key=SENTINEL):
    with app.app_context(), database.connection_context():
        user = User.get_or_none() or User.create(email="ada@example.com", password_hash="x")
        secret = ProviderSecret(user=user, provider=provider, key_preview=crypto.preview(key),
                                fingerprint=crypto.fingerprint(key), api_key_encrypted="")
        secret.api_key_encrypted = crypto.encrypt(key, f"{user.id}|{provider}")
        secret.save()
        model = LLMModel.create(user=user, name=f"m-{provider}", provider=provider, model_id="x",
                                base_url="http://127.0.0.1:9/v1", auth_type="bearer")
        LLMModel.update(api_key_encrypted=crypto.encrypt(key + "-own", model.aad)).where(
            LLMModel.id == model.id).execute()


def read_all(app):
    with app.app_context(), database.connection_context():
        ring = crypto.keyring()
        secrets = [ring.decrypt(s.api_key_encrypted, s.aad).reveal() for s in ProviderSecret.select()]
        models = [ring.decrypt(m.api_key_encrypted, m.aad).reveal() for m in LLMModel.select()]
        return secrets + models, {ring.key_id_of(s.api_key_encrypted) for s in ProviderSecret.select()}


def test_wrong_master_key_refuses_to_start_and_writes_nothing(app, app_config):
    store_secret(app)
    with app.app_context(), database.connection_context():
        before = (VaultMeta.read("master_key_check"), ProviderSecret.get().api_key_encrypted)
    with pytest.raises(StartupError) as err:
        create_app({**app_config, "VAULT_MASTER_KEYS": new_master_key()})
    assert "VAULT_MASTER_KEYS" in str(err.value)
    with app.app_context(), database.connection_context():
        assert (VaultMeta.read("master_key_check"), ProviderSecret.get().api_key_encrypted) == before


def test_flask_cli_refuses_a_wrong_key_with_a_clear_message(app, app_config, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path
    env = {**os.environ, "DATABASE_URL": app_config["DATABASE_URL"], "VAULT_MASTER_KEYS": new_master_key(),
           "SECRET_KEY": "x", "VAULT_INSTANCE_PATH": str(tmp_path / "instance")}
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "init-db"], env=env,
                          cwd=Path(__file__).parent.parent, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "refusing to start" in done.stderr and "VAULT_MASTER_KEYS" in done.stderr
    assert "Traceback" not in done.stderr and env["VAULT_MASTER_KEYS"] not in done.stderr


def test_rotation_moves_every_value_then_only_the_new_key_reads_them(app, app_config, master_key):
    store_secret(app, "openai")
    store_secret(app, "anthropic", SENTINEL + "-2")
    new = new_master_key()
    rotated = create_app({**app_config, "VAULT_MASTER_KEYS": f"{new},{master_key}"})
    values_before, kids = read_all(rotated)
    assert kids == {crypto.Keyring(master_key).primary}  # old-key values readable under both

    result = rotated.test_cli_runner().invoke(args=["rotate-master-key"])
    assert result.exit_code == 0 and "Re-encrypted 5 of 5" in result.output
    again = rotated.test_cli_runner().invoke(args=["rotate-master-key"])
    assert "Re-encrypted 0 of 5" in again.output  # safe to run twice

    only_new = create_app({**app_config, "VAULT_MASTER_KEYS": new})
    values_after, kids = read_all(only_new)
    assert values_after == values_before and kids == {crypto.Keyring(new).primary}
    with pytest.raises(StartupError):
        create_app({**app_config, "VAULT_MASTER_KEYS": master_key})


def test_rotation_with_a_tampered_value_changes_nothing(app, app_config, master_key):
    store_secret(app)
    with app.app_context(), database.connection_context():
        ProviderSecret.update(api_key_encrypted=crypto.encrypt("x" * 20, "9|other")).execute()
        before = [m.api_key_encrypted for m in LLMModel.select()]
    rotated = create_app({**app_config, "VAULT_MASTER_KEYS": f"{new_master_key()},{master_key}"})
    result = rotated.test_cli_runner().invoke(args=["rotate-master-key"])
    assert result.exit_code != 0 and "could not be decrypted" in result.output
    assert "nothing was changed" in result.output
    with app.app_context(), database.connection_context():
        assert [m.api_key_encrypted for m in LLMModel.select()] == before
