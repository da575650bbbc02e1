"""The OpenAPI 3.1 document of every JSON route, as plain data. Limits, enums and
roles come from the validators themselves, so the document cannot drift from what they refuse."""
from . import providers
from .gateway.request import MAX_MESSAGES, ROLES
from .validate import MAX_KEY_LEN

PROVIDER_IDS = list(providers.PROVIDERS)
KEY_SOURCES = ["model", "provider_secret", "team_secret", "none"]
TIMESTAMP = {"type": "string", "format": "date-time", "description": "UTC, ISO 8601 with a Z."}
TIMESTAMP_OR_NULL = {**TIMESTAMP, "type": ["string", "null"]}


def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required=(), open_=False, **properties):
    """An object schema; closed (additionalProperties: false) unless the server lets extras by."""
    schema = {"type": "object", "properties": properties, "required": list(required)}
    if not open_:
        schema["additionalProperties"] = False
    return schema


def text(max_length, description=None, **extra):
    schema = {"type": "string", "minLength": 1, "maxLength": max_length, **extra}
    return {**schema, "description": description} if description else schema


TOKEN_ID = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}


def or_null(schema):
    return {"anyOf": [schema, {"type": "null"}]}


def number(low, high, integer=False):
    return {"type": "integer" if integer else "number", "minimum": low, "maximum": high}


# --- shapes -----------------------------------------------------------------------------------

ERROR_SCHEMAS = {
    "Error": obj(["error"], error=obj(
        ["code", "message"],
        code={"type": "string", "description": "Stable, machine-readable: `not_found`, `invalid_json`, "
                                               "`unknown_field`, `missing_api_key`, `upstream_auth`…"},
        message={"type": "string", "description": "One sentence for a person; never a key."},
        field={"type": "string", "description": "The body field at fault, when one is: `name`, `email`…"})),
    "OpenAIError": obj(["error"], error=obj(
        ["code", "message", "type", "param"],
        code={"type": "string"}, message={"type": "string"},
        type={"enum": ["invalid_request_error", "authentication_error", "permission_error",
                       "not_found_error", "rate_limit_error", "api_error"]},
        param={"type": "null"})),
    "AnthropicError": obj(["type", "error"], type={"const": "error"}, error=obj(
        ["type", "message", "code"], message={"type": "string"}, code={"type": "string"},
        type={"enum": ["invalid_request_error", "authentication_error", "permission_error", "not_found_error",
                       "request_too_large", "rate_limit_error", "api_error", "overloaded_error"]})),
}

SECRET_SCHEMAS = {
    "ProviderId": {"enum": PROVIDER_IDS,
                   "description": "An id of the provider registry; GET /api/providers lists them."},
    "AuthType": {"enum": list(providers.AUTH_TYPES)},
    "Provider": obj(["id", "label", "default_base_url", "auth_type", "has_secret"],
                    id=ref("ProviderId"), label={"type": "string"},
                    default_base_url={"type": ["string", "null"], "description":
                                      "After VAULT_PROVIDER_BASE_URLS; null when a model must give one."},
                    auth_type=ref("AuthType"), has_secret={"type": "boolean"}),
    "Secret": obj(
        ["provider", "key_preview", "fingerprint", "version", "expires_at", "created_at", "updated_at",
         "last_used_at", "last_check_status", "models_using", "allowed_hosts"],
        allowed_hosts=ref("AllowedHosts"),
        provider=ref("ProviderId"),
        key_preview={"type": "string", "examples": ["sk-…9f2c"],
                     "description": "A known prefix, an ellipsis and the last four characters; "
                                    "keys under 12 characters show no characters at all."},
        fingerprint={"type": "string", "pattern": "^sha256:[0-9a-f]{8}$"},
        version={"type": "integer", "minimum": 1, "description": "Grows by one on every change."},
        expires_at=TIMESTAMP_OR_NULL, created_at=TIMESTAMP, updated_at=TIMESTAMP,
        last_used_at=TIMESTAMP_OR_NULL,
        last_check_status={"type": ["string", "null"], "maxLength": 32,
                           "description": "`ok` or the error code of the last check."},
        models_using={"type": "integer", "minimum": 0,
                      "description": "Own models of this provider without a key of their own."}),
    "ApiKey": text(MAX_KEY_LEN, "Printable ASCII, no spaces; surrounding whitespace is trimmed.",
                   pattern="^[!-~]+$"),
    "Expiry": {"anyOf": [{"type": "string", "format": "date-time", "maxLength": 64},
                         {"type": "string", "format": "date", "maxLength": 64}, {"type": "null"}],
               "description": "ISO 8601 date or date-time (no offset means UTC), or null for none."},
    "AllowedHosts": {"type": "array", "minItems": 1, "maxItems": 20,
                     "items": {"type": "string", "minLength": 1, "maxLength": 253, "pattern": r"^[^\s/]+$"},
                     "examples": [["api.openai.com"], ["127.0.0.1:8080", "*.openai.azure.com"]],
                     "description": "Where the key may be sent: hosts (`api.openai.com`, https only), host:port "
                                    "(http or https), or `*.domain` for any name below it. See the README, "
                                    "Provider secrets."},
    "SecretCreate": obj(["provider", "api_key"], provider=ref("ProviderId"), api_key=ref("ApiKey"),
                        expires_at=ref("Expiry"), allowed_hosts={
                            **or_null(ref("AllowedHosts")), "description": "Default (or null): the host "
                            "of the provider's default base URL; required for `custom` (400 "
                            "allowed_hosts_required). Hosts beyond the default need a browser session "
                            "and `password` (403 session_required / reauthentication_required)."},
                        password={"type": "string", "maxLength": 1024}),
    "SecretUpdate": {
        **obj(api_key=or_null(ref("ApiKey")), expires_at=ref("Expiry"),
              expected_version=or_null(number(1, 2**31 - 1, integer=True)),
              allowed_hosts=ref("AllowedHosts"), password={"type": "string", "maxLength": 1024}),
        "description": "A new `api_key` rotates the key; `expires_at` alone changes only the expiry "
                       "(null clears it). `allowed_hosts` changes where the key may be sent, on its own "
                       "and only from a browser session with the account `password` (403 "
                       "session_required / reauthentication_required). With `expected_version`, a "
                       "stale version is a 409.",
        "anyOf": [{"required": ["api_key"], "properties": {"api_key": {"type": "string"}}},
                  {"required": ["expires_at"]}, {"required": ["allowed_hosts", "password"]}]},
    "SecretCheck": obj(["ok", "status", "message", "checked_at"], ok={"type": "boolean"},
                       status={"type": "string", "maxLength": 32,
                               "description": "`ok`, or an error code such as `upstream_auth`."},
                       message={"type": "string"}, checked_at=TIMESTAMP),
    "SecretEvent": obj(["action", "at", "outcome", "version", "detail"],
                       action={"type": "string", "examples": ["create", "rotate", "allow_hosts", "check", "delete"]},
                       at=TIMESTAMP, outcome={"type": "string"}, version={"type": ["integer", "null"]},
                       detail={"type": ["string", "null"], "maxLength": 300,
                               "examples": ["provider_secret → api.openai.com"],
                               "description": "Which key went to which host (check), or the new hosts "
                                              "(allow_hosts)."}),
}

