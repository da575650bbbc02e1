"""The resolver's order (README, Models): own key, provider secret, none, then a clear error."""
import datetime as dt
import uuid

import pytest

from vault import crypto, resolver
from vault.db import LLMModel, ProviderSecret, User, database, utcnow
from vault.errors import NotFound


@pytest.fixture
def ctx(app):
    with app.app_context(), database.connection_context():
        yield


def user(email="ada@example.com"):
    return User.get_or_none(User.email == email) or User.create(email=email, password_hash="x")


def secret(owner, provider="openai", key="sk-provider-secret-1111", **fields):
    fields.setdefault("allowed_hosts", "127.0.0.1:9")  # where model() points
    row = ProviderSecret(user=owner, provider=provider, key_preview=crypto.preview(key),
                         fingerprint=crypto.fingerprint(key), api_key_encrypted="", **fields)
    row.api_key_encrypted = crypto.encrypt(key, f"{owner.id}|{provider}")
    row.save()
    return row


def model(owner, name="gpt", provider="openai", own_key=None, auth_type="bearer"):
    row = LLMModel(id=str(uuid.uuid4()), user=owner, name=name, provider=provider, model_id="m",
                   base_url="http://127.0.0.1:9/v1", auth_type=auth_type)
    if own_key:
        row.api_key_encrypted, row.key_preview = crypto.encrypt(own_key, row.aad), crypto.preview(own_key)
    row.save(force_insert=True)
    return row


def test_own_key_wins_over_the_provider_secret(ctx):
    ada = user()
    secret(ada)
    target = resolver.resolve(ada, model(ada, own_key="sk-own-model-key-2222").id)
    assert target.key_source == "model" and target.key.reveal() == "sk-own-model-key-2222"
    assert "sk-own" not in repr(target)


def test_provider_secret_when_no_own_key(ctx):
    ada = user()
    secret(ada)
    target = resolver.resolve(ada, model(ada).id)
    assert target.key_source == "provider_secret" and target.key.reveal() == "sk-provider-secret-1111"
    assert (target.provider, target.upstream_model, target.wire) == ("openai", "m", "openai")


def test_auth_type_none_needs_no_key(ctx):
    ada = user()
    target = resolver.resolve(ada, model(ada, provider="ollama", auth_type="none").id)
    assert target.key_source == "none" and target.key is None


def test_missing_key_fails_fast_naming_provider_and_place(ctx):
    ada = user()
    with pytest.raises(resolver.MissingApiKey) as err:
        resolver.resolve(ada, model(ada, provider="anthropic").id)
    assert err.value.code == "missing_api_key" and "Anthropic" in err.value.message
    assert "/secrets" in err.value.message


def test_expired_secret_counts_as_absent(ctx):
    ada = user()
    secret(ada, expires_at=utcnow() - dt.timedelta(minutes=1))
    with pytest.raises(resolver.ExpiredApiKey) as err:
        resolver.resolve(ada, model(ada).id)
    assert err.value.code == "expired_api_key"
    assert resolver.resolve(ada, model(ada, "own", own_key="sk-own-model-key-2222").id).key_source == "model"
    ProviderSecret.update(expires_at=utcnow() + dt.timedelta(days=1)).execute()
    assert resolver.resolve(ada, model(ada, "later").id).key_source == "provider_secret"


def test_never_another_users_secret_or_model(ctx):
    ada, bob = user(), user("bob@example.com")
    secret(ada)
    ada_model = model(ada)
    with pytest.raises(NotFound):
        resolver.resolve(bob, ada_model.id)
    with pytest.raises(resolver.MissingApiKey):
        resolver.resolve(bob, model(bob).id)


def test_shared_model_uses_the_requesting_users_secret(ctx):
    ada, bob = user(), user("bob@example.com")
    secret(ada, key="sk-ada-secret-aaaa")
    secret(bob, key="sk-bob-secret-bbbb")
    shared = model(None, "team")
    assert resolver.resolve(ada, shared.id).key.reveal() == "sk-ada-secret-aaaa"
    assert resolver.resolve_by_name_or_id(bob, "team").key.reveal() == "sk-bob-secret-bbbb"


def test_by_name_prefers_the_users_own_model(ctx):
    ada = user()
    secret(ada)
    model(None, "gpt", provider="ollama", auth_type="none")
    mine = model(ada, "gpt")
    assert resolver.resolve_by_name_or_id(ada, "gpt").model_id == mine.id
    assert resolver.resolve_by_name_or_id(ada, mine.id).model_id == mine.id
    with pytest.raises(NotFound):
        resolver.resolve_by_name_or_id(ada, "nope")


def test_last_used_is_written_at_most_once_a_minute(ctx):
    ada = user()
    row = secret(ada)
    mid = model(ada).id
    resolver.resolve(ada, mid)
    first = ProviderSecret.get_by_id(row.id).last_used_at
    assert first is not None
    ProviderSecret.update(last_used_at=first - dt.timedelta(seconds=30)).execute()
    resolver.resolve(ada, mid)
    assert ProviderSecret.get_by_id(row.id).last_used_at == first - dt.timedelta(seconds=30)
    ProviderSecret.update(last_used_at=first - dt.timedelta(seconds=61)).execute()
    resolver.resolve(ada, mid)
    assert ProviderSecret.get_by_id(row.id).last_used_at >= first


def test_tampered_secret_raises_typed_error_naming_the_row_not_the_key(ctx):
    ada = user()
    row = secret(ada)
    other = secret(ada, provider="anthropic", key="sk-ant-other-secret-3333")
    ProviderSecret.update(api_key_encrypted=other.api_key_encrypted).where(ProviderSecret.id == row.id).execute()
    with pytest.raises(crypto.DecryptError) as err:
        resolver.resolve(ada, model(ada).id)
    assert "openai provider secret" in str(err.value) and "sk-" not in str(err.value)


def test_unsaved_form_values_use_the_typed_key_else_the_secret(ctx):
    ada = user()
    typed = resolver.resolve_unsaved(ada, "openai", "http://x/v1", "bearer", "sk-typed-key-4444")
    assert typed.key_source == "model" and typed.key.reveal() == "sk-typed-key-4444"
    with pytest.raises(resolver.MissingApiKey):
        resolver.resolve_unsaved(ada, "openai", "http://x/v1", "bearer")
    secret(ada, allowed_hosts="x:80")  # plain http: allowed only where the port is named
    assert resolver.resolve_unsaved(ada, "openai", "http://x/v1", "bearer").key_source == "provider_secret"
    with pytest.raises(resolver.HostNotAllowed):
        resolver.resolve_unsaved(ada, "openai", "http://y/v1", "bearer")
    assert resolver.resolve_unsaved(ada, "ollama", "http://x/v1", "none").key_source == "none"


def test_a_reference_shaped_like_an_id_is_an_id_and_a_name_finds_own_before_shared(ctx):
    ada, bob = user(), user("bob@example.com")
    secret(ada)
    shared = model(None, "gpt", provider="ollama", auth_type="none")
    mine, other = model(ada, "gpt"), model(ada, "other")
    model(ada, other.id)  # named like another model's id (the API refuses such names): never chosen by it
    bobs = model(bob, "bobs")
    expected = {"gpt": mine.id, mine.id: mine.id, shared.id: shared.id, other.id: other.id,
                "other": other.id, "nope": None, bobs.id: None, "bobs": None}
    for ref, model_id in expected.items():
        assert getattr(_by_ref(ada, ref), "model_id", None) == model_id, ref


def _by_ref(owner, ref):
    try:
        return resolver.resolve_by_name_or_id(owner, ref)
    except NotFound:
        return None
