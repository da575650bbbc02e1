"""Team models resolve to the team's secret, for members only: a member's own secret never serves
a team model, a team's secret never serves a personal one, and removing a member ends their use at
the next request. The records and the resolver; the team routes build on them."""
import uuid

import pytest

from tests.test_resolver import ctx, secret, user  # noqa: F401 - ctx is a fixture
from vault import crypto, resolver
from vault.db import LLMModel, Membership, Team, TeamSecret
from vault.errors import NotFound

TEAM_KEY, OWN_KEY = "sk-team-shared-key-7777", "sk-personal-key-1111"


def team(name="acme", **members):
    row = Team.create(name=name)
    for email, role in members.items():
        Membership.create(team=row, user=user(email.replace("_", "@") + ".example"), role=role)
    return row


def team_secret(owner, provider="openai", key=TEAM_KEY, allowed_hosts="127.0.0.1:9"):
    row = TeamSecret(team=owner, provider=provider, key_preview=crypto.preview(key),
                     fingerprint=crypto.fingerprint(key), api_key_encrypted="", allowed_hosts=allowed_hosts)
    row.api_key_encrypted = crypto.encrypt(key, TeamSecret.aad_for(owner.id, provider))
    row.save()
    return row


def team_model(owner, name="shared-gpt", own_key=None):
    row = LLMModel(id=str(uuid.uuid4()), team=owner, name=name, provider="openai", model_id="m",
                   base_url="http://127.0.0.1:9/v1", auth_type="bearer")
    if own_key:
        row.api_key_encrypted, row.key_preview = crypto.encrypt(own_key, row.aad), crypto.preview(own_key)
    row.save(force_insert=True)
    return row


def test_a_member_uses_the_teams_secret_and_never_their_own(ctx):
    acme = team(ada_example="owner", bob_example="member")
    bob = user("bob@example.example")
    secret(bob, key=OWN_KEY)  # bob's own OpenAI key must not serve the team's model
    team_secret(acme)
    shared = team_model(acme)
    for ref in ("shared-gpt", shared.id):
        target = resolver.resolve_by_name_or_id(bob, ref)
        assert target.key.reveal() == TEAM_KEY and target.key_source == "team_secret"
    assert resolver.resolve(bob, shared.id).key_source == "team_secret"
    assert TeamSecret.get().last_used_at is not None


def test_a_team_model_without_a_team_secret_has_no_key_even_if_the_member_has_one(ctx):
    acme = team(bob_example="member")
    secret(user("bob@example.example"), key=OWN_KEY)
    team_model(acme)
    with pytest.raises(resolver.MissingApiKey):
        resolver.resolve_by_name_or_id(user("bob@example.example"), "shared-gpt")


def test_a_personal_model_never_uses_a_teams_secret(ctx):
    acme = team(bob_example="member")
    team_secret(acme)
    bob = user("bob@example.example")
    mine = LLMModel.create(id=str(uuid.uuid4()), user=bob, name="mine", provider="openai", model_id="m",
                           base_url="http://127.0.0.1:9/v1", auth_type="bearer")
    with pytest.raises(resolver.MissingApiKey):
        resolver.resolve(bob, mine.id)


def test_someone_outside_the_team_cannot_find_its_models(ctx):
    acme = team(ada_example="owner")
    team_secret(acme)
    shared = team_model(acme)
    stranger = user("eve@example.example")
    for ref in ("shared-gpt", shared.id):
        with pytest.raises(NotFound):
            resolver.resolve_by_name_or_id(stranger, ref)
    assert shared.id not in {m.id for m in LLMModel.visible_to(stranger)}
    assert shared.id in {m.id for m in LLMModel.visible_to(user("ada@example.example"))}


def test_a_removed_member_is_refused_at_the_next_request(ctx):
    acme = team(ada_example="owner", bob_example="member")
    team_secret(acme)
    team_model(acme)
    bob = user("bob@example.example")
    assert resolver.resolve_by_name_or_id(bob, "shared-gpt").key_source == "team_secret"
    Membership.delete().where(Membership.user == bob).execute()
    with pytest.raises(NotFound):
        resolver.resolve_by_name_or_id(bob, "shared-gpt")


def test_the_members_own_model_wins_over_a_team_namesake(ctx):
    acme = team(bob_example="member")
    team_secret(acme)
    team_model(acme, name="gpt")
    bob = user("bob@example.example")
    secret(bob, key=OWN_KEY)
    LLMModel.create(id=str(uuid.uuid4()), user=bob, name="gpt", provider="openai", model_id="m",
                    base_url="http://127.0.0.1:9/v1", auth_type="bearer")
    target = resolver.resolve_by_name_or_id(bob, "gpt")
    assert target.key_source == "provider_secret" and target.key.reveal() == OWN_KEY


def test_a_team_secret_is_sealed_to_its_team(ctx):
    acme, other = team("acme", bob_example="member"), team("other", eve_example="member")
    stolen = team_secret(acme)
    team_secret(other, key="sk-other-team-key-2222")
    team_model(other)
    # acme's value copied into the other team's row does not open there
    TeamSecret.update(api_key_encrypted=stolen.api_key_encrypted).where(TeamSecret.team == other).execute()
    with pytest.raises(crypto.DecryptError):
        resolver.resolve_by_name_or_id(user("eve@example.example"), "shared-gpt")


def test_a_team_models_own_key_is_sealed_to_the_team(ctx):
    acme = team(bob_example="member")
    shared = team_model(acme, own_key="sk-team-model-own-3333")
    assert resolver.resolve(user("bob@example.example"), shared.id).key.reveal() == "sk-team-model-own-3333"
    for elsewhere in (LLMModel.aad_for(user("bob@example.example").id, shared.id),
                      LLMModel.aad_for(None, shared.id, acme.id + 1)):
        assert not crypto.keyring().opens(shared.api_key_encrypted, elsewhere)


def test_a_team_secret_goes_only_to_its_allowed_hosts(ctx):
    acme = team(bob_example="member")
    team_secret(acme, allowed_hosts="api.openai.com")
    team_model(acme)
    with pytest.raises(resolver.HostNotAllowed) as refused:
        resolver.resolve_by_name_or_id(user("bob@example.example"), "shared-gpt")
    assert "team's OpenAI provider secret" in refused.value.message and "team owner" in refused.value.message