MODEL_FIELDS = dict(
    name=text(100, "Unique among your models; trimmed; printable characters."),
    provider=ref("ProviderId"),
    model_id=text(200, "The provider's model name; trimmed; printable characters."),
    base_url={"type": ["string", "null"], "maxLength": 500,
              "description": "An http(s) URL with a host, without credentials, query or fragment; "
                             "empty or null: the provider's default."},
    auth_type={"enum": [*providers.AUTH_TYPES, None], "description": "null: the provider's."},
    api_key={"anyOf": [text(MAX_KEY_LEN, "Printable ASCII, no spaces (it travels in a header); trimmed.",
                            pattern="^[!-~]+$"), {"type": "null"}],
             "description": "The model's own key; it wins over the provider secret. null: none "
                            "(PATCH: drop it and fall back to the provider secret)."},
    supports_streaming={"type": ["boolean", "null"]},
    supports_tools={"type": ["boolean", "null"]},
)

MODEL_SCHEMAS = {
    "Model": obj(
        ["id", "name", "provider", "model_id", "base_url", "auth_type", "has_own_key", "key_preview",
         "key_source", "key_status", "shared", "team_id", "supports_streaming", "supports_tools", "warning",
         "version", "created_at", "updated_at"],
        id={"type": "string", "format": "uuid"}, name={"type": "string"}, provider=ref("ProviderId"),
        model_id={"type": "string"}, base_url={"type": "string"}, auth_type=ref("AuthType"),
        has_own_key={"type": "boolean"}, key_preview={"type": ["string", "null"]},
        key_source={"enum": [*KEY_SOURCES, None], "description": "The key a request would use; "
                                                                  "null when there is none."},
        key_status={"enum": ["ok", "missing", "expired"]},
        shared={"type": "boolean", "description": "A read-only catalog model."},
        team_id={"type": ["integer", "null"], "description": "The team the model belongs to; null: yours "
                                                             "(or the catalog's)."},
        supports_streaming={"type": "boolean"}, supports_tools={"type": "boolean"},
        warning={"type": ["string", "null"], "description": "Set when a provider secret would travel "
                                                              "to a host other than the provider's."},
        version={"type": "integer", "minimum": 1, "description": "Grows by one on every change."},
        created_at=TIMESTAMP, updated_at=TIMESTAMP),
    "ModelCreate": {**obj(["name", "provider", "model_id"], **MODEL_FIELDS,
                          team_id=or_null(number(1, 2**31 - 1, integer=True))),
                    "description": "base_url and auth_type default to the provider's. With `team_id`, a "
                                   "model of that team (its owners only: 403 not_team_owner; 404 for a "
                                   "team you are not in); it uses the team's secret, never yours."},
    "ModelUpdate": {**obj(**MODEL_FIELDS, expected_version=or_null(number(1, 2**31 - 1, integer=True))),
                    "description": "Only the fields sent change. With `expected_version`, only if the "
                                   "model is still at that version (409 version_conflict otherwise)."},
    "ModelTestUnsaved": {**obj(["provider"], **{**MODEL_FIELDS, "name": {"description": "Ignored."}}),
                         "description": "Unsaved form values; `name` is ignored, `api_key` optional."},
    "ConnectionTest": obj(["ok", "status", "code", "message", "latency_ms", "key_source"],
                          ok={"type": "boolean"},
                          status={"type": ["integer", "null"], "description": "The provider's HTTP status."},
                          code={"type": "string", "description": "`ok` or an upstream error code."},
                          message={"type": "string"}, latency_ms={"type": "number", "minimum": 0},
                          key_source={"enum": KEY_SOURCES}),
}

ROLE = {"enum": ["owner", "member"], "description": "Owners manage the team's members, secrets and "
                                                    "models; members use its models."}
TEAM_FIELDS = dict(id={"type": "integer"}, name={"type": "string"}, role=ROLE, created_at=TIMESTAMP,
                   member_count={"type": "integer", "minimum": 1})
MEMBER = obj(["user_id", "email", "role", "joined_at"], user_id={"type": "integer"},
             email={"type": "string"}, role=ROLE, joined_at=TIMESTAMP)
INVITATION = obj(["id", "email", "role", "invited_at"], id={"type": "integer"}, email={"type": "string"},
                 role=ROLE, invited_at=TIMESTAMP)
