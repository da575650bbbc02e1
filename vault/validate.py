"""Reading JSON bodies: one precise 400 per mistake, in the error shape of README, Errors."""
from flask import request

from .errors import TOO_DEEP, BadRequest

MAX_KEY_LEN = 4096


class FieldError(BadRequest):
    """A bad value for one field; a page shows it next to that field, the API as any 400."""

    def __init__(self, field, message, code="invalid_request", status=400):
        super().__init__(message, code, status)
        self.field = field


def json_body(allowed=None):
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # silent covers ValueError only
        raise BadRequest(TOO_DEEP, "invalid_json") from None
    if not isinstance(body, dict):
        raise not_an_object(body)
    if allowed is not None:
        refuse_unknown(body, allowed)
    return body


def refuse_unknown(body, allowed, hint=""):
    """A 400 naming the first field of `body` (in sorted order) that is not in `allowed`."""
    unknown = set(body).difference(allowed)
    if unknown:
        raise BadRequest(f"Unknown field: {sorted(unknown)[0][:40]!r}.{hint}", "unknown_field")


def not_an_object(body):
    """The error for a body that is not a JSON object; None is what Flask reads from one that is
    not JSON at all (malformed, or sent without Content-Type: application/json)."""
    if body is None:
        return BadRequest("The request body is not valid JSON sent as application/json; send a "
                          "JSON object.", "invalid_json")
    return BadRequest("The request body must be a JSON object.", "invalid_json")


def required_str(body, name, max_len, strip=True):
    value = body.get(name)
    if not isinstance(value, str):
        raise BadRequest(f"'{name}' is required and must be a string.")
    value = value.strip() if strip else value
    if not value:
        raise BadRequest(f"'{name}' must not be empty.")
    return checked_str(name, value, max_len)


def checked_str(name, value, max_len):
    if len(value) > max_len:
        raise FieldError(name, f"'{name}' is longer than {max_len} characters.", "too_long")
    if not value.isprintable():
        raise FieldError(name, f"'{name}' contains control characters.")
    return value


def clean_key(value, code=None):
    """An API key as it will travel in a header: trimmed, then 1 to 4096 printable ASCII
    characters without spaces. Otherwise a FieldError on api_key with a fixed sentence (never
    the key); `code`, when given, is the code of every such error."""
    def refused(message, own_code="invalid_request"):
        return FieldError("api_key", message, code or own_code)

    if not isinstance(value, str):
        raise refused("'api_key' is required and must be a string.")
    key = value.strip()
    if not key:
        raise refused("The API key must not be empty.")
    if len(key) > MAX_KEY_LEN:
        raise refused(f"The API key is longer than {MAX_KEY_LEN} characters.", "too_long")
    if any(c.isspace() for c in key):
        raise refused("The API key must not contain spaces or line breaks.")
    if not all(" " < c < "\x7f" for c in key):  # it travels in an HTTP header: printable ASCII only
        raise refused("The API key may contain only printable ASCII characters.")
    return key


EMAIL_HINT = "Enter an email address such as ada@example.com."


def plausible_email(value):
    """Something@domain.tld without spaces: the one rule for registering and for inviting."""
    local, at, domain = value.rpartition("@")
    return bool(at and local and "." in domain and not any(c.isspace() for c in value))


def optional_int(body, name, low, high):
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(f"'{name}' must be a whole number from {low} to {high}.")
    return value
