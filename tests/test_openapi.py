"""GET /api/openapi.json: a valid OpenAPI 3.1 document, served to anyone, that names every JSON
route of the app's URL map (and nothing that is not there), with the error shapes the server sends."""
import json
import re

import jsonschema_rs
import pytest

from tests.helpers import every_rule, token_for
from vault import providers
from vault.openapi_doc import DOCUMENT

JSON_PREFIXES = ("/api/", "/v1/")
METHODS = {"get", "put", "post", "delete", "patch"}


def openapi_path(rule):
    """Flask's /api/secrets/<provider> and /api/tokens/<int:token_id> as OpenAPI's {provider}, {token_id}."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def json_routes(app):
    """{(path, method)} of every rule under /api/ or /v1/, HEAD and OPTIONS left to Werkzeug."""
    return {(openapi_path(rule.rule), method.lower())
            for rule in every_rule(app) if rule.rule.startswith(JSON_PREFIXES)
            for method in rule.methods - {"HEAD", "OPTIONS"}}


def documented(document):
    return {(path, method) for path, item in document["paths"].items() for method in item if method in METHODS}


def validator(name):
    """A validator for one component schema, its $refs resolved inside the document."""
    return jsonschema_rs.Draft202012Validator({"$ref": f"#/components/schemas/{name}",
                                               "components": DOCUMENT["components"]})


@pytest.fixture
def served(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.json


def test_the_document_is_public_and_is_the_one_in_the_code(served):
    assert served == json.loads(json.dumps(DOCUMENT))
    assert served["paths"]["/api/openapi.json"]["get"]["security"] == []


def test_the_document_is_valid_openapi_3_1(served):
    assert served["openapi"].startswith("3.1.")
    try:
        from openapi_spec_validator import validate
    except ImportError:  # not a dependency: the OAS 3.1 meta-schema that schemathesis ships will do
        from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR
        OPENAPI_31_VALIDATOR.validate(served)
    else:
        validate(served)


def test_every_schema_is_valid_json_schema_and_every_ref_resolves(served):
    for name, schema in served["components"]["schemas"].items():
        jsonschema_rs.meta.validate(schema)
        validator(name)  # builds only if each $ref inside resolves
    refs = set(re.findall(r'"\$ref": ?"([^"]+)"', json.dumps(served)))
    for ref in refs:
        section, kind, name = ref.removeprefix("#/").split("/")
        assert name in served[section][kind], ref


def test_every_json_route_of_the_url_map_is_documented(app, served):
    missing = json_routes(app) - documented(served)
    assert not missing, f"JSON routes missing from /api/openapi.json: {sorted(missing)}"


def test_nothing_is_documented_that_the_app_does_not_serve(app, served):
    stale = documented(served) - json_routes(app)
    assert not stale, f"documented but not routed: {sorted(stale)}"


def test_path_parameters_are_declared_for_each_placeholder(served):
    for path, item in served["paths"].items():
        for method in METHODS & set(item):
            declared = {p["name"] for p in item.get("parameters", []) + item[method].get("parameters", [])
                        if p["in"] == "path"}
            assert declared == set(re.findall(r"{(\w+)}", path)), (method, path)


def test_every_operation_documents_its_errors_in_the_right_shape(served):
    for path, item in served["paths"].items():
        for method in METHODS & set(item):
            responses = item[method]["responses"]
            errors = {status: answer["$ref"] for status, answer in responses.items() if status >= "400"}
            shape = ("AnthropicError" if path == "/v1/messages" else "OpenAIError" if path.startswith("/v1/")
                     else "Error")
            assert {"401", "500", "503"} <= set(errors), (method, path)
            assert all(ref.endswith(f"/{shape}{status}") for status, ref in errors.items()), (method, path)
            if "requestBody" in item[method]:
                assert {"400", "403", "413"} <= set(errors), (method, path)


def test_both_auth_schemes_are_described(served):
    schemes = served["components"]["securitySchemes"]
    assert schemes["bearerToken"] == {**schemes["bearerToken"], "type": "http", "scheme": "bearer"}
    assert schemes["sessionCookie"]["in"] == "cookie" and schemes["csrfHeader"]["name"] == "X-CSRFToken"
    post = served["paths"]["/api/secrets"]["post"]["security"]
    assert {"bearerToken": []} in post and {"sessionCookie": [], "csrfHeader": []} in post
    assert served["paths"]["/v1/chat/completions"]["post"]["security"] == [{"bearerToken": []}]
    assert served["paths"]["/api/tokens"]["get"]["security"] == [{"sessionCookie": []}]


def test_enums_come_from_the_registry(served):
    schemas = served["components"]["schemas"]
    assert schemas["ProviderId"]["enum"] == list(providers.PROVIDERS)
    assert schemas["AuthType"]["enum"] == list(providers.AUTH_TYPES)


def test_request_bodies_refuse_unknown_fields_where_the_server_does(served):
    schemas = served["components"]["schemas"]
    for name in ("SecretCreate", "SecretUpdate", "ModelCreate", "ModelUpdate", "TokenCreate", "ChatRequest"):
        assert schemas[name]["additionalProperties"] is False, name
    assert "additionalProperties" not in schemas["CompletionRequest"]  # OpenAI clients send extras


def test_real_answers_match_the_documented_shapes(app, client):
    from tests.helpers import make_user
    make_user(app, "ada@example.com")
    bearer = {"Authorization": f"Bearer {token_for(app, 'ada@example.com')}"}
    created = client.post("/api/secrets", json={"provider": "openai", "api_key": "sk-test-openapi-0000"},
                          headers=bearer)
    assert created.status_code == 201
    validator("Secret").validate(created.json["secret"])
    for name, item in (("Provider", client.get("/api/providers", headers=bearer).json["providers"][0]),
                       ("Error", client.get("/api/secrets/mistral", headers=bearer).json),
                       ("Error", client.post("/api/secrets", json={"provider": "openai"}, headers=bearer).json),
                       ("Error", client.get("/api/models").json),
                       ("OpenAIError", client.get("/v1/models").json),
                       ("AnthropicError", client.post("/v1/messages", json={}, headers=bearer).json),
                       ("AnthropicError", client.post("/v1/messages", json={}).json)):
        validator(name).validate(item)