TEAM_SCHEMAS = {
    "Team": obj(list(TEAM_FIELDS), **TEAM_FIELDS),
    "TeamDetail": obj([*TEAM_FIELDS, "members", "invitations", "secrets", "models"], **TEAM_FIELDS,
                      members={"type": "array", "items": MEMBER},
                      invitations={"type": "array", "items": INVITATION},
                      secrets={"type": "array", "items": ref("Secret")},
                      models={"type": "array", "items": ref("Model")}),
    "TeamCreate": obj(["name"], name=text(100, "Unique on this instance; trimmed; printable characters.")),
    "MemberAdd": obj(["email"], email={"type": "string", "maxLength": 254}, role={**ROLE, "default": "member"}),
    "MemberUpdate": obj(["role"], role=ROLE),
    "Member": MEMBER,
    "Invitation": INVITATION,
    "TeamEvent": obj(["action", "subject", "at", "by", "outcome", "version", "detail"],
                     action={"type": "string", "examples": ["team.create", "member.add", "secret.rotate",
                                                            "model.update"]},
                     subject={"type": "string", "examples": ["team:3", "team:3:secret:openai"]},
                     at=TIMESTAMP, by={"type": ["string", "null"], "description": "The acting user's email."},
                     outcome={"type": "string"}, version={"type": ["integer", "null"]},
                     detail={"type": ["string", "null"]}),
}

SCOPES = {"type": "array", "minItems": 1, "items": {"enum": ["chat", "manage"]},
          "description": "chat: /v1/*, POST /api/chat, GET /api/models, /api/providers and /api/usage; "
                         "manage: also every other /api/* route but /api/tokens, and the pages."}
MODEL_NAMES = {"type": ["array", "null"], "maxItems": 50,
               "items": {"type": "string", "minLength": 1, "maxLength": 100},
               "description": "Names of your models the chat routes may use (others: 403 "
                              "model_not_allowed); null: every model."}
TOKEN_FIELDS = dict(id={"type": "integer"}, name={"type": "string"},
                    prefix={"type": "string", "description": "The first 12 characters, to recognise it."},
                    created_at=TIMESTAMP, last_used_at=TIMESTAMP_OR_NULL, revoked_at=TIMESTAMP_OR_NULL,
                    expires_at=TIMESTAMP_OR_NULL, scopes=SCOPES, models=MODEL_NAMES)
TOKEN_SCHEMAS = {
    "Token": obj(list(TOKEN_FIELDS), **TOKEN_FIELDS),
    "NewToken": obj(["token", *TOKEN_FIELDS], token={"type": "string", "pattern": "^psv_",
                                                      "description": "Shown once, never stored."},
                    **TOKEN_FIELDS),
    "TokenCreate": obj(["name", "password"], name=text(100, "Trimmed; printable characters."),
                       expires_in_days=or_null(number(1, 3650, integer=True)),
                       scopes={**SCOPES, "default": ["chat"]}, models=MODEL_NAMES,
                       password={"type": "string", "minLength": 1, "description":
                                 "Your account password: a session alone cannot mint a token (403 "
                                 "reauthentication_required). Wrong ones count against the sign-in limit."}),
}

CONTENT = {"anyOf": [{"type": "string"},
                     {"type": "array", "minItems": 1, "items": {"anyOf": [
                         obj(["type", "text"], open_=True, type={"const": "text"}, text={"type": "string"}),
                         obj(["type", "image_url"], open_=True, type={"const": "image_url"},
                             image_url=obj(["url"], open_=True, url={"type": "string", "minLength": 1})),
                         obj(["type", "input_audio"], open_=True, type={"const": "input_audio"},
                             input_audio={"type": "object"}),
                         obj(["type", "file"], open_=True, type={"const": "file"}, file={"type": "object"})]}}]}
FUNCTION = obj(["name"], open_=True, name={"type": "string"}, arguments={"type": "string"})
CHAT_SCHEMAS = {
    "Message": {"description": "Extra fields pass through to the provider. An assistant message "
                               "may carry `tool_calls` instead of content; a tool message answers one.",
                "anyOf": [
        obj(["role", "content"], open_=True, role={"enum": sorted(ROLES - {"assistant", "tool"})},
            content=CONTENT),
        obj(["role", "content", "tool_call_id"], open_=True, role={"const": "tool"}, content=CONTENT,
            tool_call_id={"type": "string"}),
        obj(["role", "content"], open_=True, role={"const": "assistant"}, content=CONTENT,
            tool_calls={"type": "null"}),
        obj(["role", "tool_calls"], open_=True, role={"const": "assistant"}, content=or_null(CONTENT),
            tool_calls={"type": "array", "items": obj(["id", "function"], open_=True,
                                                      id={"type": "string"}, function=FUNCTION)})]},
    "Tool": obj(["function"], open_=True, type={"const": "function"},
                function=obj(["name"], open_=True, name=text(64), parameters={"type": "object"})),
    "ToolCall": obj(["id", "type", "function"], id={"type": "string"}, type={"const": "function"},
                    function=obj(["name", "arguments"], name={"type": "string"},
                                 arguments={"type": "string", "description": "JSON text."})),
    "Usage": obj(["prompt_tokens", "completion_tokens"], prompt_tokens={"type": "integer", "minimum": 0},
                 completion_tokens={"type": "integer", "minimum": 0}),
    "ChatAnswer": obj(["content", "tool_calls", "finish_reason", "usage", "model", "key_source"],
                      content={"type": "string"}, tool_calls={"type": "array", "items": ref("ToolCall")},
                      finish_reason={"type": "string", "examples": ["stop", "length", "tool_calls"]},
                      usage=ref("Usage"), model={"type": ["string", "null"]}, key_source={"enum": KEY_SOURCES}),
    "ChatEvent": {"description": "One event's JSON: deltas and tool calls, then exactly one `done` or "
                                 "one `error`.", "oneOf": [
        obj(["type", "content"], type={"const": "delta"}, content={"type": "string"}),
        obj(["type", "index", "id", "name", "arguments"], type={"const": "tool_call"},
            index={"type": "integer", "minimum": 0}, id={"type": "string"}, name={"type": "string"},
            arguments={"type": "string"}),
        obj(["type", "finish_reason", "usage"], type={"const": "done"}, finish_reason={"type": "string"},
            usage=ref("Usage")),
        obj(["type", "error"], type={"const": "error"}, error=ERROR_SCHEMAS["Error"]["properties"]["error"])]},
    "UsageRow": obj(["model", "model_id", "provider", "key_source", "day", "requests", "prompt_tokens",
                     "completion_tokens", "errors"],
                    model={"type": "string", "description": "The model's name (its id once deleted)."},
                    model_id={"type": "string"}, provider={"type": "string"}, key_source={"enum": KEY_SOURCES},
                    day={"type": "string", "format": "date"}, requests={"type": "integer", "minimum": 0},
                    prompt_tokens={"type": "integer", "minimum": 0},
                    completion_tokens={"type": "integer", "minimum": 0}, errors={"type": "integer", "minimum": 0}),
}


