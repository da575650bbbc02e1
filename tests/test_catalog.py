"""flask --app app import-models FILE: shared models from JSON or TOML, idempotently."""
import json

from vault.db import LLMModel, database

TOML = """
[[models]]
name = "team-gpt"
provider = "openai"
model_id = "gpt-4o"

[[models]]
name = "team-claude"
provider = "anthropic"
model_id = "claude-haiku-4-5"
supports_tools = true
"""


def imported(app):
    with app.app_context(), database.connection_context():
        return {m.name: m for m in LLMModel.select().where(LLMModel.user.is_null())}


def test_toml_import_is_idempotent(app, tmp_path):
    path = tmp_path / "catalog.toml"
    path.write_text(TOML)
    runner = app.test_cli_runner()
    first = runner.invoke(args=["import-models", str(path)])
    assert first.exit_code == 0 and "2 created, 0 updated, 0 unchanged" in first.output
    again = runner.invoke(args=["import-models", str(path)])
    assert "0 created, 0 updated, 2 unchanged" in again.output
    models = imported(app)
    assert models["team-claude"].auth_type == "x-api-key" and models["team-claude"].supports_tools
    assert all(m.api_key_encrypted is None for m in models.values())


def test_json_import_updates_by_name(app, tmp_path):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps([{"name": "team-gpt", "provider": "openai", "model_id": "gpt-4o"}]))
    app.test_cli_runner().invoke(args=["import-models", str(path)])
    path.write_text(json.dumps({"models": [{"name": "team-gpt", "provider": "openai", "model_id": "gpt-4.1"}]}))
    result = app.test_cli_runner().invoke(args=["import-models", str(path)])
    assert "0 created, 1 updated" in result.output and imported(app)["team-gpt"].model_id == "gpt-4.1"


def test_bad_files_import_nothing(app, tmp_path):
    runner = app.test_cli_runner()
    cases = {"broken.json": "{", "key.json": json.dumps([{"name": "a", "provider": "openai", "model_id": "x",
                                                          "api_key": "sk-should-not-be-here"}]),
             "provider.json": json.dumps([{"name": "ok", "provider": "openai", "model_id": "x"},
                                          {"name": "b", "provider": "nope", "model_id": "x"}])}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        result = runner.invoke(args=["import-models", str(tmp_path / name)])
        assert result.exit_code != 0 and "nothing was imported" in result.output, name
        assert "sk-should-not-be-here" not in result.output
    assert imported(app) == {}
    assert runner.invoke(args=["import-models", "--help"]).exit_code == 0