def chat_options():
    """The optional fields both chat endpoints check (vault/gateway/request.py OPTIONS); null = absent."""
    options = {
        "temperature": number(0, 2), "top_p": number(0, 1),
        "max_tokens": number(1, 1_000_000, integer=True),
        "max_completion_tokens": number(1, 1_000_000, integer=True),
        "presence_penalty": number(-2, 2), "frequency_penalty": number(-2, 2),
        "seed": number(-2**63, 2**63 - 1, integer=True),
        "stop": {"anyOf": [{"type": "string"}, {"type": "array", "maxItems": 4, "items": {"type": "string"}}]},
        "tools": {"type": "array", "maxItems": 128, "items": ref("Tool")},
        "tool_choice": {"anyOf": [{"enum": ["auto", "none", "required"]},
                                  obj(["type", "function"], open_=True, type={"const": "function"},
                                      function=obj(["name"], open_=True, name={"type": "string"}))]},
        "parallel_tool_calls": {"type": "boolean"},
        "response_format": {"type": "object"},
        "user": {"type": "string", "maxLength": 256},
    }
    return {name: or_null(schema) for name, schema in options.items()}


MESSAGES = {"type": "array", "minItems": 1, "maxItems": MAX_MESSAGES, "items": ref("Message")}
CHAT_SCHEMAS["ChatRequest"] = obj(
    ["model_id", "messages"],
    model_id={"type": "string", "minLength": 1, "description": "The id or the name of one of your models."},
    messages=MESSAGES, stream={"type": "boolean", "default": False}, **chat_options())

OPENAI_SCHEMAS = {
    "CompletionRequest": {**obj(
        ["model", "messages"], open_=True,
        model={"type": "string", "minLength": 1, "description": "A model's name (as in /v1/models) or id."},
        messages=MESSAGES, stream={"type": "boolean", "default": False},
        stream_options=or_null(obj(open_=True, include_usage={"type": "boolean"})),
        n={"const": 1, "description": "One choice only."}, **chat_options()),
        "description": "OpenAI's request shape; fields this gateway does not know are dropped."},
    "Completion": obj(
        ["id", "object", "created", "model", "choices", "usage"],
        id={"type": "string"}, object={"const": "chat.completion"}, created={"type": "integer"},
        model={"type": "string"},
        choices={"type": "array", "minItems": 1, "maxItems": 1, "items": obj(
            ["index", "message", "logprobs", "finish_reason"], index={"const": 0}, logprobs={"type": "null"},
            finish_reason={"type": "string"},
            message=obj(["role", "content"], role={"const": "assistant"}, content={"type": ["string", "null"]},
                        tool_calls={"type": "array", "items": ref("ToolCall")}))},
        usage=ref("CompletionUsage")),
    "CompletionUsage": obj(["prompt_tokens", "completion_tokens", "total_tokens"],
                           prompt_tokens={"type": "integer"}, completion_tokens={"type": "integer"},
                           total_tokens={"type": "integer"}),
    "CompletionChunk": {"description": "One event's JSON; the stream ends with `data: [DONE]`.", "oneOf": [
        obj(["id", "object", "created", "model", "choices"], id={"type": "string"},
            object={"const": "chat.completion.chunk"}, created={"type": "integer"}, model={"type": "string"},
            choices={"type": "array", "maxItems": 1, "items": obj(
                ["index", "delta", "finish_reason"], index={"const": 0},
                finish_reason={"type": ["string", "null"]},
                delta=obj(role={"const": "assistant"}, content={"type": "string"},
                          tool_calls={"type": "array"}))},
            usage=ref("CompletionUsage")),
        obj(["error"], error=obj(["message", "type", "code"], message={"type": "string"},
                                 type={"const": "api_error"}, code={"type": "string"}))]},
    "EmbeddingRequest": obj(
        ["model", "input"],
        model={"type": "string", "minLength": 1, "description": "A model's name (as in /v1/models) or id."},
        input={"description": "Text, texts, token ids, or lists of token ids (up to 2048).", "anyOf": [
            {"type": "string", "minLength": 1},
            {"type": "array", "minItems": 1, "maxItems": 2048, "items": {"type": "string", "minLength": 1}},
            {"type": "array", "minItems": 1, "maxItems": 2048, "items": TOKEN_ID},
            {"type": "array", "minItems": 1, "maxItems": 2048,
             "items": {"type": "array", "minItems": 1, "items": TOKEN_ID}}]},
        encoding_format=or_null({"enum": ["float", "base64"]}), dimensions=or_null(number(1, 65536, True)),
        user=or_null({"type": "string", "maxLength": 256})),
    "EmbeddingList": obj(
        ["object", "data", "model", "usage"], object={"const": "list"}, model={"type": "string"},
        data={"type": "array", "items": obj(
            ["object", "index", "embedding"], object={"const": "embedding"}, index={"type": "integer"},
            embedding={"anyOf": [{"type": "array", "items": {"type": "number"}},
                                 {"type": "string", "description": "base64 of little-endian float32s"}]})},
        usage=obj(["prompt_tokens", "total_tokens"], prompt_tokens={"type": "integer"},
                  total_tokens={"type": "integer"})),
    "AnthropicRequest": obj(
        ["model", "max_tokens", "messages"],
        model={"type": "string", "minLength": 1, "description": "A model's name (as in /v1/models) or id."},
        max_tokens=number(1, 1_000_000, True),
        messages={"type": "array", "minItems": 1, "items": obj(
            ["role", "content"], open_=True, role={"enum": ["user", "assistant"]},
            content={"anyOf": [{"type": "string"}, {"type": "array", "minItems": 1, "items": {
                "type": "object", "required": ["type"], "description": "text, image, tool_use or tool_result",
                "properties": {"type": {"enum": ["text", "image", "tool_use", "tool_result"]}}}}]})},
        system={"anyOf": [{"type": "string"}, {"type": "array", "items": obj(
            ["type", "text"], open_=True, type={"const": "text"}, text={"type": "string"})}]},
        stream={"type": "boolean"}, temperature=number(0, 1), top_p=number(0, 1),
        stop_sequences={"type": "array", "maxItems": 4, "items": {"type": "string", "minLength": 1}},
        tools={"type": "array", "items": obj(["name"], open_=True, name={"type": "string"},
                                             description={"type": "string"}, input_schema={"type": "object"})},
        tool_choice={"type": "object", "required": ["type"], "properties": {
            "type": {"enum": ["auto", "any", "tool", "none"]}, "name": {"type": "string"},
            "disable_parallel_tool_use": {"type": "boolean"}}},
        metadata=obj(user_id={"type": "string"})),
    "AnthropicMessage": obj(
        ["id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"],
        id={"type": "string"}, type={"const": "message"}, role={"const": "assistant"}, model={"type": "string"},
        content={"type": "array", "items": {"type": "object", "required": ["type"]}},
        stop_reason={"enum": ["end_turn", "max_tokens", "tool_use", "refusal"]}, stop_sequence={"type": "null"},
        usage=obj(["input_tokens", "output_tokens"], input_tokens={"type": "integer"},
                  output_tokens={"type": "integer"})),
    "AnthropicEvent": {"type": "object", "required": ["type"], "description": (
        "message_start, content_block_start / _delta / _stop, message_delta, message_stop; or error."),
        "properties": {"type": {"enum": ["message_start", "content_block_start", "content_block_delta",
                                         "content_block_stop", "message_delta", "message_stop", "error"]}}},
    "ResponseRequest": obj(
        ["model", "input"],
        model={"type": "string", "minLength": 1, "description": "A model's name (as in /v1/models) or id."},
        input={"anyOf": [{"type": "string", "minLength": 1}, {"type": "array", "minItems": 1, "items": {
            "type": "object", "description": "A message, function_call or function_call_output item."}}]},
        instructions=or_null({"type": "string"}), stream={"type": "boolean"},
        max_output_tokens=or_null(number(1, 1_000_000, True)), temperature=or_null(number(0, 2)),
        top_p=or_null(number(0, 1)), parallel_tool_calls=or_null({"type": "boolean"}),
        user=or_null({"type": "string", "maxLength": 256}), metadata=or_null({"type": "object"}),
        tools={"type": "array", "items": obj(["type", "name"], open_=True, type={"const": "function"},
                                             name={"type": "string"})},
        tool_choice={"description": "auto, none, required or {type: function, name}"},
        text=obj(open_=True, format={"type": "object"}),
        store={"description": "Only false: the vault keeps no response.", "enum": [False, None]},
        previous_response_id={"description": "Refused: the vault keeps no response.", "type": "null"}),
    "Response": obj(
        ["id", "object", "created_at", "status", "model", "output"], open_=True, id={"type": "string"},
        object={"const": "response"}, created_at={"type": "integer"},
        status={"enum": ["completed", "incomplete", "failed", "in_progress"]}, model={"type": "string"},
        output={"type": "array", "items": {"type": "object", "required": ["type"]}}),
    "ResponseEvent": {"type": "object", "required": ["type", "sequence_number"], "description": (
        "response.created, output items (added, text or arguments deltas, done), then response.completed, "
        "response.incomplete or response.failed.")},
    "OpenAIModel": obj(["id", "object", "owned_by", "created"], id={"type": "string", "description": "The model's name."},
                       object={"const": "model"}, owned_by=ref("ProviderId"), created={"type": "integer"}),
    "ModelList": obj(["object", "data"], object={"const": "list"}, data={"type": "array", "items": ref("OpenAIModel")}),
}

# --- responses --------------------------------------------------------------------------------

ERRORS = {  # status: (description, the codes a client may see)
    400: ("The request is not valid", "invalid_json, unknown_field, invalid_request, too_long, invalid_text, "
          "unknown_provider, invalid_api_key, invalid_expires_at, invalid_base_url, missing_api_key, "
          "expired_api_key"),
    401: ("Not signed in, or the Bearer token is invalid, revoked or expired", "unauthorized"),
    403: ("Refused", "csrf_failed (a session request without X-CSRFToken), session_required "
          "(tokens are managed from a session), insufficient_scope (the token's scopes do not cover "
          "the route), model_not_allowed (the token may not use that model), reauthentication_required "
          "(the account password is missing or wrong), read_only (a shared catalog model)"),
    404: ("No such resource, or it belongs to someone else", "not_found"),
    405: ("The path does not take this method", "method_not_allowed"),
    409: ("Conflicts with what is stored", "secret_exists, version_conflict, model_exists"),
    413: ("The body is larger than VAULT_MAX_BODY_BYTES (512 KiB by default)", "payload_too_large"),
    429: ("Too many requests: the provider is rate-limiting, or too many wrong passwords",
          "upstream_rate_limited, rate_limited"),
    500: ("A fault on our side", "internal_error, stored_key_unreadable (the master key does not open "
          "a stored key: enter the key again)"),
    502: ("The provider refused the key, failed, or answered something unreadable or too large",
          "upstream_auth, upstream_error, upstream_unreachable, upstream_bad_response, upstream_too_large"),
    503: ("The database is unavailable for a moment", "database_unavailable"),
    504: ("The provider did not answer in time", "upstream_timeout"),
}


def error_responses():
    out = {}
    for status, (what, codes) in ERRORS.items():
        for shape in ERROR_SCHEMAS:
            out[f"{shape}{status}"] = {"description": f"{what}. `error.code`: {codes}.",
                                       "content": {"application/json": {"schema": ref(shape)}}}
    return out


def json_ok(schema, description="OK", headers=None):
    answer = {"description": description, "content": {"application/json": {"schema": schema}}}
    return {**answer, "headers": headers} if headers else answer


NO_CONTENT = {"description": "Done; no body."}
CHAT_HEADERS = {
    "X-Key-Source": {"required": True, "schema": {"enum": KEY_SOURCES},
                     "description": "Which key the request used."},
    "X-Vault-Overhead-Ms": {"required": True, "schema": {"type": "string", "pattern": r"^-?\d+\.\d\d$"},
                            "description": "The gateway's own time, without the provider's."},
}

# --- operations -------------------------------------------------------------------------------

BEARER, SESSION, CSRF, ANTHROPIC_KEY = "bearerToken", "sessionCookie", "csrfHeader", "apiKeyHeader"
READ = [{BEARER: []}, {SESSION: []}]
WRITE = [{BEARER: []}, {SESSION: [], CSRF: []}]
PROVIDER = {"name": "provider", "in": "path", "required": True, "schema": ref("ProviderId")}
MODEL_UUID = {"name": "model_uuid", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
TOKEN_ID = {"name": "token_id", "in": "path", "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}}


def operation(op_id, tag, summary, ok, errors, body=None, params=(), security=None, shape="Error"):
    """One operation: its answers and the errors it may give, 401 and the 5xx of every route
    included; unsafe methods also 403 (CSRF) and 413 (body size)."""
    security = READ if security is None else security
    unsafe = any(CSRF in s for s in security) or body is not None
    statuses = set(errors) | {401, 500, 503} | ({403, 413} if unsafe else set())
    op = {"operationId": op_id, "tags": [tag], "summary": summary, "security": security,
          "responses": {**ok, **{str(s): {"$ref": f"#/components/responses/{shape}{s}"}
                                 for s in sorted(statuses)}}}
    if params:
        op["parameters"] = list(params)
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


def chat_ok(answer, event, description, done=False):
    """JSON, or with `stream` an event stream: one schema per event, its `data` line JSON text."""
    data = {"type": "string", "contentMediaType": "application/json", "contentSchema": event}
    if done:  # OpenAI's stream ends with the line `data: [DONE]`, which is not JSON
        data = {"anyOf": [{"const": "[DONE]"}, data]}
    sse = {"schema": {**obj(["data"], open_=True, data=data),
                      "description": "Relayed as the provider sends it, no buffering."}}
    return {"200": {"description": description, "headers": CHAT_HEADERS,
                    "content": {"application/json": {"schema": answer}, "text/event-stream": sse}}}


SECRET_OK = json_ok(obj(["secret"], secret=ref("Secret")))
TEAM_OK = json_ok(obj(["team"], team=ref("TeamDetail")))
TEAM_ID = {"name": "team_id", "in": "path", "required": True,
           "schema": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}}
USER_ID = {**TEAM_ID, "name": "user_id"}
INVITATION_ID = {**TEAM_ID, "name": "invitation_id"}
OWNERS = "Owners only (403 not_team_owner); 404 for a team you are not in"
MODEL_OK = json_ok(obj(["model"], model=ref("Model")))
PATHS = {
    "/api/openapi.json": {"get": {
        **operation("getOpenApi", "meta", "This document (public)", {"200": json_ok({"type": "object"})}, [],
                    security=[]),
        "description": "Needs no sign-in. An `Authorization: Bearer` header, if sent, must still be valid."}},
    "/api/providers": {"get": operation(
        "listProviders", "secrets", "The provider registry, with whether you have a secret for each",
        {"200": json_ok(obj(["providers"], providers={"type": "array", "items": ref("Provider")}))}, [])},
    "/api/secrets": {
        "get": operation("listSecrets", "secrets", "Your provider secrets",
                         {"200": json_ok(obj(["secrets"], secrets={"type": "array", "items": ref("Secret")}))},
                         [403]),
        "post": operation("createSecret", "secrets", "Store a key for a provider (version 1)",
                          {"201": {**SECRET_OK, "description": "Created", "headers": {"Location": {
                              "required": True, "schema": {"type": "string"}}}}},
                          [400, 403, 409, 429], body=ref("SecretCreate"), security=WRITE)},
    "/api/secrets/{provider}": {
        "parameters": [PROVIDER],
        "get": operation("getSecret", "secrets", "One provider secret", {"200": SECRET_OK}, [403, 404]),
        "put": operation("updateSecret", "secrets", "Rotate the key, change the expiry, or (with the "
                         "password, from a session) where the key may be sent",
                         {"200": SECRET_OK}, [400, 403, 404, 409, 429], body=ref("SecretUpdate"), security=WRITE),
        "delete": operation("deleteSecret", "secrets", "Delete the secret; models relying on it have no key",
                            {"204": NO_CONTENT}, [404], security=WRITE)},
    "/api/secrets/{provider}/check": {"parameters": [PROVIDER], "post": operation(
        "checkSecret", "secrets", "Call the provider's models list with the stored key; the outcome is stored",
        {"200": json_ok(ref("SecretCheck"))}, [403, 404], security=WRITE)},
    "/api/secrets/{provider}/history": {"parameters": [PROVIDER], "get": operation(
        "secretHistory", "secrets", "The secret's audit trail, newest first (at most 100 events)",
        {"200": json_ok(obj(["events"], events={"type": "array", "items": ref("SecretEvent")}))}, [403, 404])},
    "/api/models": {
        "get": operation("listModels", "models", "Your models, then the shared catalog",
                         {"200": json_ok(obj(["models"], models={"type": "array", "items": ref("Model")}))}, []),
        "post": operation("createModel", "models", "Add a model", {"201": {**MODEL_OK, "description": "Created"}},
                          [400, 403, 404, 409], body=ref("ModelCreate"), security=WRITE)},
    "/api/models/test": {"post": operation(
        "testUnsavedModel", "models", "Test connection with unsaved form values",
        {"200": json_ok(ref("ConnectionTest"))}, [400, 403], body=ref("ModelTestUnsaved"), security=WRITE)},
    "/api/models/{model_uuid}": {
        "parameters": [MODEL_UUID],
        "get": operation("getModel", "models", "One of your models or a catalog model", {"200": MODEL_OK},
                         [403, 404]),
        "patch": operation("updateModel", "models", "Change a model of yours", {"200": MODEL_OK},
                           [400, 403, 404, 409], body=ref("ModelUpdate"), security=WRITE),
        "delete": operation("deleteModel", "models", "Delete a model of yours", {"204": NO_CONTENT},
                            [403, 404], security=WRITE)},
    "/api/models/{model_uuid}/test": {"parameters": [MODEL_UUID], "post": operation(
        "testModel", "models", "Test connection for a saved model, with the key it would use",
        {"200": json_ok(ref("ConnectionTest"))}, [400, 403, 404], security=WRITE)},
    "/api/teams": {
        "get": operation("listTeams", "teams", "Your teams, with your role in each",
                         {"200": json_ok(obj(["teams"], teams={"type": "array", "items": ref("Team")}))}, [403]),
        "post": operation("createTeam", "teams", "Make a team; you are its owner",
                          {"201": {**TEAM_OK, "description": "Created"}}, [400, 403, 409],
                          body=ref("TeamCreate"), security=WRITE)},
    "/api/teams/{team_id}": {
        "parameters": [TEAM_ID],
        "get": operation("getTeam", "teams", "A team of yours: members, invitations, secrets (never a key) and "
                         "models", {"200": TEAM_OK}, [403, 404]),
        "delete": operation("deleteTeam", "teams", f"Delete the team, its secrets and models. {OWNERS}",
                            {"204": NO_CONTENT}, [403, 404], security=WRITE)},
    "/api/teams/{team_id}/history": {"parameters": [TEAM_ID], "get": operation(
        "teamHistory", "teams", "The team's audit trail with who acted, newest first (at most 200 events)",
        {"200": json_ok(obj(["events"], events={"type": "array", "items": ref("TeamEvent")}))}, [403, 404])},
    "/api/teams/{team_id}/members": {"parameters": [TEAM_ID], "post": operation(
        "addTeamMember", "teams", f"Add an account by email; under VAULT_SIGNUP=invite an email without one is "
        f"invited. {OWNERS}",
        {"201": json_ok({"anyOf": [obj(["member"], member=ref("Member")),
                                   obj(["invitation"], invitation=ref("Invitation"))]}, "Added or invited")},
        [400, 403, 404, 409], body=ref("MemberAdd"), security=WRITE)},
    "/api/teams/{team_id}/members/{user_id}": {
        "parameters": [TEAM_ID, USER_ID],
        "patch": operation("changeTeamRole", "teams", f"Change a member's role; the team keeps an owner "
                           f"(409 last_owner). {OWNERS}", {"200": json_ok(obj(["member"], member=ref("Member")))},
                           [400, 403, 404, 409], body=ref("MemberUpdate"), security=WRITE),
        "delete": operation("removeTeamMember", "teams", "Remove a member (owners), or leave (yourself); their "
                            "next request is refused", {"204": NO_CONTENT}, [403, 404, 409], security=WRITE)},
    "/api/teams/{team_id}/invitations/{invitation_id}": {"parameters": [TEAM_ID, INVITATION_ID], "delete": operation(
        "cancelTeamInvitation", "teams", f"Cancel an invitation. {OWNERS}", {"204": NO_CONTENT}, [403, 404],
        security=WRITE)},
    "/api/teams/{team_id}/secrets": {
        "parameters": [TEAM_ID],
        "get": operation("listTeamSecrets", "teams", "The team's provider secrets (never a key)",
                         {"200": json_ok(obj(["secrets"], secrets={"type": "array", "items": ref("Secret")}))},
                         [403, 404]),
        "post": operation("createTeamSecret", "teams", f"Store the team's key for a provider, as "
                          f"POST /api/secrets. {OWNERS}",
                          {"201": {**SECRET_OK, "description": "Created", "headers": {"Location": {
                              "required": True, "schema": {"type": "string"}}}}},
                          [400, 403, 404, 409, 429], body=ref("SecretCreate"), security=WRITE)},
    "/api/teams/{team_id}/secrets/{provider}": {
        "parameters": [TEAM_ID, PROVIDER],
        "get": operation("getTeamSecret", "teams", "One of the team's secrets", {"200": SECRET_OK}, [403, 404]),
        "put": operation("updateTeamSecret", "teams", f"As PUT /api/secrets/{{provider}}. {OWNERS}",
                         {"200": SECRET_OK}, [400, 403, 404, 409, 429], body=ref("SecretUpdate"), security=WRITE),
        "delete": operation("deleteTeamSecret", "teams", f"Delete it; the team's models relying on it have no "
                            f"key. {OWNERS}", {"204": NO_CONTENT}, [403, 404], security=WRITE)},
    "/api/teams/{team_id}/secrets/{provider}/check": {"parameters": [TEAM_ID, PROVIDER], "post": operation(
        "checkTeamSecret", "teams", f"Call the provider's models list with the team's key. {OWNERS}",
        {"200": json_ok(ref("SecretCheck"))}, [403, 404], security=WRITE)},
    "/api/tokens": {
        "get": operation("listTokens", "tokens", "Your API tokens (session only)",
                         {"200": json_ok(obj(["tokens"], tokens={"type": "array", "items": ref("Token")}))},
                         [403], security=[{SESSION: []}]),
        "post": {**operation("createToken", "tokens", "Issue a token; the answer shows it once (session only)",
                             {"201": json_ok(ref("NewToken"), "Created")}, [400, 429], body=ref("TokenCreate"),
                             security=[{SESSION: [], CSRF: []}]),
                 "description": "Needs the account password. 400 names the field (`scopes`, `models`); "
                                "403 reauthentication_required without the right password; 429 after "
                                "too many wrong ones."}},
    "/api/tokens/{token_id}": {"parameters": [TOKEN_ID], "delete": operation(
        "revokeToken", "tokens", "Revoke a token (session only)", {"204": NO_CONTENT}, [404],
        security=[{SESSION: [], CSRF: []}])},
    "/api/chat": {"post": operation(
        "chat", "chat", "Chat with one of your models; the key is resolved before any upstream call",
        chat_ok(ref("ChatAnswer"), ref("ChatEvent"), "The answer, or with `stream: true` an event stream"),
        [400, 403, 404, 429, 502, 504], body=ref("ChatRequest"), security=WRITE)},
    "/api/usage": {"get": operation(
        "usage", "chat", "Requests and tokens per model, key source and day, newest first",
        {"200": json_ok(obj(["usage"], usage={"type": "array", "items": ref("UsageRow")}))}, [400],
        params=[{"name": "days", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": 366, "default": 30}}])},
    "/v1/models": {"get": operation(
        "openaiListModels", "openai", "The models you can use, by name (OpenAI's shape; Bearer only)",
        {"200": json_ok(ref("ModelList"))}, [], security=[{BEARER: []}], shape="OpenAIError")},
    "/v1/embeddings": {"post": operation(
        "openaiEmbeddings", "openai", "OpenAI-compatible embeddings, for models of OpenAI-compatible "
        "providers (Bearer only); an Anthropic model answers 400 unsupported_for_provider",
        {"200": json_ok(ref("EmbeddingList"), headers=CHAT_HEADERS)}, [400, 403, 404, 429, 502, 504],
        body=ref("EmbeddingRequest"), security=[{BEARER: []}], shape="OpenAIError")},
    "/v1/messages": {"post": operation(
        "anthropicMessages", "anthropic", "Anthropic's Messages API for any of your models (the token as "
        "x-api-key or Bearer; anthropic-version accepted)",
        chat_ok(ref("AnthropicMessage"), ref("AnthropicEvent"), "A message, or named events when streaming"),
        [400, 403, 404, 429, 502, 504], body=ref("AnthropicRequest"),
        security=[{BEARER: []}, {ANTHROPIC_KEY: []}], shape="AnthropicError")},
    "/v1/responses": {"post": operation(
        "openaiResponses", "openai", "OpenAI's Responses API, stateless, for any of your models (Bearer only)",
        chat_ok(ref("Response"), ref("ResponseEvent"), "A response, or its typed events when streaming"),
        [400, 403, 404, 429, 502, 504], body=ref("ResponseRequest"), security=[{BEARER: []}], shape="OpenAIError")},
    "/v1/models/{name}": {"get": operation(
        "openaiRetrieveModel", "openai", "One model you can use, by name (OpenAI's shape; Bearer only)",
        {"200": json_ok(ref("OpenAIModel"))}, [404], params=[{"name": "name", "in": "path", "required": True,
                                                        "schema": {"type": "string"}}],
        security=[{BEARER: []}], shape="OpenAIError")},
    "/v1/chat/completions": {"post": operation(
        "openaiChatCompletions", "openai", "OpenAI-compatible chat completions (Bearer only)",
        chat_ok(ref("Completion"), ref("CompletionChunk"), "A chat.completion, or chunks when streaming", done=True),
        [400, 403, 404, 429, 502, 504], body=ref("CompletionRequest"), security=[{BEARER: []}], shape="OpenAIError")},
}

DESCRIPTION = """\
Provider Secrets Vault: one encrypted API key per LLM provider, shared by every model, and a chat
gateway that resolves which key to use.

**Authentication.** Either `Authorization: Bearer <api token>` (create one on the Tokens page), or
the browser session cookie; with the session, unsafe methods also need the CSRF token in
`X-CSRFToken`. A request with a Bearer header is decided by the token alone, within its scopes: `chat`
(`/v1`, `POST /api/chat`, `GET /api/models`, `/api/providers`, `/api/usage`, and reading
`/api/teams`, a team and its secrets) or `manage` (also every
other route but `/api/tokens`); outside them, 403 `insufficient_scope`. `/api/tokens` takes the
session only, and creating a token the account password too; `/v1` takes the Bearer token only.

**Teams** share provider keys: owners store them, members' requests use them, nobody reads them.
See the README, Teams.

**Errors** are always `{"error": {"code", "message"}}` with a 4xx/5xx status, and `field` when one
body field is at fault; under `/v1` the error
also carries OpenAI's `type` and `param`. No answer ever contains a stored key."""

DOCUMENT = {
    "openapi": "3.1.0",
    "info": {"title": "Provider Secrets Vault", "version": "0.1.0", "description": DESCRIPTION},
    "servers": [{"url": "/"}],
    "tags": [{"name": n} for n in ("secrets", "models", "teams", "tokens", "chat", "openai", "anthropic", "meta")],
    "paths": PATHS,
    "components": {
        "securitySchemes": {
            BEARER: {"type": "http", "scheme": "bearer", "description": "An API token (`psv_…`)."},
            SESSION: {"type": "apiKey", "in": "cookie", "name": "session",
                      "description": "The browser session set by /login."},
            CSRF: {"type": "apiKey", "in": "header", "name": "X-CSRFToken",
                   "description": "The page's csrf-token; needed with the session for unsafe methods."},
            ANTHROPIC_KEY: {"type": "apiKey", "in": "header", "name": "x-api-key",
                            "description": "An API token where Anthropic's clients send their key "
                                           "(POST /v1/messages only)."}},
        "schemas": {**ERROR_SCHEMAS, **SECRET_SCHEMAS, **MODEL_SCHEMAS, **TEAM_SCHEMAS, **TOKEN_SCHEMAS, **CHAT_SCHEMAS,
                    **OPENAI_SCHEMAS},
        "responses": error_responses(),
    },
}
